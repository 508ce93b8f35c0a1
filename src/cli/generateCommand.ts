import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { EaselError } from '../shared/errors.ts';
import { inspectModelFolder, inspectTinyDecoderFolder } from '../engine/modelFolder.ts';
import { resolveModelPath } from '../models/checkpointImport.ts';
import { findTinyDecoder } from '../models/library.ts';
import { DEFAULT_MODELS_DIR } from './modelsCommand.ts';
import { validateParams } from '../engine/generationParams.ts';
import { writeNewFile } from '../png/safeWrite.ts';
import { GenerationService } from '../service/generationService.ts';
import type { EditRequest } from '../service/protocol.ts';
import { DEFAULTS, LIMITS, MAX_INPUT_BYTES, MAX_SEED, parseSeed, SETTING_CHECKS } from '../shared/generationSettings.ts';
import {
  EMPHASIS_MODES, EXECUTION_PROVIDERS, MEMORY_MODES, type DecoderKind, parseName, parseSamplerName, parseScheduleType, PROMPT_FILTER_MODES, RNG_SOURCES, SAFETY_CHECKER_MODES, SAMPLER_NAMES, SCHEDULE_TYPES
} from '../shared/names.ts';
import { checkPrompt } from '../safety/promptFilter.ts';
import { createInterface } from 'node:readline/promises';
import { ProgressBar } from './progressBar.ts';
import { readModelRecommendation } from '../models/recommendedSettings.ts';
import { describeRecommended, RECOMMENDED_FIELDS, recommendedChanges } from '../shared/recommendedSettings.ts';

export const GENERATE_HELP = `Usage: easel generate --model DIR --prompt TEXT --out FILE.png [options]

Generates images with a diffusers-format ONNX Stable Diffusion model. --sampler, --schedule, --steps,
--cfg, --width and --height default to the model's recommended settings when it has them (its
easel.json, or what its scheduler config implies, e.g. LCM); a note says which were used.

Options:
  --model DIR|FILE       model folder (model_index.json, unet/, text_encoder/, vae_decoder/, tokenizer/, scheduler/),
                         or a .safetensors checkpoint (imported into the model library on first use)
  --prompt TEXT          what to draw ("-" reads it from standard input)
  --prompt-file FILE     read the prompt from a UTF-8 text file instead (for long prompts)
  --negative-prompt TEXT what to steer away from
  --steps N              sampling steps, ${LIMITS.steps.min} … ${LIMITS.steps.max} (default ${DEFAULTS.steps})
  --cfg X                classifier-free guidance scale, ${LIMITS.cfgScale.min} … ${LIMITS.cfgScale.max} (default ${DEFAULTS.cfgScale}; ≤ 1 turns guidance off)
  --seed N               0 … ${MAX_SEED} (default: random)
  --sampler NAME         ${SAMPLER_NAMES.join(' | ')} (default "${DEFAULTS.sampler}")
  --schedule TYPE        ${SCHEDULE_TYPES.join(' | ').toLowerCase()} (default ${DEFAULTS.schedule.toLowerCase()})
  --width W, --height H  multiples of ${LIMITS.dimension.multipleOf}, ${LIMITS.dimension.min} … ${LIMITS.dimension.max} (default: the model's native size, or the init image's size
                         rounded down to a multiple of ${LIMITS.dimension.multipleOf})
  --init-image FILE      img2img: start from this PNG, JPEG or WebP (resized to --width × --height when given)
  --strength X           img2img denoising strength, ${LIMITS.strength.min} … ${LIMITS.strength.max} (default ${DEFAULTS.strength}): how much of the schedule runs
  --mask FILE            inpaint: white (255) is repainted, black kept; needs --init-image
  --mask-blur N          soften the mask's edge by N pixels and paste the original back outside it (default ${DEFAULTS.maskBlur})
  --rng ${RNG_SOURCES.join('|')}          noise source: cpu = diffusers/torch CPU, gpu = A1111's default (default ${DEFAULTS.rng})
  --batch N              images to make, with seeds seed, seed+1, … (default ${DEFAULTS.batchCount}, at most ${LIMITS.batchCount.max})
  --lora-dir DIR         folder of LoRA .safetensors files for <lora:NAME:0.8> tags in the prompt (repeatable;
                         default: $EASEL_LORA_DIR)
  --emphasis MODE        ${EMPHASIS_MODES.map((mode) => (mode.includes(' ') ? `"${mode}"` : mode)).join(' | ')} (default ${DEFAULTS.emphasis}): how (word:1.2) weights apply, as A1111;
                         None reads brackets literally
  --provider NAME        ${EXECUTION_PROVIDERS.join(' | ')} (default ${DEFAULTS.executionProvider})
  --memory ${MEMORY_MODES.join('|')}  low: less memory (no pre-packed weights; text encoder and VAE held only while used), somewhat slower (default ${DEFAULTS.memory})
  --decoder full|tiny|DIR the final image's decoder: full = the model's VAE (default); tiny = the tiny decoder
                         (TAESD) found beside the model folder; DIR = that TAESD folder
  --out FILE.png         where to write; an existing file is never replaced (a -2, -3 … suffix is added)
  --no-provenance        leave out the IPTC "trained algorithmic media" XMP (on by default)
  --prompt-filter MODE   ${PROMPT_FILTER_MODES.join(' | ')} (default ${DEFAULTS.promptFilter}); sexual content involving minors is refused in every mode
  --safety-checker MODE  ${SAFETY_CHECKER_MODES.join(' | ')} (default ${DEFAULTS.safetyChecker}): what to do when the model's safety checker flags an image
  -y, --yes              go ahead when the prompt filter warns
  --json                 print one JSON line per image on stdout
  --verbose              also show ONNX Runtime's own warnings and errors
  -h, --help             show this help
`;

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new EaselError('INVALID_REQUEST', `--${name} must be a whole number, got "${value}".`);
  return Number(value);
}

function decimal(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) throw new EaselError('INVALID_REQUEST', `--${name} must be a number, got "${value}".`);
  return number;
}

export async function runGenerate(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'prompt-file': { type: 'string' },
      verbose: { type: 'boolean' },
      'negative-prompt': { type: 'string' },
      steps: { type: 'string' },
      cfg: { type: 'string' },
      seed: { type: 'string' },
      sampler: { type: 'string' },
      schedule: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      rng: { type: 'string' },
      batch: { type: 'string' },
      emphasis: { type: 'string' },
      'init-image': { type: 'string' },
      strength: { type: 'string' },
      mask: { type: 'string' },
      'mask-blur': { type: 'string' },
      'lora-dir': { type: 'string', multiple: true },
      provider: { type: 'string' },
      decoder: { type: 'string' },
      memory: { type: 'string' },
      out: { type: 'string' },
      'no-provenance': { type: 'boolean' },
      'prompt-filter': { type: 'string' },
      'safety-checker': { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(GENERATE_HELP);
    return 0;
  }
  if (!values.model) throw new EaselError('INVALID_REQUEST', '--model is required: a diffusers ONNX model folder or a .safetensors checkpoint.');
  if (values.prompt !== undefined && values['prompt-file'] !== undefined) throw new EaselError('INVALID_REQUEST', 'Give either --prompt or --prompt-file, not both.');
  if (values['prompt-file'] !== undefined) values.prompt = await readPromptFile(values['prompt-file']);
  else if (values.prompt === '-') values.prompt = await readPromptFromStdin();
  if (values.prompt === undefined) throw new EaselError('INVALID_REQUEST', '--prompt (or --prompt-file) is required.');
  if (!values.out) throw new EaselError('INVALID_REQUEST', '--out is required: the PNG file to write.');
  if (extname(values.out).toLowerCase() !== '.png') throw new EaselError('INVALID_REQUEST', `--out must name a .png file, got "${values.out}".`);
  const provider = values.provider === undefined ? DEFAULTS.executionProvider : parseName(EXECUTION_PROVIDERS, values.provider, '--provider');
  if (values.seed !== undefined && parseSeed(values.seed) === undefined) throw new EaselError('INVALID_REQUEST', `--seed must be a whole number from 0 to ${MAX_SEED}, got "${values.seed}".`);
  const request = {
    prompt: values.prompt,
    negativePrompt: values['negative-prompt'],
    steps: integer('steps', values.steps),
    cfgScale: decimal('cfg', values.cfg),
    seed: values.seed,
    sampler: values.sampler === undefined ? undefined : parseSamplerName(values.sampler),
    schedule: values.schedule === undefined ? undefined : parseScheduleType(values.schedule),
    width: integer('width', values.width),
    height: integer('height', values.height),
    rng: values.rng === undefined ? undefined : parseName(RNG_SOURCES, values.rng, '--rng'),
    batchCount: integer('batch', values.batch),
    emphasis: values.emphasis === undefined ? undefined : parseName(EMPHASIS_MODES, values.emphasis, '--emphasis'),
  };
  // Checked once without the model so that bad input fails before anything loads.
  validateParams({ ...request, width: request.width ?? DEFAULTS.width, height: request.height ?? DEFAULTS.height });
  const edit = await editRequest(values);

  const out = resolve(values.out);
  await access(dirname(out), constants.W_OK).catch((error: Error) => {
    throw new EaselError('OUTPUT_FAILED', `Cannot write into ${dirname(out)}: ${error.message}. Choose a folder you can write to.`);
  });
  const filterMode = values['prompt-filter'] === undefined ? DEFAULTS.promptFilter : parseName(PROMPT_FILTER_MODES, values['prompt-filter'], '--prompt-filter');
  const checkerMode = values['safety-checker'] === undefined ? DEFAULTS.safetyChecker : parseName(SAFETY_CHECKER_MODES, values['safety-checker'], '--safety-checker');
  const verdict = checkPrompt(`${request.prompt}\n${request.negativePrompt ?? ''}`, { mode: filterMode });
  if (verdict.verdict === 'block') throw new EaselError('INVALID_REQUEST', verdict.reason);
  if (verdict.verdict === 'warn') {
    process.stderr.write(`Warning: ${verdict.reason}\n`);
    if (!values.yes && !(await confirm('Generate anyway? [y/N] '))) throw new EaselError('CANCELLED', 'Not generated (the prompt filter warned; pass --yes to go ahead).');
  }
  const loraDirectories = (values['lora-dir'] ?? (process.env.EASEL_LORA_DIR ? [process.env.EASEL_LORA_DIR] : [])).map((dir) => resolve(dir));
  const modelDir = await resolveModelPath(values.model, DEFAULT_MODELS_DIR, (stage, detail) => {
    if (stage === 'hashing') process.stderr.write(`Importing ${basename(values.model!)} into ${DEFAULT_MODELS_DIR} (hashing, then building its graphs)…\n`);
    void detail;
  });
  await inspectModelFolder(modelDir);
  // The model's recommended sampler, steps, CFG and size fill in what was not passed.
  const recommendation = await readModelRecommendation(modelDir);
  if (recommendation) {
    const passed = RECOMMENDED_FIELDS.filter((field) => request[field] !== undefined || (edit !== undefined && (field === 'width' || field === 'height')));
    const applied = recommendedChanges(request, recommendation.settings, passed);
    if (Object.keys(applied).length > 0) {
      Object.assign(request, applied);
      process.stderr.write(`Using ${basename(modelDir)}'s recommended settings (${recommendation.source}): ${describeRecommended(applied)}.\n`);
      validateParams({ ...request, width: request.width ?? DEFAULTS.width, height: request.height ?? DEFAULTS.height });
    }
  }
  const decoder = await decoderChoice(values.decoder, modelDir);
  const memory = values.memory === undefined ? DEFAULTS.memory : parseName(MEMORY_MODES, values.memory, '--memory');
  const service = new GenerationService({
    workerPath: join(__dirname, 'worker.js'), hashCacheFile: join(homedir(), '.cache', 'easel', 'model-hashes.json'), graphCacheDir: join(homedir(), '.cache', 'easel', 'optimized-graphs'),
    verbose: values.verbose === true,
  });
  const bar = new ProgressBar();
  const batchCount = request.batchCount ?? 1;
  const job = service.generate({
    modelDir, provider, prompt: request.prompt, negativePrompt: request.negativePrompt, steps: request.steps, cfgScale: request.cfgScale,
    seed: request.seed, sampler: request.sampler, schedule: request.schedule, width: request.width, height: request.height, rng: request.rng,
    batchCount, emphasis: request.emphasis, loraDirectories, provenance: !values['no-provenance'], safetyChecker: checkerMode, ...decoder, edit, memory,
  });
  process.once('SIGINT', () => job.cancel());
  process.stderr.write(`Loading ${basename(modelDir)} (${provider})…\n`);
  job.on('loaded', ({ notices }) => notices.forEach((notice) => process.stderr.write(`${notice}\n`)));
  job.on('notice', ({ message }) => process.stderr.write(`${message}\n`));
  job.on('step', (step) => bar.update(`Image ${step.imageIndex + 1}/${batchCount}`, step.step, step.total, step.elapsedMs));
  job.on('withheld', ({ seed, reason }) => {
    bar.finish();
    process.stderr.write(`Seed ${seed}: ${reason}\n`);
  });
  const writes: Array<Promise<void>> = [];
  // A failed write (a full disk) stops the job and is the error reported; it is caught here at once,
  // so it can never surface as an unhandled rejection while the job is still running.
  let writeError: unknown;
  job.on('image', (image) => {
    bar.finish();
    const target = batchCount === 1 ? out : join(dirname(out), `${basename(out, extname(out))}-${image.seed}${extname(out)}`);
    writes.push(writeNewFile(target, image.png).then((path) => {
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ path, seed: image.seed, width: image.width, height: image.height, ms: Math.round(image.timing.totalMs), safety: image.safety })}\n`);
      } else {
        const note = image.safety.action === 'blurred' ? ' — blurred: the safety checker flagged it' : '';
        process.stderr.write(`Wrote ${path} (seed ${image.seed}, ${(image.timing.totalMs / 1000).toFixed(1)} s)${note}\n`);
      }
    }, (error: unknown) => {
      writeError ??= error;
      job.cancel();
    }));
  });
  try {
    await job.result.catch((error: unknown) => {
      if (writeError === undefined) throw error;
    });
    await Promise.all(writes);
    if (writeError !== undefined) throw writeError;
    return 0;
  } finally {
    await Promise.allSettled(writes);
    await service.dispose();
  }
}

/** `--decoder`: full (default), tiny (a TAESD folder beside the model's), or a TAESD folder. */
async function decoderChoice(value: string | undefined, modelDir: string): Promise<{ decoder: DecoderKind; tinyDecoderDir?: string }> {
  if (value === undefined || value === 'full') return { decoder: 'full' };
  if (value === 'tiny') {
    const found = await findTinyDecoder([dirname(modelDir)]);
    if (!found) throw new EaselError('MODEL_NOT_FOUND', `--decoder tiny: no tiny decoder (TAESD) folder beside ${modelDir}. Pass its folder as --decoder DIR.`);
    return { decoder: 'tiny', tinyDecoderDir: found };
  }
  const folder = await inspectTinyDecoderFolder(resolve(value));
  return { decoder: 'tiny', tinyDecoderDir: folder.root };
}

/** The most prompt text read from a file or standard input; the prompt's own limit applies after. */
const MAX_PROMPT_INPUT_BYTES = 1024 * 1024;

/** A prompt file: UTF-8 text, one trailing line break dropped (as editors add one). */
async function readPromptFile(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new EaselError('INVALID_REQUEST', `--prompt-file ${path} is not a file.`);
    if (info.size > MAX_PROMPT_INPUT_BYTES) throw new EaselError('INVALID_REQUEST', `--prompt-file ${path} holds ${info.size} bytes; a prompt file may hold at most ${MAX_PROMPT_INPUT_BYTES}.`);
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof EaselError) throw error;
    throw new EaselError('INVALID_REQUEST', `Cannot read --prompt-file ${path}: ${(error as Error).message}.`, { cause: error });
  }
  return promptText(bytes, `--prompt-file ${path}`);
}

/** `--prompt -`: the prompt from standard input, up to its end. */
async function readPromptFromStdin(): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_PROMPT_INPUT_BYTES) throw new EaselError('INVALID_REQUEST', `The prompt on standard input is longer than ${MAX_PROMPT_INPUT_BYTES} bytes.`);
    parts.push(chunk as Buffer);
  }
  return promptText(Buffer.concat(parts), 'The prompt on standard input');
}

function promptText(bytes: Buffer, what: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new EaselError('INVALID_REQUEST', `${what} is not UTF-8 text.`);
  }
  return text.replace(/\r?\n$/, '');
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await prompt.question(question);
  prompt.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** `--init-image`, `--strength`, `--mask`, `--mask-blur`: read here, decoded (with its limits) by the worker. */
async function editRequest(values: { 'init-image'?: string; strength?: string; mask?: string; 'mask-blur'?: string }): Promise<EditRequest | undefined> {
  const strength = decimal('strength', values.strength);
  const maskBlur = integer('mask-blur', values['mask-blur']);
  if (!values['init-image']) {
    const stray = values.mask !== undefined ? '--mask' : strength !== undefined ? '--strength' : maskBlur !== undefined ? '--mask-blur' : undefined;
    if (stray) throw new EaselError('INVALID_REQUEST', `${stray} needs --init-image: the image to start from.`);
    return undefined;
  }
  if (strength !== undefined && !SETTING_CHECKS.strength(strength)) throw new EaselError('INVALID_REQUEST', `--strength must be a number from ${LIMITS.strength.min} to ${LIMITS.strength.max}, got ${strength}.`);
  if (maskBlur !== undefined && !SETTING_CHECKS.maskBlur(maskBlur)) throw new EaselError('INVALID_REQUEST', `--mask-blur must be a whole number of pixels from ${LIMITS.maskBlur.min} to ${LIMITS.maskBlur.max}, got ${maskBlur}.`);
  const read = async (flag: string, path: string) => {
    const size = (await stat(path).catch(() => undefined))?.size;
    if (size === undefined) throw new EaselError('IMAGE_INVALID', `${flag} ${path}: no such file.`);
    if (size > MAX_INPUT_BYTES) throw new EaselError('IMAGE_INVALID', `${flag} ${path} is ${Math.round(size / 1048576)} MB; Easel reads images up to ${MAX_INPUT_BYTES / 1048576} MB.`);
    const bytes = await readFile(path);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  };
  const imagePath = values['init-image'];
  return {
    image: await read('--init-image', imagePath), imagePath: displayPath(imagePath),
    ...(values.mask ? { mask: await read('--mask', values.mask), maskPath: displayPath(values.mask) } : {}),
    strength, maskBlur,
  };
}

/** What the metadata records: the path relative to the current folder when it is inside it, else the file name. */
function displayPath(path: string): string {
  const relativePath = relative(process.cwd(), resolve(path));
  return relativePath && !relativePath.startsWith('..') && !isAbsolute(relativePath) ? relativePath.split(sep).join('/') : basename(path);
}

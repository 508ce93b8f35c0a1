import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EaselError } from '../engine/errors.ts';
import { inspectModelFolder } from '../engine/modelFolder.ts';
import { modelHash } from '../engine/modelHash.ts';
import { loadModel } from '../engine/modelSessions.ts';
import { generate, validateParams } from '../engine/pipeline.ts';
import { isExecutionProviderChoice } from '../engine/providers.ts';
import { parseSamplerName, parseScheduleType } from '../engine/samplers/index.ts';
import { writeNewFile } from '../png/safeWrite.ts';
import { encodePng } from '../png/writeMetadata.ts';
import { EASEL_VERSION } from '../version.ts';
import { ProgressBar } from './progressBar.ts';

export const GENERATE_HELP = `Usage: easel generate --model DIR --prompt TEXT --out FILE.png [options]

Generates images with a diffusers-format ONNX Stable Diffusion model.

Options:
  --model DIR            model folder (model_index.json, unet/, text_encoder/, vae_decoder/, tokenizer/, scheduler/)
  --prompt TEXT          what to draw
  --negative-prompt TEXT what to steer away from
  --steps N              sampling steps (default 20)
  --cfg X                classifier-free guidance scale (default 7; ≤ 1 turns guidance off)
  --seed N               0 … 18446744073709551615 (default: random)
  --sampler NAME         Euler a | Euler | DPM++ 2M | DDIM | PLMS | LCM (default "Euler a")
  --schedule TYPE        automatic | karras (default automatic)
  --width W, --height H  multiples of 8 (default: the model's native size)
  --rng cpu|gpu          noise source: cpu = diffusers/torch CPU, gpu = A1111's default (default cpu)
  --batch N              images to make, with seeds seed, seed+1, … (default 1)
  --provider NAME        auto | cpu | webgpu | dml | coreml | cuda (default cpu)
  --out FILE.png         where to write; an existing file is never replaced (a -2, -3 … suffix is added)
  --no-provenance        leave out the IPTC "trained algorithmic media" XMP (on by default)
  --json                 print one JSON line per image on stdout
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
      provider: { type: 'string' },
      out: { type: 'string' },
      'no-provenance': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(GENERATE_HELP);
    return 0;
  }
  if (!values.model) throw new EaselError('INVALID_REQUEST', '--model is required: a diffusers ONNX model folder.');
  if (values.prompt === undefined) throw new EaselError('INVALID_REQUEST', '--prompt is required.');
  if (!values.out) throw new EaselError('INVALID_REQUEST', '--out is required: the PNG file to write.');
  if (extname(values.out).toLowerCase() !== '.png') throw new EaselError('INVALID_REQUEST', `--out must name a .png file, got "${values.out}".`);
  const provider = values.provider ?? 'cpu';
  if (!isExecutionProviderChoice(provider)) throw new EaselError('INVALID_REQUEST', `Unknown --provider "${provider}". Choose auto, cpu, webgpu, dml, coreml or cuda.`);
  if (values.seed !== undefined && !/^\d+$/.test(values.seed.trim())) throw new EaselError('INVALID_REQUEST', `--seed must be a whole number from 0 to 18446744073709551615, got "${values.seed}".`);
  if (values.rng !== undefined && values.rng !== 'cpu' && values.rng !== 'gpu') throw new EaselError('INVALID_REQUEST', `--rng must be cpu or gpu, got "${values.rng}".`);
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
    rng: values.rng as 'cpu' | 'gpu' | undefined,
    batchCount: integer('batch', values.batch),
  };
  // Checked once without the model so that bad input fails before anything loads.
  validateParams({ ...request, width: request.width ?? 512, height: request.height ?? 512 });

  const out = resolve(values.out);
  await access(dirname(out), constants.W_OK).catch((error: Error) => {
    throw new EaselError('OUTPUT_FAILED', `Cannot write into ${dirname(out)}: ${error.message}. Choose a folder you can write to.`);
  });
  const folder = await inspectModelFolder(resolve(values.model));
  const bar = new ProgressBar();
  process.stderr.write(`Loading ${folder.name} (${provider})…\n`);
  const model = await loadModel(folder, provider);
  try {
    for (const attempt of model.providerAttempts) if (attempt.error) process.stderr.write(`Provider ${attempt.provider} unavailable: ${attempt.error.split('\n')[0]}\n`);
    const params = validateParams(request, model);
    const hash = await modelHash(folder.components.unet!, join(homedir(), '.cache', 'easel', 'model-hashes.json')).catch(() => undefined);
    const written: string[] = [];
    await generate(model, params, {
      onStep: (progress) => bar.update(`Image ${progress.imageIndex + 1}/${params.batchCount}`, progress.step, progress.total, progress.elapsedMs),
      onImage: async (image) => {
        bar.finish();
        const png = await encodePng(image.rgb, image.width, image.height, {
          prompt: params.prompt,
          negativePrompt: params.negativePrompt,
          steps: params.steps,
          sampler: params.sampler,
          schedule: params.schedule,
          cfgScale: params.cfgScale,
          seed: image.seed.toString(),
          width: image.width,
          height: image.height,
          rng: params.rng,
          batchIndex: image.index,
          modelName: folder.name,
          modelHash: hash,
          provider: model.provider,
          appVersion: EASEL_VERSION,
          durationMs: Math.round(image.timing.totalMs),
        }, { provenance: !values['no-provenance'] });
        const target = params.batchCount === 1 ? out : join(dirname(out), `${basename(out, extname(out))}-${image.seed}${extname(out)}`);
        const path = await writeNewFile(target, png);
        written.push(path);
        if (values.json) {
          process.stdout.write(`${JSON.stringify({ path, seed: image.seed.toString(), width: image.width, height: image.height, ms: Math.round(image.timing.totalMs) })}\n`);
        } else {
          process.stderr.write(`Wrote ${path} (seed ${image.seed}, ${(image.timing.totalMs / 1000).toFixed(1)} s)\n`);
        }
      },
    });
    return 0;
  } finally {
    await model.release();
  }
}

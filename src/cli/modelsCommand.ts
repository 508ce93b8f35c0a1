import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { EaselError } from '../shared/errors.ts';
import { downloadModel } from '../models/download.ts';
import { CURATED_TINY_DECODERS } from '../models/curated.ts';
import { DEFAULT_HUB_ENDPOINT } from '../models/hub.ts';
import { importCheckpoint } from '../models/checkpointImport.ts';
import { listModels, type ModelEntry } from '../models/library.ts';
import { describeRecommended } from '../shared/recommendedSettings.ts';
import { ProgressBar } from './progressBar.ts';

export const DEFAULT_MODELS_DIR = process.env.EASEL_MODELS_DIR ?? join(homedir(), '.cache', 'easel', 'models');

export const MODELS_HELP = `Usage:
  easel models list [--dir DIR ...] [--json]
  easel models download OWNER/REPO [--revision R] [--dir DIR] [--yes]
  easel models import FILE.safetensors|DIFFUSERS_DIR [--name NAME] [--dir DIR] [--tokenizer DIR]

list      lists the diffusers ONNX models in DIR (default ${DEFAULT_MODELS_DIR}) with their
          family, native size, prediction type, weight type, size and recommended settings; broken
          folders with the reason.
download  fetches what the pipeline needs from a Hugging Face Hub repository, resuming an
          interrupted download and verifying every file. HF_TOKEN is used for gated models;
          HF_ENDPOINT changes the Hub address. --yes accepts the licence without asking.
import    builds ONNX graphs for a single-file Stable Diffusion 1.x/2.x checkpoint (or a diffusers
          folder with .safetensors weights) and adds it to DIR. The weights are read in place:
          keep the checkpoint where it is. Its tokenizer comes from a model of the same family
          in DIR, or --tokenizer DIR. .ckpt pickles are refused (never unpickled).
`;

function gib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

function recommendedLine(entry: ModelEntry): string {
  if (entry.recommended) return `  recommended: ${describeRecommended(entry.recommended.settings)} (${entry.recommended.source})\n`;
  return entry.recommendedProblem ? `  recommended settings ignored: ${entry.recommendedProblem}\n` : '';
}

export async function runModels(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest, allowPositionals: true, strict: true,
    options: { dir: { type: 'string', multiple: true }, revision: { type: 'string' }, name: { type: 'string' }, tokenizer: { type: 'string' }, json: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || verb === undefined || verb === '--help' || verb === '-h') {
    process.stdout.write(MODELS_HELP);
    return 0;
  }
  const dirs = (values.dir?.length ? values.dir : [DEFAULT_MODELS_DIR]).map((dir) => resolve(dir));
  if (verb === 'list') {
    const entries = await listModels(dirs);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      return 0;
    }
    if (entries.length === 0) process.stdout.write(`No models in ${dirs.join(', ')}. Download one with "easel models download OWNER/REPO".\n`);
    for (const entry of entries) {
      process.stdout.write(entry.valid
        ? `${entry.name}  ${entry.family} · ${entry.nativeSize}px · ${entry.prediction} · ${entry.weightType} · ${gib(entry.sizeBytes)}${entry.hasSafetyChecker ? ' · safety checker' : ''}\n  ${entry.path}\n${recommendedLine(entry)}`
        : `${entry.name}  (unusable: ${entry.reason})\n  ${entry.path}\n`);
    }
    return 0;
  }
  if (verb === 'download') {
    if (positionals.length !== 1) throw new EaselError('INVALID_REQUEST', 'models download takes one OWNER/REPO.');
    const bar = new ProgressBar();
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    const started = performance.now();
    const folder = await downloadModel({
      repo: positionals[0],
      revision: values.revision,
      kind: CURATED_TINY_DECODERS.some((decoder) => decoder.repo === positionals[0]) ? 'tinyDecoder' : 'model',
      destinationRoot: dirs[0],
      endpoint: process.env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT,
      token: process.env.HF_TOKEN,
      signal: controller.signal,
      confirmLicense: async (license, files, total) => {
        process.stderr.write(`${positionals[0]}: ${files.length} files, ${gib(total)}, licence: ${license ?? 'not stated in the model card'}\n`);
        if (values.yes) return true;
        if (!process.stdin.isTTY) throw new EaselError('INVALID_REQUEST', 'Pass --yes to accept the licence when not running in a terminal.');
        const prompt = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await prompt.question('Accept the licence and download? [y/N] ');
        prompt.close();
        return /^y(es)?$/i.test(answer.trim());
      },
      onProgress: (progress) => bar.update(progress.file, Math.round(progress.bytesDone / 1024 ** 2), Math.round(progress.bytesTotal / 1024 ** 2), performance.now() - started, 'MiB'),
    });
    bar.finish();
    process.stdout.write(`${folder}\n`);
    return 0;
  }
  if (verb === 'import') {
    if (positionals.length !== 1) throw new EaselError('INVALID_REQUEST', 'models import takes one .safetensors file or diffusers folder.');
    const started = performance.now();
    const result = await importCheckpoint(positionals[0], {
      destinationRoot: dirs[0], name: values.name, tokenizerDir: values.tokenizer === undefined ? undefined : resolve(values.tokenizer),
      onStage: (stage, detail) => process.stderr.write(`${stage}${detail ? ` ${detail}` : ''}…\n`),
    });
    process.stderr.write(result.reused
      ? `Already imported (unchanged): ${result.family}, model hash ${result.modelHash}.\n`
      : `Imported ${result.family} in ${((performance.now() - started) / 1000).toFixed(1)} s: model hash ${result.modelHash}, graphs ${gib(result.graphBytes)} (the weights stay in ${positionals[0]}).\n`);
    process.stdout.write(`${result.folder}\n`);
    return 0;
  }
  throw new EaselError('INVALID_REQUEST', `Unknown models command "${verb}". Use list, download or import.`);
}

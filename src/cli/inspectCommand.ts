import { parseArgs } from 'node:util';
import { EaselError } from '../shared/errors.ts';
import { readImageMetadataFile } from '../png/readMetadata.ts';

export const INSPECT_HELP = `Usage: easel inspect FILE.png [--json]

Prints how an image was made, read from its PNG metadata (Easel, AUTOMATIC1111/Forge/SD.Next,
ComfyUI, InvokeAI, NovelAI, Fooocus).

Options:
  --json      print the normalised parameters and the raw text chunks as JSON
  -h, --help  show this help
`;

const LABELS: Array<[string, string]> = [
  ['prompt', 'Prompt'], ['negativePrompt', 'Negative prompt'], ['steps', 'Steps'], ['sampler', 'Sampler'],
  ['schedule', 'Schedule type'], ['cfgScale', 'CFG scale'], ['seed', 'Seed'], ['width', 'Width'], ['height', 'Height'],
  ['rng', 'RNG'], ['modelName', 'Model'], ['modelHash', 'Model hash'], ['provider', 'Provider'], ['appVersion', 'Version'],
];

export async function runInspect(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(INSPECT_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new EaselError('INVALID_REQUEST', 'inspect takes exactly one PNG file.');
  const metadata = await readImageMetadataFile(positionals[0]);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(metadata, null, 2)}\n`);
    return 0;
  }
  const lines = [`Source: ${metadata.source}`];
  const parameters = metadata.parameters as Record<string, unknown>;
  for (const [key, label] of LABELS) if (parameters[key] !== undefined && parameters[key] !== '') lines.push(`${label}: ${String(parameters[key])}`);
  for (const item of metadata.unmapped) lines.push(`Not mapped: ${item}`);
  for (const problem of metadata.problems) lines.push(`Problem: ${problem}`);
  if (metadata.source === 'none') lines.push('No generation parameters found.');
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

import { DEFAULT_EMPHASIS, isEmphasisMode } from '../engine/promptSyntax.ts';
import { isSamplerName } from '../engine/samplers/index.ts';
import type { ImageParameters } from './imageParameters.ts';
import { withoutUndefined } from './readers/jsonShape.ts';

/** AUTOMATIC1111's quote(): JSON-quote values holding a comma, colon or newline. */
export function quoteInfotextValue(value: string): string {
  return /[,:\n]/.test(value) ? JSON.stringify(value) : value;
}

/**
 * AUTOMATIC1111's infotext, written exactly: the prompt, "Negative prompt: …" when there is one, then
 * one line of "Key: value" pairs in A1111's order. `RNG` is written only when it is not A1111's
 * default GPU source; `Schedule type` only when it is not Automatic; `VAE Decoder` only when it is TAESD.
 */
export function formatInfotext(parameters: ImageParameters & { version?: string }, extra: Record<string, string> = {}): string {
  const pairs: Array<[string, string | number | undefined]> = [
    ['Steps', parameters.steps],
    ['Sampler', parameters.sampler],
    ['Schedule type', parameters.schedule && parameters.schedule !== 'Automatic' ? parameters.schedule : undefined],
    ['CFG scale', parameters.cfgScale],
    ['Seed', parameters.seed],
    ['Size', parameters.width && parameters.height ? `${parameters.width}x${parameters.height}` : undefined],
    ['Model hash', parameters.modelHash],
    ['Model', parameters.modelName],
    ['RNG', parameters.rng === 'cpu' ? 'CPU' : undefined],
    // A1111 names the emphasis only when it is not the default and a prompt has brackets to apply it to.
    ['Emphasis', parameters.emphasis && parameters.emphasis !== DEFAULT_EMPHASIS && /[([]/.test(`${parameters.prompt ?? ''}${parameters.negativePrompt ?? ''}`) ? parameters.emphasis : undefined],
    ['VAE Decoder', parameters.decoder === 'tiny' ? 'TAESD' : undefined],
    ...Object.entries(extra),
    ['Version', parameters.version],
  ];
  const line = pairs
    .filter((pair): pair is [string, string | number] => pair[1] !== undefined && pair[1] !== '')
    .map(([key, value]) => `${key}: ${quoteInfotextValue(String(value))}`)
    .join(', ');
  const negative = parameters.negativePrompt ? `\nNegative prompt: ${parameters.negativePrompt}` : '';
  return `${parameters.prompt ?? ''}${negative}\n${line}`.trim();
}

const PARAMETER = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;
const IMAGE_SIZE = /^(\d+)x(\d+)$/;

export interface ParsedInfotext {
  prompt: string;
  negativePrompt: string;
  /** Every key as written, values unquoted. */
  fields: Map<string, string>;
}

/** A1111's parse_generation_parameters: the last line is parameters if it holds three or more pairs. */
export function parseInfotextFields(text: string): ParsedInfotext {
  const lines = text.trim().split('\n');
  let last = lines.pop() ?? '';
  if ([...last.matchAll(PARAMETER)].length < 3) {
    lines.push(last);
    last = '';
  }
  let prompt = '';
  let negativePrompt = '';
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      line = line.slice(16).trim();
    }
    if (inNegative) negativePrompt += (negativePrompt === '' ? '' : '\n') + line;
    else prompt += (prompt === '' ? '' : '\n') + line;
  }
  const fields = new Map<string, string>();
  for (const [, key, raw] of last.matchAll(PARAMETER)) {
    let value = raw;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      try {
        const unquoted: unknown = JSON.parse(value);
        if (typeof unquoted === 'string') value = unquoted;
      } catch {
        // A1111 keeps the raw text when unquoting fails.
      }
    }
    fields.set(key.trim(), value);
  }
  return { prompt, negativePrompt, fields };
}

const MAPPED_KEYS = new Set(['Steps', 'Sampler', 'Schedule type', 'CFG scale', 'Seed', 'Size', 'Model hash', 'Model', 'RNG', 'Emphasis', 'VAE Decoder', 'Version']);

function positiveNumber(value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const number = Number(value);
  return Number.isFinite(number) && (!integer || Number.isInteger(number)) ? number : undefined;
}

/** Maps A1111 fields to ImageParameters; what has no equivalent goes to `unmapped` as "Key: value". */
export function parseInfotext(text: string): { parameters: ImageParameters; unmapped: string[] } {
  const { prompt, negativePrompt, fields } = parseInfotextFields(text);
  const parameters: ImageParameters = { prompt, negativePrompt };
  const unmapped: string[] = [];
  parameters.steps = positiveNumber(fields.get('Steps'), true);
  parameters.cfgScale = positiveNumber(fields.get('CFG scale'), false);
  const seed = fields.get('Seed')?.trim();
  if (seed && /^\d{1,20}$/.test(seed) && BigInt(seed) < 1n << 64n) parameters.seed = seed;
  else if (seed) unmapped.push(`Seed: ${seed}`);
  const size = IMAGE_SIZE.exec(fields.get('Size') ?? '');
  if (size) [parameters.width, parameters.height] = [Number(size[1]), Number(size[2])];
  let sampler = fields.get('Sampler');
  let schedule = fields.get('Schedule type');
  if (sampler && / Karras$/.test(sampler)) {
    sampler = sampler.slice(0, -7);
    schedule ??= 'Karras';
  }
  if (sampler !== undefined) {
    if (isSamplerName(sampler)) parameters.sampler = sampler;
    else unmapped.push(`Sampler: ${sampler} (Easel has no such sampler)`);
  }
  if (schedule !== undefined) {
    if (schedule === 'Karras' || schedule === 'Automatic') parameters.schedule = schedule;
    else unmapped.push(`Schedule type: ${schedule}`);
  }
  const rng = fields.get('RNG');
  parameters.rng = rng === 'CPU' ? 'cpu' : 'gpu';
  if (rng !== undefined && !['CPU', 'GPU', 'NV'].includes(rng)) unmapped.push(`RNG: ${rng}`);
  const emphasis = fields.get('Emphasis');
  if (isEmphasisMode(emphasis)) parameters.emphasis = emphasis;
  else if (emphasis !== undefined) unmapped.push(`Emphasis: ${emphasis}`);
  const decoder = fields.get('VAE Decoder');
  if (decoder === 'TAESD') parameters.decoder = 'tiny';
  else if (decoder === 'Full') parameters.decoder = 'full';
  else if (decoder !== undefined) unmapped.push(`VAE Decoder: ${decoder}`);
  parameters.modelHash = fields.get('Model hash');
  parameters.modelName = fields.get('Model');
  parameters.appVersion = fields.get('Version');
  for (const [key, value] of fields) if (!MAPPED_KEYS.has(key)) unmapped.push(`${key}: ${value}`);
  return { parameters: withoutUndefined(parameters), unmapped };
}

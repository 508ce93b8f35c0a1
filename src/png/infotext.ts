import { DEFAULTS, seedText } from '../shared/generationSettings.ts';
import { isEmphasisMode, isSamplerName } from '../shared/names.ts';
import { parseLoraHashes } from './loraHashes.ts';
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
    ['Denoising strength', parameters.denoisingStrength],
    ['RNG', parameters.rng === 'cpu' ? 'CPU' : undefined],
    ['Mask blur', parameters.maskBlur],
    ['Lora hashes', parameters.loraHashes],
    // A1111 names the emphasis only when it is not the default and a prompt has brackets to apply it to.
    ['Emphasis', parameters.emphasis && parameters.emphasis !== DEFAULTS.emphasis && /[([]/.test(`${parameters.prompt ?? ''}${parameters.negativePrompt ?? ''}`) ? parameters.emphasis : undefined],
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

/**
 * A1111's `re_param_code` (`\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)`, found
 * repeatedly), matched by hand: the regex backtracks over every start position of a long line
 * without a colon, which took minutes on a hostile 300 KB line. This walk visits each character a
 * bounded number of times. Returns [key, raw value] pairs in order.
 */
export function infotextPairs(line: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let from = 0;
  while (from < line.length) {
    // The key is the run of key characters ending just before a colon, from its first word
    // character; the first colon with a key of two or more characters wins.
    let colon = line.indexOf(':', from);
    let keyStart = -1;
    while (colon >= 0) {
      let runStart = colon;
      while (runStart > from && isKeyChar(line.charCodeAt(runStart - 1))) runStart--;
      let word = runStart;
      while (word < colon && !isWordChar(line.charCodeAt(word))) word++;
      if (colon - word >= 2) {
        keyStart = word;
        break;
      }
      colon = line.indexOf(':', colon + 1);
    }
    if (keyStart < 0) break;
    let valueStart = colon + 1;
    while (valueStart < line.length && isSpace(line.charCodeAt(valueStart))) valueStart++;
    let valueEnd = -1;
    if (line.charCodeAt(valueStart) === QUOTE) {
      const close = closingQuote(line, valueStart);
      if (close > valueStart + 1 && (close + 1 === line.length || line.charCodeAt(close + 1) === COMMA)) valueEnd = close + 1;
    }
    if (valueEnd < 0) {
      valueEnd = line.indexOf(',', valueStart);
      if (valueEnd < 0) valueEnd = line.length;
    }
    pairs.push([line.slice(keyStart, colon), line.slice(valueStart, valueEnd)]);
    from = valueEnd + 1;
  }
  return pairs;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;

function isWordChar(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f;
}

function isKeyChar(code: number): boolean {
  return isWordChar(code) || code === 0x20 || code === 0x2d || code === 0x2f;
}

/** What JavaScript's `\s` matches. */
function isSpace(code: number): boolean {
  return (code >= 0x09 && code <= 0x0d) || code === 0x20 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a)
    || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

/** Index of the quote closing the one at `open` (`\\.` escapes any character but a line break), or -1. */
function closingQuote(line: string, open: number): number {
  for (let i = open + 1; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code === QUOTE) return i;
    if (code === BACKSLASH) {
      const next = line.charCodeAt(i + 1);
      if (i + 1 >= line.length || next === 0x0a || next === 0x0d || next === 0x2028 || next === 0x2029) return -1;
      i++;
    }
  }
  return -1;
}

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
  const last = lines.pop() ?? '';
  const pairs = infotextPairs(last);
  if (pairs.length < 3) {
    lines.push(last);
    pairs.length = 0;
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
  for (const [key, raw] of pairs) {
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

const MAPPED_KEYS = new Set(['Steps', 'Sampler', 'Schedule type', 'CFG scale', 'Seed', 'Size', 'Model hash', 'Model', 'RNG', 'Emphasis', 'VAE Decoder', 'Version', 'Denoising strength', 'Mask blur', 'Lora hashes']);

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
  if (seedText(seed)) parameters.seed = seed;
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
  const strength = positiveNumber(fields.get('Denoising strength'), false);
  if (strength !== undefined && strength <= 1) parameters.denoisingStrength = strength;
  else if (fields.has('Denoising strength')) unmapped.push(`Denoising strength: ${fields.get('Denoising strength')}`);
  parameters.maskBlur = positiveNumber(fields.get('Mask blur'), true);
  if (parameters.maskBlur === undefined && fields.has('Mask blur')) unmapped.push(`Mask blur: ${fields.get('Mask blur')}`);
  const loraHashes = fields.get('Lora hashes');
  if (loraHashes !== undefined && parseLoraHashes(loraHashes).length > 0) parameters.loraHashes = loraHashes;
  else if (loraHashes !== undefined) unmapped.push(`Lora hashes: ${loraHashes}`);
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

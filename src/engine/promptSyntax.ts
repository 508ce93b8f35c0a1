/**
 * AUTOMATIC1111's prompt syntax, as `modules/prompt_parser.py` (parse_prompt_attention),
 * `modules/extra_networks.py` (parse_prompt) and `modules/sd_hijack_clip.py` (tokenize_line) define it:
 * attention weights, escapes, BREAK, `<lora:…>` tags, and 75-token chunks with the comma back-off.
 * Pure: no ONNX, no file access, so the panel, the CLI and the worker read a prompt the same way.
 */
import { EaselError } from '../shared/errors.ts';
import { DEFAULTS } from '../shared/generationSettings.ts';
import type { EmphasisMode } from '../shared/names.ts';

/** One run of prompt text and its attention multiplier; BREAK is the text "BREAK" with weight −1, as in A1111. */
export type WeightedText = [text: string, weight: number];

const BREAK_WEIGHT = -1;
const ROUND_MULTIPLIER = 1.1;
const SQUARE_MULTIPLIER = 1 / 1.1;

/** re_attention: escapes, brackets, a `:weight)` close, plain text, a lone colon. */
const ATTENTION = /\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:([+-]?[.\d]+)\)|\)|]|[^\\()[\]:]+|:/g;
/** re_break (`\s*\bBREAK\b\s*`), with Python's Unicode word boundary. */
const BREAK = /\s*(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])\s*/u;

/**
 * parse_prompt_attention: `(a)` ×1.1, `[a]` ÷1.1, `(a:1.3)` ×1.3, `\(` `\)` `\[` `\]` `\\` literal,
 * unbalanced brackets closed at the end, runs of equal weight merged.
 */
export function parsePromptAttention(text: string): WeightedText[] {
  const res: WeightedText[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyRange = (start: number, multiplier: number) => {
    for (let p = start; p < res.length; p++) res[p][1] *= multiplier;
  };
  for (const match of text.matchAll(ATTENTION)) {
    const piece = match[0];
    const weight = match[1];
    if (piece.startsWith('\\')) {
      res.push([piece.slice(1), 1.0]);
    } else if (piece === '(') {
      round.push(res.length);
    } else if (piece === '[') {
      square.push(res.length);
    } else if (weight !== undefined && round.length > 0) {
      const value = Number(weight);
      if (!Number.isFinite(value)) {
        throw new EaselError('INVALID_REQUEST', `The prompt weight in "${piece}" is not a number; write it like (word:1.2).`);
      }
      multiplyRange(round.pop()!, value);
    } else if (piece === ')' && round.length > 0) {
      multiplyRange(round.pop()!, ROUND_MULTIPLIER);
    } else if (piece === ']' && square.length > 0) {
      multiplyRange(square.pop()!, SQUARE_MULTIPLIER);
    } else {
      piece.split(BREAK).forEach((part, i) => {
        if (i > 0) res.push(['BREAK', BREAK_WEIGHT]);
        res.push([part, 1.0]);
      });
    }
  }
  for (const start of round) multiplyRange(start, ROUND_MULTIPLIER);
  for (const start of square) multiplyRange(start, SQUARE_MULTIPLIER);
  if (res.length === 0) res.push(['', 1.0]);
  for (let i = 0; i + 1 < res.length;) {
    if (res[i][1] === res[i + 1][1]) {
      res[i][0] += res[i + 1][0];
      res.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return res;
}

export function isBreak([text, weight]: WeightedText): boolean {
  return text === 'BREAK' && weight === BREAK_WEIGHT;
}

/** A `<lora:name:multiplier>` tag (A1111: `<lora:name>` means 1; `<lora:name:te:unet>` or `unet=` sets the UNet's apart). */
export interface LoraTag {
  name: string;
  textEncoderMultiplier: number;
  unetMultiplier: number;
}

export interface ExtraNetworks {
  /** The prompt with every `<kind:…>` tag removed, as the text encoder sees it. */
  text: string;
  loras: LoraTag[];
  /** Tags of other kinds (hypernet, lyco, …) that Easel removed but does not apply. */
  ignored: string[];
}

const EXTRA_NETWORK = /<(\w+):([^>]+)>/g;

function multiplier(value: string, tag: string): number {
  const number = value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(number)) throw new EaselError('INVALID_REQUEST', `The multiplier "${value}" in ${tag} is not a number; write it like <lora:name:0.8>.`);
  return number;
}

/** extra_networks.parse_prompt: removes every `<kind:args>` tag; `lora` tags are returned with their multipliers. */
export function parseExtraNetworks(prompt: string): ExtraNetworks {
  const loras: LoraTag[] = [];
  const ignored: string[] = [];
  const text = prompt.replace(EXTRA_NETWORK, (tag, kind: string, args: string) => {
    if (kind !== 'lora') {
      ignored.push(tag);
      return '';
    }
    const items = args.split(':');
    const positional = items.filter((item) => !item.includes('='));
    const named = new Map(items.filter((item) => item.includes('=')).map((item) => [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)]));
    const name = positional[0] ?? '';
    if (name.trim() === '') throw new EaselError('INVALID_REQUEST', `${tag} names no LoRA; write it like <lora:name:0.8>.`);
    const te = named.has('te') ? multiplier(named.get('te')!, tag) : positional[1] !== undefined ? multiplier(positional[1], tag) : 1;
    const unet = named.has('unet') ? multiplier(named.get('unet')!, tag) : positional[2] !== undefined ? multiplier(positional[2], tag) : te;
    loras.push({ name, textEncoderMultiplier: te, unetMultiplier: unet });
    return '';
  });
  return { text, loras, ignored };
}

/** What chunking needs from a tokenizer (ClipTokenizer provides it). */
export interface ChunkTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** The id of `,</w>` when the vocabulary has one. */
  readonly commaId?: number;
  tokenize(text: string): number[];
}

export interface PromptChunk {
  /** `maxLength` ids: start, up to `maxLength − 2` prompt tokens, end, padding. */
  ids: Int32Array;
  /** One attention multiplier per id (1 for start, end and padding). */
  multipliers: Float32Array;
}

export interface ChunkedPrompt {
  chunks: PromptChunk[];
  /** Prompt tokens as A1111 counts them (full chunks count 75, the last its own length). */
  tokenCount: number;
}

/** A1111's "Prompt word wrap length limit" default (comma_padding_backtrack). */
export const COMMA_BACKTRACK = 20;

/**
 * tokenize_line: the prompt's tokens in chunks of `maxLength − 2` (75 for CLIP), a BREAK starting a
 * new chunk, and a chunk that fills up within `commaBacktrack` tokens of a comma moving the text
 * after that comma to the next chunk. With emphasis "None" the line is tokenized literally.
 */
export function chunkPrompt(text: string, tokenizer: ChunkTokenizer, emphasis: EmphasisMode = DEFAULTS.emphasis, commaBacktrack = COMMA_BACKTRACK): ChunkedPrompt {
  const chunkLength = tokenizer.maxLength - 2;
  const parsed: WeightedText[] = emphasis === 'None' ? [[text, 1.0]] : parsePromptAttention(text);
  const chunks: PromptChunk[] = [];
  let tokens: number[] = [];
  let multipliers: number[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const nextChunk = (isLast = false) => {
    tokenCount += isLast ? tokens.length : chunkLength;
    const ids = new Int32Array(chunkLength + 2).fill(tokenizer.eosId);
    const weights = new Float32Array(chunkLength + 2).fill(1);
    ids[0] = tokenizer.bosId;
    ids.set(tokens, 1);
    weights.set(multipliers, 1);
    // SD 2.x: everything after the first end token is padding ("!"), as process_tokens rewrites it.
    if (tokenizer.padId !== tokenizer.eosId) ids.fill(tokenizer.padId, ids.indexOf(tokenizer.eosId) + 1);
    chunks.push({ ids, multipliers: weights });
    lastComma = -1;
    tokens = [];
    multipliers = [];
  };

  for (const piece of parsed) {
    if (isBreak(piece)) {
      nextChunk();
      continue;
    }
    const [pieceText, weight] = piece;
    for (const token of tokenizer.tokenize(pieceText)) {
      if (token === tokenizer.commaId) {
        lastComma = tokens.length;
      } else if (commaBacktrack !== 0 && tokens.length === chunkLength && lastComma !== -1 && tokens.length - lastComma <= commaBacktrack) {
        const breakAt = lastComma + 1;
        const movedTokens = tokens.slice(breakAt);
        const movedMultipliers = multipliers.slice(breakAt);
        tokens = tokens.slice(0, breakAt);
        multipliers = multipliers.slice(0, breakAt);
        nextChunk();
        tokens = movedTokens;
        multipliers = movedMultipliers;
      }
      if (tokens.length === chunkLength) nextChunk();
      tokens.push(token);
      multipliers.push(weight);
    }
  }
  if (tokens.length > 0 || chunks.length === 0) nextChunk(true);
  return { chunks, tokenCount };
}

/**
 * sd_emphasis: multiplies each token's hidden state by its multiplier; "Original" then rescales the
 * chunk so its mean is what it was before ("restoring original mean", A1111's default).
 * `hidden` is one chunk's text-encoder output, [tokens, width] row-major; changed in place.
 */
export function applyEmphasis(hidden: Float32Array, multipliers: Float32Array, emphasis: EmphasisMode): void {
  if (emphasis === 'None' || emphasis === 'Ignore') return;
  const width = hidden.length / multipliers.length;
  if (!Number.isInteger(width)) throw new RangeError(`hidden states of ${hidden.length} values do not split into ${multipliers.length} tokens`);
  let originalSum = 0;
  for (let i = 0; i < hidden.length; i++) originalSum += hidden[i];
  let newSum = 0;
  for (let t = 0; t < multipliers.length; t++) {
    const m = multipliers[t];
    for (let i = t * width; i < (t + 1) * width; i++) {
      hidden[i] = Math.fround(hidden[i] * m);
      newSum += hidden[i];
    }
  }
  // A mean of exactly 0 after weighting would make A1111 divide by zero (NaN everywhere); keep the weighted values then.
  if (emphasis === 'No norm' || newSum === 0) return;
  const ratio = Math.fround(Math.fround(originalSum / hidden.length) / Math.fround(newSum / hidden.length));
  for (let i = 0; i < hidden.length; i++) hidden[i] *= ratio;
}

/**
 * pad_cond (A1111's "pad prompt/negative prompt to be same length"): appends the empty prompt's
 * encoding, one chunk at a time, so prompt and negative prompt have `target` chunks each.
 */
export function padToChunks(hidden: Float32Array, chunks: number, target: number, emptyChunk: Float32Array): Float32Array {
  if (chunks >= target) return hidden;
  const padded = new Float32Array(hidden.length + (target - chunks) * emptyChunk.length);
  padded.set(hidden);
  for (let offset = hidden.length; offset < padded.length; offset += emptyChunk.length) padded.set(emptyChunk, offset);
  return padded;
}

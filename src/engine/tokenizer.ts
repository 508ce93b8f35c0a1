import { join } from 'node:path';
import { parseConfigJson, readBoundedText, TOKENIZER_FILE_LIMIT } from './configFiles.ts';
import { EaselError } from '../shared/errors.ts';

/** GPT-2/CLIP byte ↔ printable-character table, in the order CLIP's vocab lists the base symbols. */
function byteToUnicodeTable(): string[] {
  const bytes: number[] = [];
  for (let b = 33; b <= 126; b++) bytes.push(b);
  for (let b = 161; b <= 172; b++) bytes.push(b);
  for (let b = 174; b <= 255; b++) bytes.push(b);
  const chars = bytes.slice();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + extra++);
    }
  }
  const table = new Array<string>(256);
  bytes.forEach((b, i) => (table[b] = String.fromCodePoint(chars[i])));
  return table;
}

export const BYTE_TO_UNICODE: readonly string[] = byteToUnicodeTable();

/** The base alphabet in vocabulary order (ids 0 … 255 in CLIP's vocab.json). */
export function byteLevelAlphabet(): string[] {
  const order: number[] = [];
  for (let b = 33; b <= 126; b++) order.push(b);
  for (let b = 161; b <= 172; b++) order.push(b);
  for (let b = 174; b <= 255; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order.map((b) => BYTE_TO_UNICODE[b]);
}

const PRE_TOKENIZER = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;
const HTML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * CLIP's basic_clean + whitespace_clean + lower-casing. transformers' CLIPTokenizer has two paths: with
 * ftfy installed it runs ftfy.fix_text and unescapes HTML entities; without, it uses BERT's
 * BasicTokenizer, which splits CJK characters apart and leaves entities as text. Easel follows the
 * ftfy path (what the original CLIP and diffusers' usual environments run), with NFC standing in for
 * ftfy's repairs; the two paths agree on everything else (test/unit/tokenizerReference.test.ts).
 */
export function cleanText(text: string): string {
  const unescaped = text.normalize('NFC').replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return HTML_ENTITIES[body.toLowerCase()] ?? entity;
  });
  return unescaped.replace(/\s+/g, ' ').trim().toLowerCase();
}

export interface TokenizerFiles {
  vocab: Record<string, number>;
  merges: string[];
  config?: Record<string, unknown>;
  specialTokens?: Record<string, unknown>;
}

export interface TokenizedPrompt {
  ids: Int32Array;
  /** Tokens of the prompt that did not fit in the context window. */
  truncatedTokens: number;
}

function specialTokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** CLIP's byte-level BPE tokenizer, as transformers' CLIPTokenizer runs it from a diffusers `tokenizer/` folder. */
export class ClipTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** `,</w>`, where A1111 may end a 75-token chunk early. */
  readonly commaId?: number;
  private readonly vocab: Map<string, number>;
  private readonly mergeRanks = new Map<string, number>();
  private readonly cache = new Map<string, number[]>();

  constructor(files: TokenizerFiles, source = 'tokenizer') {
    this.vocab = new Map(Object.entries(files.vocab));
    files.merges.forEach((line, rank) => this.mergeRanks.set(line, rank));
    const setting = (key: string) => specialTokenContent(files.config?.[key]) ?? specialTokenContent(files.specialTokens?.[key]);
    const idOf = (token: string, role: string): number => {
      const id = this.vocab.get(token);
      if (id === undefined) throw new EaselError('TOKENIZER_INVALID', `${source}: the ${role} token ${JSON.stringify(token)} is not in vocab.json.`);
      return id;
    };
    this.bosId = idOf(setting('bos_token') ?? '<|startoftext|>', 'start');
    this.eosId = idOf(setting('eos_token') ?? '<|endoftext|>', 'end');
    this.padId = idOf(setting('pad_token') ?? '<|endoftext|>', 'padding');
    this.commaId = this.vocab.get(',</w>');
    const configured = files.config?.model_max_length;
    this.maxLength = typeof configured === 'number' && Number.isInteger(configured) && configured >= 2 && configured <= 4096 ? configured : 77;
  }

  static async load(folder: string): Promise<ClipTokenizer> {
    const read = (name: string, required: boolean) => readBoundedText(join(folder, name), TOKENIZER_FILE_LIMIT, 'TOKENIZER_INVALID', required);
    const parseObject = (name: string, text: string | undefined): Record<string, unknown> | undefined => {
      if (text === undefined) return undefined;
      const value = parseConfigJson(text);
      if (!value) throw new EaselError('TOKENIZER_INVALID', `${join(folder, name)} is not a JSON object.`);
      return value;
    };
    const vocab = parseObject('vocab.json', await read('vocab.json', true))!;
    for (const [token, id] of Object.entries(vocab)) {
      if (!Number.isInteger(id)) throw new EaselError('TOKENIZER_INVALID', `${join(folder, 'vocab.json')}: the id of ${JSON.stringify(token)} is not an integer.`);
    }
    const merges = (await read('merges.txt', true))!
      .split('\n')
      .filter((line, index) => !(index === 0 && line.startsWith('#version')) && line.trim() !== '');
    if (merges.some((line) => line.split(' ').length !== 2)) {
      throw new EaselError('TOKENIZER_INVALID', `${join(folder, 'merges.txt')} has a line that is not two symbols separated by a space.`);
    }
    return new ClipTokenizer({
      vocab: vocab as Record<string, number>,
      merges,
      config: parseObject('tokenizer_config.json', await read('tokenizer_config.json', false)),
      specialTokens: parseObject('special_tokens_map.json', await read('special_tokens_map.json', false)),
    }, folder);
  }

  /** Token ids of the text without start, end or padding. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const match of cleanText(text).matchAll(PRE_TOKENIZER)) {
      const piece = match[0];
      const special = this.vocab.get(piece);
      if (piece.startsWith('<|') && special !== undefined) {
        ids.push(special);
        continue;
      }
      ids.push(...this.encodeWord(piece));
    }
    return ids;
  }

  /** `<|startoftext|>` prompt `<|endoftext|>` padded to the context length, truncated as CLIP truncates. */
  encode(text: string): TokenizedPrompt {
    const tokens = this.tokenize(text);
    const room = this.maxLength - 2;
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    ids[0] = this.bosId;
    const kept = Math.min(room, tokens.length);
    for (let i = 0; i < kept; i++) ids[i + 1] = tokens[i];
    ids[kept + 1] = this.eosId;
    return { ids, truncatedTokens: tokens.length - kept };
  }

  private encodeWord(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const symbols = [...Buffer.from(piece, 'utf8')].map((b) => BYTE_TO_UNICODE[b]);
    symbols[symbols.length - 1] += '</w>';
    const ids = bytePairMerge(symbols, (first, second) => this.mergeRanks.get(`${first} ${second}`)).map((symbol) => this.vocab.get(symbol) ?? this.eosId);
    if (this.cache.size < 10000) this.cache.set(piece, ids);
    return ids;
  }
}

/**
 * CLIP's `bpe()`: repeatedly take the lowest-ranked adjacent pair and merge every occurrence of it, left to
 * right without overlap. CLIP rescans the whole word for each merge, which is quadratic: a 40 000-character
 * word took over 10 s, so one hostile prompt could stall the worker. Here the pairs wait in a heap ordered by
 * (rank, position) and the symbols form a linked list, so a word of n symbols costs O(n log n). All pairs of the
 * lowest rank are merged before any pair that those merges create, exactly as CLIP's one pass per rank does.
 */
export function bytePairMerge(symbols: string[], rankOf: (first: string, second: string) => number | undefined): string[] {
  const count = symbols.length;
  if (count < 2) return symbols;
  const parts = symbols.slice();
  const next = Int32Array.from({ length: count }, (_, i) => (i + 1 < count ? i + 1 : -1));
  const previous = Int32Array.from({ length: count }, (_, i) => i - 1);
  const alive = new Uint8Array(count).fill(1);
  const queue = new PairQueue();
  const enqueue = (left: number) => {
    const right = next[left];
    if (right < 0) return;
    const rank = rankOf(parts[left], parts[right]);
    if (rank !== undefined) queue.push(rank, left, parts[left], parts[right]);
  };
  for (let i = 0; i + 1 < count; i++) enqueue(i);
  const pass: number[] = [];
  while (queue.size > 0) {
    const rank = queue.peekRank();
    const { first, second } = queue.peekPair();
    pass.length = 0;
    while (queue.size > 0 && queue.peekRank() === rank) pass.push(queue.pop());
    const merged: number[] = [];
    for (const left of pass) {
      const right = next[left];
      // Stale: an earlier merge in this pass took one of the two symbols.
      if (!alive[left] || right < 0 || parts[left] !== first || parts[right] !== second) continue;
      parts[left] = first + second;
      alive[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) previous[next[right]] = left;
      merged.push(left);
    }
    // The pairs the merges made wait for the next pass, as in CLIP's loop.
    for (const left of merged) {
      if (!alive[left]) continue;
      if (previous[left] >= 0) enqueue(previous[left]);
      enqueue(left);
    }
  }
  const result: string[] = [];
  for (let i = 0; i >= 0; i = next[i]) result.push(parts[i]);
  return result;
}

/** A binary min-heap of candidate merges keyed by (rank, position of the left symbol). */
class PairQueue {
  private readonly ranks: number[] = [];
  private readonly positions: number[] = [];
  private readonly pairs: Array<{ first: string; second: string }> = [];

  get size(): number {
    return this.ranks.length;
  }

  peekRank(): number {
    return this.ranks[0];
  }

  peekPair(): { first: string; second: string } {
    return this.pairs[0];
  }

  push(rank: number, position: number, first: string, second: string): void {
    this.ranks.push(rank);
    this.positions.push(position);
    this.pairs.push({ first, second });
    let i = this.ranks.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Removes the smallest entry and returns its position. */
  pop(): number {
    const top = this.positions[0];
    const last = this.ranks.length - 1;
    this.swap(0, last);
    this.ranks.pop();
    this.positions.pop();
    this.pairs.pop();
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.ranks.length && this.less(left, smallest)) smallest = left;
      if (right < this.ranks.length && this.less(right, smallest)) smallest = right;
      if (smallest === i) break;
      this.swap(i, smallest);
      i = smallest;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    return this.ranks[a] < this.ranks[b] || (this.ranks[a] === this.ranks[b] && this.positions[a] < this.positions[b]);
  }

  private swap(a: number, b: number): void {
    [this.ranks[a], this.ranks[b]] = [this.ranks[b], this.ranks[a]];
    [this.positions[a], this.positions[b]] = [this.positions[b], this.positions[a]];
    [this.pairs[a], this.pairs[b]] = [this.pairs[b], this.pairs[a]];
  }
}

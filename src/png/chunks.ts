import type { FileHandle } from 'node:fs/promises';
import { EaselError } from '../shared/errors.ts';

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(...parts: Uint8Array[]): number {
  let crc = 0xffffffff;
  for (const part of parts) for (let i = 0; i < part.length; i++) crc = CRC_TABLE[(crc ^ part[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export interface PngChunk {
  type: string;
  /** The chunk's data; empty when it was not read (see `unread`). */
  data: Uint8Array;
  /** Byte offset of the chunk's length field in the file. */
  offset: number;
  /** Why a wanted chunk's data was left unread (over `maxDataBytes` or `maxWantedBytes`). */
  unread?: string;
}

export interface ChunkLimits {
  /** Stop with an error after this many chunks. */
  maxChunks: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { maxChunks: 10000 };

export interface ChunkReadOptions extends Partial<ChunkLimits> {
  /** Stop at the first IDAT (text chunks written by SD tools sit before it), so large files read fast. */
  onlyBeforeImageData?: boolean;
  /** Chunks to return (IEND always is); others are walked over, their data neither read nor checked. */
  wanted?: (type: string) => boolean;
  /** A wanted chunk larger than this is returned without its data, which is never read or decoded. */
  maxDataBytes?: number;
  /** Wanted chunks' data read in all; chunks past it are returned without their data. */
  maxWantedBytes?: number;
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((value, i) => bytes[i] === value);
}

const NOT_PNG = 'Not a PNG file (the PNG signature is missing).';

/**
 * One walk over a PNG's chunk headers for both sources (bytes in memory, an open file): checks
 * types, lengths and the chunk count, and reads only the data of wanted chunks within the limits.
 */
class ChunkWalk {
  readonly chunks: PngChunk[] = [];
  offset = 8;
  private count = 0;
  private wantedBytes = 0;

  constructor(private readonly total: number, private readonly options: ChunkReadOptions) {}

  get more(): boolean {
    return this.offset < this.total;
  }

  /** Reads the header at `offset`; returns what to fetch next, or undefined to stop. */
  header(bytes: Uint8Array): { type: string; length: number; read: boolean } | undefined {
    const offset = this.offset;
    if (offset + 12 > this.total) throw new EaselError('PNG_INVALID', `The PNG is truncated at byte ${offset} (an incomplete chunk header).`);
    const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(0);
    const type = String.fromCharCode(bytes[4], bytes[5], bytes[6], bytes[7]);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new EaselError('PNG_INVALID', `The PNG has an invalid chunk type at byte ${offset}.`);
    if (length > 0x7fffffff || offset + 12 + length > this.total) {
      throw new EaselError('PNG_INVALID', `The PNG's ${type} chunk at byte ${offset} claims ${length} bytes, past the end of the file.`);
    }
    const maxChunks = this.options.maxChunks ?? DEFAULT_CHUNK_LIMITS.maxChunks;
    if (++this.count > maxChunks) throw new EaselError('PNG_INVALID', `The PNG has more than ${maxChunks} chunks; it is not read further.`);
    if (type === 'IDAT' && this.options.onlyBeforeImageData) return undefined;
    if (type !== 'IEND' && this.options.wanted && !this.options.wanted(type)) {
      this.offset += 12 + length;
      return { type, length, read: false };
    }
    const unread = length > (this.options.maxDataBytes ?? Infinity)
      ? `holds ${length} bytes, more than the ${this.options.maxDataBytes} read from one chunk; it was not read`
      : this.wantedBytes + length > (this.options.maxWantedBytes ?? Infinity)
        ? `is past the first ${this.options.maxWantedBytes} bytes of metadata; it was not read`
        : undefined;
    if (unread) {
      this.chunks.push({ type, data: new Uint8Array(0), offset, unread });
      this.offset += 12 + length;
      return { type, length, read: false };
    }
    this.wantedBytes += length;
    return { type, length, read: true };
  }

  /** Takes a wanted chunk's type, data and CRC (`12 + length` bytes from its length field on). */
  body(type: string, whole: Uint8Array): boolean {
    const length = whole.length - 12;
    const data = whole.subarray(8, 8 + length);
    const stored = new DataView(whole.buffer, whole.byteOffset + 8 + length, 4).getUint32(0);
    if (crc32(whole.subarray(4, 8), data) !== stored) throw new EaselError('PNG_INVALID', `The PNG's ${type} chunk at byte ${this.offset} has a bad CRC (the file is damaged).`);
    this.chunks.push({ type, data, offset: this.offset });
    this.offset += whole.length;
    return type !== 'IEND';
  }
}

/** Walks a PNG's chunks in memory, checking lengths and the CRCs of wanted chunks, without decoding pixels. */
export function readChunks(bytes: Uint8Array, options: ChunkReadOptions = {}): PngChunk[] {
  if (!isPng(bytes)) throw new EaselError('PNG_INVALID', NOT_PNG);
  const walk = new ChunkWalk(bytes.length, options);
  while (walk.more) {
    const start = walk.offset;
    const next = walk.header(bytes.subarray(start, start + 8));
    if (!next) break;
    if (next.read && !walk.body(next.type, bytes.subarray(start, start + 12 + next.length))) break;
  }
  return walk.chunks;
}

const FILE_BLOCK_BYTES = 64 * 1024;

/**
 * The same walk over an open file: headers are read in blocks and only wanted chunks' data is read,
 * so memory stays within the limits whatever the file holds.
 */
export async function readChunksFromFile(handle: FileHandle, options: ChunkReadOptions = {}): Promise<PngChunk[]> {
  const { size } = await handle.stat();
  let block = new Uint8Array(0);
  let blockStart = 0;
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset >= blockStart && offset + length <= blockStart + block.length) return block.subarray(offset - blockStart, offset - blockStart + length);
    const into = new Uint8Array(Math.max(length, Math.min(FILE_BLOCK_BYTES, size - offset)));
    let filled = 0;
    while (filled < into.length) {
      const { bytesRead } = await handle.read(into, filled, into.length - filled, offset + filled);
      if (bytesRead === 0) throw new EaselError('PNG_INVALID', `The file ended at byte ${offset + filled} while it was being read (was it changed meanwhile?).`);
      filled += bytesRead;
    }
    if (into.length <= FILE_BLOCK_BYTES) [block, blockStart] = [into, offset];
    return into.subarray(0, length);
  };
  if (size < 8 || !isPng(await readAt(0, 8))) throw new EaselError('PNG_INVALID', NOT_PNG);
  const walk = new ChunkWalk(size, options);
  while (walk.more) {
    const start = walk.offset;
    const next = walk.header(start + 8 <= size ? await readAt(start, 8) : new Uint8Array(8));
    if (!next) break;
    if (next.read && !walk.body(next.type, (await readAt(start, 12 + next.length)).slice())) break;
  }
  return walk.chunks;
}

export function buildChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typeBytes = new TextEncoder().encode(type);
  out.set(typeBytes, 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(typeBytes, data));
  return out;
}

/** Inserts chunks just before the first IDAT, where every SD tool looks for text metadata. */
export function insertBeforeImageData(png: Uint8Array, chunks: Uint8Array[]): Uint8Array {
  const all = readChunks(png);
  const firstData = all.find((chunk) => chunk.type === 'IDAT');
  if (!firstData) throw new EaselError('PNG_INVALID', 'The PNG has no image data.');
  const extra = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Uint8Array(png.length + extra);
  out.set(png.subarray(0, firstData.offset));
  let offset = firstData.offset;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  out.set(png.subarray(firstData.offset), offset);
  return out;
}

import { EaselError } from '../engine/errors.ts';

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
  data: Uint8Array;
  /** Byte offset of the chunk's length field in the file. */
  offset: number;
}

export interface ChunkLimits {
  /** Stop with an error after this many chunks. */
  maxChunks: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { maxChunks: 10000 };

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((value, i) => bytes[i] === value);
}

/**
 * Walks a PNG's chunks, checking lengths and CRCs, without decoding pixels. `onlyBeforeImageData`
 * stops at the first IDAT (where text chunks written by SD tools sit), so large files read fast.
 */
export function readChunks(bytes: Uint8Array, options: { onlyBeforeImageData?: boolean; wanted?: (type: string) => boolean } & Partial<ChunkLimits> = {}): PngChunk[] {
  if (!isPng(bytes)) throw new EaselError('PNG_INVALID', 'Not a PNG file (the PNG signature is missing).');
  const maxChunks = options.maxChunks ?? DEFAULT_CHUNK_LIMITS.maxChunks;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  let offset = 8;
  let count = 0;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length) throw new EaselError('PNG_INVALID', `The PNG is truncated at byte ${offset} (an incomplete chunk header).`);
    const length = view.getUint32(offset);
    const typeBytes = bytes.subarray(offset + 4, offset + 8);
    const type = String.fromCharCode(...typeBytes);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new EaselError('PNG_INVALID', `The PNG has an invalid chunk type at byte ${offset}.`);
    if (length > 0x7fffffff || offset + 12 + length > bytes.length) {
      throw new EaselError('PNG_INVALID', `The PNG's ${type} chunk at byte ${offset} claims ${length} bytes, past the end of the file.`);
    }
    if (++count > maxChunks) throw new EaselError('PNG_INVALID', `The PNG has more than ${maxChunks} chunks; it is not read further.`);
    if (type === 'IDAT' && options.onlyBeforeImageData) break;
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    const stored = view.getUint32(offset + 8 + length);
    if (!options.wanted || options.wanted(type) || type === 'IEND') {
      if (crc32(typeBytes, data) !== stored) throw new EaselError('PNG_INVALID', `The PNG's ${type} chunk at byte ${offset} has a bad CRC (the file is damaged).`);
      chunks.push({ type, data, offset });
    }
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  return chunks;
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

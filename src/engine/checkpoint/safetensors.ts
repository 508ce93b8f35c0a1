import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { EaselError } from '../../shared/errors.ts';
import { bfloat16ToFloat32, float16ToFloat32 } from '../float16.ts';

/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping each tensor name
 * to { dtype, shape, data_offsets: [begin, end] } (relative to the end of the header) plus an optional
 * `__metadata__` string map, then the raw little-endian tensor bytes. Only the header is read here; the
 * tensor bytes stay on disk until a tensor is asked for (or ONNX Runtime maps them directly).
 */

export const SAFETENSORS_DTYPES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8, F8_E4M3: 1, F8_E5M2: 1,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  fileSize: number;
  /** Byte offset of the first tensor byte (8 + header length). */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** Whether float16 tensors hold most of the floating-point bytes of these files (an "fp16 checkpoint"). */
export function isMostlyFloat16(headers: readonly SafetensorsHeader[]): boolean {
  let half = 0;
  let other = 0;
  for (const header of headers) {
    for (const entry of header.tensors.values()) {
      const bytes = entry.end - entry.begin;
      if (entry.dtype === 'F16') half += bytes;
      else if (entry.dtype === 'F32' || entry.dtype === 'BF16' || entry.dtype === 'F64') other += bytes;
    }
  }
  return half > other;
}

/** A header larger than this is not a real checkpoint's (SDXL's is ~200 KB). */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

function invalid(path: string, why: string): EaselError {
  return new EaselError('CHECKPOINT_INVALID', `${basename(path)} is not a valid .safetensors file: ${why}. Download or save it again.`);
}

/** Recognises what a file that is not safetensors is, from its first bytes, so the refusal can say. */
export function describeForeignFile(first: Uint8Array): string | undefined {
  if (first[0] === 0x50 && first[1] === 0x4b && first[2] === 0x03 && first[3] === 0x04) return 'a PyTorch .ckpt/.pt archive (a zip of pickles)';
  if (first[0] === 0x80 && first[1] >= 2 && first[1] <= 5) return 'a Python pickle (an old-style .ckpt)';
  if (first[0] === 0x47 && first[1] === 0x47 && first[2] === 0x55 && first[3] === 0x46) return 'a GGUF file';
  return undefined;
}

const PICKLE_REFUSAL = 'Easel never unpickles files (a pickle can run any code); convert it to .safetensors with a trusted tool first, or use the .safetensors version most model pages offer.';

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Parses and checks a header: every tensor's offsets inside the file, sizes matching shapes, no overlaps. */
export function parseSafetensorsHeader(path: string, fileSize: number, headerLength: number, headerBytes: Uint8Array): SafetensorsHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch {
    throw invalid(path, 'its header is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid(path, 'its header is not a JSON object');
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        metadata = Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      }
      continue;
    }
    const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof entry !== 'object' || entry === null) throw invalid(path, `the entry for ${name} is not an object`);
    const dtype = entry.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPES, dtype)) throw invalid(path, `${name} has an unknown dtype ${JSON.stringify(dtype)}`);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) throw invalid(path, `${name} has an invalid shape`);
    const offsets = entry.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) || offsets[0] > offsets[1]) {
      throw invalid(path, `${name} has invalid data_offsets`);
    }
    const elements = shape.reduce((a: number, b: number) => a * b, 1);
    const expected = elements * SAFETENSORS_DTYPES[dtype as SafetensorsDType];
    if (offsets[1] - offsets[0] !== expected) {
      throw invalid(path, `${name} claims ${offsets[1] - offsets[0]} bytes but its shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
    }
    const begin = dataStart + offsets[0];
    const end = dataStart + offsets[1];
    if (end > fileSize) {
      throw new EaselError('CHECKPOINT_INVALID', `${basename(path)} is truncated: tensor ${name} ends at byte ${end} but the file has ${fileSize} bytes. The download did not finish; fetch the file again.`);
    }
    tensors.set(name, { name, dtype: dtype as SafetensorsDType, shape, begin, end });
  }
  const ordered = [...tensors.values()].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i].begin < ordered[i - 1].end && ordered[i].end > ordered[i].begin) {
      throw invalid(path, `tensors ${ordered[i - 1].name} and ${ordered[i].name} overlap`);
    }
  }
  return { path, fileSize, dataStart, tensors, metadata };
}

/** Reads only the header of a .safetensors file; refuses pickles, truncated files and offsets past the end. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new EaselError('MODEL_NOT_FOUND', `Cannot open ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (error as Error).message}.`, { cause: error });
  }
  try {
    const { size } = await handle.stat();
    const prefix = await readExactly(handle, 8, 0);
    const foreign = describeForeignFile(prefix);
    if (foreign) throw new EaselError('CHECKPOINT_UNSUPPORTED', `${basename(path)} is ${foreign}, not a .safetensors file. ${PICKLE_REFUSAL}`);
    if (prefix.length < 8) throw new EaselError('CHECKPOINT_INVALID', `${basename(path)} is truncated: it has ${size} bytes, fewer than a safetensors header needs. Fetch the file again.`);
    const headerLength = Number(prefix.readBigUInt64LE(0));
    if (headerLength < 2 || headerLength > MAX_HEADER_BYTES) throw invalid(path, `its header length ${headerLength} is implausible`);
    if (8 + headerLength > size) {
      throw new EaselError('CHECKPOINT_INVALID', `${basename(path)} is truncated: its header needs ${8 + headerLength} bytes but the file has ${size}. Fetch the file again.`);
    }
    const headerBytes = await readExactly(handle, headerLength, 8);
    return parseSafetensorsHeader(path, size, headerLength, headerBytes);
  } finally {
    await handle.close();
  }
}

/** Reads one tensor's bytes (just that tensor) and converts F32/F16/BF16 to float32. */
export async function readTensorAsFloat32(header: SafetensorsHeader, name: string): Promise<Float32Array> {
  const entry = header.tensors.get(name);
  if (!entry) throw new EaselError('CHECKPOINT_INVALID', `${basename(header.path)} has no tensor ${name}.`);
  const handle = await open(header.path, 'r');
  try {
    const bytes = await readExactly(handle, entry.end - entry.begin, entry.begin);
    if (bytes.length !== entry.end - entry.begin) throw new EaselError('CHECKPOINT_INVALID', `${basename(header.path)} is truncated inside tensor ${name}. Fetch the file again.`);
    const aligned = new Uint8Array(bytes.length);
    aligned.set(bytes);
    switch (entry.dtype) {
      case 'F32':
        return new Float32Array(aligned.buffer);
      case 'F16':
        return float16ToFloat32(new Uint16Array(aligned.buffer));
      case 'BF16':
        return bfloat16ToFloat32(new Uint16Array(aligned.buffer));
      default:
        throw new EaselError('CHECKPOINT_UNSUPPORTED', `${basename(header.path)}: tensor ${name} is ${entry.dtype}; Easel reads F32, F16 and BF16 weights.`);
    }
  } finally {
    await handle.close();
  }
}

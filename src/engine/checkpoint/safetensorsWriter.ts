import { open } from 'node:fs/promises';
import { SAFETENSORS_DTYPES, type SafetensorsDType } from './safetensors.ts';

export interface TensorSpec {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
}

/** The header bytes (length prefix included, padded with spaces to a multiple of 8) for tensors laid out in order. */
export function encodeSafetensorsHeader(specs: readonly TensorSpec[], metadata: Record<string, string> = { format: 'pt' }): { header: Buffer; dataBytes: number } {
  const json: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const spec of specs) {
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[spec.dtype];
    json[spec.name] = { dtype: spec.dtype, shape: spec.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(json);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const body = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(body.length));
  return { header: Buffer.concat([prefix, body]), dataBytes: offset };
}

/**
 * Writes a .safetensors file tensor by tensor: `fill` receives each tensor's bytes to fill in place, so
 * a multi-GB file never has more than one tensor in memory.
 */
export async function writeSafetensors(
  path: string,
  specs: readonly TensorSpec[],
  fill: (spec: TensorSpec, bytes: Uint8Array) => void,
  metadata?: Record<string, string>,
): Promise<number> {
  const { header, dataBytes } = encodeSafetensorsHeader(specs, metadata);
  const handle = await open(path, 'w');
  try {
    await handle.write(header, 0, header.length, 0);
    let position = header.length;
    for (const spec of specs) {
      const bytes = new Uint8Array(spec.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[spec.dtype]);
      fill(spec, bytes);
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
    }
  } finally {
    await handle.close();
  }
  return header.length + dataBytes;
}

import { open } from 'node:fs/promises';

/** ONNX TensorProto.DataType codes that matter here. */
const ELEMENT_TYPES: Record<number, string> = { 1: 'float32', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64' };

export function readVarint(bytes: Uint8Array, offset: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < bytes.length && i < offset + 10; i++) {
    value += (bytes[i] & 0x7f) * scale;
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new RangeError('truncated varint');
}

/** Yields (field, wire type, payload range) for each field of a protobuf message. */
export function* protobufFields(bytes: Uint8Array, start = 0, end = bytes.length): Generator<[field: number, wire: number, from: number, to: number]> {
  let offset = start;
  while (offset < end) {
    const [key, afterKey] = readVarint(bytes, offset);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [, next] = readVarint(bytes, afterKey);
      yield [field, wire, afterKey, next];
      offset = next;
    } else if (wire === 2) {
      const [length, from] = readVarint(bytes, afterKey);
      if (from + length > end) throw new RangeError('field past the end');
      yield [field, wire, from, from + length];
      offset = from + length;
    } else if (wire === 5) {
      yield [field, wire, afterKey, afterKey + 4];
      offset = afterKey + 4;
    } else if (wire === 1) {
      yield [field, wire, afterKey, afterKey + 8];
      offset = afterKey + 8;
    } else {
      throw new RangeError(`unsupported wire type ${wire}`);
    }
  }
}

/**
 * The element types of a model's graph inputs, read from the protobuf without ONNX Runtime (so
 * listing models costs no session). Large single-file models are not read: undefined.
 */
export async function readOnnxInputTypes(path: string, maxBytes = 64 * 1024 * 1024): Promise<Record<string, string> | undefined> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) return undefined;
    const bytes = new Uint8Array(size);
    await handle.read(bytes, 0, size, 0);
    const inputs: Record<string, string> = {};
    for (const [field, wire, from, to] of protobufFields(bytes)) {
      if (field !== 7 || wire !== 2) continue;
      for (const [graphField, graphWire, inputFrom, inputTo] of protobufFields(bytes, from, to)) {
        if (graphField !== 11 || graphWire !== 2) continue;
        let name = '';
        let type: string | undefined;
        for (const [infoField, , infoFrom, infoTo] of protobufFields(bytes, inputFrom, inputTo)) {
          if (infoField === 1) name = new TextDecoder().decode(bytes.subarray(infoFrom, infoTo));
          if (infoField !== 2) continue;
          for (const [typeField, , tensorFrom, tensorTo] of protobufFields(bytes, infoFrom, infoTo)) {
            if (typeField !== 1) continue;
            for (const [tensorField, tensorWire, valueFrom] of protobufFields(bytes, tensorFrom, tensorTo)) {
              if (tensorField === 1 && tensorWire === 0) type = ELEMENT_TYPES[readVarint(bytes, valueFrom)[0]] ?? 'other';
            }
          }
        }
        if (name && type) inputs[name] = type;
      }
    }
    return inputs;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Just enough protobuf reading to walk an ONNX model's fields without a protobuf library. */

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

/** Yields (field, wire type, payload range, start of the field's key) for each field of a protobuf message. */
export function* fields(bytes: Uint8Array, start = 0, end = bytes.length): Generator<[field: number, wire: number, from: number, to: number, keyStart: number]> {
  let offset = start;
  while (offset < end) {
    const keyStart = offset;
    const [key, afterKey] = readVarint(bytes, offset);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [, next] = readVarint(bytes, afterKey);
      yield [field, wire, afterKey, next, keyStart];
      offset = next;
    } else if (wire === 2) {
      const [length, from] = readVarint(bytes, afterKey);
      if (from + length > end) throw new RangeError('field past the end');
      yield [field, wire, from, from + length, keyStart];
      offset = from + length;
    } else if (wire === 5) {
      yield [field, wire, afterKey, afterKey + 4, keyStart];
      offset = afterKey + 4;
    } else if (wire === 1) {
      yield [field, wire, afterKey, afterKey + 8, keyStart];
      offset = afterKey + 8;
    } else {
      throw new RangeError(`unsupported wire type ${wire}`);
    }
  }
}

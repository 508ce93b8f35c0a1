import { open } from 'node:fs/promises';
import { fields as protobufFields, readVarint } from '../engine/onnx/protobufReader.ts';

/** ONNX TensorProto.DataType codes that matter here. */
const ELEMENT_TYPES: Record<number, string> = { 1: 'float32', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64' };

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

import { open, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

/** The graph read whole when checking external weights; larger graphs hold their weights inline. */
const MAX_GRAPH_CHECK_BYTES = 64 * 1024 * 1024;

/**
 * What is wrong with an ONNX file, cheaply, or undefined when nothing is: the ModelProto's fields
 * must end exactly at the end of the file (a truncated download does not), and every external
 * weights file its initializers point to must exist and be long enough. Reads the field headers and,
 * when the graph is small (weights outside), the graph. External data is looked for in `weightsDir`
 * (an imported checkpoint's graph points into the .safetensors where it lies).
 */
export async function onnxFileProblem(path: string, weightsDir = dirname(path)): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    let offset = 0;
    let graph: [number, number] | undefined;
    const header = new Uint8Array(20);
    while (offset < size) {
      const { bytesRead } = await handle.read(header, 0, Math.min(header.length, size - offset), offset);
      const bytes = header.subarray(0, bytesRead);
      let field: number;
      let end: number;
      try {
        const [key, afterKey] = readVarint(bytes, 0);
        field = Math.floor(key / 8);
        const wire = key & 7;
        if (field === 0) return `${path} is not an ONNX model (it does not start like one).`;
        if (wire === 0) end = offset + readVarint(bytes, afterKey)[1];
        else if (wire === 2) {
          const [length, from] = readVarint(bytes, afterKey);
          end = offset + from + length;
          if (field === 7) graph = [offset + from, end];
        } else if (wire === 5) end = offset + afterKey + 4;
        else if (wire === 1) end = offset + afterKey + 8;
        else return `${path} is not an ONNX model (unexpected data at byte ${offset}).`;
      } catch {
        return `${path} is truncated at byte ${offset}; download or export it again.`;
      }
      if (end > size) return `${path} is truncated: it ends at byte ${size}, but its ${field === 7 ? 'graph' : `field ${field}`} runs to byte ${end}. Download or export it again.`;
      offset = end;
    }
    if (!graph) return `${path} is not an ONNX model (it has no graph).`;
    if (graph[1] - graph[0] > MAX_GRAPH_CHECK_BYTES) return undefined;
    const bytes = new Uint8Array(graph[1] - graph[0]);
    await handle.read(bytes, 0, bytes.length, graph[0]);
    const needed = new Map<string, number>();
    for (const [graphField, graphWire, from, to] of protobufFields(bytes)) {
      if (graphField !== 5 || graphWire !== 2) continue;
      let location: string | undefined;
      let extent = 0;
      let external = false;
      for (const [tensorField, , entryFrom, entryTo] of protobufFields(bytes, from, to)) {
        if (tensorField === 14) external = readVarint(bytes, entryFrom)[0] === 1;
        if (tensorField !== 13) continue;
        let key = '';
        let value = '';
        for (const [entryField, , valueFrom, valueTo] of protobufFields(bytes, entryFrom, entryTo)) {
          const text = new TextDecoder().decode(bytes.subarray(valueFrom, valueTo));
          if (entryField === 1) key = text;
          if (entryField === 2) value = text;
        }
        if (key === 'location') location = value;
        if (key === 'offset' || key === 'length') extent += Number(value) || 0;
      }
      if (external && location) needed.set(location, Math.max(needed.get(location) ?? 0, extent));
    }
    for (const [location, extent] of needed) {
      const file = join(weightsDir, location);
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) return `${path} needs its external weights file ${file}, which is missing. Download the model again.`;
      if (info.size < extent) return `${path}: its external weights file ${file} is truncated (${info.size} bytes of at least ${extent}). Download the model again.`;
    }
    return undefined;
  } catch (error) {
    return `${path} cannot be read: ${(error as Error).message}.`;
  } finally {
    await handle.close();
  }
}

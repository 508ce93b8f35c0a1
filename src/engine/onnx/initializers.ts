/**
 * Reading and replacing weight initializers of an ONNX model (ModelProto.graph.initializer, TensorProto),
 * so a LoRA can be merged into the weights it changes while every other weight stays where it lies
 * (external data in a .safetensors or model.onnx_data file is never copied); and reading the nodes
 * that use them (an export's node names say which layer a renamed weight belongs to).
 */
import { open } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { EaselError } from '../../shared/errors.ts';
import { bfloat16ToFloat32, float16ToFloat32, float32ToFloat16 } from '../float16.ts';
import { ProtoWriter } from './onnxWriter.ts';
import { fields, readVarint } from './protobufReader.ts';

const FLOAT = 1;
const FLOAT16 = 10;
const BFLOAT16 = 16;
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;

export interface InitializerInfo {
  name: string;
  /** TensorProto.DataType. */
  dataType: number;
  dims: number[];
  /** Embedded bytes (raw_data or float_data), as a range of the model bytes. */
  embedded?: { from: number; to: number; packedFloats: boolean };
  /** External data, the location relative to the model's folder. */
  external?: { location: string; offset: number; length?: number };
}

const text = (bytes: Uint8Array, from: number, to: number) => new TextDecoder().decode(bytes.subarray(from, to));

function graphRange(model: Uint8Array): [number, number, number] {
  for (const [field, wire, from, to, keyStart] of fields(model)) {
    if (field === MODEL_GRAPH && wire === 2) return [from, to, keyStart];
  }
  throw new RangeError('the model has no graph');
}

function readTensorInfo(model: Uint8Array, from: number, to: number): InitializerInfo {
  const info: InitializerInfo = { name: '', dataType: 0, dims: [] };
  const external: Record<string, string> = {};
  let externalLocation = false;
  for (const [field, wire, start, end] of fields(model, from, to)) {
    if (field === 1 && wire === 0) info.dims.push(readVarint(model, start)[0]);
    else if (field === 1 && wire === 2) for (let at = start; at < end;) { const [value, next] = readVarint(model, at); info.dims.push(value); at = next; }
    else if (field === 2 && wire === 0) info.dataType = readVarint(model, start)[0];
    else if (field === 8 && wire === 2) info.name = text(model, start, end);
    else if (field === 9 && wire === 2) info.embedded = { from: start, to: end, packedFloats: false };
    else if (field === 4 && wire === 2) info.embedded = { from: start, to: end, packedFloats: true };
    else if (field === 14 && wire === 0) externalLocation = readVarint(model, start)[0] === 1;
    else if (field === 13 && wire === 2) {
      let key = '';
      let value = '';
      for (const [entryField, , entryFrom, entryTo] of fields(model, start, end)) {
        if (entryField === 1) key = text(model, entryFrom, entryTo);
        if (entryField === 2) value = text(model, entryFrom, entryTo);
      }
      external[key] = value;
    }
  }
  if (externalLocation && external.location !== undefined) {
    info.external = { location: external.location, offset: Number(external.offset ?? 0), length: external.length === undefined ? undefined : Number(external.length) };
  }
  return info;
}

/** Every initializer of the graph by name (header information only; no tensor data is read). */
export function listInitializers(model: Uint8Array): Map<string, InitializerInfo> {
  const [from, to] = graphRange(model);
  const found = new Map<string, InitializerInfo>();
  for (const [field, wire, start, end] of fields(model, from, to)) {
    if (field === GRAPH_INITIALIZER && wire === 2) {
      const info = readTensorInfo(model, start, end);
      found.set(info.name, info);
    }
  }
  return found;
}

export interface NodeInfo {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  /** The node's integer attributes (e.g. Gemm's transB). */
  ints: Record<string, number>;
}

/** The graph's nodes in order: operator, name, inputs, outputs and integer attributes. */
export function listNodes(model: Uint8Array): NodeInfo[] {
  const [from, to] = graphRange(model);
  const nodes: NodeInfo[] = [];
  for (const [field, wire, start, end] of fields(model, from, to)) {
    if (field !== GRAPH_NODE || wire !== 2) continue;
    const node: NodeInfo = { op: '', name: '', inputs: [], outputs: [], ints: {} };
    for (const [nodeField, nodeWire, a, b] of fields(model, start, end)) {
      if (nodeField === 1) node.inputs.push(text(model, a, b));
      else if (nodeField === 2) node.outputs.push(text(model, a, b));
      else if (nodeField === 3) node.name = text(model, a, b);
      else if (nodeField === 4) node.op = text(model, a, b);
      else if (nodeField === 5 && nodeWire === 2) {
        let name = '';
        let value: number | undefined;
        for (const [attributeField, attributeWire, c, d] of fields(model, a, b)) {
          if (attributeField === 1) name = text(model, c, d);
          else if (attributeField === 3 && attributeWire === 0) value = readVarint(model, c)[0];
        }
        if (value !== undefined) node.ints[name] = value;
      }
    }
    nodes.push(node);
  }
  return nodes;
}

const elementCount = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** A float initializer's values as float32, from the model bytes or its external data file (relative to `weightsDir`). */
export async function readInitializerFloats(modelPath: string, weightsDir: string, model: Uint8Array, info: InitializerInfo): Promise<Float32Array> {
  const count = elementCount(info.dims);
  const width = info.dataType === FLOAT ? 4 : info.dataType === FLOAT16 || info.dataType === BFLOAT16 ? 2 : 0;
  if (width === 0) throw new EaselError('LORA_UNSUPPORTED', `${modelPath}: weight ${info.name} has ONNX data type ${info.dataType}; a LoRA can change float32, float16 or bfloat16 weights only.`);
  let bytes: Uint8Array;
  if (info.embedded) {
    bytes = model.slice(info.embedded.from, info.embedded.to);
  } else if (info.external) {
    const location = normalize(info.external.location);
    if (isAbsolute(location)) throw new EaselError('MODEL_INVALID', `${modelPath}: weight ${info.name} points at an absolute path; ONNX external data must be relative to the model.`);
    const file = join(weightsDir, location);
    const length = info.external.length ?? count * width;
    bytes = new Uint8Array(length);
    const handle = await open(file, 'r').catch((error: Error) => {
      throw new EaselError('MODEL_INVALID', `${modelPath}: cannot open the data file of weight ${info.name} (${error.message}).`);
    });
    try {
      const { bytesRead } = await handle.read(bytes, 0, length, info.external.offset);
      if (bytesRead !== length) throw new EaselError('MODEL_INVALID', `${file} ends inside weight ${info.name}; the model is incomplete.`);
    } finally {
      await handle.close();
    }
  } else {
    throw new EaselError('LORA_UNSUPPORTED', `${modelPath}: weight ${info.name} is not stored as raw data, which Easel cannot change.`);
  }
  if (bytes.length !== count * width) throw new EaselError('MODEL_INVALID', `${modelPath}: weight ${info.name} holds ${bytes.length} bytes for [${info.dims.join(', ')}].`);
  const aligned = new Uint8Array(bytes);
  if (info.dataType === FLOAT) return new Float32Array(aligned.buffer);
  return info.dataType === FLOAT16 ? float16ToFloat32(new Uint16Array(aligned.buffer)) : bfloat16ToFloat32(new Uint16Array(aligned.buffer));
}

/** A TensorProto holding `values` embedded, in the initializer's own data type (float32 or float16). */
export function encodeInitializer(info: InitializerInfo, values: Float32Array): Uint8Array {
  let raw: Uint8Array;
  if (info.dataType === FLOAT) raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  else if (info.dataType === FLOAT16) raw = new Uint8Array(float32ToFloat16(values).buffer);
  else throw new EaselError('LORA_UNSUPPORTED', `Weight ${info.name}: writing ONNX data type ${info.dataType} is not supported; use a float32 or float16 model.`);
  const writer = new ProtoWriter();
  for (const dim of info.dims) writer.int(1, dim);
  writer.int(2, info.dataType).string(8, info.name).bytes(9, raw);
  return writer.finish();
}

/** The model bytes with the named initializers replaced by the given TensorProto encodings. */
export function replaceInitializers(model: Uint8Array, replacements: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const [from, to, graphKey] = graphRange(model);
  const graph = new ProtoWriter();
  const pieces: Uint8Array[] = [];
  let copyFrom = from;
  const replaced = new Set<string>();
  for (const [field, wire, start, end, keyStart] of fields(model, from, to)) {
    if (field !== GRAPH_INITIALIZER || wire !== 2) continue;
    const { name } = readTensorInfo(model, start, end);
    const replacement = replacements.get(name);
    if (!replacement) continue;
    pieces.push(model.subarray(copyFrom, keyStart));
    const field5 = new ProtoWriter().bytes(GRAPH_INITIALIZER, replacement).finish();
    pieces.push(field5);
    copyFrom = end;
    replaced.add(name);
  }
  pieces.push(model.subarray(copyFrom, to));
  const missing = [...replacements.keys()].filter((name) => !replaced.has(name));
  if (missing.length > 0) throw new RangeError(`no initializer named ${missing[0]}`);
  const graphLength = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const body = new Uint8Array(graphLength);
  pieces.reduce((offset, piece) => (body.set(piece, offset), offset + piece.length), 0);
  graph.bytes(MODEL_GRAPH, body);
  const newGraph = graph.finish();
  const out = new Uint8Array(graphKey + newGraph.length + (model.length - to));
  out.set(model.subarray(0, graphKey));
  out.set(newGraph, graphKey);
  out.set(model.subarray(to), graphKey + newGraph.length);
  return out;
}

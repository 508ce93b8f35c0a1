import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fields as protobufFields, readVarint } from '../../src/engine/onnx/protobufReader.ts';

/**
 * A copy of a real-architecture model folder whose UNet and VAE decoder take and return float16 (as
 * fp16 exports do), made by graph surgery: each float32 graph input or output named here gets a Cast at
 * the boundary; the weights and everything between stay as they are. ONNX field numbers: ModelProto.graph
 * 7; GraphProto node 1, input 11, output 12; NodeProto input 1, output 2, name 3, op_type 4, attribute 5;
 * ValueInfoProto name 1, type 2; TypeProto.tensor_type 1; Tensor elem_type 1 (1 float, 10 float16).
 */
export async function float16IoCopy(source: string, target: string): Promise<string> {
  await cp(source, target, { recursive: true });
  await rewrite(join(target, 'unet', 'model.onnx'), ['sample', 'encoder_hidden_states'], ['out_sample']);
  await rewrite(join(target, 'vae_decoder', 'model.onnx'), ['latent_sample'], ['sample']);
  return target;
}

function varint(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return out;
}

function field(number: number, payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return Uint8Array.from([...varint(number * 8 + 2), ...varint(bytes.length), ...bytes]);
}

function intField(number: number, value: number): Uint8Array {
  return Uint8Array.from([...varint(number * 8), ...varint(value)]);
}

const concat = (parts: Uint8Array[]) => Buffer.concat(parts);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function castNode(input: string, output: string, to: number): Uint8Array {
  const attribute = concat([field(1, 'to'), intField(3, to), intField(20, 2)]);
  return concat([field(1, input), field(2, output), field(3, `${output}_cast`), field(4, 'Cast'), field(5, attribute)]);
}

/** A ValueInfoProto with its tensor element type set to float16, shape kept. */
function asFloat16(info: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [number, , from, to] of protobufFields(info)) {
    if (number !== 2) {
      parts.push(rawField(info, from, to, number));
      continue;
    }
    const type = info.subarray(from, to);
    const typeParts: Uint8Array[] = [];
    for (const [typeNumber, , tFrom, tTo] of protobufFields(type)) {
      if (typeNumber !== 1) {
        typeParts.push(rawField(type, tFrom, tTo, typeNumber));
        continue;
      }
      const tensor = type.subarray(tFrom, tTo);
      const tensorParts: Uint8Array[] = [];
      for (const [tensorNumber, wire, xFrom, xTo] of protobufFields(tensor)) {
        if (tensorNumber === 1 && wire === 0) {
          if (readVarint(tensor, xFrom)[0] !== 1) throw new Error('only float32 boundaries are rewritten');
          tensorParts.push(intField(1, 10));
        } else {
          tensorParts.push(rawField(tensor, xFrom, xTo, tensorNumber));
        }
      }
      typeParts.push(field(1, concat(tensorParts)));
    }
    parts.push(field(2, concat(typeParts)));
  }
  return concat(parts);
}

/** The bytes of one length-delimited field, re-framed (every field this helper copies is length-delimited). */
function rawField(message: Uint8Array, from: number, to: number, number: number): Uint8Array {
  return field(number, message.subarray(from, to));
}

function nameOf(info: Uint8Array): string {
  for (const [number, , from, to] of protobufFields(info)) if (number === 1) return text(info.subarray(from, to));
  return '';
}

/** A NodeProto with references to renamed values replaced. */
function renameInNode(node: Uint8Array, renames: Map<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [number, wire, from, to] of protobufFields(node)) {
    if ((number === 1 || number === 2) && renames.has(text(node.subarray(from, to)))) {
      parts.push(field(number, renames.get(text(node.subarray(from, to)))!));
    } else if (wire === 2) {
      parts.push(rawField(node, from, to, number));
    } else {
      throw new Error('unexpected non-length-delimited NodeProto field');
    }
  }
  return concat(parts);
}

async function rewrite(path: string, inputs: string[], outputs: string[]): Promise<void> {
  const model = new Uint8Array(await readFile(path));
  const modelParts: Uint8Array[] = [];
  for (const [number, wire, from, to] of protobufFields(model)) {
    if (number !== 7) {
      modelParts.push(wire === 2 ? rawField(model, from, to, number) : model.subarray(from - varint(number * 8 + wire).length, to));
      continue;
    }
    const graph = model.subarray(from, to);
    const renames = new Map<string, string>();
    for (const name of [...inputs, ...outputs]) renames.set(name, `${name}_float32`);
    const head: Uint8Array[] = inputs.map((name) => castNode(name, `${name}_float32`, 1));
    const nodes: Uint8Array[] = [];
    const rest: Uint8Array[] = [];
    for (const [graphNumber, , gFrom, gTo] of protobufFields(graph)) {
      const payload = graph.subarray(gFrom, gTo);
      if (graphNumber === 1) nodes.push(field(1, renameInNode(payload, renames)));
      else if ((graphNumber === 11 && inputs.includes(nameOf(payload))) || (graphNumber === 12 && outputs.includes(nameOf(payload)))) rest.push(field(graphNumber, asFloat16(payload)));
      else rest.push(rawField(graph, gFrom, gTo, graphNumber));
    }
    const tail = outputs.map((name) => field(1, castNode(`${name}_float32`, name, 10)));
    modelParts.push(field(7, concat([...head.map((node) => field(1, node)), ...nodes, ...tail, ...rest])));
  }
  await writeFile(path, concat(modelParts));
}

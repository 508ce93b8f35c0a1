import type { ImageParameters } from '../imageParameters.ts';
import { isObject, numberField, parseJsonObject, seedField, stringField, withoutUndefined, type JsonObject } from './jsonShape.ts';
import { mapSamplerAlias, mapScheduleAlias } from './samplerNames.ts';

const SAMPLER_NODES = new Set(['KSampler', 'KSamplerAdvanced']);
const MAX_LINK_HOPS = 32;

type Graph = Record<string, JsonObject>;

function linkedNode(graph: Graph, link: unknown): JsonObject | undefined {
  if (!Array.isArray(link) || (typeof link[0] !== 'string' && typeof link[0] !== 'number')) return undefined;
  const node = graph[String(link[0])];
  return isObject(node) ? node : undefined;
}

function inputsOf(node: JsonObject | undefined): JsonObject {
  return node && isObject(node.inputs) ? node.inputs : {};
}

/** Follows a text input through links (primitive or concat nodes) to the string, within a bounded walk. */
function resolveText(graph: Graph, value: unknown, hops = 0): string | undefined {
  if (typeof value === 'string') return value;
  if (hops > MAX_LINK_HOPS) return undefined;
  const node = linkedNode(graph, value);
  if (!node) return undefined;
  const inputs = inputsOf(node);
  for (const key of ['text', 'text_g', 'string', 'value', 'prompt']) {
    if (inputs[key] !== undefined) {
      const text = resolveText(graph, inputs[key], hops + 1);
      if (text !== undefined) return text;
    }
  }
  return undefined;
}

function followInput(graph: Graph, start: JsonObject | undefined, input: string, predicate: (node: JsonObject) => boolean): JsonObject | undefined {
  let node = start;
  for (let hops = 0; node && hops < MAX_LINK_HOPS; hops++) {
    if (predicate(node)) return node;
    node = linkedNode(graph, inputsOf(node)[input]);
  }
  return undefined;
}

/** ComfyUI's `prompt` chunk: the API graph. The first KSampler's links lead to prompts, size and model. */
export function readComfyGraph(text: string): { parameters: ImageParameters; unmapped: string[]; problems: string[] } | undefined {
  const graph = parseJsonObject(text) as Graph | undefined;
  if (!graph) return undefined;
  const sampler = Object.values(graph).find((node) => isObject(node) && typeof node.class_type === 'string' && SAMPLER_NODES.has(node.class_type));
  if (!sampler) return { parameters: {}, unmapped: [], problems: ['the ComfyUI graph has no KSampler node'] };
  const inputs = inputsOf(sampler);
  const parameters: ImageParameters = {};
  const unmapped: string[] = [];
  const positive = followInput(graph, linkedNode(graph, inputs.positive), 'conditioning', (node) => node.class_type !== 'ConditioningCombine' && inputsOf(node).text !== undefined);
  const negative = followInput(graph, linkedNode(graph, inputs.negative), 'conditioning', (node) => inputsOf(node).text !== undefined);
  parameters.prompt = resolveText(graph, inputsOf(positive).text);
  parameters.negativePrompt = resolveText(graph, inputsOf(negative).text);
  parameters.seed = seedField(inputs, 'seed') ?? seedField(inputs, 'noise_seed');
  parameters.steps = numberField(inputs, 'steps', { integer: true, min: 1 });
  parameters.cfgScale = numberField(inputs, 'cfg', { min: 0 });
  const samplerName = stringField(inputs, 'sampler_name');
  const mapped = mapSamplerAlias(samplerName);
  if (mapped) parameters.sampler = mapped.sampler;
  else if (samplerName) unmapped.push(`sampler_name: ${samplerName} (Easel has no such sampler)`);
  const schedulerName = stringField(inputs, 'scheduler');
  parameters.schedule = mapped?.schedule ?? mapScheduleAlias(schedulerName);
  if (schedulerName && !mapScheduleAlias(schedulerName)) unmapped.push(`scheduler: ${schedulerName}`);
  const latent = followInput(graph, linkedNode(graph, inputs.latent_image), 'samples', (node) => inputsOf(node).width !== undefined);
  parameters.width = numberField(inputsOf(latent), 'width', { integer: true, min: 8 });
  parameters.height = numberField(inputsOf(latent), 'height', { integer: true, min: 8 });
  const checkpoint = followInput(graph, linkedNode(graph, inputs.model), 'model', (node) => typeof inputsOf(node).ckpt_name === 'string');
  parameters.modelName = stringField(inputsOf(checkpoint), 'ckpt_name');
  const denoise = numberField(inputs, 'denoise');
  if (denoise !== undefined && denoise !== 1) unmapped.push(`denoise: ${denoise}`);
  return { parameters: withoutUndefined(parameters), unmapped, problems: [] };
}

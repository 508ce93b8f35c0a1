import type { ImageParameters } from '../imageParameters.ts';
import { isObject, numberField, parseJsonObject, seedField, stringField, withoutUndefined } from './jsonShape.ts';
import { mapSamplerAlias, mapScheduleAlias } from './samplerNames.ts';

export interface ReaderResult {
  parameters: ImageParameters;
  unmapped: string[];
  problems: string[];
}

function samplerInto(parameters: ImageParameters, unmapped: string[], name: string | undefined, label: string): void {
  const mapped = mapSamplerAlias(name);
  if (mapped) {
    parameters.sampler = mapped.sampler;
    if (mapped.schedule) parameters.schedule = mapped.schedule;
  } else if (name) {
    unmapped.push(`${label}: ${name} (Easel has no such sampler)`);
  }
}

/** InvokeAI 3+/4+ `invokeai_metadata` JSON. */
export function readInvokeAi(text: string): ReaderResult | undefined {
  const data = parseJsonObject(text);
  if (!data) return undefined;
  const parameters: ImageParameters = {
    prompt: stringField(data, 'positive_prompt'),
    negativePrompt: stringField(data, 'negative_prompt'),
    width: numberField(data, 'width', { integer: true, min: 8 }),
    height: numberField(data, 'height', { integer: true, min: 8 }),
    seed: seedField(data, 'seed'),
    steps: numberField(data, 'steps', { integer: true, min: 1 }),
    cfgScale: numberField(data, 'cfg_scale', { min: 0 }),
    rng: 'cpu',
  };
  const unmapped: string[] = [];
  samplerInto(parameters, unmapped, stringField(data, 'scheduler'), 'scheduler');
  if (isObject(data.model)) {
    parameters.modelName = stringField(data.model, 'name') ?? stringField(data.model, 'model_name');
    parameters.modelHash = stringField(data.model, 'hash');
  }
  for (const key of ['cfg_rescale_multiplier', 'clip_skip', 'vae', 'loras']) if (data[key] !== undefined && data[key] !== 0 && !(Array.isArray(data[key]) && (data[key] as unknown[]).length === 0)) unmapped.push(`${key}: ${JSON.stringify(data[key])}`);
  return { parameters: withoutUndefined(parameters), unmapped, problems: [] };
}

/** NovelAI's `Comment` JSON (with `Description` holding the prompt and `Source` the model). */
export function readNovelAi(comment: string, description?: string, source?: string): ReaderResult | undefined {
  const data = parseJsonObject(comment);
  if (!data) return undefined;
  const parameters: ImageParameters = {
    prompt: stringField(data, 'prompt') ?? description,
    negativePrompt: stringField(data, 'uc') ?? stringField(data, 'negative_prompt'),
    width: numberField(data, 'width', { integer: true, min: 8 }),
    height: numberField(data, 'height', { integer: true, min: 8 }),
    seed: seedField(data, 'seed'),
    steps: numberField(data, 'steps', { integer: true, min: 1 }),
    cfgScale: numberField(data, 'scale', { min: 0 }),
    modelName: source,
  };
  const unmapped: string[] = [];
  samplerInto(parameters, unmapped, stringField(data, 'sampler'), 'sampler');
  const noiseSchedule = stringField(data, 'noise_schedule');
  if (noiseSchedule) {
    const schedule = mapScheduleAlias(noiseSchedule);
    if (schedule) parameters.schedule = schedule;
    else unmapped.push(`noise_schedule: ${noiseSchedule}`);
  }
  for (const key of ['cfg_rescale', 'sm', 'sm_dyn', 'uncond_scale']) {
    const value = data[key];
    if (value !== undefined && value !== 0 && value !== false && !(key === 'uncond_scale' && value === 1)) unmapped.push(`${key}: ${JSON.stringify(value)}`);
  }
  return { parameters: withoutUndefined(parameters), unmapped, problems: [] };
}

/** Fooocus's `parameters` JSON when `fooocus_scheme` is "fooocus". */
export function readFooocus(text: string): ReaderResult | undefined {
  const data = parseJsonObject(text);
  if (!data) return undefined;
  const parameters: ImageParameters = {
    prompt: stringField(data, 'prompt'),
    negativePrompt: stringField(data, 'negative_prompt'),
    steps: numberField(data, 'steps', { integer: true, min: 1 }),
    cfgScale: numberField(data, 'guidance_scale', { min: 0 }),
    seed: seedField(data, 'seed'),
    modelName: stringField(data, 'base_model'),
    modelHash: stringField(data, 'base_model_hash'),
    appVersion: stringField(data, 'version'),
  };
  const unmapped: string[] = [];
  const resolution = /^\(?\s*(\d+)\s*,\s*(\d+)\s*\)?$/.exec(stringField(data, 'resolution') ?? '');
  if (resolution) [parameters.width, parameters.height] = [Number(resolution[1]), Number(resolution[2])];
  samplerInto(parameters, unmapped, stringField(data, 'sampler'), 'sampler');
  const scheduler = stringField(data, 'scheduler');
  if (scheduler && !parameters.schedule) {
    const schedule = mapScheduleAlias(scheduler);
    if (schedule) parameters.schedule = schedule;
    else unmapped.push(`scheduler: ${scheduler}`);
  }
  for (const key of ['styles', 'performance', 'sharpness', 'refiner_model', 'loras']) if (data[key] !== undefined) unmapped.push(`${key}: ${JSON.stringify(data[key])}`);
  return { parameters: withoutUndefined(parameters), unmapped, problems: [] };
}

import { isEmphasisMode, isSamplerName, isScheduleType } from '../../shared/names.ts';
import type { ImageParameters, SourceImage } from '../imageParameters.ts';
import { EASEL_SCHEMA } from '../keywords.ts';
import { isObject, numberField, parseJsonObject, seedField, stringField } from './jsonShape.ts';

/** Our own `easel` chunk; anything of the wrong shape is reported, never trusted. */
export function readEaselChunk(text: string): { parameters: ImageParameters; problems: string[] } | undefined {
  const record = parseJsonObject(text);
  if (!record) return { parameters: {}, problems: ['the easel chunk is not a JSON object'] };
  if (record.schema !== EASEL_SCHEMA) return { parameters: {}, problems: [`the easel chunk has schema ${JSON.stringify(record.schema)}; this version reads ${EASEL_SCHEMA}`] };
  const problems: string[] = [];
  const sampler = record.sampler;
  const schedule = record.schedule;
  const rng = record.rng;
  const decoder = record.decoder;
  const parameters: ImageParameters = {
    prompt: stringField(record, 'prompt'),
    negativePrompt: stringField(record, 'negativePrompt'),
    steps: numberField(record, 'steps', { integer: true, min: 1 }),
    sampler: isSamplerName(sampler) ? sampler : undefined,
    schedule: isScheduleType(schedule) ? schedule : undefined,
    cfgScale: numberField(record, 'cfgScale', { min: 0 }),
    seed: seedField(record, 'seed'),
    width: numberField(record, 'width', { integer: true, min: 8 }),
    height: numberField(record, 'height', { integer: true, min: 8 }),
    rng: rng === 'cpu' || rng === 'gpu' ? rng : undefined,
    decoder: decoder === 'full' || decoder === 'tiny' ? decoder : undefined,
    batchIndex: numberField(record, 'batchIndex', { integer: true, min: 0 }),
    emphasis: isEmphasisMode(record.emphasis) ? record.emphasis : undefined,
    loraHashes: stringField(record, 'loraHashes'),
    modelName: stringField(record, 'modelName'),
    modelHash: stringField(record, 'modelHash'),
    provider: stringField(record, 'provider'),
    appVersion: stringField(record, 'appVersion'),
    durationMs: numberField(record, 'durationMs', { min: 0 }),
    denoisingStrength: numberField(record, 'denoisingStrength', { min: 0 }),
    maskBlur: numberField(record, 'maskBlur', { integer: true, min: 0 }),
    initImage: sourceImage(record.initImage),
    mask: sourceImage(record.mask, true),
  };
  for (const key of Object.keys(parameters) as Array<keyof ImageParameters>) {
    if (parameters[key] === undefined) {
      if (record[key] !== undefined) problems.push(`easel chunk: "${key}" has an unexpected value`);
      delete parameters[key];
    }
  }
  return { parameters, problems };
}

const SHA256 = /^[0-9a-f]{64}$/;
/** The mask PNG travels in the record only while it is small (see the runtime's MAX_EMBEDDED_MASK_BYTES). */
const MAX_MASK_BASE64 = 700_000;

/** An init image or mask reference: a path, a SHA-256 and (masks) a small base64 PNG; other shapes are dropped. */
function sourceImage(value: unknown, withPng = false): (SourceImage & { png?: string }) | undefined {
  if (!isObject(value)) return undefined;
  const path = stringField(value, 'path');
  const sha256 = stringField(value, 'sha256');
  const png = withPng ? stringField(value, 'png') : undefined;
  const out: SourceImage & { png?: string } = {};
  if (path !== undefined && path.length <= 4096) out.path = path;
  if (sha256 !== undefined && SHA256.test(sha256)) out.sha256 = sha256;
  if (png !== undefined && png.length <= MAX_MASK_BASE64 && /^[A-Za-z0-9+/]+={0,2}$/.test(png)) out.png = png;
  return Object.keys(out).length > 0 ? out : undefined;
}

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { parseSamplerName } from '../../src/shared/names.ts';
import { imageDifference, readCases, readRgb, REFERENCE_DIR } from '../helpers/referenceImage.ts';

/** The reference cases these tests reuse (their own test files check every field; these need the request and the image). */
interface PipelineCase {
  id: string; kind?: string; model: string; prompt: string; negative: string | null; sampler: string;
  steps: number; cfg: number; seed: number; width: number; height: number; expected: string;
}

const opened: LoadedModel[] = [];
after(async () => {
  for (const model of opened) await model.release();
});

async function open(folder: string, options: Parameters<typeof loadModel>[3] = {}): Promise<LoadedModel> {
  const model = await loadModel(await inspectModelFolder(folder), 'cpu', undefined, options);
  opened.push(model);
  return model;
}

function paramsOf(model: LoadedModel, c: PipelineCase, decoder: 'full' | 'tiny') {
  return validateParams({
    prompt: c.prompt, negativePrompt: c.negative ?? '', sampler: parseSamplerName(c.sampler), steps: c.steps, cfgScale: c.cfg,
    seed: BigInt(c.seed), width: c.width, height: c.height, decoder, emphasis: 'None',
  }, model);
}

async function assertMatches(topic: string, c: PipelineCase, rgb: Uint8Array, tolerance: { mean: number; max: number }, what: string): Promise<void> {
  const expected = await readRgb(join(REFERENCE_DIR, topic, c.expected));
  const diff = imageDifference(rgb, expected.rgb);
  assert.ok(diff.mean <= tolerance.mean && diff.max <= tolerance.max, `${c.id} (${what}): mean ${diff.mean}, max ${diff.max}`);
}

/** Counts the text encoder's runs by wrapping the open session. */
function countTextEncoderRuns(model: LoadedModel): { runs: number } {
  const counter = { runs: 0 };
  const session = model.textEncoder!;
  model.textEncoder = new Proxy(session, {
    get(target, property) {
      if (property !== 'run') return Reflect.get(target, property, target);
      return (...args: Parameters<ort.InferenceSession['run']>) => {
        counter.runs++;
        return target.run(...args);
      };
    },
  });
  return counter;
}

test('a warm run with the same prompt reuses the conditioning: the text encoder runs once, both images match diffusers', async () => {
  const { tolerance, cases } = readCases<PipelineCase>('taesd');
  const c = cases.find((entry) => entry.kind === 'pipeline')!;
  const model = await open(join(REFERENCE_DIR, 'taesd', c.model), { tinyDecoderDir: join(REFERENCE_DIR, 'taesd', 'taesd') });
  const counter = countTextEncoderRuns(model);
  const params = paramsOf(model, c, 'tiny');
  const [first] = await generate(model, params);
  assert.equal(counter.runs, 2, 'prompt and negative prompt encoded');
  const [second] = await generate(model, params);
  assert.equal(counter.runs, 2, 'the same prompt is not encoded again');
  assert.equal(second.timing.textEncoderMs < first.timing.textEncoderMs, true);
  await assertMatches('taesd', c, first.rgb, tolerance, 'encoded');
  await assertMatches('taesd', c, second.rgb, tolerance, 'reused');

  // Anything the conditioning depends on encodes again.
  await generate(model, { ...params, steps: 1, negativePrompt: 'blurry' });
  assert.equal(counter.runs, 4, 'a new negative prompt');
  await generate(model, { ...params, steps: 1, negativePrompt: 'blurry', emphasis: 'Original' });
  assert.equal(counter.runs, 6, 'another emphasis mode');
  await generate(model, { ...params, steps: 1, prompt: `${params.prompt}!`, negativePrompt: 'blurry', emphasis: 'Original' });
  assert.equal(counter.runs, 8, 'a new prompt');
  await generate(model, { ...params, steps: 1, prompt: `${params.prompt}!`, negativePrompt: 'blurry', emphasis: 'Original', seed: 5n });
  assert.equal(counter.runs, 8, 'a new seed is not a new prompt');
  model.loraState = { text_encoder: 'style:1' };
  await generate(model, { ...params, steps: 1, prompt: `${params.prompt}!`, negativePrompt: 'blurry', emphasis: 'Original' });
  assert.equal(counter.runs, 10, 'text-encoder LoRAs change the conditioning');
  model.loraState = undefined;
});

test('memory "low": the text encoder is released after encoding, the VAE decoder opened only to decode; images match diffusers', async () => {
  const { tolerance, cases } = readCases<PipelineCase>('lcm_guidance');
  const model = await open(join(REFERENCE_DIR, 'lcm_guidance', cases[0].model), { tuning: { memory: 'low' } });
  assert.equal(model.vaeDecoder, undefined, 'the decoder is not held after loading');
  assert.notEqual(model.textEncoder, undefined, 'the text encoder is held until the first prompt');
  const seen: Array<[boolean, boolean]> = [];
  const held = () => seen.push([model.textEncoder !== undefined, model.vaeDecoder !== undefined]);
  for (const c of cases) {
    const [image] = await generate(model, paramsOf(model, c, 'full'), { onStep: held });
    await assertMatches('lcm_guidance', c, image.rgb, tolerance, 'low memory');
    assert.equal(model.textEncoder, undefined, `${c.id}: text encoder released`);
    assert.equal(model.vaeDecoder, undefined, `${c.id}: VAE decoder released`);
  }
  assert.ok(seen.length > 0 && seen.every(([text, vae]) => !text && !vae), 'neither is held while the UNet samples');

  const balanced = await open(join(REFERENCE_DIR, 'lcm_guidance', cases[0].model));
  await generate(balanced, paramsOf(balanced, cases[0], 'full'));
  assert.ok(balanced.textEncoder && balanced.vaeDecoder, '"balanced" keeps both');
});

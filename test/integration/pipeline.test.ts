import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate } from '../../src/engine/pipeline.ts';
import { validateParams, type GenerationParams } from '../../src/engine/generationParams.ts';
import { SAMPLER_NAMES } from '../../src/shared/names.ts';
import { analyticTarget, maxAbsDifference } from '../helpers/analyticTarget.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';
import { FIXTURE_VARIANTS, generateFixtureModel } from '../fixtures/generate.ts';

const loaded: LoadedModel[] = [];
let folders: Record<string, string>;

/** A real-architecture SD 1.x model exported in Optimum's current layout (see test/reference/img2img_inpaint/README.md). */
const realOptimumMain = fileURLToPath(new URL('../reference/img2img_inpaint/model-optimum-main', import.meta.url));

async function open(variant: string): Promise<LoadedModel> {
  const model = await loadModel(await inspectModelFolder(folders[variant] ?? variant), 'cpu');
  loaded.push(model);
  return model;
}

before(async () => {
  folders = await fixtureModels();
});
after(async () => {
  await Promise.all(loaded.map((model) => model.release()));
});

const PROMPT = 'a yellow sun over the ocean';
const small = (overrides: Partial<GenerationParams> = {}) => ({ prompt: PROMPT, width: 64, height: 64, steps: 12, seed: 42n, ...overrides });

// The analytic model's target does not depend on the noise, so seeds show through the noise DDIM leaves
// at ᾱ₀ < 1; guidance 1 keeps the colours from saturating.
test('same model, prompt, seed and settings give identical bytes; another seed gives another image', async () => {
  const model = await open('demo');
  const params = validateParams(small({ sampler: 'DDIM', cfgScale: 1 }), model);
  const [first] = await generate(model, params);
  const [again] = await generate(model, params);
  const [other] = await generate(model, { ...params, seed: 43n });
  assert.deepEqual(again.rgb, first.rgb);
  assert.notDeepEqual(other.rgb, first.rgb);
  assert.equal(first.rgb.length, 64 * 64 * 3);
});

test('batch count gives seed, seed+1, … and image i equals a single run with that seed', async () => {
  const model = await open('demo');
  const params = validateParams(small({ batchCount: 3, seed: 100n, sampler: 'Euler a' }), model);
  const images = await generate(model, params);
  assert.deepEqual(images.map((image) => image.seed), [100n, 101n, 102n]);
  const [single] = await generate(model, { ...params, batchCount: 1, seed: 102n });
  assert.deepEqual(single.rgb, images[2].rgb);
});

/** The same model with set_alpha_to_one, so ᾱ-space samplers end exactly at x₀ as well. */
function endingAtAlphaOne(model: LoadedModel): LoadedModel {
  return { ...model, folder: { ...model.folder, scheduler: { ...model.folder.scheduler, set_alpha_to_one: true } } };
}

for (const sampler of SAMPLER_NAMES) {
  test(`${sampler} converges on the analytic model's target without guidance`, async () => {
    const model = endingAtAlphaOne(await open('demo'));
    const target = await analyticTarget(model, PROMPT, 8, 8);
    const steps = sampler === 'LCM' ? 4 : 25;
    const [image] = await generate(model, validateParams(small({ sampler, steps, cfgScale: 1 }), model));
    const error = maxAbsDifference(image.latents, target);
    assert.ok(error < 1e-5, `${sampler}: max |latent − target| = ${error}`);
  });
}

test('with SD\'s set_alpha_to_one = false, DDIM stops at ᾱ₀ and keeps √(1 − ᾱ₀) of noise, as diffusers does', async () => {
  const model = await open('demo');
  const target = await analyticTarget(model, PROMPT, 8, 8);
  const [image] = await generate(model, validateParams(small({ sampler: 'DDIM', steps: 25, cfgScale: 1 }), model));
  const error = maxAbsDifference(image.latents, target);
  assert.ok(error > 0.01 && error < 0.15, `residual ${error}`);
});

test('Karras schedules converge too', async () => {
  const model = await open('demo');
  const target = await analyticTarget(model, PROMPT, 8, 8);
  for (const sampler of ['Euler', 'DPM++ 2M'] as const) {
    const [image] = await generate(model, validateParams(small({ sampler, schedule: 'Karras', cfgScale: 1 }), model));
    assert.ok(maxAbsDifference(image.latents, target) < 1e-5, sampler);
  }
});

test('classifier-free guidance extrapolates from the negative prompt: x₀ = u + g·(c − u)', async () => {
  const model = await open('demo');
  const conditional = await analyticTarget(model, PROMPT, 8, 8);
  const unconditional = await analyticTarget(model, 'night', 8, 8);
  const guidance = 3;
  const expected = conditional.map((c, i) => unconditional[i] + guidance * (c - unconditional[i]));
  const [image] = await generate(model, validateParams(small({ sampler: 'Euler', cfgScale: guidance, negativePrompt: 'night' }), model));
  assert.ok(maxAbsDifference(image.latents, expected) < 5e-3);
  const [unguided] = await generate(model, validateParams(small({ sampler: 'Euler', cfgScale: 1 }), model));
  assert.ok(maxAbsDifference(unguided.latents, expected) > 0.1, 'guidance changes the result');
});

test('v-prediction model converges (trailing spacing, "!" padding)', async () => {
  const model = await open('v-prediction');
  assert.equal(model.folder.scheduler.prediction_type, 'v_prediction');
  assert.equal(model.tokenizer.padId, 0, 'SD 2.x pads with "!", id 0');
  const target = await analyticTarget(model, PROMPT, 8, 8);
  for (const sampler of ['Euler', 'DPM++ 2M', 'Euler a', 'LCM'] as const) {
    const [image] = await generate(model, validateParams(small({ sampler, steps: sampler === 'LCM' ? 4 : 12, cfgScale: 1 }), model));
    assert.ok(maxAbsDifference(image.latents, target) < 1e-5, `${sampler}: ${maxAbsDifference(image.latents, target)}`);
  }
});

for (const variant of ['optimum-int64', 'optimum-main', 'int32-timestep', 'float16-timestep', 'float16-io']) {
  test(`${variant}: signature is read and the image matches the float32 model's`, async () => {
    const model = await open(variant);
    const reference = await open('demo');
    const params = small({ sampler: 'DPM++ 2M', cfgScale: 1 });
    const [image] = await generate(model, validateParams(params, model));
    const [expected] = await generate(reference, validateParams(params, reference));
    const tolerance = variant.startsWith('float16') ? 4 : 1;
    assert.ok(maxAbsDifference(image.rgb, expected.rgb) <= tolerance, `${variant}: ${maxAbsDifference(image.rgb, expected.rgb)}`);
  });
}

test('the signature records what each export expects', async () => {
  const int64 = await open('optimum-int64');
  assert.equal(int64.signature.timestepType, 'int64');
  assert.equal(int64.signature.timestepShape, 'one');
  assert.equal((await open('demo')).signature.timestepShape, 'batch');
  assert.equal((await open('optimum-main')).signature.timestepShape, 'scalar');
  const half = await open('float16-io');
  assert.equal(half.signature.sampleType, 'float16');
  assert.equal(half.signature.timestepType, 'float16');
  assert.equal(half.signature.decoderOutputType, 'float16');
});

test('a fixed-size export defaults to its size and refuses others', async () => {
  const model = await open('fixed-size');
  const params = validateParams({ prompt: PROMPT, steps: 4 }, model);
  assert.deepEqual([params.width, params.height], [64, 64]);
  assert.throws(() => validateParams({ prompt: PROMPT, width: 128, height: 128 }, model), /exported for 64×64 only/);
  const [image] = await generate(model, params);
  assert.equal(image.rgb.length, 64 * 64 * 3);
});

test('a prompt past 75 tokens runs in two chunks: words after token 75 still count, the negative prompt is padded', async () => {
  const model = await open('demo');
  const filler = Array(80).fill('a').join(' ');
  const run = async (prompt: string, negativePrompt = '') => (await generate(model, validateParams(small({ prompt, negativePrompt, sampler: 'DDIM', cfgScale: 3 }), model)))[0].rgb;
  const short = await run('red circle');
  // The analytic UNet sums embeddings over the sequence (filler and padding embed to 0), so chunked = short.
  assert.deepEqual(await run(`${filler} red circle`), short, 'the words after token 75 reach the UNet');
  assert.notDeepEqual(await run(filler), short);
  // A long negative prompt pads the short prompt instead (and changes the image through guidance).
  assert.notDeepEqual(await run('red circle', `${filler} night`), short);
  assert.deepEqual(await run(`red circle BREAK ${filler}`), short, 'BREAK adds a chunk');
});

test('emphasis weights the token\'s hidden state: (red:1.5) is redder than red, [red] less, "None" reads brackets as text', async () => {
  const model = await open('demo');
  const meanRed = async (prompt: string, emphasis: 'Original' | 'No norm' | 'None' = 'No norm') => {
    const [image] = await generate(model, validateParams(small({ prompt, sampler: 'DDIM', cfgScale: 1, emphasis }), model));
    let sum = 0;
    for (let i = 0; i < image.rgb.length; i += 3) sum += image.rgb[i];
    return sum / (image.rgb.length / 3);
  };
  const plain = await meanRed('red circle');
  assert.ok(await meanRed('(red:1.5) circle') > plain + 3);
  assert.ok(await meanRed('[red] circle') < plain - 2);
  assert.ok(await meanRed('(red:1.5) circle', 'Original') !== await meanRed('(red:1.5) circle'), 'Original rescales to the unweighted mean');
  assert.equal(await meanRed('(red:1.5) circle', 'None'), await meanRed('red:1.5 circle', 'None'), 'None: brackets are literal (and embed to 0 here)');
});

test('an export with a fixed prompt length refuses a two-chunk prompt with a clear error', async () => {
  const model = await open('fixed-size');
  assert.equal(model.signature.fixedContextLength, 77);
  const params = validateParams({ prompt: Array(80).fill('red').join(' '), steps: 2 }, model);
  await assert.rejects(generate(model, params), /exported for 77 prompt tokens, but the prompt needs 2 chunks of 77 \(154 tokens\)/);
  const [image] = await generate(model, validateParams({ prompt: 'red circle', steps: 2 }, model));
  assert.equal(image.rgb.length, 64 * 64 * 3);
});

test('the GPU (Philox) noise source gives a different, reproducible image', async () => {
  const model = await open('demo');
  const cpu = validateParams(small({ sampler: 'DDIM', steps: 6, cfgScale: 1 }), model);
  const [a] = await generate(model, { ...cpu, rng: 'gpu' });
  const [b] = await generate(model, { ...cpu, rng: 'gpu' });
  const [c] = await generate(model, cpu);
  assert.deepEqual(a.rgb, b.rgb);
  assert.notDeepEqual(a.rgb, c.rgb);
});

test('progress, previews and cancellation between steps', async () => {
  const model = await open('demo');
  const steps: number[] = [];
  let previews = 0;
  await generate(model, validateParams(small({ steps: 10 }), model), {
    onStep: (progress) => steps.push(progress.step),
    previewEvery: 3,
    onPreview: (preview) => {
      previews++;
      assert.equal(preview.rgba.length, 8 * 8 * 4);
    },
  });
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(previews, 3);

  const controller = new AbortController();
  const seen: number[] = [];
  await assert.rejects(
    generate(model, validateParams(small({ steps: 10 }), model), {
      signal: controller.signal,
      onStep: (progress) => {
        seen.push(progress.step);
        if (progress.step === 4) controller.abort();
      },
    }),
    (error: Error & { code?: string }) => error.code === 'CANCELLED',
  );
  assert.deepEqual(seen, [1, 2, 3, 4]);
});

test('invalid requests are refused with the setting named', async () => {
  const model = await open('demo');
  assert.throws(() => validateParams({ prompt: 'x', width: 100 }, model), /Width must be a multiple of 8/);
  assert.throws(() => validateParams({ prompt: 'x', steps: 0 }, model), /Steps must be a whole number/);
  assert.throws(() => validateParams({ prompt: 'x', sampler: 'Heun' as never }, model), /Unknown sampler "Heun"/);
  assert.throws(() => validateParams({ prompt: 'x', seed: -5 }, model), /Seed must be a whole number/);
  assert.throws(() => validateParams({ prompt: 'x', cfgScale: Number.NaN }, model), /CFG scale/);
});

test('a rank-0 timestep export (current Optimum) gets a scalar and generates the same pixels as a [1] export', async () => {
  const scalar = await open('optimum-main');
  const one = await open('optimum-int64');
  for (const sampler of ['DPM++ 2M', 'DDIM'] as const) {
    const params = small({ sampler, steps: 6, cfgScale: 5, negativePrompt: 'night' });
    const [image] = await generate(scalar, validateParams(params, scalar));
    const [expected] = await generate(one, validateParams(params, one));
    assert.deepEqual(image.rgb, expected.rgb, sampler);
  }
});

test('a real Optimum-main export (rank-0 float timestep, diffusers UNet2DConditionModel) runs text-to-image', async () => {
  const model = await open(realOptimumMain);
  assert.equal(model.signature.timestepShape, 'scalar');
  const params = validateParams({ prompt: 'a red fox in the snow', negativePrompt: 'blurry', width: 64, height: 64, steps: 3, seed: 5n, sampler: 'Euler a', cfgScale: 7 }, model);
  const [image] = await generate(model, params);
  const [again] = await generate(model, params);
  assert.deepEqual(again.rgb, image.rgb);
  assert.ok(image.latents.every(Number.isFinite));
  assert.ok(new Set(image.rgb).size > 50, 'a real image, not a flat one');
});

test('a model that produces NaN fails with INFERENCE_FAILED naming the step or the decoder, never a black image', async () => {
  const root = temporaryFolder('easel-nan-');
  for (const [component, message] of [['unet', /NaN or infinite values in the UNet's output at step 1 of 4/], ['vae_decoder', /NaN or infinite values in the VAE decoder's output/]] as const) {
    const folder = await generateFixtureModel(join(root, component), { ...FIXTURE_VARIANTS.demo, nanOutput: component });
    const model = await open(folder);
    const images: unknown[] = [];
    await assert.rejects(
      generate(model, validateParams(small({ steps: 4, sampler: 'Euler' }), model), { onImage: (image) => void images.push(image) }),
      (error: Error & { code?: string }) => error.code === 'INFERENCE_FAILED' && message.test(error.message),
    );
    assert.equal(images.length, 0);
  }
});

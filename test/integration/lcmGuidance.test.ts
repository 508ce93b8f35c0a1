import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { inspectModelFolder } from '../../src/engine/modelFolder.ts';
import { loadModel, type LoadedModel } from '../../src/engine/modelSessions.ts';
import { generate, guidanceScaleEmbedding } from '../../src/engine/pipeline.ts';
import { validateParams } from '../../src/engine/generationParams.ts';
import { parseSamplerName } from '../../src/shared/names.ts';
import { imageDifference, readCases, readRgb, REFERENCE_DIR } from '../helpers/referenceImage.ts';

interface LcmCase {
  id: string;
  model: string;
  prompt: string;
  sampler: string;
  steps: number;
  cfg: number;
  seed: number;
  width: number;
  height: number;
  expected: string;
}

const TOPIC = join(REFERENCE_DIR, 'lcm_guidance');
const { tolerance, cases } = readCases<LcmCase>('lcm_guidance');
const models = new Map<string, Promise<LoadedModel>>();
const open = (dir: string) => {
  if (!models.has(dir)) models.set(dir, inspectModelFolder(join(TOPIC, dir)).then((folder) => loadModel(folder, 'cpu')));
  return models.get(dir)!;
};
after(async () => {
  for (const model of models.values()) await (await model).release();
});

test('the guidance embedding is sin then cos of w·1000 at diffusers\' frequencies', () => {
  const embedding = guidanceScaleEmbedding(7.5, 32);
  // i = 0: frequency 1, angle 7500; i = 15: frequency 1e-4, angle 0.75.
  assert.ok(Math.abs(embedding[0] - Math.sin(7500)) < 1e-3);
  assert.ok(Math.abs(embedding[16] - Math.cos(7500)) < 1e-3);
  assert.ok(Math.abs(embedding[15] - Math.sin(0.75)) < 1e-6);
  assert.ok(Math.abs(embedding[31] - Math.cos(0.75)) < 1e-6);
  assert.deepEqual([...guidanceScaleEmbedding(0, 4)], [0, 0, 1, 1]);
});

test('an LCM UNet with timestep_cond is recognised by its signature', async () => {
  const model = await open(cases[0].model);
  assert.deepEqual(model.signature.timestepCond, { type: 'float32', dim: 32 });
});

for (const c of cases) {
  test(`${c.id}: LCM with the guidance embedding (w = ${c.cfg} − 1, no CFG batch) matches diffusers`, async () => {
    const model = await open(c.model);
    const params = validateParams({
      prompt: c.prompt, sampler: parseSamplerName(c.sampler), steps: c.steps, cfgScale: c.cfg, seed: BigInt(c.seed), width: c.width, height: c.height,
      // diffusers tokenizes the prompt literally: A1111's "Emphasis: None".
      emphasis: 'None',
    }, model);
    const [image] = await generate(model, params);
    const expected = await readRgb(join(TOPIC, c.expected));
    assert.deepEqual([expected.width, expected.height], [c.width, c.height]);
    const diff = imageDifference(image.rgb, expected.rgb);
    assert.ok(diff.mean <= tolerance.mean && diff.max <= tolerance.max, `${c.id}: mean ${diff.mean}, max ${diff.max}`);
  });
}

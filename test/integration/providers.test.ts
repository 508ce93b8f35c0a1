import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoProviders, candidateProviders, createSessionWithProvider, probeProviders } from '../../src/engine/providers.ts';
import { fixtureModels } from '../helpers/fixtures.ts';
import { isEaselError } from '../../src/shared/errors.ts';

test('the probe reports every candidate, and cpu always works', async () => {
  const probes = await probeProviders();
  assert.deepEqual(probes.map((probe) => probe.provider), candidateProviders());
  const cpu = probes.find((probe) => probe.provider === 'cpu')!;
  assert.equal(cpu.works, true);
  for (const probe of probes) assert.ok(probe.works || probe.detail.length > 0, `${probe.provider} says why it failed`);
});

test('auto falls back to cpu and says why the others were passed over', async () => {
  const { demo } = await fixtureModels();
  const { session, provider, attempts } = await createSessionWithProvider(`${demo}/unet/model.onnx`, 'auto');
  const auto = autoProviders();
  const working = (await probeProviders()).find((probe) => probe.works && auto.includes(probe.provider))!;
  assert.equal(provider, working.provider);
  assert.equal(attempts.at(-1)!.provider, provider);
  for (const attempt of attempts.slice(0, -1)) assert.ok(attempt.error, `${attempt.provider} failure is explained`);
  await session.release();
});

test('auto passes webgpu over on Linux without a GPU device (a software Vulkan adapter), but not elsewhere', () => {
  const offersWebgpu = candidateProviders('linux').includes('webgpu');
  assert.equal(autoProviders('linux', () => false).includes('webgpu'), false);
  assert.equal(autoProviders('linux', () => true).includes('webgpu'), offersWebgpu);
  assert.deepEqual(autoProviders('win32', () => false), candidateProviders('win32'));
  assert.equal(autoProviders('linux', () => false).at(-1), 'cpu');
});

test('an explicit provider that this build lacks is refused with the setting named', async () => {
  const { demo } = await fixtureModels();
  await assert.rejects(createSessionWithProvider(`${demo}/unet/model.onnx`, 'coreml'), (error) => isEaselError(error) && /coreml|easel\.executionProvider/i.test(error.message));
});

test('the extension asks the worker for the probe: ONNX Runtime never loads in the host', async () => {
  const { createService } = await import('../helpers/service.ts');
  const service = createService();
  try {
    const probes = await service.probeProviders();
    assert.deepEqual(probes.map((probe) => probe.provider), candidateProviders());
    assert.equal(probes.find((probe) => probe.provider === 'cpu')?.works, true);
  } finally {
    await service.dispose();
  }
  const { readFileSync } = await import('node:fs');
  const { resolve } = await import('node:path');
  for (const bundle of ['extension.js', 'cli.js']) {
    const code = readFileSync(resolve(import.meta.dirname, '..', '..', 'dist', bundle), 'utf8');
    assert.equal(code.includes('require("onnxruntime-node")'), false, `${bundle} does not load ONNX Runtime`);
    assert.equal(code.includes('require("sharp")'), false, `${bundle} does not load sharp`);
  }
});

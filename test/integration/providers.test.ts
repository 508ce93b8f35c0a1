import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { autoProviders, candidateProviders, createSessionWithProvider, isProviderFailure, probeProviders } from '../../src/engine/providers.ts';
import { fixtureModels, temporaryFolder } from '../helpers/fixtures.ts';
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

test('provider start-up failures are told apart from model failures ("step" is not a provider word)', () => {
  assert.equal(isProviderFailure('/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n'), true);
  assert.equal(isProviderFailure('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library'), true);
  assert.equal(isProviderFailure('no available backend found. ERR: [dml] backend not found.'), true);
  assert.equal(isProviderFailure("Non-zero status code returned while running Add node. Name:'/time_step/Add' Status Message: step shapes differ"), false);
  assert.equal(isProviderFailure('Load model from unet/model.onnx failed:Protobuf parsing failed.'), false);
});

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js');

test('a GPU provider with no adapter is PROVIDER_UNAVAILABLE with its own reason, never "the model is corrupt"', async () => {
  const { demo } = await fixtureModels();
  // No Vulkan driver: Dawn finds no adapter, as on a machine with a broken GPU driver.
  const run = spawnSync(process.execPath, [CLI, 'generate', '--model', demo, '--prompt', 'x', '--steps', '1', '--width', '64', '--height', '64', '--provider', 'webgpu', '--out', join(temporaryFolder(), 'x.png')], {
    encoding: 'utf8', env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' }, timeout: 120_000,
  });
  assert.equal(run.status, 1, run.stderr);
  const [error] = run.stderr.split('\n').filter((line) => line.startsWith('easel: error:'));
  assert.match(error, /^easel: error: The webgpu execution provider could not start here: Failed to get a WebGPU adapter: No supported adapters\. The model was not checked; choose "auto" or "cpu"/);
  assert.doesNotMatch(run.stderr, /not a valid ONNX model|truncated or corrupt/);
});

test('ONNX Runtime prints nothing of its own unless --verbose; Easel says what failed', async () => {
  const { demo } = await fixtureModels();
  const args = [CLI, 'generate', '--model', demo, '--prompt', 'x', '--steps', '1', '--width', '64', '--height', '64', '--provider', 'cuda', '--out', join(temporaryFolder(), 'x.png')];
  const quiet = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
  assert.equal(quiet.status, 1);
  assert.doesNotMatch(quiet.stderr, /onnxruntime|\[[EWIV]:/, quiet.stderr);
  assert.deepEqual(quiet.stderr.trim().split('\n').slice(-1), ['easel: error: The cuda execution provider could not start here: OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library. The model was not checked; choose "auto" or "cpu" in easel.executionProvider.']);
  const verbose = spawnSync(process.execPath, [...args, '--verbose'], { encoding: 'utf8', timeout: 120_000 });
  assert.match(verbose.stderr, /\[E:onnxruntime:/, 'with --verbose ONNX Runtime\'s own error line is shown');
});

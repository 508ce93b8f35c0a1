import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNoiseGenerator, randn } from '../../src/engine/rng.ts';
import type { RngSource } from '../../src/shared/names.ts';

interface ReferenceCase {
  seed: number;
  shape: number[];
  numel: number;
  first: number[];
  at: Record<string, number>;
  sum: number;
}

const referenceDir = join(import.meta.dirname, '..', 'reference');

function loadCases(file: string): ReferenceCase[] {
  return JSON.parse(readFileSync(join(referenceDir, file), 'utf8')).cases;
}

const referenceFiles: Array<[string, RngSource]> = [
  ['torch_cpu_randn.json', 'cpu'],
  ['philox_cuda_randn.json', 'gpu'],
];

for (const [file, source] of referenceFiles) {
  for (const reference of loadCases(file)) {
    test(`randn ${source} seed ${reference.seed} shape [${reference.shape}] is bit-identical to PyTorch`, () => {
      const values = randn(reference.seed, reference.shape, source);
      assert.equal(values.length, reference.numel);
      reference.first.forEach((expected, i) => assert.equal(values[i], expected, `element ${i}`));
      for (const [index, expected] of Object.entries(reference.at)) {
        assert.equal(values[Number(index)], expected, `element ${index}`);
      }
      let sum = 0;
      for (const value of values) sum += value;
      assert.ok(Math.abs(sum - reference.sum) <= 1e-9 * Math.max(1, Math.abs(reference.sum)), `sum ${sum}`);
    });
  }
}

test('a generator continues its stream: two draws differ from one repeated draw', () => {
  for (const source of ['cpu', 'gpu'] as const) {
    const generator = createNoiseGenerator(7, source);
    const first = generator.randn([1, 4, 4, 4]);
    const second = generator.randn([1, 4, 4, 4]);
    assert.deepEqual(first, randn(7, [1, 4, 4, 4], source));
    assert.notDeepEqual(first, second);
  }
});

test('seeds above 2^32 are accepted; the CPU generator uses the low 32 bits as torch does', () => {
  const big = (1n << 40n) + 5n;
  assert.deepEqual(randn(big, [32], 'cpu'), randn(5, [32], 'cpu'));
  assert.notDeepEqual(randn(big, [32], 'gpu'), randn(5, [32], 'gpu'));
  assert.equal(randn((1n << 64n) - 1n, [3], 'gpu').length, 3);
});

test('invalid seeds are refused with a clear error', () => {
  for (const bad of [-1, 1.5, Number.NaN, 1n << 64n]) {
    assert.throws(() => randn(bad, [2], 'cpu'), /Seed must be an integer from 0 to/);
  }
});

test('a tensor of 17 elements redraws its last block of 16, as torch does', () => {
  const seventeen = randn(3, [17], 'cpu');
  const sixteen = randn(3, [16], 'cpu');
  assert.equal(seventeen[0], sixteen[0]);
  assert.notEqual(seventeen[16], sixteen[15]);
});

import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { deflateSync } from 'node:zlib';
import { buildChunk } from '../../../src/png/chunks.ts';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageMetadata, readImageMetadataFile } from '../../../src/png/readMetadata.ts';
import { DEFAULT_TEXT_LIMITS } from '../../../src/png/textChunks.ts';
import { MAX_JSON_DEPTH } from '../../../src/png/readers/jsonShape.ts';
import { deepJson, writeHugeTextChunkPng } from '../../helpers/hostilePngs.ts';
import { encodePng } from '../../../src/png/writeMetadata.ts';
import { isEaselError } from '../../../src/shared/errors.ts';
import { COMFY_DEFAULT_GRAPH, iTXt, plainPng, tEXt, withChunks } from '../../helpers/pngSamples.ts';

let png: Uint8Array;
let tagged: Uint8Array;
before(async () => {
  png = await plainPng();
  tagged = await encodePng(new Uint8Array(16 * 16 * 3), 16, 16, {
    prompt: 'p', negativePrompt: 'n', steps: 2, sampler: 'Euler', schedule: 'Automatic', cfgScale: 7, seed: '1', width: 16, height: 16, rng: 'cpu', batchIndex: 0, modelName: 'm', appVersion: '0.1.0',
  });
});

/** Either a result or an EaselError with a sentence; never another exception. */
function readSafely(bytes: Uint8Array): 'ok' | 'refused' {
  try {
    readImageMetadata(bytes);
    return 'ok';
  } catch (error) {
    assert.ok(isEaselError(error, 'PNG_INVALID'), `unexpected ${(error as Error)?.stack}`);
    assert.ok((error as Error).message.length > 10);
    return 'refused';
  }
}

test('not a PNG', () => {
  assert.equal(readSafely(new TextEncoder().encode('GIF89a not a png at all')), 'refused');
  assert.equal(readSafely(new Uint8Array(0)), 'refused');
});

test('truncated anywhere: refused or read, never a crash', () => {
  for (let length = 0; length < tagged.length; length += 7) readSafely(tagged.subarray(0, length));
  assert.throws(() => readImageMetadata(tagged.subarray(0, 60)), /truncated|past the end/);
});

test('a bad CRC is refused', () => {
  const damaged = tagged.slice();
  damaged[40] ^= 0xff;
  assert.throws(() => readImageMetadata(damaged), /bad CRC|invalid chunk type/);
});

test('a chunk length beyond the file is refused without allocating it', () => {
  const chunk = buildChunk('tEXt', new TextEncoder().encode('parameters\0x'));
  new DataView(chunk.buffer).setUint32(0, 0x7ffffff0);
  assert.throws(() => readImageMetadata(withChunks(png, [chunk])), /past the end of the file/);
});

test('thousands of chunks: refused past the limit, quickly', () => {
  const many = Array.from({ length: 12000 }, (_, i) => tEXt(`k${i}`, 'v'));
  const started = performance.now();
  assert.throws(() => readImageMetadata(withChunks(png, many)), /more than 10000 chunks/);
  assert.ok(performance.now() - started < 2000);
});

test('a compressed text chunk that inflates without bound is capped', () => {
  const bomb = deflateSync(Buffer.alloc(64 * 1024 * 1024, 0x41), { level: 9 });
  const chunk = buildChunk('zTXt', Buffer.concat([Buffer.from('parameters\0'), Buffer.of(0), bomb]));
  const before = process.memoryUsage().rss;
  const metadata = readImageMetadata(withChunks(png, [chunk]));
  assert.ok(metadata.problems.some((problem) => /inflates past/.test(problem)), metadata.problems.join('; '));
  assert.equal(metadata.source, 'none');
  assert.ok(process.memoryUsage().rss - before < 48 * 1024 * 1024, 'did not inflate the whole bomb');
});

test('invalid UTF-8 in iTXt is reported, other chunks still read', () => {
  const bad = buildChunk('iTXt', Buffer.concat([Buffer.from('easel\0'), Buffer.of(0, 0, 0, 0), Buffer.of(0xc3, 0x28, 0xff)]));
  const metadata = readImageMetadata(withChunks(png, [bad, tEXt('parameters', 'ok\nSteps: 1, Sampler: Euler, CFG scale: 1, Seed: 2, Size: 8x8')]));
  assert.ok(metadata.problems.some((problem) => problem.startsWith('iTXt "easel"')));
  assert.equal(metadata.parameters.prompt, 'ok');
});

test('JSON of the wrong shape in every reader gives an empty or partial result', () => {
  const shapes = ['[]', 'null', '"text"', '{"3":{"class_type":"KSampler","inputs":{"positive":["3",0],"seed":"x"}}}', '{"positive_prompt":{"a":1},"seed":-4}', '{"prompt":[1,2],"steps":"NaN"}'];
  for (const shape of shapes) {
    for (const keyword of ['easel', 'prompt', 'invokeai_metadata', 'Comment']) {
      const metadata = readImageMetadata(withChunks(png, [iTXt(keyword, shape)]));
      for (const value of Object.values(metadata.parameters)) assert.ok(['string', 'number'].includes(typeof value));
    }
  }
});

test('a ComfyUI graph whose links form a cycle terminates', () => {
  const graph = structuredClone(COMFY_DEFAULT_GRAPH) as Record<string, { inputs: Record<string, unknown>; class_type: string }>;
  graph[6] = { inputs: { text: ['10', 0] }, class_type: 'CLIPTextEncode' };
  graph[10] = { inputs: { text: ['11', 0] }, class_type: 'Primitive' };
  graph[11] = { inputs: { text: ['10', 0] }, class_type: 'Primitive' };
  const metadata = readImageMetadata(withChunks(png, [tEXt('prompt', JSON.stringify(graph))]));
  assert.equal(metadata.source, 'comfyui');
  assert.equal(metadata.parameters.prompt, undefined);
});

test('property: any mutation of a tagged PNG is read or refused cleanly', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 12 }),
      fc.option(fc.nat(), { nil: undefined }),
      (flips, cut) => {
        const bytes = tagged.slice();
        for (const { at, value } of flips) bytes[at % bytes.length] = value;
        readSafely(cut === undefined ? bytes : bytes.subarray(0, cut % bytes.length));
      },
    ),
    { numRuns: 400, seed: 20261125 },
  );
});

test('property: arbitrary chunks after the signature are read or refused cleanly', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (tail) => {
      const bytes = new Uint8Array(8 + tail.length);
      bytes.set(png.subarray(0, 8));
      bytes.set(tail, 8);
      readSafely(bytes);
    }),
    { numRuns: 400, seed: 7 },
  );
});

test('JSON nested 10 000 deep in any reader is refused as "nested too deeply", not a stack overflow', async () => {
  const files: Array<[string, Uint8Array[]]> = [
    ['invokeai_metadata', [iTXt('invokeai_metadata', deepJson({ positive_prompt: 'p' }, 'loras', 10_000))]],
    ['parameters', [tEXt('fooocus_scheme', 'fooocus'), tEXt('parameters', deepJson({ prompt: 'p' }, 'styles', 10_000))]],
    ['Comment', [tEXt('Comment', deepJson({ prompt: 'p' }, 'sm', 10_000))]],
    ['prompt', [tEXt('prompt', deepJson({}, '3', 10_000))]],
    ['easel', [iTXt('easel', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`)]],
  ];
  const folder = await mkdtemp(join(tmpdir(), 'easel-deep-'));
  try {
    for (const [keyword, chunks] of files) {
      const path = join(folder, `${keyword}.png`);
      await writeFile(path, withChunks(png, chunks));
      const metadata = await readImageMetadataFile(path);
      assert.ok(metadata.problems.some((problem) => problem.startsWith(`"${keyword}" chunk: the metadata is nested too deeply`)), `${keyword}: ${metadata.problems.join('; ')}`);
      JSON.stringify(metadata); // what `easel inspect --json` prints
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  const shallow = readImageMetadata(withChunks(png, [iTXt('invokeai_metadata', deepJson({ positive_prompt: 'p' }, 'loras', MAX_JSON_DEPTH - 1))]));
  assert.equal(shallow.source, 'invokeai', 'nesting up to the limit still reads');
});

test('a text chunk over the size limit is skipped before it is decoded; a 200 MB chunk in a file is never read into memory', async () => {
  const over = readImageMetadata(withChunks(png, [tEXt('parameters', 'a'.repeat(DEFAULT_TEXT_LIMITS.maxInflatedBytes + 1)), tEXt('Software', 'x')]));
  assert.equal(over.source, 'none');
  assert.match(over.problems.join('; '), /tEXt chunk at byte \d+ holds 8388620 bytes, more than the 8388608 read from one chunk; it was not read/);
  assert.deepEqual(over.chunks.map((chunk) => chunk.keyword), ['Software'], 'the chunks after it are still read');

  const folder = await mkdtemp(join(tmpdir(), 'easel-huge-'));
  try {
    const path = join(folder, 'huge.png');
    await writeHugeTextChunkPng(path, png, 200_000_000);
    const rssBefore = process.memoryUsage().rss;
    const metadata = await readImageMetadataFile(path);
    const grew = process.memoryUsage().rss - rssBefore;
    assert.match(metadata.problems.join('; '), /holds 200000000 bytes/);
    assert.ok(grew < 4 * DEFAULT_TEXT_LIMITS.maxInflatedBytes, `memory grew by ${(grew / 1e6).toFixed(0)} MB`);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

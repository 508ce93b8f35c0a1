import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatInfotext, infotextPairs, parseInfotext, parseInfotextFields, quoteInfotextValue } from '../../../src/png/infotext.ts';
import { formatLoraHashes, parseLoraHashes } from '../../../src/png/loraHashes.ts';

// Infotext as AUTOMATIC1111 v1.9/v1.10 writes it (PNG Info of images it generated).
const A1111_FULL = `masterpiece, best quality, a lighthouse on a cliff, (stormy sea:1.2)
dramatic lighting, <lora:add_detail:0.6>
Negative prompt: lowres, bad anatomy, (worst quality:1.4)
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3547312463, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, VAE: vae-ft-mse-840000-ema-pruned.safetensors, Denoising strength: 0.45, Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent, Lora hashes: "add_detail: 7c6bad76eb54", ADetailer prompt: "a face, smiling, \\"happy\\"", Version: v1.10.1`;

const A1111_OLD_SAMPLER = `a cat sitting on a windowsill
Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.6.0`;

const A1111_NO_NEGATIVE_CPU = `portrait photo of an old fisherman
Steps: 30, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 768x768, Model hash: 4bdfc29c, Model: v2-1_768-ema-pruned, RNG: CPU, Version: v1.10.1`;

test('A1111 infotext with a multi-line prompt, quoted values and extra keys parses exactly', () => {
  const { parameters, unmapped } = parseInfotext(A1111_FULL);
  assert.equal(parameters.prompt, 'masterpiece, best quality, a lighthouse on a cliff, (stormy sea:1.2)\ndramatic lighting, <lora:add_detail:0.6>');
  assert.equal(parameters.negativePrompt, 'lowres, bad anatomy, (worst quality:1.4)');
  assert.deepEqual(
    { steps: parameters.steps, sampler: parameters.sampler, schedule: parameters.schedule, cfg: parameters.cfgScale, seed: parameters.seed, width: parameters.width, height: parameters.height },
    { steps: 28, sampler: 'DPM++ 2M', schedule: 'Karras', cfg: 6.5, seed: '3547312463', width: 512, height: 768 },
  );
  assert.equal(parameters.modelHash, '6ce0161689');
  assert.equal(parameters.modelName, 'v1-5-pruned-emaonly');
  assert.equal(parameters.rng, 'gpu', 'A1111 omits RNG for its default GPU source');
  assert.equal(parameters.appVersion, 'v1.10.1');
  assert.equal(parameters.loraHashes, 'add_detail: 7c6bad76eb54');
  assert.ok(!unmapped.some((entry) => entry.startsWith('Lora hashes')));
  assert.ok(unmapped.includes('ADetailer prompt: a face, smiling, "happy"'));
  assert.ok(unmapped.includes('Hires upscale: 2'));
  assert.ok(unmapped.includes('VAE: vae-ft-mse-840000-ema-pruned.safetensors'));
});

test('"DPM++ 2M Karras" from older A1111 splits into sampler and schedule', () => {
  const { parameters } = parseInfotext(A1111_OLD_SAMPLER);
  assert.equal(parameters.sampler, 'DPM++ 2M');
  assert.equal(parameters.schedule, 'Karras');
  assert.equal(parameters.negativePrompt, '');
  assert.equal(parameters.prompt, 'a cat sitting on a windowsill');
});

test('no negative prompt, RNG: CPU', () => {
  const { parameters } = parseInfotext(A1111_NO_NEGATIVE_CPU);
  assert.equal(parameters.negativePrompt, '');
  assert.equal(parameters.rng, 'cpu');
  assert.equal(parameters.sampler, 'Euler a');
});

test('a text with fewer than three parameters is all prompt, as in A1111', () => {
  const { prompt, fields } = parseInfotextFields('just a prompt: with a colon\nSteps: 20');
  assert.equal(prompt, 'just a prompt: with a colon\nSteps: 20');
  assert.equal(fields.size, 0);
});

test('values with commas, colons or newlines are JSON-quoted as A1111 quotes them', () => {
  assert.equal(quoteInfotextValue('plain'), 'plain');
  assert.equal(quoteInfotextValue('a, b'), '"a, b"');
  assert.equal(quoteInfotextValue('key: value'), '"key: value"');
  assert.equal(quoteInfotextValue('two\nlines'), '"two\\nlines"');
});

test('write then parse gives the same parameters', () => {
  const written = formatInfotext({
    prompt: 'a cat, "quoted"\nsecond line', negativePrompt: 'blurry', steps: 20, sampler: 'Euler a', schedule: 'Karras', cfgScale: 7,
    seed: '18446744073709551615', width: 512, height: 640, modelHash: 'abcdef0123', modelName: 'my: model, v2', rng: 'cpu', version: 'Easel 0.1.0',
  });
  assert.equal(written.split('\n').at(-1), 'Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 18446744073709551615, Size: 512x640, Model hash: abcdef0123, Model: "my: model, v2", RNG: CPU, Version: Easel 0.1.0');
  const { parameters } = parseInfotext(written);
  assert.equal(parameters.prompt, 'a cat, "quoted"\nsecond line');
  assert.equal(parameters.modelName, 'my: model, v2');
  assert.equal(parameters.seed, '18446744073709551615');
  assert.equal(parameters.schedule, 'Karras');
});

test('Automatic schedule and the GPU source are left out, as A1111 leaves its defaults out', () => {
  const written = formatInfotext({ prompt: 'p', steps: 4, sampler: 'Euler', schedule: 'Automatic', cfgScale: 1, seed: '1', width: 64, height: 64, rng: 'gpu' });
  assert.equal(written, 'p\nSteps: 4, Sampler: Euler, CFG scale: 1, Seed: 1, Size: 64x64');
});

test('Emphasis is written as A1111 writes it: only when not Original and a prompt has brackets; read back', () => {
  const base = { prompt: 'a (red) circle', steps: 4, sampler: 'Euler' as const, cfgScale: 1, seed: '1', width: 64, height: 64, rng: 'gpu' as const };
  const written = formatInfotext({ ...base, emphasis: 'No norm', version: 'Easel 0.1.0' });
  assert.equal(written.split('\n').at(-1), 'Steps: 4, Sampler: Euler, CFG scale: 1, Seed: 1, Size: 64x64, Emphasis: No norm, Version: Easel 0.1.0');
  assert.equal(parseInfotext(written).parameters.emphasis, 'No norm');
  assert.doesNotMatch(formatInfotext({ ...base, emphasis: 'Original' }), /Emphasis/);
  assert.doesNotMatch(formatInfotext({ ...base, prompt: 'a red circle', emphasis: 'None' }), /Emphasis/);
  assert.match(formatInfotext({ ...base, prompt: 'plain', negativePrompt: '[blurry]', emphasis: 'None' }), /Emphasis: None/);
  assert.deepEqual(parseInfotext(`p\nSteps: 4, Seed: 1, Emphasis: Loud`).unmapped, ['Emphasis: Loud']);
});

test('the tiny decoder is written as A1111 writes it ("VAE Decoder: TAESD"); Full, its default, is left out; both read back', () => {
  const tiny = formatInfotext({ prompt: 'p', steps: 1, sampler: 'Euler', cfgScale: 1, seed: '1', width: 64, height: 64, rng: 'gpu', decoder: 'tiny' });
  assert.equal(tiny, 'p\nSteps: 1, Sampler: Euler, CFG scale: 1, Seed: 1, Size: 64x64, VAE Decoder: TAESD');
  assert.equal(parseInfotext(tiny).parameters.decoder, 'tiny');
  const full = formatInfotext({ prompt: 'p', steps: 1, sampler: 'Euler', cfgScale: 1, seed: '1', width: 64, height: 64, rng: 'gpu', decoder: 'full' });
  assert.doesNotMatch(full, /VAE Decoder/);
  assert.equal(parseInfotext('p\nSteps: 1, Sampler: Euler, VAE Decoder: Full, Seed: 1').parameters.decoder, 'full');
  assert.deepEqual(parseInfotext('p\nSteps: 1, Sampler: Euler, VAE Decoder: Approx, Seed: 1').unmapped, ['VAE Decoder: Approx']);
});

// AUTOMATIC1111's re_param_code, the reference the hand-written matcher must agree with.
const A1111_PARAM_REGEX = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

test('infotextPairs finds exactly the pairs A1111\'s regex finds, on random lines', () => {
  const alphabet = ['a', 'B', '7', '_', ' ', '-', '/', ':', ',', '"', '\\', '\t', '\r', 'é', '.', 'Seed', 'ab: ', ', ', ': "', '"x"', '\\"', '- /'];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }), (parts) => {
      const line = parts.join('');
      const expected = [...line.matchAll(A1111_PARAM_REGEX)].map((match) => [match[1], match[2]]);
      assert.deepEqual(infotextPairs(line), expected, JSON.stringify(line));
    }),
    { numRuns: 5000, seed: 1125 },
  );
  assert.deepEqual(infotextPairs(A1111_FULL.split('\n').pop()!), [...A1111_FULL.split('\n').pop()!.matchAll(A1111_PARAM_REGEX)].map((match) => [match[1], match[2]]));
});

test('a long last line without a colon, or with many, parses in linear time', () => {
  // Each of these took quadratic time with the regex (300 KB: about a minute).
  const hostile = [
    'a'.repeat(300_000),
    `x${' a'.repeat(150_000)}`,
    'ab:'.repeat(100_000),
    `k: "${'\\a'.repeat(150_000)}`,
    '- '.repeat(150_000) + 'a:',
  ];
  for (const line of hostile) {
    // The fastest of three, so a busy machine does not fail it; the quadratic regex needed a minute.
    let ms = Infinity;
    for (let attempt = 0; attempt < 3 && ms >= 100; attempt++) {
      const started = performance.now();
      parseInfotext(`prompt\n${line}`);
      ms = Math.min(ms, performance.now() - started);
    }
    assert.ok(ms < 100, `${line.slice(0, 12)}… (${line.length} chars) took ${ms.toFixed(0)} ms`);
  }
});

test('A1111 img2img and inpainting keys: "Denoising strength" after Model, "Mask blur" after RNG; read back, bad values kept as unmapped', () => {
  const text = formatInfotext({ prompt: 'a cat', steps: 20, sampler: 'Euler a', cfgScale: 7, seed: '1', width: 512, height: 512, modelName: 'sd', rng: 'cpu', denoisingStrength: 0.6, maskBlur: 4 });
  assert.equal(text, 'a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd, Denoising strength: 0.6, RNG: CPU, Mask blur: 4');
  const a1111 = 'a cat\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 5, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.75, Mask blur: 4, Inpaint area: Only masked, Version: v1.10.1';
  const { parameters, unmapped } = parseInfotext(a1111);
  assert.equal(parameters.denoisingStrength, 0.75);
  assert.equal(parameters.maskBlur, 4);
  assert.deepEqual(unmapped, ['Inpaint area: Only masked']);
  assert.deepEqual(parseInfotext('p\nSteps: 2, Seed: 1, Denoising strength: 7, Mask blur: soft').unmapped, ['Denoising strength: 7', 'Mask blur: soft']);
});

test('Lora hashes are written as A1111 writes them (quoted, before Emphasis) and read back', () => {
  const written = formatInfotext({
    prompt: 'a (cat) <lora:style_v2:0.8> <lora:det,ail:0.4>', steps: 4, sampler: 'Euler', cfgScale: 1, seed: '1', width: 64, height: 64,
    loraHashes: formatLoraHashes([{ name: 'style_v2', hash: '0123456789ab' }, { name: 'det,ail', hash: 'ba9876543210' }]), emphasis: 'None', version: 'Easel 0.1.0',
  });
  assert.equal(written.split('\n').at(-1), 'Steps: 4, Sampler: Euler, CFG scale: 1, Seed: 1, Size: 64x64, Lora hashes: "style_v2: 0123456789ab, detail: ba9876543210", Emphasis: None, Version: Easel 0.1.0');
  const { parameters } = parseInfotext(written);
  assert.deepEqual(parseLoraHashes(parameters.loraHashes!), [{ name: 'style_v2', hash: '0123456789ab' }, { name: 'detail', hash: 'ba9876543210' }]);
  assert.deepEqual(parseInfotext('p\nSteps: 4, Seed: 1, Lora hashes: nonsense').unmapped, ['Lora hashes: nonsense']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEmphasis, chunkPrompt, padToChunks, parseExtraNetworks, parsePromptAttention } from '../../src/engine/promptSyntax.ts';
import { ClipTokenizer } from '../../src/engine/tokenizer.ts';
import { buildVocabulary, DEMO_WORDS } from '../fixtures/generate.ts';

// The doctests of AUTOMATIC1111's modules/prompt_parser.py parse_prompt_attention, verbatim.
test('A1111 doctests: weights, nesting, escapes, unbalanced and adjacent brackets', () => {
  assert.deepEqual(parsePromptAttention('normal text'), [['normal text', 1.0]]);
  assert.deepEqual(parsePromptAttention('an (important) word'), [['an ', 1.0], ['important', 1.1], [' word', 1.0]]);
  assert.deepEqual(parsePromptAttention('(unbalanced'), [['unbalanced', 1.1]]);
  assert.deepEqual(parsePromptAttention('\\(literal\\]'), [['(literal]', 1.0]]);
  assert.deepEqual(parsePromptAttention('(unnecessary)(parens)'), [['unnecessaryparens', 1.1]]);
  assert.deepEqual(parsePromptAttention('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).'), [
    ['a ', 1.0],
    ['house', 1.5730000000000004],
    [' ', 1.1],
    ['on', 1.0],
    [' a ', 1.1],
    ['hill', 0.55],
    [', sun, ', 1.1],
    ['sky', 1.4641000000000006],
    ['.', 1.1],
  ]);
});

test('square brackets divide by 1.1; stray closers and colons are text; a lone backslash is dropped (as A1111 does)', () => {
  assert.deepEqual(parsePromptAttention('[[faint]]'), [['faint', 1 / 1.1 / 1.1]]);
  assert.deepEqual(parsePromptAttention('a\\b) c] d:e'), [['ab) c] d:e', 1.0]]);
  assert.deepEqual(parsePromptAttention('\\\\(x)'), [['\\', 1.0], ['x', 1.1]]);
  assert.deepEqual(parsePromptAttention('(x:-0.5)'), [['x', -0.5]]);
  assert.deepEqual(parsePromptAttention(''), [['', 1.0]]);
  assert.throws(() => parsePromptAttention('(x:1.2.3)'), /not a number/);
});

test('BREAK splits text (with the spaces around it) but not words that contain it', () => {
  assert.deepEqual(parsePromptAttention('a cat BREAK a dog'), [['a cat', 1.0], ['BREAK', -1], ['a dog', 1.0]]);
  assert.deepEqual(parsePromptAttention('BREAKfast at NOBREAK'), [['BREAKfast at NOBREAK', 1.0]]);
  assert.deepEqual(parsePromptAttention('(red) BREAK blue'), [['red', 1.1], ['', 1.0], ['BREAK', -1], ['blue', 1.0]]);
});

test('<lora:…> tags are removed from the text and read with their multipliers', () => {
  const parsed = parseExtraNetworks('a cat <lora:styleA:0.8>, <lora:detail> hat <lora:mix:0.5:1.2> <hypernet:h:1> <lora:named:te=0.3:unet=0.7>');
  assert.equal(parsed.text, 'a cat ,  hat   ');
  assert.deepEqual(parsed.loras, [
    { name: 'styleA', textEncoderMultiplier: 0.8, unetMultiplier: 0.8 },
    { name: 'detail', textEncoderMultiplier: 1, unetMultiplier: 1 },
    { name: 'mix', textEncoderMultiplier: 0.5, unetMultiplier: 1.2 },
    { name: 'named', textEncoderMultiplier: 0.3, unetMultiplier: 0.7 },
  ]);
  assert.deepEqual(parsed.ignored, ['<hypernet:h:1>']);
  assert.throws(() => parseExtraNetworks('<lora:x:strong>'), /multiplier "strong"/);
});

const { vocab, merges } = buildVocabulary([...DEMO_WORDS, 'cat']);
const tokenizer = new ClipTokenizer({ vocab, merges, config: { model_max_length: 77, pad_token: '<|endoftext|>' } });
const BOS = vocab['<|startoftext|>'];
const EOS = vocab['<|endoftext|>'];
const A = vocab['a</w>'];
const B = vocab['b</w>'];
const COMMA = vocab[',</w>'];
const words = (word: string, count: number) => Array(count).fill(word).join(' ');
const prompt = (chunk: { ids: Int32Array }) => [...chunk.ids].slice(1, [...chunk.ids].indexOf(EOS));

test('a short prompt is one chunk, laid out as CLIP pads it', () => {
  const { chunks, tokenCount } = chunkPrompt('red circle', tokenizer);
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0].ids, tokenizer.encode('red circle').ids);
  assert.equal(tokenCount, 2);
  const empty = chunkPrompt('', tokenizer);
  assert.equal(empty.chunks.length, 1);
  assert.deepEqual([...empty.chunks[0].ids.slice(0, 3)], [BOS, EOS, EOS]);
});

test('past 75 tokens the prompt continues in a second 77-token chunk (no truncation)', () => {
  const { chunks, tokenCount } = chunkPrompt(words('a', 100), tokenizer);
  assert.equal(chunks.length, 2);
  assert.ok(chunks.every((chunk) => chunk.ids.length === 77 && chunk.ids[0] === BOS));
  assert.equal(chunks[0].ids[76], EOS);
  assert.deepEqual(prompt(chunks[0]), Array(75).fill(A));
  assert.deepEqual(prompt(chunks[1]), Array(25).fill(A));
  assert.equal(tokenCount, 100);
  assert.equal(chunkPrompt(words('a', 75), tokenizer).chunks.length, 1);
  assert.equal(chunkPrompt(words('a', 76), tokenizer).chunks.length, 2);
});

test('a chunk that fills within 20 tokens of a comma moves the text after the comma to the next chunk', () => {
  // 70 a, comma (index 70), 10 b: the chunk fills at b #4; 75 − 70 = 5 ≤ 20, so the 4 b move on.
  const text = `${words('a', 70)}, ${words('b', 10)}`;
  const { chunks } = chunkPrompt(text, tokenizer);
  assert.deepEqual(prompt(chunks[0]), [...Array(70).fill(A), COMMA]);
  assert.deepEqual(prompt(chunks[1]), Array(10).fill(B));
  // Back-off off (A1111's "Prompt word wrap length limit" 0): a hard cut at 75.
  const hard = chunkPrompt(text, tokenizer, 'Original', 0).chunks;
  assert.deepEqual(prompt(hard[0]), [...Array(70).fill(A), COMMA, ...Array(4).fill(B)]);
  assert.deepEqual(prompt(hard[1]), Array(6).fill(B));
  // A comma 25 tokens back is too far: no back-off.
  const far = chunkPrompt(`${words('a', 50)}, ${words('b', 30)}`, tokenizer).chunks;
  assert.deepEqual(prompt(far[0]), [...Array(50).fill(A), COMMA, ...Array(24).fill(B)]);
  // Exactly 20 back still moves (≤ 20).
  const edge = chunkPrompt(`${words('a', 55)}, ${words('b', 30)}`, tokenizer).chunks;
  assert.deepEqual(prompt(edge[0]), [...Array(55).fill(A), COMMA]);
});

test('BREAK starts a new chunk; multipliers follow their tokens; emphasis None reads brackets literally', () => {
  const broken = chunkPrompt('a BREAK (b:1.5)', tokenizer);
  assert.equal(broken.chunks.length, 2);
  assert.deepEqual(prompt(broken.chunks[0]), [A]);
  assert.deepEqual(prompt(broken.chunks[1]), [B]);
  assert.equal(broken.chunks[1].multipliers[1], 1.5);
  assert.ok([0, 2, 76].every((i) => broken.chunks[1].multipliers[i] === 1), 'start, end and padding weigh 1');
  assert.equal(chunkPrompt('BREAK a', tokenizer).chunks.length, 2, 'A1111 emits the (empty) chunk before a leading BREAK');
  const literal = chunkPrompt('(a) BREAK b', tokenizer, 'None');
  assert.equal(literal.chunks.length, 1);
  assert.deepEqual(prompt(literal.chunks[0]), tokenizer.tokenize('(a) BREAK b'));
});

test('SD 2.x tokenizers pad after the end token with their own pad token', () => {
  const sd2 = new ClipTokenizer({ vocab, merges, config: { model_max_length: 77, pad_token: '!' } });
  const [chunk] = chunkPrompt('a', sd2).chunks;
  assert.deepEqual([...chunk.ids.slice(0, 4)], [BOS, A, EOS, vocab['!']]);
  assert.equal(chunk.ids[76], vocab['!']);
});

test('emphasis multiplies each token\'s hidden state, then Original restores the chunk\'s mean', () => {
  // Two tokens of width 2: [[1, 2], [3, 4]] with multipliers [1, 2]. Mean 2.5; weighted [[1, 2], [6, 8]] has mean 4.25.
  const hidden = () => Float32Array.of(1, 2, 3, 4);
  const multipliers = Float32Array.of(1, 2);
  const original = hidden();
  applyEmphasis(original, multipliers, 'Original');
  const ratio = 2.5 / 4.25;
  [1, 2, 6, 8].forEach((value, i) => assert.ok(Math.abs(original[i] - value * ratio) < 1e-6, `Original[${i}] = ${original[i]}`));
  const noNorm = hidden();
  applyEmphasis(noNorm, multipliers, 'No norm');
  assert.deepEqual([...noNorm], [1, 2, 6, 8]);
  for (const mode of ['Ignore', 'None'] as const) {
    const untouched = hidden();
    applyEmphasis(untouched, multipliers, mode);
    assert.deepEqual([...untouched], [1, 2, 3, 4], mode);
  }
  const unweighted = hidden();
  applyEmphasis(unweighted, Float32Array.of(1, 1), 'Original');
  assert.deepEqual([...unweighted], [1, 2, 3, 4], 'weights of 1 change nothing');
});

test('the shorter of prompt and negative prompt is padded with the empty prompt\'s chunk, not with its own last token', () => {
  const prompt = Float32Array.of(1, 2, 3, 4); // one chunk of 2 tokens × 2
  const empty = Float32Array.of(9, 8, 7, 6);
  assert.deepEqual([...padToChunks(prompt, 1, 3, empty)], [1, 2, 3, 4, 9, 8, 7, 6, 9, 8, 7, 6]);
  assert.equal(padToChunks(prompt, 1, 1, empty), prompt);
});

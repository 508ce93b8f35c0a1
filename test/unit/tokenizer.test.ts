import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipTokenizer, cleanText } from '../../src/engine/tokenizer.ts';
import { buildVocabulary, DEMO_WORDS } from '../fixtures/generate.ts';

const { vocab, merges } = buildVocabulary(DEMO_WORDS);
const tokenizer = new ClipTokenizer({ vocab, merges, config: { model_max_length: 77, pad_token: '<|endoftext|>' } });
const BOS = vocab['<|startoftext|>'];
const EOS = vocab['<|endoftext|>'];

// Base symbols follow CLIP's byte order: '!'..'~' are ids 0..93, and "x</w>" is 256 + id of x.
const char = (c: string) => c.codePointAt(0)! - 33;
const end = (c: string) => 256 + char(c);

test('the fixture vocabulary lays out byte symbols as CLIP does ("a</w>" is 320)', () => {
  assert.equal(vocab['a</w>'], 320);
  assert.equal(vocab['!'], 0);
  assert.equal(vocab['!</w>'], 256);
});

test('words with merges become one token, others fall back to byte-level symbols', () => {
  const ids = tokenizer.tokenize('A photo of a RED circle!');
  assert.deepEqual(ids, [
    320,
    char('p'), char('h'), char('o'), char('t'), end('o'),
    char('o'), end('f'),
    320,
    vocab['red</w>'],
    vocab['circle</w>'],
    end('!'),
  ]);
});

test('start, end and padding make 77 ids', () => {
  const { ids, truncatedTokens } = tokenizer.encode('red circle');
  assert.equal(ids.length, 77);
  assert.deepEqual([...ids.slice(0, 4)], [BOS, vocab['red</w>'], vocab['circle</w>'], EOS]);
  assert.ok(ids.slice(4).every((id) => id === EOS));
  assert.equal(truncatedTokens, 0);
});

test('SD 2.x tokenizers pad with "!" (id 0)', () => {
  const sd2 = new ClipTokenizer({ vocab, merges, specialTokens: { pad_token: { content: '!' } } });
  const { ids } = sd2.encode('red');
  assert.deepEqual([...ids.slice(0, 4)], [BOS, vocab['red</w>'], EOS, 0]);
});

test('long prompts are truncated to 75 tokens between start and end', () => {
  const { ids, truncatedTokens } = tokenizer.encode(Array(100).fill('red').join(' '));
  assert.equal(ids.length, 77);
  assert.equal(ids[0], BOS);
  assert.equal(ids[76], EOS);
  assert.equal(ids[75], vocab['red</w>']);
  assert.equal(truncatedTokens, 25);
});

test('clean-up: case, whitespace, HTML entities; digits split one by one; contractions split', () => {
  assert.deepEqual(tokenizer.tokenize('  RED\n\t circle '), tokenizer.tokenize('red circle'));
  assert.equal(cleanText('Fish &amp; Chips'), 'fish & chips');
  assert.deepEqual(tokenizer.tokenize('42'), [end('4'), end('2')]);
  assert.deepEqual(tokenizer.tokenize("it's"), [char('i'), end('t'), char("'"), end('s')]);
});

test('non-ASCII text is encoded byte by byte, never dropped', () => {
  const ids = tokenizer.tokenize('é');
  assert.equal(ids.length, 2, 'two UTF-8 bytes');
  assert.ok(ids.every((id) => id !== EOS));
});

test('special tokens written in the prompt are kept as themselves', () => {
  assert.deepEqual(tokenizer.tokenize('red<|endoftext|>'), [vocab['red</w>'], EOS]);
});

test('a vocabulary without the special tokens is refused with the file named', () => {
  assert.throws(() => new ClipTokenizer({ vocab: { a: 0 }, merges: [] }, '/models/x/tokenizer'), /\/models\/x\/tokenizer: the start token "<\|startoftext\|>" is not in vocab.json/);
});

test('the demo vocabulary reads every demo word as one token (a merge made for "red" must not split "green")', () => {
  const tokenizer = new ClipTokenizer({ vocab, merges });
  for (const word of DEMO_WORDS) assert.deepEqual(tokenizer.tokenize(word), [vocab[`${word}</w>`]], word);
  assert.deepEqual(tokenizer.tokenize('a green forest'), [vocab['a</w>'], vocab['green</w>'], vocab['forest</w>']]);
});

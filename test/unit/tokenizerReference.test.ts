import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipTokenizer } from '../../src/engine/tokenizer.ts';

/**
 * Ids from a re-implementation of transformers' CLIPTokenizer for a real CLIP-format tokenizer folder
 * (test/reference/README.md): capitals, punctuation runs, hyphens, apostrophes, numbers, accents,
 * emoji, whitespace runs, empty input and truncation past 77. CJK and HTML entities are left out on
 * purpose: transformers tokenizes them differently with and without ftfy (see cleanText).
 */
const reference = join(import.meta.dirname, '..', 'reference');
const data = JSON.parse(readFileSync(join(reference, 'clip_tokenizer_ids.json'), 'utf8')) as {
  tokenizer: string;
  cases: Array<{ text: string; ids: number[] }>;
};

test('the reference holds 17 prompts', () => {
  assert.equal(data.cases.length, 17);
});

for (const [index, { text, ids }] of data.cases.entries()) {
  test(`prompt ${index + 1} ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}: ids match transformers' CLIPTokenizer`, async () => {
    const tokenizer = await ClipTokenizer.load(join(reference, data.tokenizer));
    assert.deepEqual([...tokenizer.encode(text).ids], ids);
  });
}

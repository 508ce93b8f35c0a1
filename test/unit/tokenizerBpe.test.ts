import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bytePairMerge, ClipTokenizer } from '../../src/engine/tokenizer.ts';
import { LIMITS } from '../../src/shared/generationSettings.ts';
import { buildVocabulary } from '../fixtures/generate.ts';

const TOKENIZER = join(import.meta.dirname, '..', 'reference', 'img2img_inpaint', 'model-optimum-main', 'tokenizer');

/** openai/CLIP simple_tokenizer.py `bpe()`, line for line: the merge order the fast version must reproduce. */
function clipBpe(symbols: string[], rankOf: (first: string, second: string) => number | undefined): string[] {
  let word = symbols.slice();
  while (word.length > 1) {
    let best: [string, string] | undefined;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < word.length; i++) {
      const rank = rankOf(word[i], word[i + 1]);
      if (rank !== undefined && rank < bestRank) [bestRank, best] = [rank, [word[i], word[i + 1]]];
    }
    if (!best) break;
    const [first, second] = best;
    const merged: string[] = [];
    for (let i = 0; i < word.length;) {
      if (i + 1 < word.length && word[i] === first && word[i + 1] === second) {
        merged.push(first + second);
        i += 2;
      } else {
        merged.push(word[i++]);
      }
    }
    word = merged;
  }
  return word;
}

test('the heap BPE merges exactly as CLIP\'s bpe() on 3 000 seeded random words, with the real CLIP merges and with hand-made rank ties', async () => {
  const { readFile } = await import('node:fs/promises');
  const merges = (await readFile(join(TOKENIZER, 'merges.txt'), 'utf8')).split('\n').filter((line, index) => !(index === 0 && line.startsWith('#version')) && line.trim() !== '');
  const ranks = new Map(merges.map((line, rank) => [line, rank]));
  const real = (first: string, second: string) => ranks.get(`${first} ${second}`);
  // Repeated letters and a rank that favours a pair its own merges create ("ab a" ranks before "a b", which makes it),
  // where merging the new pair too early would give a different word.
  const tricky = new Map([['ab a', 0], ['a b', 1], ['a a', 2], ['aa a', 3], ['b a', 4]]);
  const handMade = (first: string, second: string) => tricky.get(`${first} ${second}`);
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const alphabets = ['ab', 'aab', 'thequickbrownfx', 'eeeeeeaaarrt', 'lmnopstuvw'];
  for (let n = 0; n < 3000; n++) {
    const alphabet = alphabets[n % alphabets.length];
    const symbols = Array.from({ length: 1 + Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * alphabet.length)]);
    symbols[symbols.length - 1] += n % 2 === 0 ? '</w>' : '';
    for (const rankOf of [real, handMade]) assert.deepEqual(bytePairMerge(symbols, rankOf), clipBpe(symbols, rankOf), symbols.join(''));
  }
});

// A denial-of-service guard, not a benchmark (timed tests are otherwise avoided). The real CLIP vocabulary has ~49 000
// merges, and CLIP's rescan-per-merge loop took over 10 s for a 40 000-character word. With this ~22 000-merge vocabulary
// (every word of up to 4 of 12 letters) the old loop took 17.8 s for 160 000 letters and the heap version ~0.3 s, both
// measured on the shared 2-core machine; the bound is generous so that load does not fail it.
test('one huge word tokenizes in bounded time: 160 000 random letters (16× the prompt limit) in under 2 s with a ~22 000-merge vocabulary', () => {
  const letters = 'abcdefghijkl';
  const words: string[] = [];
  const grow = (prefix: string, depth: number) => {
    for (const letter of letters) {
      words.push(prefix + letter);
      if (depth > 1) grow(prefix + letter, depth - 1);
    }
  };
  grow('', 4);
  const tokenizer = new ClipTokenizer(buildVocabulary(words));
  let seed = 3;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const word = Array.from({ length: 16 * LIMITS.promptLength.max }, () => letters[Math.floor(random() * letters.length)]).join('');
  const started = performance.now();
  const ids = tokenizer.tokenize(word);
  const ms = performance.now() - started;
  assert.ok(ms < 2000, `took ${ms.toFixed(0)} ms`);
  assert.ok(ids.length > word.length / 5 && ids.length < word.length / 2, `${ids.length} tokens: the 4-letter merges applied`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPrompt, normalisedWords, type FilterSettings } from '../../../src/safety/promptFilter.ts';

const WARN: FilterSettings = { mode: 'warn', blockedTerms: ['cunt', 'ass', 'cock', 'gore'], allowedTerms: ['rape seed oil'] };

// [prompt, expected verdict under WARN]
const TABLE: Array<[string, 'allow' | 'warn' | 'block']> = [
  ['a lighthouse at dusk, oil painting', 'allow'],
  ['Scunthorpe United football stadium at night', 'allow'],
  ["assassin's creed style rooftop chase", 'allow'],
  ['a cocktail glass with a lemon twist', 'allow'],
  ['a classic car in the rain', 'allow'],
  ['a baby blue vintage bikini on a mannequin', 'allow'],
  ['a child flying a kite on the beach', 'allow'],
  ['a nude figure study, charcoal, classical sculpture', 'allow'],
  ['kids playing football in the park', 'allow'],
  ['a field of rape seed oil crops in bloom', 'allow'],
  ['a grape vine', 'allow'],
  ['therapist office, warm light', 'allow'],
  ['the cock crowed at dawn', 'warn'],
  ['a scene of gore and horror', 'warn'],
  ['a rape scene', 'warn'],
  ['r a p e', 'warn'],
  ['r.a.p.e', 'warn'],
  ['R4PE', 'warn'],
  ['ｒａｐｅ in full-width letters', 'warn'],
  ['rаpe with a Cyrillic a', 'warn'],
  ['bestiality', 'warn'],
  ['sexual   assault', 'warn'],
  ['nude child', 'block'],
  ['naked kids', 'block'],
  ['sexy teen', 'block'],
  ['n u d e little girl', 'block'],
  ['s3xy sch00lgirl', 'block'],
  ['loli', 'block'],
  ['ｌｏｌｉ art', 'block'],
  ['a 10 year old girl in lingerie', 'block'],
  ['child, explicit', 'block'],
  ['nsfw toddler', 'block'],
  ['prepubescent nude', 'block'],
  ['childporn', 'block'],
];

for (const [prompt, expected] of TABLE) {
  test(`warn mode: ${JSON.stringify(prompt)} → ${expected}`, () => {
    assert.equal(checkPrompt(prompt, WARN).verdict, expected);
  });
}

test('block mode blocks what warn warns about, and names the term', () => {
  const verdict = checkPrompt('a rape scene', { mode: 'block' });
  assert.equal(verdict.verdict, 'block');
  assert.match(verdict.reason, /"rape"/);
});

test('off lets the configurable terms through', () => {
  assert.equal(checkPrompt('a rape scene', { mode: 'off', blockedTerms: ['rape'] }).verdict, 'allow');
});

test('sexual content involving minors is refused in every mode, and no exception can allow it', () => {
  for (const mode of ['off', 'warn', 'block'] as const) {
    for (const allowedTerms of [[], ['child'], ['nude child'], ['nude', 'child', 'loli']]) {
      const verdict = checkPrompt('nude child', { mode, allowedTerms });
      assert.equal(verdict.verdict, 'block', `${mode} with ${JSON.stringify(allowedTerms)}`);
      assert.equal(verdict.matches[0].neverAllowed, true);
      assert.match(verdict.reason, /never generates this/);
    }
    assert.equal(checkPrompt('loli', { mode, allowedTerms: ['loli'] }).verdict, 'block');
  }
});

test('the warning says which term matched', () => {
  const verdict = checkPrompt('the cock crowed', WARN);
  assert.deepEqual(verdict.matches.map((match) => match.term), ['cock']);
  assert.match(verdict.reason, /"cock"/);
});

test('normalisation: full-width, accents, look-alikes, leetspeak, spaced letters', () => {
  assert.deepEqual(normalisedWords('ＮＵＤＥ'), ['nude']);
  assert.deepEqual(normalisedWords('nüde'), ['nude']);
  assert.deepEqual(normalisedWords('n0de'), ['node']);
  assert.ok(normalisedWords('n u d e').includes('nude'));
  assert.ok(normalisedWords('s.e.x').includes('sex'));
});

/**
 * The prompt filter: whole-word matching of a term list on a normalised prompt, robust to simple
 * evasions. Sexual content involving minors is refused in every mode and no setting can allow it.
 */
import type { PromptFilterMode } from '../shared/names.ts';

export type Category = 'minors-sexual' | 'sexual-violence' | 'user';

export interface FilterMatch {
  term: string;
  category: Category;
  /** Refused whatever the mode or settings. */
  neverAllowed: boolean;
}

export interface FilterVerdict {
  verdict: 'allow' | 'warn' | 'block';
  matches: FilterMatch[];
  /** A sentence naming what matched and what the mode does about it. */
  reason: string;
}

export interface FilterSettings {
  mode: PromptFilterMode;
  blockedTerms?: readonly string[];
  allowedTerms?: readonly string[];
}

/** Words that place a person below adult age. */
const MINOR_TERMS = [
  'child', 'children', 'kid', 'kids', 'minor', 'minors', 'underage', 'preteen', 'preteens', 'toddler', 'infant', 'baby', 'babies',
  'schoolgirl', 'schoolboy', 'young girl', 'young boy', 'little girl', 'little boy', 'teen', 'teens', 'teenager', 'teenage', 'tween', 'juvenile',
  'prepubescent', 'loli', 'shota', 'year old girl', 'year old boy', 'years old girl', 'years old boy',
];

/** Words that make content sexual. */
const SEXUAL_TERMS = [
  'nude', 'nudes', 'naked', 'nudity', 'sex', 'sexy', 'sexual', 'sexualized', 'porn', 'porno', 'pornographic', 'nsfw', 'erotic', 'erotica', 'lewd',
  'explicit', 'topless', 'bottomless', 'undressed', 'lingerie', 'genitals', 'genitalia', 'breasts', 'nipples', 'seductive', 'fetish', 'hentai',
  'orgasm', 'intercourse', 'masturbating', 'masturbation', 'spread legs', 'bikini',
];

/** Terms that name sexual abuse of children outright. */
const NEVER_ALLOWED_TERMS = ['loli', 'lolicon', 'shotacon', 'child porn', 'child pornography', 'csam', 'jailbait', 'pedophile', 'pedophilia', 'paedophile', 'cp porn'];

/** Blocked or warned by default (off turns these off; user exceptions apply). */
const DEFAULT_BLOCKED: Array<[string, Category]> = [
  ['rape', 'sexual-violence'], ['raped', 'sexual-violence'], ['raping', 'sexual-violence'], ['sexual assault', 'sexual-violence'],
  ['non consensual', 'sexual-violence'], ['nonconsensual', 'sexual-violence'], ['bestiality', 'sexual-violence'], ['zoophilia', 'sexual-violence'],
  ['necrophilia', 'sexual-violence'], ['incest', 'sexual-violence'],
];

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '9': 'g', '@': 'a', '$': 's', '!': 'i', '|': 'l' };

/** Look-alike letters from other scripts that NFKC leaves alone. */
const CONFUSABLES: Record<string, string> = {
  а: 'a', е: 'e', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', к: 'k', м: 'm', т: 't', н: 'h', в: 'b', ԁ: 'd', ո: 'n', ս: 'u',
  α: 'a', ο: 'o', ρ: 'p', ε: 'e', ι: 'i', κ: 'k', ν: 'v', τ: 't', υ: 'u', χ: 'x',
};

const CONFUSABLE_PATTERN = new RegExp(`[${Object.keys(CONFUSABLES).join('')}]`, 'g');

/**
 * Lower-case ASCII words of a text after NFKC (full-width forms), accent stripping, look-alike and
 * leetspeak mapping; runs of single letters ("n u d e", "s.e.x") are also joined into a word.
 */
export function normalisedWords(text: string): string[] {
  let folded = text.normalize('NFKC').toLowerCase();
  folded = folded.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  folded = folded.replace(CONFUSABLE_PATTERN, (char) => CONFUSABLES[char]);
  const rawTokens = folded.split(/[^a-z0-9@$!|]+/).filter(Boolean);
  const words: string[] = [];
  let run = '';
  const flush = () => {
    if (run.length >= 2) words.push(run);
    run = '';
  };
  for (const raw of rawTokens) {
    const word = /[a-z]/.test(raw) || raw.length > 1 ? raw.replace(/[0-9@$!|]/g, (char) => LEET[char] ?? char).replace(/[^a-z]/g, '') : raw;
    if (!word) continue;
    if (word.length === 1) {
      run += word;
    } else {
      flush();
    }
    words.push(word);
  }
  flush();
  return words;
}

interface CompiledTerm {
  words: string[];
  term: string;
  category: Category;
  neverAllowed: boolean;
}

function compile(term: string, category: Category, neverAllowed: boolean): CompiledTerm | undefined {
  const words = normalisedWords(term);
  return words.length ? { words, term: term.trim().toLowerCase(), category, neverAllowed } : undefined;
}

function variants(target: string): string[] {
  return [target, `${target}s`, `${target}es`];
}

/** The prompt's words with lookups built once, so each term costs a few set probes. */
class WordIndex {
  readonly present: Set<string>;
  /** Each word run together with the next ("nu de" → "nude"). */
  readonly pairs: Set<string>;
  readonly positions = new Map<string, number[]>();

  constructor(readonly words: readonly string[]) {
    this.present = new Set(words);
    this.pairs = new Set(words.slice(1).map((word, i) => words[i] + word));
    words.forEach((word, i) => {
      const list = this.positions.get(word);
      if (list) list.push(i);
      else this.positions.set(word, [i]);
    });
  }

  has(phrase: readonly string[]): boolean {
    if (phrase.length === 1) return variants(phrase[0]).some((form) => this.present.has(form) || this.pairs.has(form));
    if (variants(phrase.join('')).some((form) => this.present.has(form))) return true;
    for (const start of this.positions.get(phrase[0]) ?? []) {
      if (phrase.every((word, j) => variants(word).includes(this.words[start + j] ?? ''))) return true;
    }
    return false;
  }
}

function removeAllowed(words: string[], allowed: readonly CompiledTerm[]): string[] {
  let result = words;
  for (const exception of allowed) {
    const next: string[] = [];
    for (let i = 0; i < result.length; i++) {
      if (exception.words.every((w, j) => result[i + j] === w)) {
        i += exception.words.length - 1;
        next.push('\u0000');
      } else {
        next.push(result[i]);
      }
    }
    result = next;
  }
  return result;
}

/** Everyday phrases that contain a minor term but describe no person ("baby blue"). */
const NEUTRAL_PHRASES = ['baby blue', 'baby pink', 'baby powder blue', 'kid gloves', 'karate kid', 'baby grand piano', 'baby grand', 'minor key', 'minor chord']
  .map((term) => compile(term, 'user', false)!);

const MINORS = MINOR_TERMS.map((term) => compile(term, 'minors-sexual', true)!);
const SEXUAL = SEXUAL_TERMS.map((term) => compile(term, 'minors-sexual', true)!);
const NEVER = NEVER_ALLOWED_TERMS.map((term) => compile(term, 'minors-sexual', true)!);
const DEFAULTS = DEFAULT_BLOCKED.map(([term, category]) => compile(term, category, false)!);

/** Checks a prompt (and negative prompt, which can carry the same content) against the filter. */
const compiledUserTerms = new Map<string, CompiledTerm[]>();

function compileAll(terms: readonly string[] | undefined): CompiledTerm[] {
  if (!terms || terms.length === 0) return [];
  const key = terms.join('\u0000');
  let compiled = compiledUserTerms.get(key);
  if (!compiled) {
    compiled = terms.map((term) => compile(term, 'user', false)).filter((term): term is CompiledTerm => term !== undefined);
    if (compiledUserTerms.size > 32) compiledUserTerms.clear();
    compiledUserTerms.set(key, compiled);
  }
  return compiled;
}

/** Checks a prompt (and negative prompt, which can carry the same content) against the filter. */
export function checkPrompt(text: string, settings: FilterSettings): FilterVerdict {
  const words = removeAllowed(normalisedWords(text), NEUTRAL_PHRASES);
  const index = new WordIndex(words);
  const matches: FilterMatch[] = [];
  // Never-allowed content is checked on the unmodified words: user exceptions cannot remove it.
  const minor = MINORS.find((term) => index.has(term.words));
  const sexual = SEXUAL.find((term) => index.has(term.words));
  const named = NEVER.find((term) => index.has(term.words));
  if (named) matches.push({ term: named.term, category: 'minors-sexual', neverAllowed: true });
  if (minor && sexual) matches.push({ term: `${minor.term} + ${sexual.term}`, category: 'minors-sexual', neverAllowed: true });
  if (matches.length > 0) {
    return { verdict: 'block', matches, reason: `The prompt describes sexual content involving minors ("${matches[0].term}"). Easel never generates this, whatever the settings.` };
  }
  if (settings.mode === 'off') return { verdict: 'allow', matches: [], reason: '' };
  const allowed = compileAll(settings.allowedTerms);
  const visible = allowed.length > 0 ? new WordIndex(removeAllowed(words, allowed)) : index;
  for (const term of [...DEFAULTS, ...compileAll(settings.blockedTerms)]) {
    if (visible.has(term.words)) matches.push({ term: term.term, category: term.category, neverAllowed: false });
  }
  if (matches.length === 0) return { verdict: 'allow', matches, reason: '' };
  const list = matches.map((match) => `"${match.term}"`).join(', ');
  return settings.mode === 'block'
    ? { verdict: 'block', matches, reason: `The prompt matches the blocked term ${list} (easel.safety.promptFilter is "block").` }
    : { verdict: 'warn', matches, reason: `The prompt matches ${list}, which the prompt filter warns about.` };
}

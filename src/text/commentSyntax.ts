/** Comment syntax per VS Code language id: line markers (longest first) and block delimiters. */
export interface CommentSyntax {
  line: string[];
  block: Array<[string, string]>;
}

const C_STYLE: CommentSyntax = { line: ['///', '//!', '//'], block: [['/**', '*/'], ['/*!', '*/'], ['/*', '*/']] };
const HASH: CommentSyntax = { line: ['#'], block: [] };
const HTML: CommentSyntax = { line: [], block: [['<!--', '-->']] };

const TABLE: Record<string, CommentSyntax> = {
  python: { line: ['#'], block: [['"""', '"""'], ["'''", "'''"]] },
  ruby: { line: ['#'], block: [['=begin', '=end']] },
  shellscript: HASH, perl: HASH, r: HASH, yaml: HASH, toml: HASH, dockerfile: HASH, makefile: HASH, elixir: HASH, nim: HASH,
  properties: { line: ['#', '!'], block: [] },
  coffeescript: { line: ['#'], block: [['###', '###']] },
  julia: { line: ['#'], block: [['#=', '=#']] },
  powershell: { line: ['#'], block: [['<#', '#>']] },
  lua: { line: ['--'], block: [['--[[', ']]'], ['--[==[', ']==]']] },
  sql: { line: ['--'], block: [['/*', '*/']] },
  haskell: { line: ['--'], block: [['{-', '-}']] },
  elm: { line: ['--'], block: [['{-', '-}']] },
  ada: { line: ['--'], block: [] },
  vhdl: { line: ['--'], block: [] },
  latex: { line: ['%'], block: [] },
  tex: { line: ['%'], block: [] },
  bibtex: { line: ['%'], block: [] },
  erlang: { line: ['%%', '%'], block: [] },
  matlab: { line: ['%'], block: [['%{', '%}']] },
  clojure: { line: [';;', ';'], block: [] },
  lisp: { line: [';;', ';'], block: [] },
  scheme: { line: [';;', ';'], block: [] },
  ini: { line: [';', '#'], block: [] },
  asm: { line: [';'], block: [] },
  html: HTML, xml: HTML, markdown: HTML, vue: { line: ['//'], block: [['<!--', '-->'], ['/*', '*/']] }, svelte: HTML,
  css: { line: [], block: [['/*', '*/']] },
  scss: C_STYLE, less: C_STYLE,
  bat: { line: ['REM ', 'rem ', '::'], block: [] },
  vb: { line: ["'", 'REM ', 'rem '], block: [] },
  fsharp: { line: ['///', '//'], block: [['(*', '*)']] },
  ocaml: { line: [], block: [['(*', '*)']] },
  pascal: { line: ['//'], block: [['{', '}'], ['(*', '*)']] },
  fortran: { line: ['!'], block: [] },
  'fortran-modern': { line: ['!'], block: [] },
  php: { line: ['//', '#'], block: C_STYLE.block },
  razor: { line: [], block: [['@*', '*@'], ['<!--', '-->']] },
};

for (const id of ['typescript', 'javascript', 'typescriptreact', 'javascriptreact', 'java', 'c', 'cpp', 'csharp', 'go', 'rust', 'swift', 'kotlin', 'scala', 'dart', 'groovy', 'objective-c', 'objective-cpp', 'jsonc', 'json5', 'zig', 'solidity', 'proto', 'glsl', 'hlsl', 'wgsl', 'cuda-cpp']) {
  TABLE[id] = C_STYLE;
}

/** When the language is unknown, every common marker is tried. */
const FALLBACK: CommentSyntax = { line: ['///', '//', '#', '--', ';', '%'], block: [['/*', '*/'], ['<!--', '-->'], ['"""', '"""']] };

export function commentSyntax(languageId: string): CommentSyntax {
  return TABLE[languageId] ?? FALLBACK;
}

export function hasKnownCommentSyntax(languageId: string): boolean {
  return languageId in TABLE;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stripCommentSyntax } from '../../../src/text/commentText.ts';

const PROMPT = 'a watercolor fox in a snowy forest';

const CASES: Array<[language: string, selection: string, expected: string]> = [
  ['typescript', `// ${PROMPT}`, PROMPT],
  ['typescript', `/**\n * a watercolor fox\n * in a snowy forest\n */`, PROMPT],
  ['javascript', `/* ${PROMPT} */`, PROMPT],
  ['rust', `/// a watercolor fox\n/// in a snowy forest`, PROMPT],
  ['rust', `//! ${PROMPT}`, PROMPT],
  ['c', `/*\n  a watercolor fox\n  in a snowy forest\n*/`, PROMPT],
  ['cpp', `    // ${PROMPT}   `, PROMPT],
  ['csharp', `/// ${PROMPT}`, PROMPT],
  ['go', `// a watercolor fox\n// in a snowy forest`, PROMPT],
  ['java', `/** ${PROMPT} */`, PROMPT],
  ['python', `# a watercolor fox\n# in a snowy forest`, PROMPT],
  ['python', `"""\n${PROMPT}\n"""`, PROMPT],
  ['python', `'''${PROMPT}'''`, PROMPT],
  ['ruby', `=begin\n${PROMPT}\n=end`, PROMPT],
  ['shellscript', `#   ${PROMPT}`, PROMPT],
  ['yaml', `# ${PROMPT}`, PROMPT],
  ['lua', `-- ${PROMPT}`, PROMPT],
  ['lua', `--[[ ${PROMPT} ]]`, PROMPT],
  ['sql', `-- ${PROMPT}`, PROMPT],
  ['haskell', `{- ${PROMPT} -}`, PROMPT],
  ['latex', `% ${PROMPT}`, PROMPT],
  ['matlab', `%{\n${PROMPT}\n%}`, PROMPT],
  ['erlang', `%% ${PROMPT}`, PROMPT],
  ['clojure', `;; ${PROMPT}`, PROMPT],
  ['ini', `; ${PROMPT}`, PROMPT],
  ['html', `<!-- ${PROMPT} -->`, PROMPT],
  ['markdown', `<!--\n${PROMPT}\n-->`, PROMPT],
  ['css', `/* ${PROMPT} */`, PROMPT],
  ['bat', `REM ${PROMPT}`, PROMPT],
  ['bat', `:: ${PROMPT}`, PROMPT],
  ['vb', `' ${PROMPT}`, PROMPT],
  ['powershell', `<# ${PROMPT} #>`, PROMPT],
  ['fsharp', `(* ${PROMPT} *)`, PROMPT],
  ['julia', `#= ${PROMPT} =#`, PROMPT],
  ['fortran', `! ${PROMPT}`, PROMPT],
  ['plaintext', PROMPT, PROMPT],
  ['some-unknown-language', `// ${PROMPT}`, PROMPT],
];

for (const [language, selection, expected] of CASES) {
  test(`${language}: ${JSON.stringify(selection.slice(0, 30))}`, () => {
    assert.equal(stripCommentSyntax(selection, language), expected);
  });
}

test('text that is not a comment is kept as it is, whitespace collapsed', () => {
  assert.equal(stripCommentSyntax('  a   fox\n\n  in snow ', 'typescript'), 'a fox in snow');
});

test('markers inside the text are not removed', () => {
  assert.equal(stripCommentSyntax('// a fox # with a hashtag -- and dashes', 'typescript'), 'a fox # with a hashtag -- and dashes');
  assert.equal(stripCommentSyntax('# C# logo, 3/4 view', 'python'), 'C# logo, 3/4 view');
});

test('a selection of only the comment marker gives an empty prompt', () => {
  assert.equal(stripCommentSyntax('//', 'typescript'), '');
  assert.equal(stripCommentSyntax('/* */', 'css'), '');
});

test('Easel\'s inserted image reference is never part of the prompt (Generate from Selection run twice)', () => {
  assert.equal(stripCommentSyntax(`// ${PROMPT}\n// Image: ../images/generated/2026-01-01-1234-a-watercolor-fox.png`, 'typescript'), PROMPT);
  assert.equal(stripCommentSyntax(`# ${PROMPT}\n# Image: ../images/generated/fox.png\n# Image: ../images/generated/fox-2.png`, 'python'), PROMPT);
  assert.equal(stripCommentSyntax(`/* ${PROMPT} */\n/* Image: ../img/fox.png */`, 'css'), PROMPT);
  assert.equal(stripCommentSyntax(`${PROMPT}\n![${PROMPT}](../images/generated/fox.png)`, 'markdown'), PROMPT);
  assert.equal(stripCommentSyntax(`<!-- ${PROMPT} -->\n<img src="../images/fox.png" alt="${PROMPT}">`, 'html'), PROMPT);
  assert.equal(stripCommentSyntax(`// ${PROMPT}\n// Image: of a fox`, 'typescript'), `${PROMPT} Image: of a fox`, 'prose that starts with "Image:" stays');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { posix, win32 } from 'node:path';
import { imageReference, isImageReferenceLine, linkPath, linkTarget, markdownDocumentForLink } from '../../../src/text/imageReference.ts';

test('Markdown gets an image link with an encoded path and escaped alt text', () => {
  assert.equal(imageReference('markdown', 'images/generated/a fox.png', 'a [red] fox'), '![a \\[red\\] fox](images/generated/a%20fox.png)');
});

test('HTML-like documents get an <img> with escaped attributes', () => {
  assert.equal(imageReference('html', 'img/x.png', 'say "hi" <b>'), '<img src="img/x.png" alt="say &quot;hi&quot; &lt;b&gt;">');
  assert.equal(imageReference('vue', 'x.png', 'x'), '<img src="x.png" alt="x">');
});

test('code gets a comment in its own syntax', () => {
  assert.equal(imageReference('typescript', 'images\\gen\\fox.png', 'fox'), '// Image: images/gen/fox.png');
  assert.equal(imageReference('python', 'fox.png', 'fox'), '# Image: fox.png');
  assert.equal(imageReference('css', 'fox.png', 'fox'), '/* Image: fox.png */');
  assert.equal(imageReference('sql', 'fox.png', 'fox'), '-- Image: fox.png');
  assert.equal(imageReference('bat', 'fox.png', 'fox'), ':: Image: fox.png');
  assert.equal(imageReference('ocaml', 'fox.png', 'fox'), '(* Image: fox.png *)');
});

test('the setting can force a style or turn insertion off', () => {
  assert.equal(imageReference('typescript', 'fox.png', 'fox', 'markdown'), '![fox](fox.png)');
  assert.equal(imageReference('markdown', 'fox.png', 'fox', 'none'), undefined);
  assert.equal(imageReference('markdown', 'fox.png', 'fox', 'comment'), '<!-- Image: fox.png -->');
});

test('a link path is relative to the folder the link is written in, with forward slashes (posix)', () => {
  const image = '/home/me/My Projects · café/images/generated/fox.png';
  assert.equal(linkPath('/home/me/My Projects · café/docs/notes', image, posix), '../../images/generated/fox.png');
  assert.equal(linkPath('/home/me/My Projects · café/docs', image, posix), '../images/generated/fox.png');
  assert.equal(linkPath('/home/me/My Projects · café', image, posix), 'images/generated/fox.png');
  assert.equal(linkPath('/home/me/My Projects · café/images/generated', image, posix), 'fox.png');
});

test('a link path uses forward slashes from Windows paths, and a file URL where no relative path exists (win32)', () => {
  const image = 'C:\\Users\\me\\My Projects\\images\\generated\\fox.png';
  assert.equal(linkPath('C:\\Users\\me\\My Projects\\docs\\notes', image, win32), '../../images/generated/fox.png');
  assert.equal(linkPath('c:\\users\\me\\my projects', image, win32), 'images/generated/fox.png', 'drive letters and case are Windows\'s');
  assert.equal(linkPath('\\\\server\\share\\docs', '\\\\server\\share\\images\\fox.png', win32), '../images/fox.png');
  assert.equal(linkPath('D:\\notes', image, win32), 'file:///C:/Users/me/My%20Projects/images/generated/fox.png');
  assert.equal(linkPath('C:\\notes', '\\\\server\\share\\café.png', win32), 'file://server/share/caf%C3%A9.png');
});

test('link targets encode what Markdown misreads: spaces, non-ASCII, % and parentheses', () => {
  assert.equal(linkTarget('../images/my renders/café (1) 100%.png'), '../images/my%20renders/caf%C3%A9%20%281%29%20100%25.png');
  assert.equal(linkTarget('..\\images\\fox.png'), '../images/fox.png');
  assert.equal(linkTarget('file:///C:/My%20Projects/fox.png'), 'file:///C:/My%20Projects/fox.png', 'a file URL is already encoded');
  assert.equal(
    imageReference('markdown', linkPath('/w/docs/notes', '/w/images/a (b).png', posix), 'a fox'),
    '![a fox](../../images/a%20%28b%29.png)',
  );
});

test('the link is for the active Markdown file, else the one visible Markdown file, else undecided (ask)', () => {
  const doc = (path: string, languageId = 'markdown', isFile = true) => ({ path, languageId, isFile });
  const notes = doc('/w/docs/notes/page.md');
  const readme = doc('/w/README.md');
  const code = doc('/w/src/a.ts', 'typescript');
  assert.equal(markdownDocumentForLink(notes, [readme]), notes, 'the active Markdown editor wins');
  assert.equal(markdownDocumentForLink(undefined, [code, notes]), notes, 'the panel has focus: the Markdown file beside it');
  assert.equal(markdownDocumentForLink(code, [code, notes, notes]), notes, 'the same file in two groups is one candidate');
  assert.equal(markdownDocumentForLink(doc('/w/docs/x.mdx', 'mdx'), [])?.path, '/w/docs/x.mdx', 'MDX is Markdown');
  assert.equal(markdownDocumentForLink(undefined, [notes, readme]), undefined, 'two visible: ask');
  assert.equal(markdownDocumentForLink(undefined, [code]), undefined, 'none: ask');
  assert.equal(markdownDocumentForLink(doc('untitled:1', 'markdown', false), []), undefined, 'an untitled document has no folder');
});

test('Easel\'s own references are recognised in every style and syntax; prose and other images are not', () => {
  for (const language of ['typescript', 'python', 'css', 'sql', 'bat', 'ocaml', 'markdown', 'html', 'lua', 'haskell']) {
    for (const style of ['auto', 'markdown', 'html', 'comment'] as const) {
      const line = imageReference(language, '../images/generated/2026-01-01-42-a fox (1).png', 'a [red] fox', style)!;
      assert.ok(isImageReferenceLine(`    ${line}`, language), `${language} ${style}: ${line}`);
    }
  }
  assert.equal(isImageReferenceLine('// Image: a fox in the snow', 'typescript'), false, 'a comment about an image is prose');
  assert.equal(isImageReferenceLine('// a watercolor fox', 'typescript'), false);
  assert.equal(isImageReferenceLine('[the docs](docs/readme.md)', 'markdown'), false);
  assert.equal(isImageReferenceLine('# Image: x.png', 'typescript'), false, 'another language\'s marker');
});

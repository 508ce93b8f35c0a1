import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageReference } from '../../../src/text/imageReference.ts';

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

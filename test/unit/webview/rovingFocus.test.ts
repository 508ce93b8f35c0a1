import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rovingTarget } from '../../../webview/rovingFocus.ts';

test('roving tab stop: arrows wrap around, Home and End jump, other keys do nothing', () => {
  assert.equal(rovingTarget('ArrowRight', 0, 6), 1);
  assert.equal(rovingTarget('ArrowDown', 5, 6), 0);
  assert.equal(rovingTarget('ArrowLeft', 0, 6), 5);
  assert.equal(rovingTarget('ArrowUp', 3, 6), 2);
  assert.equal(rovingTarget('Home', 4, 6), 0);
  assert.equal(rovingTarget('End', 1, 6), 5);
  assert.equal(rovingTarget('Tab', 1, 6), undefined);
  assert.equal(rovingTarget('Enter', 1, 6), undefined);
  assert.equal(rovingTarget('ArrowRight', 0, 0), undefined);
});

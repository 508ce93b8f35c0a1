import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { isNeededFile, isSafeRepoPath } from '../../../src/models/hub.ts';
import { stagedPath } from '../../../src/models/download.ts';
import { headersForRedirect, retryDelayMs } from '../../../src/models/http.ts';
import { isEaselError } from '../../../src/shared/errors.ts';

const HOSTILE_PATHS = [
  'tokenizer/..\\..\\..\\x.json', // splits into two parts on "/", escapes on Windows
  'tokenizer/../../x.json',
  '../model_index.json',
  'tokenizer/..',
  'unet/./model.onnx',
  '/etc/model_index.json',
  'C:/Windows/model_index.json',
  'tokenizer/C:x.json',
  'tokenizer\\vocab.json',
  '\\\\server\\share\\model_index.json',
  'tokenizer/vocab.json\0.txt',
  'tokenizer//vocab.json',
  'tokenizer/vocab.json.',
  'tokenizer/.vocab.json',
  'tokenizer/con.json',
  'unet/NUL.onnx_data',
];

test('only plain relative POSIX paths of known components are downloaded', () => {
  for (const listed of HOSTILE_PATHS) assert.equal(isNeededFile(listed), false, listed);
  for (const listed of HOSTILE_PATHS) assert.equal(isSafeRepoPath(listed), false, listed);
  for (const listed of ['model_index.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt', 'unet/model.onnx', 'unet/weights.pb', 'unet/model.onnx_data', 'scheduler/scheduler_config.json']) {
    assert.equal(isNeededFile(listed), true, listed);
  }
});

test('a staged path stays inside the staging folder by Windows and POSIX rules alike', () => {
  const refused = (staging: string, listed: string, api: path.PlatformPath) => {
    assert.throws(() => stagedPath(staging, listed, api), (error) => isEaselError(error, 'MODEL_INVALID') && /outside the model folder/.test(error.message), `${listed} (${api === path.win32 ? 'win32' : 'posix'})`);
  };
  const win = 'C:\\Users\\a\\models\\.downloads\\o--n';
  const posix = '/home/a/models/.downloads/o--n';
  for (const listed of ['tokenizer/..\\..\\..\\x.json', '..\\x.json', 'C:\\x.json', 'D:x.json', '\\\\server\\share\\x', 'tokenizer/../../x.json', '.', '']) refused(win, listed, path.win32);
  for (const listed of ['tokenizer/../../x.json', '../x.json', '/x.json', '.', '']) refused(posix, listed, path.posix);
  assert.equal(stagedPath(win, 'tokenizer/vocab.json', path.win32), 'C:\\Users\\a\\models\\.downloads\\o--n\\tokenizer\\vocab.json');
  assert.equal(stagedPath(posix, 'tokenizer/vocab.json', path.posix), '/home/a/models/.downloads/o--n/tokenizer/vocab.json');
  // A backslash is an ordinary character on POSIX: such a name stays inside there (isNeededFile refuses it anyway).
  assert.equal(stagedPath(posix, 'tokenizer/..\\..\\x.json', path.posix), '/home/a/models/.downloads/o--n/tokenizer/..\\..\\x.json');
});

test('a redirect keeps the token only for the same scheme, host and port', () => {
  const auth = { authorization: 'Bearer hf_secret', range: 'bytes=10-' };
  const keep = (from: string, to: string) => assert.equal(headersForRedirect(new URL(from), new URL(to), auth).authorization, 'Bearer hf_secret', `${from} → ${to}`);
  const drop = (from: string, to: string) => {
    const headers = headersForRedirect(new URL(from), new URL(to), auth);
    assert.equal(headers.authorization, undefined, `${from} → ${to}`);
    assert.equal(headers.range, 'bytes=10-', 'other headers carry on');
  };
  keep('https://huggingface.co/a/resolve/main/x', 'https://huggingface.co/api/x');
  keep('https://huggingface.co/a', 'https://huggingface.co:443/b');
  drop('https://huggingface.co/a', 'http://huggingface.co/a');
  drop('https://huggingface.co/a', 'https://huggingface.co:8443/a');
  drop('http://127.0.0.1:8000/a', 'http://127.0.0.1:8001/a');
  drop('https://huggingface.co/a', 'https://cdn-lfs.huggingface.co/a');
  drop('https://huggingface.co/a', 'https://huggingface.co.evil.example/a');
});

test('Retry-After is read as seconds or an HTTP date; only 429 and 503 are retried', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryDelayMs(429, '7', 1, now), 7000);
  assert.equal(retryDelayMs(503, 'Thu, 01 Jan 2026 00:00:30 GMT', 1, now), 30_000);
  assert.equal(retryDelayMs(503, 'Wed, 31 Dec 2025 23:00:00 GMT', 1, now), 0);
  assert.equal(retryDelayMs(429, undefined, 1, now), 500);
  assert.equal(retryDelayMs(429, 'soon', 3, now), 2000);
  for (const status of [200, 206, 401, 403, 404, 500, 502]) assert.equal(retryDelayMs(status, '1', 1, now), undefined, String(status));
});

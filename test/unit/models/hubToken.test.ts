import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubToken, migrateTokenSetting, tokenProblem, type TokenStores } from '../../../src/models/hubToken.ts';

function stores(setting: string | undefined, secret: string | undefined, environment: NodeJS.ProcessEnv = {}) {
  const state = { setting, secret };
  const api: TokenStores = {
    readSecret: async () => state.secret,
    storeSecret: async (token) => void (state.secret = token),
    readSetting: () => state.setting,
    clearSetting: async () => void (state.setting = undefined),
    environment,
  };
  return { state, api };
}

test('a token in settings.json moves into secret storage once and leaves the settings file', async () => {
  const { state, api } = stores('  hf_fromSettings ', undefined);
  assert.equal(await migrateTokenSetting(api), true);
  assert.deepEqual(state, { setting: undefined, secret: 'hf_fromSettings' });
  assert.equal(await migrateTokenSetting(api), false, 'nothing left to move');
  assert.deepEqual(state, { setting: undefined, secret: 'hf_fromSettings' });
});

test('the stored token wins over HF_TOKEN; HF_TOKEN works when none is stored', async () => {
  assert.equal(await hubToken(stores(undefined, 'hf_stored', { HF_TOKEN: 'hf_env' }).api), 'hf_stored');
  assert.equal(await hubToken(stores(undefined, undefined, { HF_TOKEN: 'hf_env' }).api), 'hf_env');
  assert.equal(await hubToken(stores(undefined, undefined, {}).api), undefined);
  const { state, api } = stores('hf_new', 'hf_old', { HF_TOKEN: 'hf_env' });
  assert.equal(await hubToken(api), 'hf_new', 'a value typed into the old setting replaces the stored one');
  assert.equal(state.setting, undefined);
});

test('a setting that cannot be a token is cleared, not stored', async () => {
  const { state, api } = stores('hf_abc def', 'hf_kept');
  assert.equal(await migrateTokenSetting(api), false);
  assert.deepEqual(state, { setting: undefined, secret: 'hf_kept' });
  assert.equal(tokenProblem('hf_ok'), undefined);
  assert.equal(tokenProblem(''), undefined, 'blank removes the token');
  assert.match(tokenProblem('x'.repeat(513)) ?? '', /at most 512/);
  assert.match(tokenProblem('hf_a\nb') ?? '', /no spaces or control/);
});

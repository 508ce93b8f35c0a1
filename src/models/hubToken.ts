/**
 * Where the Hugging Face token lives: the editor's secret storage (OS keychain), never a settings
 * file. A token left in the old `easel.huggingFaceToken` setting is moved there; `HF_TOKEN` still
 * works when no token is stored.
 */
export interface TokenStores {
  readSecret(): PromiseLike<string | undefined>;
  storeSecret(token: string): PromiseLike<void>;
  /** The old setting's value in the user settings, if any. */
  readSetting(): string | undefined;
  clearSetting(): PromiseLike<void>;
  environment: NodeJS.ProcessEnv;
}

const MAX_TOKEN_LENGTH = 512;

/** Why a typed token cannot be one, or undefined when it can (blank means "remove the token"). */
export function tokenProblem(token: string): string | undefined {
  const value = token.trim();
  if (value.length > MAX_TOKEN_LENGTH) return `A token is at most ${MAX_TOKEN_LENGTH} characters.`;
  if (/[\s\x00-\x1f\x7f]/.test(value)) return 'A token has no spaces or control characters.';
  return undefined;
}

/** Moves a token from the old setting into secret storage and clears the setting; true when one moved. */
export async function migrateTokenSetting(stores: TokenStores): Promise<boolean> {
  const legacy = stores.readSetting()?.trim();
  if (!legacy) return false;
  // The setting is the newer wish when both exist: the user typed it after the last migration.
  if (tokenProblem(legacy) === undefined) await stores.storeSecret(legacy);
  await stores.clearSetting();
  return tokenProblem(legacy) === undefined;
}

/** The token for Hub requests: the stored one, else HF_TOKEN, else none. */
export async function hubToken(stores: TokenStores): Promise<string | undefined> {
  await migrateTokenSetting(stores);
  return (await stores.readSecret()) || stores.environment.HF_TOKEN?.trim() || undefined;
}

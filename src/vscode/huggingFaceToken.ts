import * as vscode from 'vscode';
import { hubToken, migrateTokenSetting, tokenProblem, type TokenStores } from '../models/hubToken.ts';

const SECRET_KEY = 'easel.huggingFaceToken';
const LEGACY_SETTING = 'huggingFaceToken';

function tokenStores(context: vscode.ExtensionContext): TokenStores {
  return {
    readSecret: () => context.secrets.get(SECRET_KEY),
    storeSecret: (token) => context.secrets.store(SECRET_KEY, token),
    readSetting: () => vscode.workspace.getConfiguration('easel').inspect<string>(LEGACY_SETTING)?.globalValue,
    clearSetting: () => vscode.workspace.getConfiguration('easel').update(LEGACY_SETTING, undefined, vscode.ConfigurationTarget.Global),
    environment: process.env,
  };
}

/** The token for Hub requests (secret storage, else HF_TOKEN); never logged. */
export function huggingFaceToken(context: vscode.ExtensionContext): Promise<string | undefined> {
  return hubToken(tokenStores(context));
}

/** Moves a token found in settings.json into secret storage, saying so (without the token). */
export async function moveTokenOutOfSettings(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<void> {
  try {
    if (await migrateTokenSetting(tokenStores(context))) {
      log.info('Moved the Hugging Face token from easel.huggingFaceToken in settings.json into VS Code\'s secret storage.');
      void vscode.window.showInformationMessage('Easel moved your Hugging Face token out of settings.json into VS Code\'s secret storage.');
    }
  } catch (error) {
    log.warn(`Could not move the Hugging Face token into secret storage: ${(error as Error).message}`);
  }
}

/** "Easel: Set Hugging Face Token": stores it in secret storage; an empty entry removes it. */
export async function setHuggingFaceToken(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): Promise<void> {
  const stored = await context.secrets.get(SECRET_KEY);
  const typed = await vscode.window.showInputBox({
    title: 'Easel: Hugging Face access token',
    prompt: `For gated or private models (huggingface.co/settings/tokens). Kept in VS Code's secret storage, never in settings.${stored ? ' Leave empty to remove the stored token.' : ''}`,
    password: true,
    ignoreFocusOut: true,
    validateInput: (value) => tokenProblem(value),
  });
  if (typed === undefined) return;
  if (typed.trim()) {
    await context.secrets.store(SECRET_KEY, typed.trim());
    log.info('Stored a Hugging Face token in secret storage.');
    void vscode.window.showInformationMessage('Easel: Hugging Face token stored.');
  } else if (stored) {
    await context.secrets.delete(SECRET_KEY);
    log.info('Removed the Hugging Face token from secret storage.');
    void vscode.window.showInformationMessage('Easel: Hugging Face token removed.');
  }
}

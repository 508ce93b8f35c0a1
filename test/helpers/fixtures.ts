import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAllFixtures } from '../fixtures/generate.ts';

let pending: Promise<Record<string, string>> | undefined;

/** Generates every fixture model once per test process, in a private temporary folder. */
export function fixtureModels(): Promise<Record<string, string>> {
  if (!pending) {
    const root = mkdtempSync(join(tmpdir(), 'easel-fixtures-'));
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    pending = generateAllFixtures(root);
  }
  return pending;
}

const temporaryFolders: string[] = [];

/** A fresh folder removed when the test process exits. */
export function temporaryFolder(prefix = 'easel-test-'): string {
  if (temporaryFolders.length === 0) {
    process.once('exit', () => {
      for (const folder of temporaryFolders) rmSync(folder, { recursive: true, force: true });
    });
  }
  const folder = mkdtempSync(join(tmpdir(), prefix));
  temporaryFolders.push(folder);
  return folder;
}

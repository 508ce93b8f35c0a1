import { mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isPathInside, WINDOWS_RESERVED_NAME } from '../shared/safePaths.ts';
import { EaselError } from '../shared/errors.ts';
import { writeNewFile } from './safeWrite.ts';

export const DEFAULT_FILE_NAME_TEMPLATE = '{date}-{time}-{seed}-{prompt}';
export const DEFAULT_OUTPUT_FOLDER = 'images/generated';
const PLACEHOLDERS = ['date', 'time', 'seed', 'prompt', 'sampler', 'steps', 'model', 'index'] as const;
const MAX_NAME_LENGTH = 120;

export interface FileNameValues {
  date: Date;
  seed: string;
  prompt: string;
  sampler?: string;
  steps?: number;
  model?: string;
  index?: number;
}

/** A short, lower-case, ASCII slug of the prompt: "A Café at Night!" → "a-cafe-at-night". */
export function slugify(text: string, maxLength = 48): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  let cut = slug;
  if (slug.length > maxLength) {
    cut = slug.slice(0, maxLength);
    const lastBreak = cut.lastIndexOf('-');
    if (lastBreak > maxLength / 2) cut = cut.slice(0, lastBreak);
  }
  return cut.replace(/-+$/, '') || 'image';
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Renders the file-name template into a name that is safe on Windows, macOS and Linux. */
export function renderFileName(template: string, values: FileNameValues): string {
  const unknown = [...template.matchAll(/\{([^}]*)\}/g)].map((match) => match[1]).filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new EaselError('INVALID_REQUEST', `Unknown placeholder {${unknown[0]}} in easel.output.fileNameTemplate; use ${PLACEHOLDERS.map((name) => `{${name}}`).join(', ')}.`);
  }
  const d = values.date;
  const replacements: Record<string, string> = {
    date: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    time: `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`,
    seed: values.seed,
    prompt: slugify(values.prompt),
    sampler: slugify(values.sampler ?? ''),
    steps: String(values.steps ?? ''),
    model: slugify(values.model ?? ''),
    index: String(values.index ?? 0),
  };
  let name = template.replace(/\{([a-z]+)\}/g, (_, key: string) => replacements[key]);
  name = name
    .replace(/\.png$/i, '')
    .replace(/[<>:"/\\|?*\x00-\x1f]/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-.\s]+|[-.\s]+$/g, '')
    .slice(0, MAX_NAME_LENGTH)
    .replace(/[.\s]+$/, '');
  if (!name) name = 'image';
  if (WINDOWS_RESERVED_NAME.test(name)) name = `_${name}`;
  return `${name}.png`;
}


async function deepestExisting(path: string): Promise<string> {
  let current = path;
  for (;;) {
    if (await stat(current).then(() => true, () => false)) return current;
    const parent = dirname(current);
    if (parent === current) return current;
    current = parent;
  }
}

/**
 * The output folder, relative to the workspace folder, created if needed. Absolute paths, `..` and
 * symbolic links that lead outside the workspace are refused.
 */
export async function resolveOutputFolder(workspaceRoot: string, folderSetting: string): Promise<string> {
  const setting = folderSetting.trim() || '.';
  if (isAbsolute(setting) || /^[a-zA-Z]:/.test(setting) || setting.startsWith('\\\\')) {
    throw new EaselError('OUTPUT_FAILED', `easel.output.folder must be relative to the workspace folder; "${folderSetting}" is absolute.`);
  }
  let root: string;
  try {
    root = await realpath(workspaceRoot);
  } catch (error) {
    throw new EaselError('OUTPUT_FAILED', `The workspace folder ${workspaceRoot} cannot be opened: ${(error as Error).message}.`, { cause: error });
  }
  const target = resolve(root, setting);
  if (!isPathInside(root, target)) {
    throw new EaselError('OUTPUT_FAILED', `easel.output.folder "${folderSetting}" leads outside the workspace folder; images are only written inside it.`);
  }
  const existing = await realpath(await deepestExisting(target));
  if (!isPathInside(root, existing)) {
    throw new EaselError('OUTPUT_FAILED', `easel.output.folder "${folderSetting}" goes through a symbolic link that leads outside the workspace folder.`);
  }
  try {
    await mkdir(target, { recursive: true });
  } catch (error) {
    throw new EaselError('OUTPUT_FAILED', `Cannot create the output folder ${target}: ${(error as Error).message}.`, { cause: error });
  }
  const final = await realpath(target);
  if (!isPathInside(root, final) || !(await stat(final)).isDirectory()) {
    throw new EaselError('OUTPUT_FAILED', `easel.output.folder "${folderSetting}" does not resolve to a folder inside the workspace.`);
  }
  return final;
}

/** Writes an image into the workspace's output folder under a fresh, never-overwriting name. */
export async function writeImageIntoWorkspace(
  workspaceRoot: string, folderSetting: string, template: string, values: FileNameValues, bytes: Uint8Array,
): Promise<string> {
  const folder = await resolveOutputFolder(workspaceRoot, folderSetting);
  return writeNewFile(join(folder, renderFileName(template, values)), bytes);
}

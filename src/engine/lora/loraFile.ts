/**
 * LoRA files on disk: finding `<lora:name:…>` in the LoRA folders, reading the header (never the whole
 * file into memory), and the hash AUTOMATIC1111 writes as `Lora hashes: name: 0123456789ab`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { readSafetensorsHeader, type SafetensorsHeader } from '../checkpoint/safetensors.ts';
import { EaselError } from '../../shared/errors.ts';
import { parseExtraNetworks } from '../promptSyntax.ts';
import { groupLoraModules, type LoraModule } from './loraKeys.ts';

export interface LoraFile {
  path: string;
  header: SafetensorsHeader;
  modules: LoraModule[];
  /** sd-scripts' / A1111's LoRA hash: SHA-256 of everything after the header (hex, 64). */
  hash: string;
}

/** The 12 hex digits A1111 writes in `Lora hashes`. */
export function loraShortHash(hash: string): string {
  return hash.slice(0, 12);
}

/** addnet_hash_safetensors: SHA-256 of the bytes after the 8-byte length and the JSON header. */
export async function loraHash(header: SafetensorsHeader): Promise<string> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(header.path, { start: header.dataStart, highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', resolve);
  });
  return hash.digest('hex');
}

const cache = new Map<string, { key: string; file: Promise<LoraFile> }>();

/** Reads a LoRA's header, groups its modules and hashes it; cached per path, size and modification time. */
export async function openLoraFile(path: string): Promise<LoraFile> {
  const info = await stat(path).catch(() => {
    throw new EaselError('LORA_NOT_FOUND', `The LoRA file ${path} does not exist.`);
  });
  const key = `${info.size}:${info.mtimeMs}`;
  const cached = cache.get(path);
  if (cached?.key === key) return cached.file;
  const file = (async () => {
    const header = await readSafetensorsHeader(path);
    const modules = groupLoraModules(basename(path), header.tensors.keys());
    return { path, header, modules, hash: await loraHash(header) };
  })();
  cache.set(path, { key, file });
  file.catch(() => cache.delete(path));
  return file;
}

/** Every `.safetensors` under the folders (two levels deep, as people sort LoRAs into subfolders). */
export async function listLoraFiles(directories: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string, depth: number) => {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(folder, entry.name);
      if (entry.isDirectory() && depth < 2 && !entry.name.startsWith('.')) await walk(path, depth + 1);
      else if (entry.isFile() && extname(entry.name).toLowerCase() === '.safetensors') found.push(path);
    }
  };
  for (const directory of directories) await walk(directory, 0);
  return found;
}

/** The file a `<lora:name:…>` tag means: NAME.safetensors in the LoRA folders (A1111 matches the file name). */
export async function findLoraFile(name: string, directories: readonly string[]): Promise<string> {
  if (directories.length === 0) {
    throw new EaselError('LORA_NOT_FOUND', `The prompt uses <lora:${name}> but no LoRA folder is set; set easel.loraDirectories (CLI: --lora-dir DIR).`);
  }
  const files = await listLoraFiles(directories);
  const match = files.find((file) => basename(file, extname(file)) === name)
    ?? files.find((file) => basename(file, extname(file)).toLowerCase() === name.toLowerCase());
  if (!match) {
    throw new EaselError('LORA_NOT_FOUND', `No LoRA named "${name}" (${name}.safetensors) in ${directories.join(', ')}.`);
  }
  return match;
}

/** The file with this hash (full or A1111's 12-digit short form) in the LoRA folders, if any. */
export async function findLoraByHash(hash: string, directories: readonly string[]): Promise<string | undefined> {
  const wanted = hash.toLowerCase();
  for (const path of await listLoraFiles(directories)) {
    try {
      const file = await openLoraFile(path);
      if (file.hash.startsWith(wanted)) return path;
    } catch {
      // A damaged or non-LoRA file in the folder is skipped here; using it by name reports why.
    }
  }
  return undefined;
}

export interface LoraRecall {
  /** The prompt with tags renamed to the local file name where a LoRA was found by hash under another name. */
  prompt: string;
  /** One sentence per LoRA that was renamed or is missing. */
  notes: string[];
}

/**
 * Regenerate: the image's `<lora:NAME:…>` tags checked against the LoRA folders — by `Lora hashes`
 * when the image has them (so a renamed file is still found), else by name.
 */
export async function recallLoras(prompt: string, hashes: ReadonlyArray<{ name: string; hash: string }>, directories: readonly string[]): Promise<LoraRecall> {
  const notes: string[] = [];
  let result = prompt;
  const seen = new Set<string>();
  for (const tag of parseExtraNetworks(prompt).loras) {
    if (seen.has(tag.name)) continue;
    seen.add(tag.name);
    const recorded = hashes.find((entry) => entry.name === tag.name.replace(/[:,]/g, ''));
    if (recorded) {
      const path = await findLoraByHash(recorded.hash, directories);
      if (!path) {
        notes.push(`LoRA ${tag.name} (hash ${recorded.hash}) is not in the LoRA folders (easel.loraDirectories); add it before generating.`);
        continue;
      }
      const local = basename(path, extname(path));
      if (local !== tag.name) {
        result = result.split(`<lora:${tag.name}:`).join(`<lora:${local}:`).split(`<lora:${tag.name}>`).join(`<lora:${local}>`);
        notes.push(`LoRA ${tag.name} was found by its hash as ${basename(path)}; the prompt now names it ${local}.`);
      }
      continue;
    }
    try {
      await findLoraFile(tag.name, directories);
      notes.push(`LoRA ${tag.name} has no recorded hash; the file of that name is used, which may not be the one the image was made with.`);
    } catch {
      notes.push(`LoRA ${tag.name} is not in the LoRA folders (easel.loraDirectories); add it before generating.`);
    }
  }
  return { prompt: result, notes };
}

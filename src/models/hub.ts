import { EaselError } from '../shared/errors.ts';
import { WINDOWS_RESERVED_NAME } from '../shared/safePaths.ts';
import { httpGetPolitely, readBody } from './http.ts';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  endpoint?: string;
  token?: string;
  signal?: AbortSignal;
}

export interface HubFile {
  path: string;
  size: number;
  /** SHA-256 of the content for LFS files. */
  sha256?: string;
  /** Git blob SHA-1 for files stored in git. */
  gitOid?: string;
}

const REPO = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._\/-]{0,199}$/;
/** One component of a listed path: no separators of any OS, no drive colon, no NUL, no leading or trailing dot (so no `..`, and no name Windows would trim). */
const PATH_SEGMENT = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9_-])?$/;
/** Larger than any single file of a Stable Diffusion export; a listing claiming more is hostile or broken. */
export const MAX_HUB_FILE_BYTES = 64 * 1024 ** 3;

export function checkRepoName(repo: string, revision: string): void {
  if (!REPO.test(repo) || repo.includes('..')) throw new EaselError('INVALID_REQUEST', `"${repo}" is not a Hub repository name; use owner/name, e.g. onnxruntime/sd-turbo.`);
  if (!REVISION.test(revision) || revision.includes('..')) throw new EaselError('INVALID_REQUEST', `"${revision}" is not a valid revision (a branch, tag or commit).`);
}

function headers(options: HubOptions): Record<string, string> {
  return options.token ? { authorization: `Bearer ${options.token}` } : {};
}

/** Turns Hub status codes into sentences a user can act on. */
export function hubStatusError(status: number, repo: string, revision: string, detail = ''): EaselError {
  if (status === 401) {
    return new EaselError('MODEL_NOT_FOUND', `${repo} needs a Hugging Face access token (it is gated or private). Accept its terms on huggingface.co/${repo}, then run "Easel: Set Hugging Face Token" (or set HF_TOKEN for the CLI).`);
  }
  if (status === 403) {
    return new EaselError('MODEL_NOT_FOUND', `Access to ${repo} was refused: it is gated and your token has not been granted access. Accept its terms on huggingface.co/${repo} and try again.`);
  }
  if (status === 404) {
    return new EaselError('MODEL_NOT_FOUND', `${repo} (revision ${revision}) was not found on the Hub. Check the owner/name and revision.`);
  }
  return new EaselError('MODEL_NOT_FOUND', `The Hub answered ${status} for ${repo}${detail ? `: ${detail}` : ''}. Try again later.`);
}

async function getJson(url: string, repo: string, revision: string, options: HubOptions): Promise<unknown> {
  let response;
  try {
    response = await httpGetPolitely(url, { headers: headers(options), signal: options.signal });
  } catch (error) {
    if (error instanceof EaselError) throw error;
    throw new EaselError('MODEL_NOT_FOUND', `Cannot reach ${new URL(url).host}: ${(error as Error).message}. Check your network or proxy settings.`, { cause: error });
  }
  const status = response.statusCode ?? 0;
  const body = await readBody(response);
  if (status !== 200) throw hubStatusError(status, repo, revision, body.slice(0, 200));
  try {
    return JSON.parse(body);
  } catch {
    throw new EaselError('MODEL_NOT_FOUND', `The Hub sent something that is not JSON for ${repo}.`);
  }
}

/**
 * The files of a repository at a revision that `keep` accepts (default: all), with sizes and
 * checksums. A kept entry with an impossible size or a malformed checksum fails the listing.
 */
export async function listRepoFiles(repo: string, revision: string, options: HubOptions = {}, keep: (path: string) => boolean = () => true): Promise<HubFile[]> {
  checkRepoName(repo, revision);
  const endpoint = options.endpoint ?? DEFAULT_HUB_ENDPOINT;
  const url = `${endpoint}/api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true&expand=false`;
  const entries = await getJson(url, repo, revision, options);
  if (!Array.isArray(entries)) throw new EaselError('MODEL_NOT_FOUND', `The Hub's file list for ${repo} has an unexpected shape.`);
  const files: HubFile[] = [];
  for (const entry of entries as Array<Record<string, unknown>>) {
    if (entry?.type !== 'file' || typeof entry.path !== 'string' || !keep(entry.path)) continue;
    const lfs = entry.lfs !== undefined && entry.lfs !== null ? entry.lfs as Record<string, unknown> : undefined;
    const size = lfs ? lfs.size : entry.size;
    const malformed = (what: string) => new EaselError('MODEL_INVALID', `The Hub's file list for ${repo} gives ${entry.path} ${what}; Easel downloads nothing it cannot check. Try again later or choose another repository.`);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_HUB_FILE_BYTES) throw malformed(`an impossible size (${String(size)})`);
    // A checksum the Hub gives must be well formed: a malformed one must not switch verification off.
    if (lfs && (typeof lfs.oid !== 'string' || !/^[0-9a-f]{64}$/.test(lfs.oid))) throw malformed('a malformed SHA-256 (lfs.oid)');
    if (!lfs && entry.oid !== undefined && (typeof entry.oid !== 'string' || !/^[0-9a-f]{40}$/.test(entry.oid))) throw malformed('a malformed git object id');
    files.push({ path: entry.path, size, sha256: lfs?.oid as string | undefined, gitOid: lfs ? undefined : entry.oid as string | undefined });
  }
  return files;
}

/** The licence named in the model card, if any. */
export async function repoLicense(repo: string, revision: string, options: HubOptions = {}): Promise<string | undefined> {
  const endpoint = options.endpoint ?? DEFAULT_HUB_ENDPOINT;
  const info = await getJson(`${endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`, repo, revision, options) as Record<string, unknown>;
  const card = info?.cardData as Record<string, unknown> | undefined;
  const license = card?.license ?? (Array.isArray(info?.tags) ? (info.tags as string[]).find((tag) => tag.startsWith('license:'))?.slice(8) : undefined);
  return typeof license === 'string' ? license : undefined;
}

export function resolveUrl(repo: string, revision: string, path: string, endpoint = DEFAULT_HUB_ENDPOINT): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * A relative POSIX path whose every component is a plain name: no `\\`, `..`, `.`, drive letters,
 * absolute paths, NUL or device names, so it means the same folder on Windows as on Linux.
 */
export function isSafeRepoPath(path: string): boolean {
  return path.split('/').every((segment) => PATH_SEGMENT.test(segment) && !WINDOWS_RESERVED_NAME.test(segment));
}

/** vae_encoder too: img2img and inpainting start from an encoded image. */
const PIPELINE_COMPONENTS = new Set(['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'safety_checker']);

/** The files the pipeline reads: configs, tokenizer, and the ONNX graphs with their external weights. */
export function isNeededFile(path: string): boolean {
  if (!isSafeRepoPath(path)) return false;
  const parts = path.split('/');
  if (parts.length === 1) return path === 'model_index.json';
  if (parts.length !== 2) return false;
  const [folder, name] = parts;
  if (folder === 'tokenizer') return /\.(json|txt)$/.test(name);
  if (folder === 'scheduler' || folder === 'feature_extractor') return name.endsWith('.json');
  if (!PIPELINE_COMPONENTS.has(folder)) return false;
  return name === 'model.onnx' || name === 'config.json' || name === 'weights.pb' || name.endsWith('.onnx_data') || name.endsWith('.onnx.data');
}

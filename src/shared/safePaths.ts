import * as path from 'node:path';

/** Names Windows reserves for devices, with or without an extension (`con`, `nul.json`, `com1.txt`). */
export const WINDOWS_RESERVED_NAME = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/**
 * Whether `candidate` is `root` or lies beneath it, by the rules of one platform's paths (tests pass
 * `path.win32` or `path.posix`; the default is this machine's).
 */
export function isPathInside(root: string, candidate: string, api: path.PlatformPath = path): boolean {
  const relative = api.relative(root, candidate);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${api.sep}`) && !api.isAbsolute(relative));
}

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import * as vscode from 'vscode';
import { EDITABLE_EXTENSIONS, PANEL_MASK_BLUR } from '../engine/editLimits.ts';
import { MAX_INPUT_BYTES } from '../shared/generationSettings.ts';
import type { ImageParameters } from '../png/imageParameters.ts';
import type { GeneratorPanel } from './generatorPanel.ts';

/** Reads an image for editing, refusing other types and files past the size limit with a sentence naming it. */
export async function readEditableImage(uri: vscode.Uri): Promise<{ bytes: Uint8Array; path: string; uri: vscode.Uri }> {
  const name = basename(uri.fsPath);
  if (!(EDITABLE_EXTENSIONS as readonly string[]).includes(extname(uri.fsPath).toLowerCase())) {
    throw new Error(`${name} is not a PNG, JPEG or WebP image.`);
  }
  const size = (await stat(uri.fsPath)).size;
  if (size > MAX_INPUT_BYTES) throw new Error(`${name} is ${Math.round(size / 1048576)} MB; Easel edits images up to ${MAX_INPUT_BYTES / 1048576} MB.`);
  return { bytes: new Uint8Array(await readFile(uri.fsPath)), path: vscode.workspace.asRelativePath(uri, false), uri };
}

/**
 * Regenerate of an edited image: finds the init image its record names (relative to the workspace),
 * checks its SHA-256, and loads it with the recorded mask, strength and blur. Says why when it cannot.
 */
export async function restoreEdit(parameters: ImageParameters, near: vscode.Uri, panel: GeneratorPanel): Promise<string[]> {
  const init = parameters.initImage;
  if (!init) {
    panel.clearEditImage();
    return [];
  }
  const folder = vscode.workspace.getWorkspaceFolder(near) ?? vscode.workspace.workspaceFolders?.[0];
  const candidate = init.path && folder ? vscode.Uri.joinPath(folder.uri, ...init.path.split('/')) : undefined;
  if (!candidate || init.path?.split('/').includes('..')) {
    panel.clearEditImage();
    return [`The image was made from ${init.path ?? 'an init image'}, which is not in this workspace; Edit with Easel… the image to start from, then generate.`];
  }
  let source;
  try {
    source = await readEditableImage(candidate);
  } catch {
    panel.clearEditImage();
    return [`The init image ${init.path} is missing; Edit with Easel… the image to start from, then generate.`];
  }
  const notes: string[] = [];
  const sha256 = createHash('sha256').update(source.bytes).digest('hex');
  if (init.sha256 && sha256 !== init.sha256) notes.push(`The init image ${init.path} has changed since (its SHA-256 differs), so the result will differ.`);
  const mask = parameters.mask?.png ? `data:image/png;base64,${parameters.mask.png}` : undefined;
  if (parameters.mask && !mask) notes.push('The mask was not stored in the image (it was too large); paint it again.');
  panel.setEditImage(source, { mask, strength: parameters.denoisingStrength, maskBlur: parameters.maskBlur ?? (mask ? 0 : PANEL_MASK_BLUR), fitSize: false });
  notes.push(`Init image: ${init.path}${mask ? ', with its mask' : ''}.`);
  return notes;
}

/** img2img and inpainting limits and defaults, light enough for the webview, the host and the CLI. */

import { DEFAULTS, LIMITS } from '../shared/generationSettings.ts';

/** Denoising strength when none is given (A1111's default). */
export const DEFAULT_STRENGTH = DEFAULTS.strength;
/** The largest mask blur, in pixels. */
export const MAX_MASK_BLUR = LIMITS.maskBlur.max;
/** The panel's mask blur for a new edit (A1111's default); the engine's own default is 0, diffusers' hard mask. */
export const PANEL_MASK_BLUR = 4;
/** Image types Easel edits, by file extension. */
export const EDITABLE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'] as const;

/** The image size diffusers uses when none is given: the input's, rounded down to a multiple of 8. */
export function sizeForImage(width: number, height: number, maxDimension: number): { width: number; height: number } {
  const fit = Math.min(1, maxDimension / Math.max(width, height));
  const round = (value: number) => Math.max(8, Math.floor((value * fit) / 8) * 8);
  return { width: round(width), height: round(height) };
}

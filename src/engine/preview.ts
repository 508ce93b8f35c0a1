/**
 * A cheap live preview: a fixed linear map from the 4 SD latent channels to RGB (the factors
 * AUTOMATIC1111 uses for "Approx cheap"), one pixel per latent.
 */
const LATENT_RGB_FACTORS = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

export interface PreviewImage {
  width: number;
  height: number;
  /** RGBA, row-major. */
  rgba: Uint8Array;
}

export function latentPreview(latents: Float32Array, latentHeight: number, latentWidth: number): PreviewImage {
  const plane = latentHeight * latentWidth;
  const rgba = new Uint8Array(plane * 4);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let value = 0;
      for (let l = 0; l < 4; l++) value += latents[l * plane + p] * LATENT_RGB_FACTORS[l][c];
      rgba[p * 4 + c] = Math.max(0, Math.min(255, Math.round(((value + 1) / 2) * 255)));
    }
    rgba[p * 4 + 3] = 255;
  }
  return { width: latentWidth, height: latentHeight, rgba };
}

/** Previews stay small: the panel shows them in a thumbnail-sized box and they cross two threads. */
export const MAX_PREVIEW_SIDE = 512;

/** A decoded RGB image as a preview, box-averaged by a whole factor until its longer side is at most MAX_PREVIEW_SIDE. */
export function rgbaPreview(rgb: Uint8Array, width: number, height: number): PreviewImage {
  const factor = Math.max(1, Math.ceil(Math.max(width, height) / MAX_PREVIEW_SIDE));
  const outWidth = Math.floor(width / factor);
  const outHeight = Math.floor(height / factor);
  const rgba = new Uint8Array(outWidth * outHeight * 4);
  const area = factor * factor;
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const o = (y * outWidth + x) * 4;
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let dy = 0; dy < factor; dy++) {
          const row = (y * factor + dy) * width;
          for (let dx = 0; dx < factor; dx++) sum += rgb[(row + x * factor + dx) * 3 + c];
        }
        rgba[o + c] = Math.round(sum / area);
      }
      rgba[o + 3] = 255;
    }
  }
  return { width: outWidth, height: outHeight, rgba };
}

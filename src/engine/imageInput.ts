import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { EaselError } from '../shared/errors.ts';
import { MAX_INPUT_BYTES } from '../shared/generationSettings.ts';
import { sizeForImage } from './editLimits.ts';

/** 8-bit RGB, row-major. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

/** 8-bit single channel, row-major (masks: 255 = repaint). */
export interface GrayImage {
  width: number;
  height: number;
  gray: Uint8Array;
}

/** The largest image Easel decodes (64 megapixels, 8192²): a hostile header cannot make it allocate more. */
export const MAX_INPUT_PIXELS = 8192 * 8192;
const FORMATS = new Set(['png', 'jpeg', 'webp']);

/**
 * Opens PNG, JPEG or WebP bytes after checking the header: a size past MAX_INPUT_PIXELS, an animation,
 * another format or a truncated file is refused with a sentence naming `label`.
 */
async function open(bytes: Uint8Array, label: string): Promise<Sharp> {
  if (bytes.length > MAX_INPUT_BYTES) {
    throw new EaselError('IMAGE_INVALID', `${label} is ${Math.round(bytes.length / 1048576)} MB; Easel reads images up to ${MAX_INPUT_BYTES / 1048576} MB.`);
  }
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new EaselError('IMAGE_INVALID', `${label} is not a readable PNG, JPEG or WebP image (${firstLine(error)}).`, { cause: error });
  }
  if (!metadata.format || !FORMATS.has(metadata.format)) {
    throw new EaselError('IMAGE_INVALID', `${label} is ${metadata.format ?? 'an unknown format'}; use a PNG, JPEG or WebP image.`);
  }
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  if (width < 1 || height < 1 || width * height > MAX_INPUT_PIXELS) {
    throw new EaselError('IMAGE_INVALID', `${label} is ${width}×${height} pixels; Easel reads images up to ${MAX_INPUT_PIXELS / 1048576} megapixels. Scale it down first.`);
  }
  if ((metadata.pages ?? 1) > 1) {
    throw new EaselError('IMAGE_INVALID', `${label} is animated (${metadata.pages} frames); save the frame you want to edit as a still image.`);
  }
  return sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'warning', animated: false });
}

function firstLine(error: unknown): string {
  return ((error as Error).message ?? String(error)).split('\n')[0];
}

async function rawPixels(image: Sharp, label: string): Promise<{ data: Buffer; info: OutputInfo }> {
  try {
    return await image.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new EaselError('IMAGE_INVALID', `${label} could not be decoded (${firstLine(error)}); it may be truncated or damaged.`, { cause: error });
  }
}

/** Decodes an init image to RGB at its own size; alpha is dropped as PIL's convert("RGB") drops it. */
export async function decodeImage(bytes: Uint8Array, label: string): Promise<RgbImage> {
  const image = (await open(bytes, label)).removeAlpha().toColourspace('srgb');
  const { data, info } = await rawPixels(image, label);
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, info.width * info.height * 3) };
}

/**
 * Decodes a mask to one channel: grayscale as stored, colour as PIL's convert("L") weighs it
 * (R·299 + G·587 + B·114)/1000; alpha is ignored.
 */
export async function decodeMask(bytes: Uint8Array, label: string): Promise<GrayImage> {
  const image = await open(bytes, label);
  const { data, info } = await rawPixels(image, label);
  const { width, height, channels } = info;
  const plane = width * height;
  const gray = new Uint8Array(plane);
  if (channels <= 2) {
    for (let p = 0; p < plane; p++) gray[p] = data[p * channels];
  } else {
    for (let p = 0; p < plane; p++) {
      const o = p * channels;
      gray[p] = (data[o] * 19595 + data[o + 1] * 38470 + data[o + 2] * 7471 + 0x8000) >>> 16;
    }
  }
  return { width, height, gray };
}

/** Resizes to exactly width × height (Lanczos, aspect not kept, as diffusers' preprocess does); same size: unchanged. */
export async function resizeImage(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const data = await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  return { width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, width * height * 3) };
}

export async function resizeMask(mask: GrayImage, width: number, height: number): Promise<GrayImage> {
  if (mask.width === width && mask.height === height) return mask;
  const data = await sharp(mask.gray, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).extractChannel(0).raw().toBuffer();
  return { width, height, gray: new Uint8Array(data.buffer, data.byteOffset, width * height) };
}

/** A1111's "Mask blur": a Gaussian of σ = radius pixels over the mask (0 leaves it as it is). */
export async function blurMask(mask: GrayImage, radius: number): Promise<GrayImage> {
  if (radius <= 0) return mask;
  const data = await sharp(mask.gray, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .blur(Math.max(0.3, radius)).extractChannel(0).raw().toBuffer();
  return { width: mask.width, height: mask.height, gray: new Uint8Array(data.buffer, data.byteOffset, mask.width * mask.height) };
}


/**
 * An edit's images from their encoded bytes, fitted to the job: the size asked for, else the init image's
 * own size rounded down to a multiple of 8 (and within maxDimension). The mask is resized to match.
 */
export async function fitEditImages(
  imageBytes: Uint8Array, maskBytes: Uint8Array | undefined, size: { width?: number; height?: number }, maxDimension: number, labels = { image: 'The init image', mask: 'The mask' },
): Promise<{ image: RgbImage; mask?: GrayImage; originalSize: { width: number; height: number } }> {
  const decoded = await decodeImage(imageBytes, labels.image);
  const fallback = sizeForImage(decoded.width, decoded.height, maxDimension);
  const width = size.width ?? fallback.width;
  const height = size.height ?? fallback.height;
  const image = await resizeImage(decoded, width, height);
  const mask = maskBytes ? await resizeMask(await decodeMask(maskBytes, labels.mask), width, height) : undefined;
  return { image, mask, originalSize: { width: decoded.width, height: decoded.height } };
}

import type { DecoderKind, EmphasisMode, RngSource, SamplerName, ScheduleType } from '../shared/names.ts';

/** How an image was made, normalised from any tool's metadata. Every field is optional when read. */
export interface ImageParameters {
  prompt?: string;
  negativePrompt?: string;
  steps?: number;
  sampler?: SamplerName;
  schedule?: ScheduleType;
  cfgScale?: number;
  /** Decimal string: seeds go up to 2^64 − 1. */
  seed?: string;
  width?: number;
  height?: number;
  rng?: RngSource;
  /** The decoder that made the image (A1111's "VAE Decoder": Full or TAESD). */
  decoder?: DecoderKind;
  batchIndex?: number;
  /** A1111's Emphasis setting when it is not the default "Original". */
  emphasis?: EmphasisMode;
  /** A1111's `Lora hashes` value: "name: hash, …". */
  loraHashes?: string;
  modelName?: string;
  modelHash?: string;
  provider?: string;
  appVersion?: string;
  durationMs?: number;
  /** img2img / inpainting: A1111's "Denoising strength". */
  denoisingStrength?: number;
  /** Inpainting: A1111's "Mask blur" in pixels. */
  maskBlur?: number;
  /** The image an edit started from: its path relative to the workspace (or file name) and SHA-256. */
  initImage?: SourceImage;
  /** The inpainting mask: its SHA-256 and, when small, the PNG itself (base64) so Regenerate can repeat it. */
  mask?: SourceImage & { png?: string };
}

export interface SourceImage {
  path?: string;
  sha256?: string;
}

export const METADATA_SOURCES = ['easel', 'a1111', 'comfyui', 'invokeai', 'novelai', 'fooocus', 'none'] as const;
export type MetadataSource = (typeof METADATA_SOURCES)[number];

export interface MetadataReadResult {
  source: MetadataSource;
  parameters: ImageParameters;
  /** What the file says that has no place in ImageParameters (e.g. "Hires upscale: 2"). */
  unmapped: string[];
  /** Problems met while reading (damaged chunks, wrong shapes); the read still returns what it could. */
  problems: string[];
}

type EditField = 'denoisingStrength' | 'maskBlur' | 'initImage' | 'mask';

/** The full record written to our own chunk: everything needed to reproduce the image. */
export interface EaselRecord extends Required<Omit<ImageParameters, 'modelHash' | 'provider' | 'appVersion' | 'durationMs' | 'batchIndex' | 'emphasis' | 'decoder' | 'loraHashes' | EditField>> {
  batchIndex: number;
  denoisingStrength?: number;
  maskBlur?: number;
  initImage?: SourceImage;
  mask?: SourceImage & { png?: string };
  emphasis?: EmphasisMode;
  decoder?: DecoderKind;
  loraHashes?: string;
  modelHash?: string;
  provider?: string;
  appVersion: string;
  durationMs?: number;
  safety?: { checker: string; flagged: boolean; action: string };
}

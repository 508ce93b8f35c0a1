import sharp from 'sharp';
import { deflateSync } from 'node:zlib';
import { buildChunk, insertBeforeImageData } from '../../src/png/chunks.ts';
import { internationalTextChunk, textChunk } from '../../src/png/textChunks.ts';

/** A small real PNG (sharp-encoded gradient) without text chunks. */
export async function plainPng(width = 16, height = 16): Promise<Uint8Array> {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7) & 0xff;
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return new Uint8Array(png);
}

export function withChunks(png: Uint8Array, chunks: Uint8Array[]): Uint8Array {
  return insertBeforeImageData(png, chunks);
}

export const tEXt = textChunk;
export const iTXt = internationalTextChunk;

export function zTXt(keyword: string, text: string): Uint8Array {
  return buildChunk('zTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0, 0), deflateSync(Buffer.from(text, 'latin1'))]));
}

export function compressedITXt(keyword: string, text: string): Uint8Array {
  return buildChunk('iTXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.of(0, 1, 0, 0, 0), deflateSync(Buffer.from(text, 'utf8'))]));
}

/** ComfyUI's default text-to-image workflow, as its SaveImage node stores it in the `prompt` chunk. */
export const COMFY_DEFAULT_GRAPH = {
  3: { inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] }, class_type: 'KSampler' },
  4: { inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' }, class_type: 'CheckpointLoaderSimple' },
  5: { inputs: { width: 512, height: 768, batch_size: 1 }, class_type: 'EmptyLatentImage' },
  6: { inputs: { text: 'beautiful scenery nature glass bottle landscape, , purple galaxy bottle,', clip: ['4', 1] }, class_type: 'CLIPTextEncode' },
  7: { inputs: { text: 'text, watermark', clip: ['4', 1] }, class_type: 'CLIPTextEncode' },
  8: { inputs: { samples: ['3', 0], vae: ['4', 2] }, class_type: 'VAEDecode' },
  9: { inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] }, class_type: 'SaveImage' },
};

export const INVOKEAI_METADATA = {
  generation_mode: 'txt2img',
  positive_prompt: 'a cozy cabin in the woods, snow, warm light',
  negative_prompt: 'blurry',
  width: 768,
  height: 512,
  seed: 3938473091,
  rand_device: 'cpu',
  cfg_scale: 7.5,
  cfg_rescale_multiplier: 0,
  steps: 30,
  scheduler: 'dpmpp_2m_k',
  clip_skip: 0,
  model: { key: 'a5c2c1f1', hash: 'blake3:8d2bd6a8', name: 'stable-diffusion-v1-5', base: 'sd-1', type: 'main' },
  loras: [],
  app_version: '4.2.9',
};

export const NOVELAI_COMMENT = {
  prompt: '1girl, solo, looking at viewer, cherry blossoms',
  steps: 28,
  height: 1216,
  width: 832,
  scale: 5,
  uncond_scale: 1,
  cfg_rescale: 0,
  seed: 2730491720,
  n_samples: 1,
  hide_debug_overlay: false,
  noise_schedule: 'native',
  sampler: 'k_euler_ancestral',
  sm: false,
  sm_dyn: false,
  uc: 'lowres, bad anatomy',
};

export const FOOOCUS_PARAMETERS = {
  prompt: 'a red fox in the snow',
  negative_prompt: 'unrealistic',
  styles: "['Fooocus V2', 'Fooocus Enhance']",
  performance: 'Speed',
  resolution: '(1152, 896)',
  guidance_scale: 4,
  sharpness: 2,
  sampler: 'dpmpp_2m',
  scheduler: 'karras',
  base_model: 'juggernautXL_v8Rundiffusion.safetensors',
  base_model_hash: 'aeb7e9e689',
  seed: '6021285327932425917',
  version: 'Fooocus v2.5.3',
};

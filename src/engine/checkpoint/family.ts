import { basename } from 'node:path';
import { EaselError } from '../../shared/errors.ts';

/** The checkpoint families Easel builds graphs for. */
export type CheckpointFamily = 'SD 1.x' | 'SD 2.x';

/** Where each component's tensors start in an original (LDM / CompVis) single-file checkpoint. */
export interface LdmPrefixes {
  unet: string;
  vae: string;
  /** CLIP (transformers names, SD 1.x) or OpenCLIP (SD 2.x) text encoder. */
  textEncoder: string;
}

export interface FamilyDetection {
  family: CheckpointFamily;
  prefixes: LdmPrefixes;
}

const UNET = 'model.diffusion_model.';
const VAE = 'first_stage_model.';

function hasPrefix(keys: readonly string[], prefix: string): boolean {
  return keys.some((key) => key.startsWith(prefix));
}

function hasPart(keys: readonly string[], part: string): boolean {
  return keys.some((key) => key.includes(part));
}

function refuse(file: string, what: string, advice: string): EaselError {
  return new EaselError('CHECKPOINT_UNSUPPORTED', `${basename(file)} is ${what}. ${advice}`);
}

/**
 * Identifies a single-file checkpoint from its tensor names alone (nothing is read but the header), the
 * way AUTOMATIC1111's and diffusers' single-file loaders do. Anything Easel cannot build is refused with
 * a sentence naming what the file is.
 */
export function detectFamily(file: string, keyList: Iterable<string>): FamilyDetection {
  const keys = [...keyList];
  if (keys.length === 0) throw new EaselError('CHECKPOINT_INVALID', `${basename(file)} holds no tensors.`);
  if (hasPrefix(keys, 'lora_unet_') || hasPrefix(keys, 'lora_te') || hasPart(keys, '.lora_down.') || hasPart(keys, '.lora_A.') || hasPart(keys, 'lora.down.')) {
    if (hasPart(keys, 'hada_w1') || hasPart(keys, 'lokr_w1')) throw refuse(file, 'a LyCORIS (LoHa/LoKr) network', 'Easel applies only LoRA files (kohya or diffusers/PEFT naming).');
    throw refuse(file, 'a LoRA, not a checkpoint', 'Put it in a LoRA folder (easel.loraDirectories or --lora-dir) and use it with <lora:NAME:0.8> in the prompt.');
  }
  if (hasPart(keys, 'hada_w1') || hasPart(keys, 'lokr_w1') || hasPart(keys, '.oft_') || hasPart(keys, 'glora')) {
    throw refuse(file, 'a LyCORIS network (LoHa/LoKr/OFT)', 'Easel cannot apply LyCORIS networks; only LoRA files and full checkpoints.');
  }
  if (keys.includes('emb_params') || hasPrefix(keys, 'string_to_param') || keys.includes('clip_l') || keys.includes('clip_g')) {
    throw refuse(file, 'a textual-inversion embedding', 'Easel does not load embeddings yet; import a full checkpoint.');
  }
  if (hasPrefix(keys, 'conditioner.embedders.') || hasPrefix(keys, `${UNET}label_emb.`)) {
    throw refuse(file, 'an SDXL checkpoint', 'Easel imports Stable Diffusion 1.x and 2.x checkpoints; SDXL is not supported yet.');
  }
  if (hasPrefix(keys, `${UNET}joint_blocks.`) || hasPrefix(keys, 'joint_blocks.')) {
    throw refuse(file, 'a Stable Diffusion 3 checkpoint', 'Easel imports Stable Diffusion 1.x and 2.x checkpoints only.');
  }
  if (hasPart(keys, 'double_blocks.') || hasPart(keys, 'single_transformer_blocks.')) {
    throw refuse(file, 'a Flux checkpoint', 'Easel imports Stable Diffusion 1.x and 2.x checkpoints only.');
  }
  if (hasPrefix(keys, 'down_blocks.') || hasPrefix(keys, 'text_model.') || hasPrefix(keys, 'encoder.down_blocks.')) {
    throw refuse(file, 'one component of a diffusers model folder', 'Import the whole diffusers folder (the one holding model_index.json) instead.');
  }
  if (!hasPrefix(keys, UNET)) {
    if (hasPrefix(keys, 'encoder.down.') || hasPrefix(keys, 'decoder.up.') || hasPrefix(keys, VAE)) {
      throw refuse(file, 'a VAE on its own', 'Import a full checkpoint (UNet, VAE and text encoder in one file).');
    }
    throw refuse(file, 'not a Stable Diffusion checkpoint Easel recognises (no model.diffusion_model.* weights)', 'Import a Stable Diffusion 1.x or 2.x .safetensors checkpoint.');
  }
  if (!hasPrefix(keys, `${VAE}decoder.`)) {
    throw refuse(file, 'a checkpoint without a VAE (no first_stage_model.* weights)', 'Use a full checkpoint that includes its VAE.');
  }
  if (hasPrefix(keys, 'cond_stage_model.model.transformer.resblocks.')) {
    return { family: 'SD 2.x', prefixes: { unet: UNET, vae: VAE, textEncoder: 'cond_stage_model.model.' } };
  }
  for (const textEncoder of ['cond_stage_model.transformer.text_model.', 'cond_stage_model.transformer.']) {
    if (hasPrefix(keys, `${textEncoder}encoder.layers.`)) return { family: 'SD 1.x', prefixes: { unet: UNET, vae: VAE, textEncoder } };
  }
  throw refuse(file, 'a checkpoint without a text encoder Easel recognises (no cond_stage_model.* CLIP or OpenCLIP weights)', 'Use a full SD 1.x or 2.x checkpoint that includes its text encoder.');
}

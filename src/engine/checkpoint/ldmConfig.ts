import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { EaselError } from '../../shared/errors.ts';
import type { CheckpointFamily, LdmPrefixes } from './family.ts';
import { parseMiniYaml, type YamlValue } from './miniYaml.ts';
import type { WeightSource } from './weights.ts';
import type { TinyVaeConfig } from './tinyVaeGraph.ts';

/** openaimodel.UNetModel's parameters (v1-inference.yaml / v2-inference.yaml `unet_config.params`). */
export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  modelChannels: number;
  channelMult: number[];
  numResBlocks: number;
  /** Downsampling factors (1, 2, 4, …) whose levels have attention. */
  attentionResolutions: number[];
  /** A fixed head count (SD 1.x: 8) … */
  numHeads?: number;
  /** … or a fixed head width (SD 2.x: 64). */
  numHeadChannels?: number;
  contextDim: number;
  transformerDepth: number;
  /** SD 2.x: proj_in/proj_out are Linear layers on tokens rather than 1×1 convolutions. */
  linearProjection: boolean;
  groups: number;
  /** False when the UNet has no middle block (diffusers' `mid_block_type: null`, as SDXS prunes it). */
  midBlock?: boolean;
  /**
   * Per level (and the middle block): transformer blocks whose first attention also attends to the text
   * instead of the image (diffusers' `only_cross_attention`; SDXS-512-0.9 at its highest resolution).
   */
  onlyCrossAttention?: { levels: boolean[]; middle: boolean };
}

/** ldm AutoencoderKL's ddconfig. */
export interface VaeConfig {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  zChannels: number;
  groups: number;
  scaleFactor: number;
}

export interface TextEncoderConfig {
  /** `clip`: transformers' CLIPTextModel names (SD 1.x); `openclip`: OpenCLIP's (SD 2.x). */
  kind: 'clip' | 'openclip';
  width: number;
  heads: number;
  /** Layers the encoder runs: all of them for SD 1.x, all but the last (the penultimate layer) for SD 2.x. */
  layers: number;
  activation: 'quick_gelu' | 'gelu';
  vocabSize: number;
  contextLength: number;
}

export interface CheckpointConfig {
  family: CheckpointFamily;
  prefixes: LdmPrefixes;
  unet: UNetConfig;
  vae: VaeConfig;
  text: TextEncoderConfig;
  /** A diffusers folder whose `vae` is an AutoencoderTiny (SDXS): its decoder replaces the KL VAE's, and there is no VAE encoder. */
  tinyVae?: TinyVaeConfig;
  prediction: 'epsilon' | 'v_prediction';
  /** Native image size in pixels. */
  imageSize: number;
  /** Where the configuration came from, for the import report. */
  source: string;
}

/** v1-inference.yaml. */
export const SD1_UNET: UNetConfig = {
  inChannels: 4, outChannels: 4, modelChannels: 320, channelMult: [1, 2, 4, 4], numResBlocks: 2, attentionResolutions: [4, 2, 1],
  numHeads: 8, contextDim: 768, transformerDepth: 1, linearProjection: false, groups: 32,
};
/** v2-inference(-v).yaml. */
export const SD2_UNET: UNetConfig = {
  ...SD1_UNET, numHeads: undefined, numHeadChannels: 64, contextDim: 1024, linearProjection: true,
};
export const SD_VAE: VaeConfig = { ch: 128, chMult: [1, 2, 4, 4], numResBlocks: 2, zChannels: 4, groups: 32, scaleFactor: 0.18215 };
/** CLIP ViT-L/14's text tower. */
export const CLIP_L_TEXT: TextEncoderConfig = { kind: 'clip', width: 768, heads: 12, layers: 12, activation: 'quick_gelu', vocabSize: 49408, contextLength: 77 };
/** OpenCLIP ViT-H/14's text tower, run to the penultimate of its 24 layers. */
export const OPENCLIP_H_TEXT: TextEncoderConfig = { kind: 'openclip', width: 1024, heads: 16, layers: 23, activation: 'gelu', vocabSize: 49408, contextLength: 77 };

/** SD 1.5 as the original v1-inference.yaml describes it. */
export const SD15_CONFIG: CheckpointConfig = {
  family: 'SD 1.x',
  prefixes: { unet: 'model.diffusion_model.', vae: 'first_stage_model.', textEncoder: 'cond_stage_model.transformer.text_model.' },
  unet: SD1_UNET, vae: SD_VAE, text: CLIP_L_TEXT, prediction: 'epsilon', imageSize: 512, source: 'v1-inference.yaml',
};
/** SD 2.1 (768, v-prediction) as v2-inference-v.yaml describes it; SD-Turbo has the same architecture at 512 with ε-prediction. */
export const SD21_CONFIG: CheckpointConfig = {
  family: 'SD 2.x',
  prefixes: { unet: 'model.diffusion_model.', vae: 'first_stage_model.', textEncoder: 'cond_stage_model.model.' },
  unet: SD2_UNET, vae: SD_VAE, text: OPENCLIP_H_TEXT, prediction: 'v_prediction', imageSize: 768, source: 'v2-inference-v.yaml',
};

/** Head count of a transformer at `channels` width. */
export function headsAt(unet: UNetConfig, channels: number): number {
  if (unet.numHeadChannels !== undefined && unet.numHeadChannels > 0) return channels / unet.numHeadChannels;
  return unet.numHeads!;
}

type YamlMap = { [key: string]: YamlValue };
const asMap = (value: YamlValue | undefined): YamlMap | undefined => (value && typeof value === 'object' && !Array.isArray(value) ? value : undefined);
const asNumber = (value: YamlValue | undefined): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const asNumbers = (value: YamlValue | undefined): number[] | undefined => (Array.isArray(value) && value.every((v) => typeof v === 'number') ? (value as number[]) : undefined);

/** Reads a model .yaml (the original LDM layout) into overrides of the family's standard configuration. */
export async function readYamlOverrides(yamlPath: string, base: CheckpointConfig): Promise<CheckpointConfig> {
  let root: YamlMap;
  try {
    root = parseMiniYaml(await readFile(yamlPath, 'utf8'));
  } catch (error) {
    throw new EaselError('CHECKPOINT_INVALID', `${basename(yamlPath)} could not be read as a model configuration (${(error as Error).message}). Fix or remove it to use the standard ${base.family} configuration.`, { cause: error });
  }
  const params = asMap(asMap(root.model)?.params) ?? {};
  const unetParams = asMap(asMap(params.unet_config)?.params) ?? {};
  const vaeParams = asMap(asMap(params.first_stage_config)?.params) ?? {};
  const dd = asMap(vaeParams.ddconfig) ?? {};
  const textStage = asMap(params.cond_stage_config) ?? {};
  // The reference test model's own text-encoder shape (marked "# tiny:" in its yaml); real yamls have none.
  const tiny = asMap(textStage.tiny_text_encoder) ?? asMap(asMap(textStage.params)?.tiny_text_encoder);
  const heads = asNumber(unetParams.num_heads);
  const headChannels = asNumber(unetParams.num_head_channels);
  const unet: UNetConfig = {
    ...base.unet,
    inChannels: asNumber(unetParams.in_channels) ?? base.unet.inChannels,
    outChannels: asNumber(unetParams.out_channels) ?? base.unet.outChannels,
    modelChannels: asNumber(unetParams.model_channels) ?? base.unet.modelChannels,
    channelMult: asNumbers(unetParams.channel_mult) ?? base.unet.channelMult,
    numResBlocks: asNumber(unetParams.num_res_blocks) ?? base.unet.numResBlocks,
    attentionResolutions: asNumbers(unetParams.attention_resolutions) ?? base.unet.attentionResolutions,
    contextDim: asNumber(unetParams.context_dim) ?? base.unet.contextDim,
    transformerDepth: asNumber(unetParams.transformer_depth) ?? base.unet.transformerDepth,
    linearProjection: typeof unetParams.use_linear_in_transformer === 'boolean' ? unetParams.use_linear_in_transformer : base.unet.linearProjection,
    groups: asNumber(unetParams.norm_num_groups) ?? base.unet.groups,
  };
  if (headChannels !== undefined && headChannels > 0) {
    unet.numHeadChannels = headChannels;
    unet.numHeads = undefined;
  } else if (heads !== undefined && heads > 0) {
    unet.numHeads = heads;
    unet.numHeadChannels = undefined;
  }
  const vae: VaeConfig = {
    ch: asNumber(dd.ch) ?? base.vae.ch,
    chMult: asNumbers(dd.ch_mult) ?? base.vae.chMult,
    numResBlocks: asNumber(dd.num_res_blocks) ?? base.vae.numResBlocks,
    zChannels: asNumber(dd.z_channels) ?? base.vae.zChannels,
    groups: asNumber(dd.norm_num_groups) ?? base.vae.groups,
    scaleFactor: asNumber(params.scale_factor) ?? base.vae.scaleFactor,
  };
  const text: TextEncoderConfig = { ...base.text };
  if (tiny) {
    text.width = asNumber(tiny.width) ?? text.width;
    text.heads = asNumber(tiny.heads) ?? text.heads;
    const inFile = asNumber(tiny.layers_in_file);
    if (inFile !== undefined) text.layers = base.text.kind === 'openclip' ? inFile - 1 : inFile;
    if (tiny.activation === 'gelu' || tiny.activation === 'quick_gelu') text.activation = tiny.activation;
    text.vocabSize = asNumber(tiny.vocab_size) ?? text.vocabSize;
    text.contextLength = asNumber(tiny.context_length) ?? text.contextLength;
  }
  // LDM's default parameterization is "eps": v2-inference.yaml (SD 2.x base, 512 px) says nothing, v2-inference-v.yaml says "v".
  const prediction = params.parameterization === 'v' ? 'v_prediction' : 'epsilon';
  // unet_config's image_size is a training detail (32 in v1-inference.yaml); SD 2.x's v-models are the 768-px ones.
  const imageSize = base.family === 'SD 2.x' ? (prediction === 'v_prediction' ? 768 : 512) : base.imageSize;
  return { ...base, unet, vae, text, prediction, imageSize, source: basename(yamlPath) };
}

/**
 * The family's standard configuration with what the tensor shapes say (channels, context width, input
 * channels, layer counts, vocabulary); head counts and group counts cannot be read from shapes.
 */
export function configFromWeights(family: CheckpointFamily, prefixes: LdmPrefixes, weights: WeightSource): CheckpointConfig {
  const base = family === 'SD 2.x' ? SD21_CONFIG : SD15_CONFIG;
  const convIn = weights.shape(`${prefixes.unet}input_blocks.0.0.weight`);
  const unet: UNetConfig = { ...base.unet };
  if (convIn) {
    unet.modelChannels = convIn[0];
    unet.inChannels = convIn[1];
  }
  const outConv = weights.shape(`${prefixes.unet}out.2.weight`);
  if (outConv) unet.outChannels = outConv[0];
  const crossKey = `${prefixes.unet}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`;
  const cross = weights.shape(crossKey);
  if (cross) unet.contextDim = cross[1];
  const projIn = weights.shape(`${prefixes.unet}input_blocks.1.1.proj_in.weight`);
  if (projIn) unet.linearProjection = projIn.length === 2;
  const vae: VaeConfig = { ...base.vae };
  const vaeIn = weights.shape(`${prefixes.vae}encoder.conv_in.weight`);
  if (vaeIn) vae.ch = vaeIn[0];
  const z = weights.shape(`${prefixes.vae}post_quant_conv.weight`);
  if (z) vae.zChannels = z[0];
  const text: TextEncoderConfig = { ...base.text };
  if (base.text.kind === 'clip') {
    const tokens = weights.shape(`${prefixes.textEncoder}embeddings.token_embedding.weight`);
    if (tokens) [text.vocabSize, text.width] = tokens;
    text.heads = text.width % 64 === 0 ? text.width / 64 : text.heads;
    let layers = 0;
    while (weights.has(`${prefixes.textEncoder}encoder.layers.${layers}.layer_norm1.weight`)) layers++;
    if (layers > 0) text.layers = layers;
  } else {
    const tokens = weights.shape(`${prefixes.textEncoder}token_embedding.weight`);
    if (tokens) [text.vocabSize, text.width] = tokens;
    let layers = 0;
    while (weights.has(`${prefixes.textEncoder}transformer.resblocks.${layers}.ln_1.weight`)) layers++;
    if (layers > 1) text.layers = layers - 1;
  }
  return { ...base, prefixes, unet, vae, text };
}

import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { EaselError } from '../../shared/errors.ts';
import type { GraphBuilder } from '../onnx/onnxWriter.ts';
import { unetKeyMap, vaeKeyMap } from './diffusersKeys.ts';
import { detectFamily } from './family.ts';
import type { LayerOptions } from './layers.ts';
import { configFromWeights, headsAt, readYamlOverrides, SD15_CONFIG, type CheckpointConfig, type TextEncoderConfig, type UNetConfig } from './ldmConfig.ts';
import { isMostlyFloat16, readSafetensorsHeader, type SafetensorsHeader } from './safetensors.ts';
import { buildTextEncoderGraph } from './textEncoderGraph.ts';
import { buildUNetGraph } from './unetGraph.ts';
import { buildTinyDecoderGraph } from './tinyVaeGraph.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from './vaeGraph.ts';
import { SafetensorsWeights, type SafetensorsLocation, type WeightSource } from './weights.ts';

export const GRAPH_COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;
export type GraphComponent = (typeof GRAPH_COMPONENTS)[number];

/** What a checkpoint (single file or diffusers folder) is, read from headers and configs only. */
export interface CheckpointSource {
  kind: 'single-file' | 'diffusers-folder';
  /** The .safetensors file or the diffusers folder. */
  path: string;
  config: CheckpointConfig;
  weights: SafetensorsWeights;
  /** Most weights are stored as float16 (an fp16 checkpoint): GPU providers get float16 graphs too. */
  float16: boolean;
  /** Per component, the file its weights lie in (its folder is what ONNX Runtime reads external data from). */
  weightFiles: Record<GraphComponent, string>;
  /** The file whose SHA-256 is the model hash (A1111's "Model hash"): the checkpoint, or a folder's UNet weights. */
  hashFile: string;
  /** A folder's own scheduler_config.json / tokenizer, when it has them. */
  schedulerConfigPath?: string;
  tokenizerDir?: string;
  totalBytes: number;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** The yaml A1111 reads beside a checkpoint: NAME.yaml for NAME.safetensors. */
export function yamlBeside(checkpoint: string): string {
  return checkpoint.replace(/\.safetensors$/i, '') + '.yaml';
}

async function openSingleFile(path: string): Promise<CheckpointSource> {
  const header = await readSafetensorsHeader(path);
  const { family, prefixes } = detectFamily(path, header.tensors.keys());
  const weights = SafetensorsWeights.single(header);
  let config = configFromWeights(family, prefixes, weights);
  const yaml = yamlBeside(path);
  if (await exists(yaml)) config = await readYamlOverrides(yaml, config);
  checkConfigFits(config, path);
  return {
    kind: 'single-file', path, config, weights, float16: isMostlyFloat16([header]), hashFile: path, totalBytes: header.fileSize,
    weightFiles: { text_encoder: path, unet: path, vae_decoder: path, vae_encoder: path },
  };
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (error) {
    throw new EaselError('CHECKPOINT_INVALID', `Cannot read ${path}: ${(error as Error).message}.`, { cause: error });
  }
  throw new EaselError('CHECKPOINT_INVALID', `${path} is not a JSON object.`);
}

const num = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

/** A diffusers UNet2DConditionModel config.json as the LDM UNet configuration the graph builder takes. */
export function unetConfigFromDiffusers(unetConfig: Record<string, unknown>, file: string): UNetConfig {
  const blockOut = Array.isArray(unetConfig.block_out_channels) ? (unetConfig.block_out_channels as number[]) : [320, 640, 1280, 1280];
  const downTypes = Array.isArray(unetConfig.down_block_types) ? (unetConfig.down_block_types as string[]) : [];
  const attentionResolutions = downTypes.map((type, i) => (type.startsWith('CrossAttn') ? 2 ** i : 0)).filter((ds) => ds > 0);
  // diffusers' attention_head_dim is the head count (a historical misnomer its config keeps: UNet2DConditionModel
  // uses it as num_attention_heads): one for every level (SD 1.x: 8), or per level (SD 2.x: 5, 10, 20, 20 — 64 wide each).
  const headDim = unetConfig.num_attention_heads ?? unetConfig.attention_head_dim;
  const heads = typeof headDim === 'number' ? headDim : undefined;
  const headWidth = Array.isArray(headDim) ? blockOut[0] / (headDim as number[])[0] : undefined;
  // diffusers: a boolean for every level or one per down block (the up blocks read it reversed); the middle
  // block has its own, defaulting to the boolean.
  const onlyCross = unetConfig.only_cross_attention;
  const levels = blockOut.map((_, i) => (Array.isArray(onlyCross) ? onlyCross[i] === true : onlyCross === true));
  const middle = typeof unetConfig.mid_block_only_cross_attention === 'boolean' ? unetConfig.mid_block_only_cross_attention : onlyCross === true;
  if (Array.isArray(onlyCross) && onlyCross.length !== blockOut.length) {
    throw new EaselError('CHECKPOINT_UNSUPPORTED', `${file}: only_cross_attention lists ${onlyCross.length} levels for ${blockOut.length} blocks.`);
  }
  return {
    inChannels: num(unetConfig.in_channels, 4), outChannels: num(unetConfig.out_channels, 4), modelChannels: blockOut[0],
    channelMult: blockOut.map((c) => c / blockOut[0]), numResBlocks: num(unetConfig.layers_per_block, 2),
    attentionResolutions: attentionResolutions.length > 0 ? attentionResolutions : [4, 2, 1],
    numHeads: Array.isArray(headDim) ? undefined : (heads ?? 8),
    numHeadChannels: headWidth,
    contextDim: num(unetConfig.cross_attention_dim, 768), transformerDepth: num(unetConfig.transformer_layers_per_block, 1),
    linearProjection: unetConfig.use_linear_projection === true, groups: num(unetConfig.norm_num_groups, 32),
    midBlock: !('mid_block_type' in unetConfig && unetConfig.mid_block_type === null),
    onlyCrossAttention: levels.some(Boolean) || middle ? { levels, middle } : undefined,
  };
}

/** A diffusers folder with safetensors weights (unet/, vae/, text_encoder/), read under LDM key names. */
async function openDiffusersFolder(dir: string): Promise<CheckpointSource> {
  const files = {
    unet: join(dir, 'unet', 'diffusion_pytorch_model.safetensors'),
    vae: join(dir, 'vae', 'diffusion_pytorch_model.safetensors'),
    text: join(dir, 'text_encoder', 'model.safetensors'),
  };
  for (const file of Object.values(files)) {
    if (!(await exists(file))) throw new EaselError('CHECKPOINT_UNSUPPORTED', `${dir} is a diffusers folder without ${file.slice(dir.length + 1)}; Easel imports diffusers folders with .safetensors weights (the .bin pickles are never read).`);
  }
  const unetConfig = await readJson(join(dir, 'unet', 'config.json'));
  const vaeConfig = await readJson(join(dir, 'vae', 'config.json'));
  const textConfig = await readJson(join(dir, 'text_encoder', 'config.json'));
  if (unetConfig.addition_embed_type === 'text_time' || String(unetConfig._class_name) !== 'UNet2DConditionModel') {
    throw new EaselError('CHECKPOINT_UNSUPPORTED', `${basename(dir)} is not a Stable Diffusion 1.x/2.x diffusers folder (its UNet is ${String(unetConfig._class_name)}${unetConfig.addition_embed_type ? ', SDXL-style' : ''}).`);
  }
  const headers = {
    unet: await readSafetensorsHeader(files.unet),
    vae: await readSafetensorsHeader(files.vae),
    text: await readSafetensorsHeader(files.text),
  };
  const vaeOut = Array.isArray(vaeConfig.block_out_channels) ? (vaeConfig.block_out_channels as number[]) : [128, 256, 512, 512];
  const base = SD15_CONFIG;
  const family = num(unetConfig.cross_attention_dim, 768) === 1024 ? 'SD 2.x' as const : 'SD 1.x' as const;
  const textWidth = num(textConfig.hidden_size, 768);
  const text: TextEncoderConfig = {
    kind: 'clip',
    width: textWidth,
    heads: num(textConfig.num_attention_heads, textWidth / 64),
    layers: num(textConfig.num_hidden_layers, 12),
    activation: textConfig.hidden_act === 'gelu' ? 'gelu' : 'quick_gelu',
    vocabSize: num(textConfig.vocab_size, 49408),
    contextLength: num(textConfig.max_position_embeddings, 77),
  };
  const config: CheckpointConfig = {
    ...base,
    family,
    unet: unetConfigFromDiffusers(unetConfig, `${basename(dir)}/unet/config.json`),
    vae: {
      ch: vaeOut[0], chMult: vaeOut.map((c) => c / vaeOut[0]), numResBlocks: num(vaeConfig.layers_per_block, 2),
      zChannels: num(vaeConfig.latent_channels, 4), groups: num(vaeConfig.norm_num_groups, 32), scaleFactor: num(vaeConfig.scaling_factor, 0.18215),
    },
    text,
    tinyVae: vaeConfig._class_name === 'AutoencoderTiny' ? {
      channels: Array.isArray(vaeConfig.decoder_block_out_channels) ? (vaeConfig.decoder_block_out_channels as number[]) : vaeOut,
      blocks: Array.isArray(vaeConfig.num_decoder_blocks) ? (vaeConfig.num_decoder_blocks as number[]) : [3, 3, 3, 1],
      latentChannels: num(vaeConfig.latent_channels, 4), latentMagnitude: num(vaeConfig.latent_magnitude, 3), scaleFactor: num(vaeConfig.scaling_factor, 1),
    } : undefined,
    imageSize: num(unetConfig.sample_size, 64) * 8,
    source: `${basename(dir)}/*/config.json`,
  };
  const schedulerConfigPath = join(dir, 'scheduler', 'scheduler_config.json');
  if (await exists(schedulerConfigPath)) {
    const scheduler = await readJson(schedulerConfigPath);
    if (scheduler.prediction_type === 'v_prediction') config.prediction = 'v_prediction';
  }
  const mapUnet = unetKeyMap(config.unet);
  const mapVae = vaeKeyMap(config.vae);
  const location = (header: SafetensorsHeader): SafetensorsLocation => ({ header, location: basename(header.path) });
  const locations = { unet: location(headers.unet), vae: location(headers.vae), text: location(headers.text) };
  const { prefixes } = config;
  const weights = new SafetensorsWeights((key) => {
    const pick = (file: SafetensorsLocation, own: string) => {
      const entry = file.header.tensors.get(own);
      return entry ? { file, entry } : undefined;
    };
    if (key.startsWith(prefixes.unet)) return pick(locations.unet, mapUnet(key.slice(prefixes.unet.length)));
    if (key.startsWith(prefixes.vae)) return pick(locations.vae, mapVae(key.slice(prefixes.vae.length)));
    if (key.startsWith(prefixes.textEncoder)) return pick(locations.text, `text_model.${key.slice(prefixes.textEncoder.length)}`);
    return undefined;
  }, basename(dir));
  const tokenizerDir = join(dir, 'tokenizer');
  return {
    kind: 'diffusers-folder', path: dir, config, weights, float16: isMostlyFloat16(Object.values(headers)), hashFile: files.unet,
    weightFiles: { text_encoder: files.text, unet: files.unet, vae_decoder: files.vae, vae_encoder: files.vae },
    schedulerConfigPath: (await exists(schedulerConfigPath)) ? schedulerConfigPath : undefined,
    tokenizerDir: (await exists(join(tokenizerDir, 'vocab.json'))) ? tokenizerDir : undefined,
    totalBytes: headers.unet.fileSize + headers.vae.fileSize + headers.text.fileSize,
  };
}

/** Reads what a checkpoint is from its headers (and .yaml / config.json): a .safetensors file or a diffusers folder. */
export async function openCheckpoint(path: string): Promise<CheckpointSource> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new EaselError('MODEL_NOT_FOUND', `${path} does not exist.`);
  if (info.isDirectory()) {
    if (!(await exists(join(path, 'model_index.json')))) throw new EaselError('CHECKPOINT_UNSUPPORTED', `${path} is a folder without model_index.json; import a .safetensors checkpoint or a diffusers folder.`);
    return openDiffusersFolder(path);
  }
  if (/\.(ckpt|pt|pth|bin)$/i.test(path)) {
    throw new EaselError('CHECKPOINT_UNSUPPORTED', `${basename(path)} is a PyTorch pickle (${path.slice(path.lastIndexOf('.'))}). Easel never unpickles files (a pickle can run any code); use the .safetensors version of the model.`);
  }
  return openSingleFile(path);
}

/** Head and group counts come from the configuration, not the weights: a mismatch is named before anything is built. */
export function checkConfigFits(config: CheckpointConfig, file: string): void {
  const problems: string[] = [];
  const { unet, vae, text } = config;
  for (const mult of unet.channelMult) {
    const ch = unet.modelChannels * mult;
    if (ch % unet.groups !== 0) problems.push(`UNet width ${ch} is not divisible into ${unet.groups} GroupNorm groups`);
    const heads = headsAt(unet, ch);
    if (!Number.isInteger(heads) || heads < 1 || ch % heads !== 0) problems.push(`UNet width ${ch} does not split into ${heads} attention heads`);
  }
  for (const mult of vae.chMult) if ((vae.ch * mult) % vae.groups !== 0) problems.push(`VAE width ${vae.ch * mult} is not divisible into ${vae.groups} GroupNorm groups`);
  if (text.width % text.heads !== 0) problems.push(`text encoder width ${text.width} does not split into ${text.heads} heads`);
  if (problems.length > 0) {
    throw new EaselError('CHECKPOINT_UNSUPPORTED', `${basename(file)} does not fit the standard ${config.family} configuration (${config.source}): ${[...new Set(problems)].join('; ')}. Put its model .yaml beside it as ${basename(yamlBeside(file))}.`);
  }
}

/**
 * Builds the float32 graphs of a checkpoint (four; three when the VAE is a tiny one, which has no KL
 * encoder); weights are referenced in place, nothing is read but headers.
 */
export function buildGraphs(config: CheckpointConfig, weights: WeightSource, options: LayerOptions): Partial<Record<GraphComponent, GraphBuilder>> & Record<'text_encoder' | 'unet' | 'vae_decoder', GraphBuilder> {
  const { prefixes } = config;
  const float32 = { ...options, compute: 'float32' as const };
  const graphs = textEncoderAndUNet(config, weights, float32);
  if (config.tinyVae) return { ...graphs, vae_decoder: buildTinyDecoderGraph(config.tinyVae, weights, prefixes.vae, float32) };
  return {
    ...graphs,
    vae_decoder: buildVaeDecoderGraph(config.vae, weights, prefixes.vae, float32),
    vae_encoder: buildVaeEncoderGraph(config.vae, weights, prefixes.vae, float32),
  };
}

/**
 * The components an fp16 checkpoint runs in float16 on GPU providers. The VAE is not among them: SD
 * 1.x/2.x's VAE overflows in float16, so diffusers runs it in float32 even in an fp16 pipeline
 * (`force_upcast`), and Easel does the same with its float32 graph.
 */
export const FLOAT16_COMPONENTS = ['text_encoder', 'unet'] as const satisfies readonly GraphComponent[];

export type Float16Component = (typeof FLOAT16_COMPONENTS)[number];

/** The float16 graphs of an fp16 checkpoint, for GPU providers: its float16 weights are used as stored. */
export function buildFloat16Graphs(config: CheckpointConfig, weights: WeightSource, options: LayerOptions): Record<Float16Component, GraphBuilder> {
  return textEncoderAndUNet(config, weights, { ...options, compute: 'float16' });
}

function textEncoderAndUNet(config: CheckpointConfig, weights: WeightSource, options: LayerOptions): Record<Float16Component, GraphBuilder> {
  const { prefixes } = config;
  return {
    text_encoder: buildTextEncoderGraph(config.text, weights, prefixes.textEncoder, options),
    unet: buildUNetGraph(config.unet, weights, prefixes.unet, options),
  };
}

import type { RecommendedSettings } from '../shared/recommendedSettings.ts';
import { FEW_STEP_RECOMMENDED, lcmRecommended } from './recommendedSettings.ts';

/**
 * Public diffusers-ONNX repositories offered by "Easel: Download Model…". What was checked for each
 * is written in the README ("Getting a model"); the download itself always shows the size from the
 * Hub's file list and the licence from the model card before fetching anything.
 */
export interface CuratedModel {
  repo: string;
  revision: string;
  title: string;
  purpose: string;
  family: 'SD 1.x' | 'SD 2.x' | 'SD-Turbo' | 'LCM';
  weights: 'fp32' | 'fp16';
  approximateSize: string;
  license: string;
  /** What the model's card recommends; written into the downloaded folder's easel.json, which the panel and CLI propose. */
  settings: RecommendedSettings;
}

/** A tiny decoder (TAESD) offered beside the models: a few MB, used for live previews and, on request, the final image. */
export interface CuratedTinyDecoder {
  repo: string;
  revision: string;
  title: string;
  purpose: string;
  approximateSize: string;
  license: string;
}

export const CURATED_TINY_DECODERS: readonly CuratedTinyDecoder[] = [
  {
    repo: 'deinferno/taesd-onnx',
    revision: 'main',
    title: 'TAESD tiny decoder for SD 1.x/2.x (ONNX)',
    purpose: 'madebyollin/taesd as ONNX (vae_decoder/model.onnx): decoded live previews, and easel.decoder "tiny" for images in a fraction of the full VAE\'s time.',
    approximateSize: '≈ 5 MB (only vae_decoder/model.onnx is fetched)',
    license: 'MIT',
  },
];

export const CURATED_MODELS: readonly CuratedModel[] = [
  {
    repo: 'CompVis/stable-diffusion-v1-4',
    revision: 'onnx',
    title: 'Stable Diffusion v1.4 (ONNX, fp32, with safety checker)',
    purpose: 'General-purpose 512×512 model that runs on any CPU; includes diffusers\' ONNX safety checker.',
    family: 'SD 1.x',
    weights: 'fp32',
    approximateSize: '≈ 5.4 GB (UNet 3.44 GB, safety checker 1.22 GB, text encoder 492 MB, VAE decoder 198 MB)',
    license: 'CreativeML OpenRAIL-M (gated: accept it on the model page first)',
    settings: { sampler: 'DPM++ 2M', steps: 25, cfgScale: 7, width: 512, height: 512 },
  },
  {
    repo: 'SimianLuo/LCM_Dreamshaper_v7',
    revision: 'main',
    title: 'LCM Dreamshaper v7 (ONNX, fp32): images in 4 steps on a CPU',
    purpose: 'Few-step model for CPUs: a latent consistency model with a guidance embedding (timestep_cond), 2–8 steps, LCM sampler, CFG 8 costs no second batch.',
    family: 'LCM',
    weights: 'fp32',
    approximateSize: '≈ 4.1 GB (UNet 3.44 GB, text encoder 493 MB, VAE decoder 198 MB; the 137 MB VAE encoder is skipped)',
    license: 'MIT',
    settings: { ...lcmRecommended(true), width: 512, height: 512 },
  },
  {
    repo: 'tlwu/sd-turbo-onnxruntime',
    revision: 'main',
    title: 'SD-Turbo (ONNX, fp16, optimised with Olive for ONNX Runtime)',
    purpose: 'Few-step model for GPUs: usable images in 1–4 steps with guidance off (CFG 0–1).',
    family: 'SD-Turbo',
    weights: 'fp16',
    approximateSize: '≈ 2.5 GB (UNet 1.73 GB)',
    license: 'Stability AI Non-Commercial Research Community Licence (sai-nc-community)',
    settings: { ...FEW_STEP_RECOMMENDED, width: 512, height: 512 },
  },
  {
    repo: 'aislamov/stable-diffusion-2-1-base-onnx',
    revision: 'main',
    title: 'Stable Diffusion 2.1 base (ONNX, fp16 VAE)',
    purpose: '512×512 SD 2.x model (OpenCLIP text encoder), made for ONNX Runtime in Node.js.',
    family: 'SD 2.x',
    weights: 'fp16',
    approximateSize: 'not listed (VAE decoder 99 MB); shown before download',
    license: 'no licence tag on the card; Stable Diffusion 2.1 is CreativeML OpenRAIL++-M',
    settings: { sampler: 'DPM++ 2M', steps: 25, cfgScale: 7, width: 512, height: 512 },
  },
];

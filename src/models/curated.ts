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
  family: 'SD 1.x' | 'SD 2.x' | 'SD-Turbo';
  weights: 'fp32' | 'fp16';
  approximateSize: string;
  license: string;
  settings: { steps: number; cfgScale: number; sampler: 'Euler a' | 'Euler' | 'DPM++ 2M'; size: number };
}

export const CURATED_MODELS: readonly CuratedModel[] = [
  {
    repo: 'CompVis/stable-diffusion-v1-4',
    revision: 'onnx',
    title: 'Stable Diffusion v1.4 (ONNX, fp32)',
    purpose: 'General-purpose 512×512 model that runs on any CPU; the reference SD 1.x model.',
    family: 'SD 1.x',
    weights: 'fp32',
    approximateSize: '≈ 2.7 GB',
    license: 'CreativeML OpenRAIL-M (accept it on the model page first: the repository is gated)',
    settings: { steps: 25, cfgScale: 7, sampler: 'DPM++ 2M', size: 512 },
  },
  {
    repo: 'onnxruntime/sd-turbo',
    revision: 'main',
    title: 'SD-Turbo (ONNX, fp16, ONNX Runtime/Olive optimised)',
    purpose: 'Few-step model: usable images in 1–4 steps with guidance off (CFG 0–1); for GPUs.',
    family: 'SD-Turbo',
    weights: 'fp16',
    approximateSize: '≈ 2.6 GB',
    license: 'Stability AI Non-Commercial Research Community Licence',
    settings: { steps: 2, cfgScale: 1, sampler: 'Euler', size: 512 },
  },
  {
    repo: 'aislamov/stable-diffusion-2-1-base-onnx',
    revision: 'main',
    title: 'Stable Diffusion 2.1 base (ONNX)',
    purpose: '512×512 SD 2.x model (OpenCLIP text encoder), CPU or GPU.',
    family: 'SD 2.x',
    weights: 'fp32',
    approximateSize: '≈ 2.6 GB',
    license: 'CreativeML OpenRAIL++-M',
    settings: { steps: 25, cfgScale: 7, sampler: 'DPM++ 2M', size: 512 },
  },
];

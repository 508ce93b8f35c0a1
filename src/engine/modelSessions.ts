import * as ort from 'onnxruntime-node';
import { EaselError } from '../shared/errors.ts';
import { float32ToFloat16 } from './float16.ts';
import { componentGraph, type ComponentName, type LoadingComponent, type ModelFolder } from './modelFolder.ts';
import { createSessionWithProvider, type ProviderAttempt } from './providers.ts';
import type { ExecutionProvider, ExecutionProviderChoice } from '../shared/names.ts';
import { createDeviceUploads, type DeviceUploads } from './deviceUploads.ts';
import type { SessionTuning } from './sessionTuning.ts';
import { loadTinyDecoder, type TinyDecoder } from './tinyDecoder.ts';
import { ClipTokenizer } from './tokenizer.ts';

export type FloatType = 'float32' | 'float16';
/** The sessions `low` memory opens only while they are used. */
export type OnDemandComponent = 'text_encoder' | 'vae_decoder';
export type TimestepType = 'int64' | 'int32' | 'float32' | 'float16';
export type TimestepShape = 'scalar' | 'one' | 'batch';

/** What the engine learned from each session's metadata, so it feeds each export what it expects. */
export interface ModelSignature {
  inputIdsType: 'int32' | 'int64';
  textOutput: string;
  textOutputType: FloatType;
  sampleType: FloatType;
  timestepType: TimestepType;
  /**
   * The timestep's declared shape: `scalar` (rank 0, current Optimum), `one` (`[1]`, diffusers'
   * conversion script) or `batch` (a dynamic first dimension: one per batch item). ONNX Runtime does
   * not reject a rank mismatch, the UNet fails inside, so the feed must match exactly.
   */
  timestepShape: TimestepShape;
  contextType: FloatType;
  /** LCM exports with a guidance embedding (`time_cond_proj_dim`): Optimum's `timestep_cond` input. */
  timestepCond?: { type: FloatType; dim: number };
  unetOutputType: FloatType;
  /** Prompt tokens the UNet's encoder_hidden_states takes when the export fixes them (otherwise 77 × chunks). */
  fixedContextLength?: number;
  /** Latent height and width when the export fixes them. */
  fixedLatentSize?: [number, number];
  decoderInputType: FloatType;
  decoderOutputType: FloatType;
  /** 4 for ordinary UNets, 9 for inpainting UNets (latents, mask, masked-image latents). */
  unetInChannels: 4 | 9;
}

/** The VAE encoder, opened on the first img2img or inpainting job. */
export interface VaeEncoder {
  session: ort.InferenceSession;
  inputType: FloatType;
  /** `latent_parameters` (mean and log-variance, 8 channels) or a traced `latent_sample` (4). */
  output: 'latent_parameters' | 'latent_sample';
}

export interface LoadedModel {
  folder: ModelFolder;
  provider: ExecutionProvider;
  providerAttempts: ProviderAttempt[];
  tokenizer: ClipTokenizer;
  /** Absent while `low` memory has released it (see `openSession`). */
  textEncoder?: ort.InferenceSession;
  unet: ort.InferenceSession;
  /** Absent while `low` memory has released it (see `openSession`). */
  vaeDecoder?: ort.InferenceSession;
  /** TAESD, when one was asked for: the final decoder on request and always the live preview. */
  tinyDecoder?: TinyDecoder;
  /** On a GPU provider: keeps the per-job constant UNet inputs in device memory across steps. */
  deviceUploads?: DeviceUploads;
  signature: ModelSignature;
  /** Opens vae_encoder/model.onnx once; a model folder without one cannot edit images. */
  vaeEncoder(): Promise<VaeEncoder>;
  /** Per component, the LoRAs merged into its session (see lora/loraSessions.ts); absent = none. */
  loraState?: Partial<Record<'unet' | 'text_encoder', string>>;
  /** Swaps in a new UNet or text-encoder session (LoRAs merged) and releases the one it replaces. */
  replaceSession(component: 'unet' | 'text_encoder', session: ort.InferenceSession): Promise<void>;
  /** The text encoder's or VAE decoder's session: the open one, or opened again after `low` memory released it. */
  openSession(component: OnDemandComponent): Promise<ort.InferenceSession>;
  /**
   * Under `low` memory, releases the component until it is next needed, so the text encoder is not held
   * while the UNet samples and the VAE decoder only while it decodes. A text encoder with LoRAs merged
   * stays (reopening it would mean merging again). `balanced` keeps every session.
   */
  afterUse(component: OnDemandComponent): Promise<void>;
  /** The last prompt's UNet conditioning (host memory), reused while its key (prompt, negative prompt, emphasis, LoRAs) holds. */
  conditioning?: { key: string; context: ort.Tensor };
  release(): Promise<void>;
}

type Metadata = ort.InferenceSession.ValueMetadata;
type TensorMetadata = Extract<Metadata, { isTensor: true }>;

function describe(list: readonly Metadata[]): string {
  return list.map((m) => (m.isTensor ? `${m.name} (${m.type} [${m.shape.join(', ')}])` : `${m.name} (not a tensor)`)).join(', ') || 'none';
}

function expectTensor<T extends string>(
  path: string, side: 'input' | 'output', list: readonly Metadata[], name: string | undefined, types: readonly T[], rank: number | number[],
): TensorMetadata & { type: T } {
  const found = name === undefined ? list[0] : list.find((m) => m.name === name);
  const ranks = Array.isArray(rank) ? rank : [rank];
  const expected = `${side} "${name ?? '(first)'}" of type ${types.join(' or ')} with rank ${ranks.join(' or ')}`;
  if (!found || !found.isTensor || !types.includes(found.type as T) || (found.shape.length > 0 && !ranks.includes(found.shape.length))) {
    throw new EaselError('MODEL_INVALID', `${path}: expected ${expected}; found ${side}s ${describe(list)}. This export is not a Stable Diffusion 1.x/2.x ${side === 'input' ? 'input' : 'output'} layout Easel can run.`);
  }
  return found as TensorMetadata & { type: T };
}

const FLOATS = ['float32', 'float16'] as const;

/** Checks names, dtypes and ranks of the three sessions against the diffusers ONNX signatures. */
export function readSignature(folder: ModelFolder, text: ort.InferenceSession, unet: ort.InferenceSession, decoder: ort.InferenceSession): ModelSignature {
  const textPath = folder.components.text_encoder!;
  const unetPath = folder.components.unet!;
  const decoderPath = folder.components.vae_decoder!;
  const ids = expectTensor(textPath, 'input', text.inputMetadata, 'input_ids', ['int32', 'int64'] as const, 2);
  const textOut = text.outputMetadata.find((m) => m.name === 'last_hidden_state') ?? text.outputMetadata[0];
  const textOutput = expectTensor(textPath, 'output', text.outputMetadata, textOut?.name, FLOATS, 3);
  const sample = expectTensor(unetPath, 'input', unet.inputMetadata, 'sample', FLOATS, 4);
  const timestep = expectTensor(unetPath, 'input', unet.inputMetadata, 'timestep', ['int64', 'int32', 'float32', 'float16'] as const, [0, 1]);
  const context = expectTensor(unetPath, 'input', unet.inputMetadata, 'encoder_hidden_states', FLOATS, 3);
  const cond = unet.inputMetadata.some((m) => m.name === 'timestep_cond')
    ? expectTensor(unetPath, 'input', unet.inputMetadata, 'timestep_cond', FLOATS, 2)
    : undefined;
  const condDim = cond?.shape[1];
  if (cond && (typeof condDim !== 'number' || condDim < 2)) {
    throw new EaselError('MODEL_INVALID', `${unetPath}: timestep_cond must have a fixed width (time_cond_proj_dim), found [${cond.shape.join(', ')}]. Export the UNet again with Optimum.`);
  }
  const extra = unet.inputMetadata.filter((m) => !['sample', 'timestep', 'encoder_hidden_states', 'timestep_cond'].includes(m.name));
  if (extra.length > 0) {
    throw new EaselError('MODEL_INVALID', `${unetPath}: the UNet also needs ${extra.map((m) => m.name).join(', ')} (an SDXL or ControlNet export?). Easel runs Stable Diffusion 1.x/2.x UNets with sample, timestep and encoder_hidden_states.`);
  }
  const unetOut = expectTensor(unetPath, 'output', unet.outputMetadata, 'out_sample', FLOATS, 4);
  const latent = expectTensor(decoderPath, 'input', decoder.inputMetadata, 'latent_sample', FLOATS, 4);
  const decoded = expectTensor(decoderPath, 'output', decoder.outputMetadata, 'sample', FLOATS, 4);
  const [height, width] = [sample.shape[2], sample.shape[3]];
  const channels = typeof sample.shape[1] === 'number' ? sample.shape[1] : folder.unetInChannels ?? 4;
  if (channels !== 4 && channels !== 9) {
    throw new EaselError('MODEL_INVALID', `${unetPath}: the UNet takes ${channels} input channels; Easel runs 4-channel UNets and 9-channel inpainting UNets.`);
  }
  const contextWidth = context.shape[2];
  const textWidth = textOutput.shape[2];
  if (typeof contextWidth === 'number' && typeof textWidth === 'number' && contextWidth !== textWidth) {
    throw new EaselError('MODEL_INVALID', `${unetPath} expects encoder_hidden_states of width ${contextWidth}, but ${textPath} produces ${textWidth}. The components come from different models.`);
  }
  return {
    inputIdsType: ids.type,
    textOutput: textOutput.name,
    textOutputType: textOutput.type,
    sampleType: sample.type,
    timestepType: timestep.type,
    timestepShape: timestep.shape.length === 0 ? 'scalar' : timestep.shape[0] === 1 ? 'one' : 'batch',
    contextType: context.type,
    timestepCond: cond ? { type: cond.type, dim: condDim as number } : undefined,
    unetOutputType: unetOut.type,
    fixedContextLength: typeof context.shape[1] === 'number' ? context.shape[1] : undefined,
    fixedLatentSize: typeof height === 'number' && typeof width === 'number' ? [height, width] : undefined,
    decoderInputType: latent.type,
    decoderOutputType: decoded.type,
    unetInChannels: channels,
  };
}

/**
 * The UNet's `timestep` feed in the dtype and shape the export declares. diffusers builds
 * `np.array([t], dtype)`, so integer exports get the truncated timestep.
 */
export function timestepTensor(signature: Pick<ModelSignature, 'timestepType' | 'timestepShape'>, value: number, batch: number): ort.Tensor {
  const dims = signature.timestepShape === 'scalar' ? [] : [signature.timestepShape === 'batch' ? batch : 1];
  const count = signature.timestepShape === 'batch' ? batch : 1;
  switch (signature.timestepType) {
    case 'int64':
      return new ort.Tensor('int64', new BigInt64Array(count).fill(BigInt(Math.trunc(value))), dims);
    case 'int32':
      return new ort.Tensor('int32', new Int32Array(count).fill(Math.trunc(value)), dims);
    case 'float16':
      return new ort.Tensor('float16', float32ToFloat16(new Float32Array(count).fill(value)), dims);
    default:
      return new ort.Tensor('float32', new Float32Array(count).fill(value), dims);
  }
}

/** Checks vae_encoder's signature: `sample` in, `latent_parameters` (Optimum) or `latent_sample` (diffusers' script) out. */
export function readEncoderSignature(path: string, session: ort.InferenceSession): Omit<VaeEncoder, 'session'> {
  const input = expectTensor(path, 'input', session.inputMetadata, 'sample', FLOATS, 4);
  const name = session.outputNames.includes('latent_parameters') ? 'latent_parameters' : 'latent_sample';
  const output = expectTensor(path, 'output', session.outputMetadata, name, FLOATS, 4);
  const channels = output.shape[1];
  const expected = name === 'latent_parameters' ? 8 : 4;
  if (typeof channels === 'number' && channels !== expected) {
    throw new EaselError('MODEL_INVALID', `${path}: ${name} has ${channels} channels; expected ${expected}.`);
  }
  return { inputType: input.type, output: name };
}

/** Creates the three sessions from their file paths (weights stay in ONNX Runtime) and checks them. */
export async function loadModel(
  folder: ModelFolder,
  choice: ExecutionProviderChoice,
  onComponent?: (component: LoadingComponent) => void,
  options: { tinyDecoderDir?: string; tuning?: SessionTuning } = {},
): Promise<LoadedModel> {
  const tuning = options.tuning ?? {};
  const tokenizer = await ClipTokenizer.load(folder.tokenizerDir);
  const opened: Array<{ release(): Promise<void> }> = [];
  const release = async () => {
    await Promise.all(opened.splice(0).map((session) => session.release().catch(() => undefined)));
  };
  try {
    onComponent?.('unet');
    const first = await createSessionWithProvider((provider) => componentGraph(folder, 'unet', provider), choice, tuning, folder.imported?.weightsDirs.unet);
    opened.push(first.session);
    const provider = first.provider;
    const create = async (component: ComponentName) => {
      // The VAE decoder runs once per image: see `SessionTuning.oncePerImage`.
      const componentTuning = component === 'vae_decoder' ? { ...tuning, oncePerImage: true } : tuning;
      const { session } = await createSessionWithProvider(componentGraph(folder, component, provider), provider, componentTuning, folder.imported?.weightsDirs[component]);
      opened.push(session);
      return session;
    };
    const open = (component: ComponentName) => {
      onComponent?.(component);
      return create(component);
    };
    // Independent sessions are created side by side: each creation is mostly one thread's work.
    const created = await Promise.allSettled([open('text_encoder'), open('vae_decoder')]);
    const failed = created.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const [textEncoder, vaeDecoder] = created.map((result) => (result as PromiseFulfilledResult<ort.InferenceSession>).value);
    const signature = readSignature(folder, textEncoder, first.session, vaeDecoder);
    const onDemand = tuning.memory === 'low';
    const forget = async (session: ort.InferenceSession) => {
      const index = opened.indexOf(session);
      if (index >= 0) opened.splice(index, 1);
      await session.release().catch(() => undefined);
    };
    // `low` memory opened the decoder only to read its signature: it comes back after sampling.
    if (onDemand) await forget(vaeDecoder);
    let tinyDecoder: TinyDecoder | undefined;
    if (options.tinyDecoderDir) {
      onComponent?.('tiny_decoder');
      tinyDecoder = await loadTinyDecoder(options.tinyDecoderDir, provider, tuning);
      opened.push(tinyDecoder);
    }
    const deviceUploads = createDeviceUploads(provider);
    if (deviceUploads) opened.push(deviceUploads);
    let encoder: Promise<VaeEncoder> | undefined;
    const vaeEncoder = () => {
      encoder ??= openEncoder(folder, provider, (session) => opened.push(session)).catch((error: unknown) => {
        encoder = undefined;
        throw error;
      });
      return encoder;
    };
    const field = (component: OnDemandComponent): 'textEncoder' | 'vaeDecoder' => (component === 'text_encoder' ? 'textEncoder' : 'vaeDecoder');
    const reopening = new Map<OnDemandComponent, Promise<ort.InferenceSession>>();
    const model: LoadedModel = {
      folder, provider, providerAttempts: first.attempts, tokenizer, textEncoder, unet: first.session, vaeDecoder: onDemand ? undefined : vaeDecoder,
      tinyDecoder, deviceUploads, signature, vaeEncoder, release,
      replaceSession: async (component, session) => {
        const old = component === 'unet' ? model.unet : model.textEncoder;
        if (component === 'unet') model.unet = session;
        else {
          model.textEncoder = session;
          model.conditioning = undefined;
        }
        const index = old ? opened.indexOf(old) : -1;
        if (index >= 0) opened[index] = session;
        else opened.push(session);
        await old?.release().catch(() => undefined);
      },
      openSession: (component) => {
        const current = model[field(component)];
        if (current) return Promise.resolve(current);
        let pending = reopening.get(component);
        if (!pending) {
          pending = create(component).then((session) => {
            model[field(component)] = session;
            return session;
          }).finally(() => reopening.delete(component));
          reopening.set(component, pending);
        }
        return pending;
      },
      afterUse: async (component) => {
        const session = model[field(component)];
        if (!onDemand || !session || (component === 'text_encoder' && model.loraState?.text_encoder)) return;
        model[field(component)] = undefined;
        await forget(session);
      },
    };
    return model;
  } catch (error) {
    await release();
    throw error;
  }
}

async function openEncoder(folder: ModelFolder, provider: ExecutionProvider, keep: (session: ort.InferenceSession) => void): Promise<VaeEncoder> {
  const path = folder.components.vae_encoder;
  if (!path) {
    throw new EaselError('MODEL_INVALID', `${folder.root} has no vae_encoder/model.onnx, so it cannot start from an image. Export the model with its VAE encoder (Optimum does by default).`);
  }
  const { session } = await createSessionWithProvider(path, provider, {}, folder.imported?.weightsDirs.vae_encoder);
  try {
    const signature = readEncoderSignature(path, session);
    keep(session);
    return { session, ...signature };
  } catch (error) {
    await session.release().catch(() => undefined);
    throw error;
  }
}

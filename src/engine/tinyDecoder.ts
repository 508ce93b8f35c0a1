import type * as ort from 'onnxruntime-node';
import { EaselError } from '../shared/errors.ts';
import type { ExecutionProvider } from '../shared/names.ts';
import { inspectTinyDecoderFolder, type TinyDecoderFolder } from './modelFolder.ts';
import type { FloatType } from './modelSessions.ts';
import { createSessionWithProvider } from './providers.ts';
import type { SessionTuning } from './sessionTuning.ts';

export interface TinyDecoder extends TinyDecoderFolder {
  session: ort.InferenceSession;
  inputName: string;
  inputType: FloatType;
  outputName: string;
  release(): Promise<void>;
}

/** Opens the tiny decoder's session on the provider the model runs on and checks its signature. */
export async function loadTinyDecoder(root: string, provider: ExecutionProvider, tuning: SessionTuning = {}): Promise<TinyDecoder> {
  const folder = await inspectTinyDecoderFolder(root);
  const { session } = await createSessionWithProvider(folder.decoderPath, provider, tuning);
  const input = session.inputMetadata[0];
  const output = session.outputMetadata[0];
  const rank4 = (m: typeof input | undefined) => m?.isTensor && (m.type === 'float32' || m.type === 'float16') && (m.shape.length === 0 || m.shape.length === 4);
  if (!input || !output || session.inputMetadata.length !== 1 || !rank4(input) || !rank4(output)) {
    await session.release().catch(() => undefined);
    throw new EaselError('MODEL_INVALID', `${folder.decoderPath}: a tiny decoder takes one float latent tensor [batch, 4, h, w] and returns an image [batch, 3, 8h, 8w]. This file does not.`);
  }
  return {
    ...folder,
    session,
    inputName: input.name,
    inputType: (input as { type: FloatType }).type,
    outputName: output.name,
    release: () => session.release().catch(() => undefined),
  };
}

/** Every failure a user can act on carries a stable code and a sentence that names the file or setting. */
export const ERROR_CODES = [
  'MODEL_INVALID', 'MODEL_NOT_FOUND', 'TOKENIZER_INVALID', 'INVALID_REQUEST', 'PROVIDER_UNAVAILABLE', 'OUT_OF_MEMORY',
  'CANCELLED', 'INFERENCE_FAILED', 'WORKER_CRASHED', 'PROTOCOL_ERROR', 'OUTPUT_FAILED', 'PNG_INVALID',
  'CHECKPOINT_INVALID', 'CHECKPOINT_UNSUPPORTED', 'IMAGE_INVALID',
  'LORA_INVALID', 'LORA_UNSUPPORTED', 'LORA_NOT_FOUND',
] as const;
export type EaselErrorCode = (typeof ERROR_CODES)[number];

export class EaselError extends Error {
  constructor(readonly code: EaselErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EaselError';
  }
}

export function isEaselError(error: unknown, code?: EaselErrorCode): error is EaselError {
  return error instanceof EaselError && (code === undefined || error.code === code);
}

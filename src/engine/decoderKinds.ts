/** Which decoder makes the final image: the model's own VAE, or the tiny decoder (TAESD). */
export type DecoderKind = 'full' | 'tiny';
export const DECODER_KINDS: readonly DecoderKind[] = ['full', 'tiny'];

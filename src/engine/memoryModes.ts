/** How the engine trades memory for speed: `low` skips ONNX Runtime's pre-packed weight copies. */
export type MemoryMode = 'balanced' | 'low';
export const MEMORY_MODES: readonly MemoryMode[] = ['balanced', 'low'];

/** Execution provider names, without loading ONNX Runtime (the extension host and the CLI use these). */
export const EXECUTION_PROVIDERS = ['auto', 'cpu', 'webgpu', 'dml', 'coreml', 'cuda'] as const;
export type ExecutionProviderChoice = (typeof EXECUTION_PROVIDERS)[number];
export type ExecutionProvider = Exclude<ExecutionProviderChoice, 'auto'>;

export function isExecutionProviderChoice(value: unknown): value is ExecutionProviderChoice {
  return typeof value === 'string' && (EXECUTION_PROVIDERS as readonly string[]).includes(value);
}

export interface ProviderProbe {
  provider: ExecutionProvider;
  works: boolean;
  detail: string;
  ms: number;
}

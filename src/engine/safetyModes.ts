/** What to do when a model's safety checker flags an image. */
export type SafetyCheckerMode = 'blur' | 'block' | 'off';
export const SAFETY_CHECKER_MODES: readonly SafetyCheckerMode[] = ['blur', 'block', 'off'];

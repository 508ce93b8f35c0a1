/**
 * A model's recommended settings (what its card or scheduler implies: LCM wants the LCM sampler and
 * about 4 steps, SD-Turbo 1–4 steps without guidance), as the model folder's `easel.json` holds them,
 * the model library lists them and the panel proposes them. Every field is optional: a model
 * recommends only what it has an opinion on.
 */
import { SETTING_CHECKS, settingsProblems } from './generationSettings.ts';
import { optional, refine, shaped, text, type Infer } from './schema.ts';

/** The file in a model folder that holds its recommended settings. */
export const MODEL_SETTINGS_FILE = 'easel.json';
/** easel.json is a few hundred bytes; anything larger is not ours. */
export const MODEL_SETTINGS_MAX_BYTES = 16 * 1024;

const recommendedFields = shaped({
  sampler: optional(SETTING_CHECKS.sampler),
  schedule: optional(SETTING_CHECKS.schedule),
  steps: optional(SETTING_CHECKS.steps),
  cfgScale: optional(SETTING_CHECKS.cfgScale),
  width: optional(SETTING_CHECKS.width),
  height: optional(SETTING_CHECKS.height),
});
/** Each field in range and no cross-field rule broken (e.g. LCM with Karras). */
export const isRecommendedSettings = refine(recommendedFields, (settings) => settingsProblems(settings).length === 0);
export type RecommendedSettings = Infer<typeof recommendedFields>;
export type RecommendedField = keyof RecommendedSettings;
export const RECOMMENDED_FIELDS = ['sampler', 'schedule', 'steps', 'cfgScale', 'width', 'height'] as const satisfies readonly RecommendedField[];

/** easel.json: `{ "recommended": { … }, "source": "model card" }`. */
export const isModelSettingsFile = shaped({ recommended: isRecommendedSettings, source: optional(text(200)) });

/** A model's recommendation and where it came from ("easel.json", "scheduler config: LCMScheduler"). */
export const isModelRecommendation = shaped({ settings: isRecommendedSettings, source: text(200) });
export type ModelRecommendation = Infer<typeof isModelRecommendation>;

/** "LCM, 4 steps, CFG 8, 512×512": what a recommendation sets, in the order a user reads the form. */
export function describeRecommended(settings: RecommendedSettings): string {
  const parts: string[] = [];
  if (settings.sampler !== undefined) parts.push(settings.sampler);
  if (settings.schedule !== undefined) parts.push(`${settings.schedule} schedule`);
  if (settings.steps !== undefined) parts.push(`${settings.steps} step${settings.steps === 1 ? '' : 's'}`);
  if (settings.cfgScale !== undefined) parts.push(`CFG ${settings.cfgScale}`);
  if (settings.width !== undefined || settings.height !== undefined) parts.push(`${settings.width ?? '…'}×${settings.height ?? '…'}`);
  return parts.join(', ');
}

/**
 * The recommended values that would change `current`, leaving alone the fields in `keep` (what the
 * user set for this model: flags passed to the CLI). The panel and the CLI both apply exactly this.
 */
export function recommendedChanges(current: Partial<RecommendedSettings>, recommended: RecommendedSettings, keep: Iterable<RecommendedField> = []): RecommendedSettings {
  const kept = new Set(keep);
  const changes: Record<string, unknown> = {};
  for (const field of RECOMMENDED_FIELDS) {
    if (recommended[field] !== undefined && !kept.has(field) && recommended[field] !== current[field]) changes[field] = recommended[field];
  }
  return changes as RecommendedSettings;
}

import { join } from 'node:path';
import * as vscode from 'vscode';
import { DEFAULT_FILE_NAME_TEMPLATE, DEFAULT_OUTPUT_FOLDER } from '../png/outputPath.ts';
import { DEFAULT_PANEL_SETTINGS, type PanelSettings } from '../protocol/panelMessages.ts';
import { DEFAULTS, SETTING_CHECKS } from '../shared/generationSettings.ts';
import {
  EXECUTION_PROVIDERS, isOneOf, LINK_STYLES, PROMPT_FILTER_MODES, SAFETY_CHECKER_MODES,
  type ExecutionProviderChoice, type LinkStyle, type MemoryMode, type PromptFilterMode, type SafetyCheckerMode,
} from '../shared/names.ts';

export interface EaselConfiguration {
  model: string;
  modelDirectories: string[];
  loraDirectories: string[];
  provider: ExecutionProviderChoice;
  defaults: PanelSettings;
  outputFolder: string;
  fileNameTemplate: string;
  previewEvery: number;
  insertLink: LinkStyle;
  idleReleaseMs: number;
  memory: MemoryMode;
  provenance: boolean;
  safety: { promptFilter: PromptFilterMode; blockedTerms: string[]; allowedTerms: string[]; checker: SafetyCheckerMode };
}

/** Reads `easel.*` settings, falling back to defaults for anything of the wrong type. */
export function readConfiguration(): EaselConfiguration {
  const config = vscode.workspace.getConfiguration('easel');
  const get = <T>(key: string, fallback: T, valid: (value: unknown) => boolean): T => {
    const value = config.get<unknown>(key);
    return valid(value) ? (value as T) : fallback;
  };
  const names = (list: readonly string[]) => (value: unknown) => isOneOf(list, value);
  const strings = (value: unknown) => Array.isArray(value) && value.every((entry) => typeof entry === 'string');
  return {
    model: get('model', '', (value) => typeof value === 'string'),
    modelDirectories: get('modelDirectories', [], strings),
    loraDirectories: get('loraDirectories', [], strings),
    provider: get<ExecutionProviderChoice>('executionProvider', DEFAULTS.executionProvider, names(EXECUTION_PROVIDERS)),
    defaults: {
      ...DEFAULT_PANEL_SETTINGS,
      sampler: get('defaults.sampler', DEFAULTS.sampler, SETTING_CHECKS.sampler),
      schedule: get('defaults.schedule', DEFAULTS.schedule, SETTING_CHECKS.schedule),
      steps: get('defaults.steps', DEFAULTS.steps, SETTING_CHECKS.steps),
      cfgScale: get('defaults.cfgScale', DEFAULTS.cfgScale, SETTING_CHECKS.cfgScale),
      width: get('defaults.width', DEFAULTS.width, SETTING_CHECKS.width),
      height: get('defaults.height', DEFAULTS.height, SETTING_CHECKS.height),
      rng: get('defaults.rng', DEFAULTS.rng, SETTING_CHECKS.rng),
      decoder: get('decoder', DEFAULTS.decoder, SETTING_CHECKS.decoder),
    },
    outputFolder: get('output.folder', DEFAULT_OUTPUT_FOLDER, (value) => typeof value === 'string'),
    fileNameTemplate: get('output.fileNameTemplate', DEFAULT_FILE_NAME_TEMPLATE, (value) => typeof value === 'string' && value.trim() !== ''),
    previewEvery: get('previewInterval', DEFAULTS.previewInterval, SETTING_CHECKS.previewInterval),
    insertLink: get<LinkStyle>('insertLink', DEFAULTS.insertLink, names(LINK_STYLES)),
    memory: get('memory', DEFAULTS.memory, SETTING_CHECKS.memory),
    idleReleaseMs: get('idleReleaseSeconds', DEFAULTS.idleReleaseSeconds, SETTING_CHECKS.idleReleaseSeconds) * 1000,
    provenance: get('provenance.embed', DEFAULTS.provenance, (value) => typeof value === 'boolean'),
    safety: {
      promptFilter: get<PromptFilterMode>('safety.promptFilter', DEFAULTS.promptFilter, names(PROMPT_FILTER_MODES)),
      blockedTerms: get('safety.blockedTerms', [], strings),
      allowedTerms: get('safety.allowedTerms', [], strings),
      checker: get<SafetyCheckerMode>('safety.checker', DEFAULTS.safetyChecker, names(SAFETY_CHECKER_MODES)),
    },
  };
}

/** Where "Download Model…" puts models and the tiny decoder. */
export function modelsDir(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, 'models');
}

import { join } from 'node:path';
import * as vscode from 'vscode';
import { isExecutionProviderChoice, type ExecutionProviderChoice } from '../engine/providerNames.ts';
import { isSamplerName, isScheduleType } from '../engine/samplers/index.ts';
import { DEFAULT_FILE_NAME_TEMPLATE, DEFAULT_OUTPUT_FOLDER } from '../png/outputPath.ts';
import { DEFAULT_PANEL_SETTINGS, type PanelSettings } from '../protocol/panelMessages.ts';
import { LINK_STYLES, type LinkStyle } from '../text/imageReference.ts';
import { PROMPT_FILTER_MODES, type PromptFilterMode } from '../safety/promptFilter.ts';
import { SAFETY_CHECKER_MODES, type SafetyCheckerMode } from '../engine/safetyModes.ts';
import { DECODER_KINDS, type DecoderKind } from '../engine/decoderKinds.ts';
import { MEMORY_MODES, type MemoryMode } from '../engine/memoryModes.ts';

export interface EaselConfiguration {
  model: string;
  modelDirectories: string[];
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
  const positiveInteger = (min: number, max: number) => (value: unknown) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
  const size = (value: unknown) => positiveInteger(64, 2048)(value) && (value as number) % 8 === 0;
  return {
    model: get('model', '', (value) => typeof value === 'string'),
    modelDirectories: get('modelDirectories', [], (value) => Array.isArray(value) && value.every((entry) => typeof entry === 'string')),
    provider: get('executionProvider', 'cpu', isExecutionProviderChoice),
    defaults: {
      ...DEFAULT_PANEL_SETTINGS,
      sampler: get('defaults.sampler', DEFAULT_PANEL_SETTINGS.sampler, isSamplerName),
      schedule: get('defaults.schedule', DEFAULT_PANEL_SETTINGS.schedule, isScheduleType),
      steps: get('defaults.steps', DEFAULT_PANEL_SETTINGS.steps, positiveInteger(1, 500)),
      cfgScale: get('defaults.cfgScale', DEFAULT_PANEL_SETTINGS.cfgScale, (value) => typeof value === 'number' && value >= 0 && value <= 100),
      width: get('defaults.width', DEFAULT_PANEL_SETTINGS.width, size),
      height: get('defaults.height', DEFAULT_PANEL_SETTINGS.height, size),
      rng: get('defaults.rng', 'cpu', (value) => value === 'cpu' || value === 'gpu'),
      decoder: get('decoder', 'full', (value) => DECODER_KINDS.includes(value as DecoderKind)),
    },
    outputFolder: get('output.folder', DEFAULT_OUTPUT_FOLDER, (value) => typeof value === 'string'),
    fileNameTemplate: get('output.fileNameTemplate', DEFAULT_FILE_NAME_TEMPLATE, (value) => typeof value === 'string' && value.trim() !== ''),
    previewEvery: get('previewInterval', 2, positiveInteger(0, 500)),
    insertLink: get('insertLink', 'auto', (value) => LINK_STYLES.includes(value as LinkStyle)),
    memory: get('memory', 'balanced', (value) => MEMORY_MODES.includes(value as MemoryMode)),
    idleReleaseMs: get('idleReleaseSeconds', 300, positiveInteger(0, 86400)) * 1000,
    provenance: get('provenance.embed', true, (value) => typeof value === 'boolean'),
    safety: {
      promptFilter: get('safety.promptFilter', 'warn', (value) => PROMPT_FILTER_MODES.includes(value as PromptFilterMode)),
      blockedTerms: get('safety.blockedTerms', [], (value) => Array.isArray(value) && value.every((term) => typeof term === 'string')),
      allowedTerms: get('safety.allowedTerms', [], (value) => Array.isArray(value) && value.every((term) => typeof term === 'string')),
      checker: get('safety.checker', 'blur', (value) => SAFETY_CHECKER_MODES.includes(value as SafetyCheckerMode)),
    },
  };
}

/** Where "Download Model…" puts models and the tiny decoder. */
export function modelsDir(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, 'models');
}

/**
 * Settings a workspace cannot set in Restricted Mode (package.json lists the same keys under
 * capabilities.untrustedWorkspaces.restrictedConfigurations), with the words the panel's banner uses.
 */
export const RESTRICTED_SETTINGS = {
  'easel.model': 'the model',
  'easel.modelDirectories': 'model folders',
  'easel.loraDirectories': 'LoRA folders',
  'easel.executionProvider': 'the execution provider',
  'easel.huggingFaceEndpoint': 'the Hugging Face endpoint',
  'easel.output.folder': 'the output folder',
  'easel.safety.promptFilter': 'the prompt filter',
  'easel.safety.checker': 'the safety checker',
  'easel.safety.allowedTerms': 'allowed terms',
  'easel.provenance.embed': 'provenance embedding',
} as const;

const labels = Object.values(RESTRICTED_SETTINGS);

/** The panel's Restricted Mode banner: every setting whose workspace value is ignored. */
export const RESTRICTED_MODE_NOTICE =
  `Restricted Mode: ${labels.slice(0, -1).join(', ')} and ${labels.at(-1)} come from your user settings only; this workspace's values for them are ignored.`;

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FILE_NAME_TEMPLATE, DEFAULT_OUTPUT_FOLDER } from '../../../src/png/outputPath.ts';
import { DEFAULTS, LIMITS, type Range } from '../../../src/shared/generationSettings.ts';
import { RESTRICTED_MODE_NOTICE, RESTRICTED_SETTINGS } from '../../../src/shared/restrictedMode.ts';
import {
  DECODER_KINDS, EXECUTION_PROVIDERS, LINK_STYLES, MEMORY_MODES, PROMPT_FILTER_MODES, RNG_SOURCES, SAFETY_CHECKER_MODES, SAMPLER_NAMES, SCHEDULE_TYPES,
} from '../../../src/shared/names.ts';

interface Property {
  type: string;
  enum?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
}

const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8'));
const properties: Record<string, Property> = manifest.contributes.configuration.properties;

/** What each `easel.*` setting in package.json must say, from src/shared (and the output-path defaults). */
const EXPECTED: Record<string, { enum?: readonly string[]; default: unknown; range?: Range }> = {
  'easel.executionProvider': { enum: EXECUTION_PROVIDERS, default: DEFAULTS.executionProvider },
  'easel.defaults.sampler': { enum: SAMPLER_NAMES, default: DEFAULTS.sampler },
  'easel.defaults.schedule': { enum: SCHEDULE_TYPES, default: DEFAULTS.schedule },
  'easel.defaults.steps': { default: DEFAULTS.steps, range: LIMITS.steps },
  'easel.defaults.cfgScale': { default: DEFAULTS.cfgScale, range: LIMITS.cfgScale },
  'easel.defaults.width': { default: DEFAULTS.width, range: LIMITS.dimension },
  'easel.defaults.height': { default: DEFAULTS.height, range: LIMITS.dimension },
  'easel.defaults.rng': { enum: RNG_SOURCES, default: DEFAULTS.rng },
  'easel.decoder': { enum: DECODER_KINDS, default: DEFAULTS.decoder },
  'easel.memory': { enum: MEMORY_MODES, default: DEFAULTS.memory },
  'easel.output.folder': { default: DEFAULT_OUTPUT_FOLDER },
  'easel.output.fileNameTemplate': { default: DEFAULT_FILE_NAME_TEMPLATE },
  'easel.previewInterval': { default: DEFAULTS.previewInterval, range: LIMITS.previewInterval },
  'easel.insertLink': { enum: LINK_STYLES, default: DEFAULTS.insertLink },
  'easel.idleReleaseSeconds': { default: DEFAULTS.idleReleaseSeconds, range: LIMITS.idleReleaseSeconds },
  'easel.provenance.embed': { default: DEFAULTS.provenance },
  'easel.safety.promptFilter': { enum: PROMPT_FILTER_MODES, default: DEFAULTS.promptFilter },
  'easel.safety.checker': { enum: SAFETY_CHECKER_MODES, default: DEFAULTS.safetyChecker },
};

test('every enum, minimum, maximum, multipleOf and default in package.json matches src/shared', () => {
  for (const [key, expected] of Object.entries(EXPECTED)) {
    const property = properties[key];
    assert.ok(property, `package.json has no ${key}`);
    assert.deepEqual(property.enum, expected.enum && [...expected.enum], `${key} enum`);
    assert.deepEqual(property.default, expected.default, `${key} default`);
    assert.equal(property.minimum, expected.range?.min, `${key} minimum`);
    assert.equal(property.maximum, expected.range?.max, `${key} maximum`);
    assert.equal(property.multipleOf, expected.range?.multipleOf, `${key} multipleOf`);
  }
});

test('no setting in package.json carries an enum or a limit that the test above does not check', () => {
  const unchecked = Object.entries(properties)
    .filter(([key, property]) => !Object.hasOwn(EXPECTED, key) && (property.enum || property.minimum !== undefined || property.maximum !== undefined || property.multipleOf !== undefined))
    .map(([key]) => key);
  assert.deepEqual(unchecked, []);
});

test('enumDescriptions, where given, describe each enum value', () => {
  for (const [key, property] of Object.entries(properties) as Array<[string, Property & { enumDescriptions?: string[] }]>) {
    if (property.enumDescriptions) assert.equal(property.enumDescriptions.length, property.enum?.length, key);
  }
});

test('Restricted Mode: package.json restricts exactly the settings the panel\'s banner names, and the banner names each', () => {
  assert.deepEqual([...manifest.capabilities.untrustedWorkspaces.restrictedConfigurations].sort(), Object.keys(RESTRICTED_SETTINGS).sort());
  for (const label of Object.values(RESTRICTED_SETTINGS)) assert.ok(RESTRICTED_MODE_NOTICE.includes(label), `the banner names ${label}`);
  for (const label of Object.values(RESTRICTED_SETTINGS)) assert.ok(manifest.capabilities.untrustedWorkspaces.description.includes(label.replace(/^the /, '')), `package.json's description names ${label}`);
});

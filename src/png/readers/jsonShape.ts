/** Small guards for reading JSON of unknown shape from other tools' metadata. */
import { EaselError } from '../../shared/errors.ts';
import { seedText } from '../../shared/generationSettings.ts';

export type JsonObject = Record<string, unknown>;

/** Deepest nesting of arrays and objects read from metadata (real graphs nest fewer than 10 levels). */
export const MAX_JSON_DEPTH = 64;
/** Most JSON items (counted as `[`, `{` and `,`) read from one chunk; a 300-node ComfyUI graph has about 5 000. */
export const MAX_JSON_ITEMS = 100_000;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether arrays and objects in `value` nest deeper than `limit`, walked without recursion. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * The JSON object in `text`, or undefined when it is not one. More than MAX_JSON_ITEMS items, or
 * nesting deeper than MAX_JSON_DEPTH (code that walks or prints such a value overflows the stack),
 * is refused with an EaselError.
 */
export function parseJsonObject(text: string): JsonObject | undefined {
  // Parsing millions of tiny arrays takes seconds; counted natively, stopping at the limit.
  if (text.split(/[[{,]/, MAX_JSON_ITEMS + 1).length > MAX_JSON_ITEMS) {
    throw new EaselError('PNG_INVALID', `the metadata holds more than ${MAX_JSON_ITEMS} JSON items; it was not read`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (nestsDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new EaselError('PNG_INVALID', `the metadata is nested too deeply (more than ${MAX_JSON_DEPTH} levels of arrays or objects); it was not read`);
  }
  return isObject(value) ? value : undefined;
}

export function stringField(object: JsonObject, key: string): string | undefined {
  const value = object[key];
  return typeof value === 'string' ? value : undefined;
}

export function numberField(object: JsonObject, key: string, options: { integer?: boolean; min?: number } = {}): number | undefined {
  const raw = object[key];
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  if (options.integer && !Number.isInteger(value)) return undefined;
  if (options.min !== undefined && value < options.min) return undefined;
  return value;
}

/** Seeds as decimal strings; JSON numbers past 2^53 have lost digits and are refused. */
export function seedField(object: JsonObject, key: string): string | undefined {
  const value = object[key];
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (seedText(value)) return value;
  return undefined;
}

/** Drops the fields a reader could not fill, so results compare and print cleanly. */
export function withoutUndefined<T extends object>(value: T): T {
  for (const key of Object.keys(value) as Array<keyof T>) if (value[key] === undefined) delete value[key];
  return value;
}

/**
 * Tiny structural validators for messages that cross a thread or webview boundary. A shape maps
 * each allowed key to a check; unknown keys fail the match.
 */
export type Check = (value: unknown) => boolean;
export type Shape = Record<string, Check>;

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
export const text = (max = 20_000): Check => (value) => typeof value === 'string' && value.length <= max;
export const finite = (min = -Infinity, max = Infinity): Check => (value) => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
export const integer = (min = 0, max = Number.MAX_SAFE_INTEGER): Check => (value) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
export const oneOf = (values: readonly unknown[]): Check => (value) => values.includes(value);
export const optional = (check: Check): Check => (value) => value === undefined || check(value);
export const boolean: Check = (value) => typeof value === 'boolean';
export const seedText: Check = (value) => typeof value === 'string' && /^\d{1,20}$/.test(value) && BigInt(value) < 1n << 64n;
export const listOf = (check: Check, max = 1000): Check => (value) => Array.isArray(value) && value.length <= max && value.every(check);
export const shaped = (shape: Shape): Check => (value) => matches(value, shape);

export function matches(value: unknown, shape: Shape): boolean {
  if (!isRecord(value)) return false;
  for (const key of Object.keys(value)) if (!Object.hasOwn(shape, key)) return false;
  return Object.entries(shape).every(([key, check]) => check(value[key]));
}

/** Checks a `{ type, … }` message against the shape for its type; throws a sentence otherwise. */
export function parseMessage<T extends { type: string }>(value: unknown, shapes: Record<string, Shape>, side: string): T {
  const type = isRecord(value) ? value.type : undefined;
  const shape = typeof type === 'string' && Object.hasOwn(shapes, type) ? shapes[type] : undefined;
  if (!shape) throw new Error(`Rejected ${side} message of unknown type ${JSON.stringify(type)}.`);
  if (!matches(value, shape)) throw new Error(`Rejected malformed ${side} "${type}" message.`);
  return value as T;
}

/**
 * A tiny schema library: each check is a type guard, so the TypeScript type of a message is derived
 * from the shape that validates it (`Infer`, `InferShape`, `InferMessage`) and cannot drift from it.
 * A shape maps each allowed key to a check; unknown keys fail the match. Zero dependencies, because
 * the webview bundles it too.
 */
export type Check<T = unknown> = (value: unknown) => value is T;
export type Infer<C> = C extends Check<infer T> ? T : never;
export type Shape = Record<string, Check<unknown>>;

type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
type Flatten<T> = { [K in keyof T]: T[K] } & {};
/** The object type a shape accepts; keys whose check accepts `undefined` are optional. */
export type InferShape<S extends Shape> = Flatten<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;
/** The discriminated union a table of `{ type, … }` shapes accepts. */
export type InferMessage<Shapes extends Record<string, Shape>> = { [K in keyof Shapes]: InferShape<Shapes[K]> }[keyof Shapes];

export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
export const text = (max: number): Check<string> => (value): value is string => typeof value === 'string' && value.length <= max;
export const finite = (min = -Infinity, max = Infinity): Check<number> => (value): value is number => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;
export const integer = (min = 0, max = Number.MAX_SAFE_INTEGER): Check<number> => (value): value is number => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
export const oneOf = <const T extends readonly (string | number | boolean)[]>(values: T): Check<T[number]> => (value): value is T[number] => values.includes(value as T[number]);
export const literal = <const T extends string>(value: T): Check<T> => oneOf([value]);
export const optional = <T>(check: Check<T>): Check<T | undefined> => (value): value is T | undefined => value === undefined || check(value);
export const boolean: Check<boolean> = (value): value is boolean => typeof value === 'boolean';
export const bytes: Check<ArrayBuffer> = (value): value is ArrayBuffer => value instanceof ArrayBuffer;
export const listOf = <T>(check: Check<T>, max = 1000): Check<T[]> => (value): value is T[] => Array.isArray(value) && value.length <= max && value.every(check);
export const shaped = <S extends Shape>(shape: S): Check<InferShape<S>> => (value): value is InferShape<S> => matches(value, shape);
/** A check narrowed by an extra rule (e.g. "a multiple of 8"). */
export const refine = <T>(check: Check<T>, rule: (value: T) => boolean): Check<T> => (value): value is T => check(value) && rule(value);

export function matches(value: unknown, shape: Shape): boolean {
  if (!isRecord(value)) return false;
  for (const key of Object.keys(value)) if (!Object.hasOwn(shape, key)) return false;
  return Object.entries(shape).every(([key, check]) => check(value[key]));
}

/** Checks a `{ type, … }` message against the shape for its type; throws a sentence otherwise. */
export function parseMessage<Shapes extends Record<string, Shape>>(value: unknown, shapes: Shapes, side: string): InferMessage<Shapes> {
  const type = isRecord(value) ? value.type : undefined;
  const shape = typeof type === 'string' && Object.hasOwn(shapes, type) ? shapes[type] : undefined;
  if (!shape) throw new Error(`Rejected ${side} message of unknown type ${JSON.stringify(type)}.`);
  if (!matches(value, shape)) throw new Error(`Rejected malformed ${side} "${type}" message.`);
  return value as InferMessage<Shapes>;
}

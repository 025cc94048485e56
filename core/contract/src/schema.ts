/**
 * A small validator for config sections and plugin options. Each failure names the key path, what was expected
 * and what was found, so the CLI can print one line such as
 * `expgen.config.yaml: exemplars.k: expected an integer >= 1, found "ten"`.
 */

export type KeyPath = readonly (string | number)[];

export class SchemaError extends Error {
  constructor(
    readonly path: KeyPath,
    readonly expected: string,
    readonly found: unknown,
    /** Replaces the "expected X, found Y" part when that reads badly (e.g. for an unknown key). */
    detail?: string,
  ) {
    super(
      `${formatKeyPath(path) || '(top level)'}: ${detail ?? `expected ${expected}, found ${describeValue(found)}`}`,
    );
    this.name = 'SchemaError';
  }
}

export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${String(value)}`;
}

export abstract class Schema<T> {
  /** Human description used in error messages, e.g. "an integer >= 1". */
  abstract readonly expected: string;
  /** Documentation of the key, shown by `expgen config --explain`-style listings and the docs. */
  description?: string;

  /** Validates `value` at `path`, returning the typed, defaulted value or throwing a SchemaError. */
  abstract parse(value: unknown, path?: KeyPath): T;

  optional(): Schema<T | undefined> {
    return new OptionalSchema(this);
  }
  nullable(): Schema<T | null> {
    return new NullableSchema(this);
  }
  default(value: T): Schema<T> {
    return new DefaultSchema(this, value);
  }
  describe(text: string): this {
    this.description = text;
    return this;
  }
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

class OptionalSchema<T> extends Schema<T | undefined> {
  constructor(readonly inner: Schema<T>) {
    super();
  }
  get expected(): string {
    return this.inner.expected;
  }
  parse(value: unknown, path: KeyPath = []): T | undefined {
    return value === undefined ? undefined : this.inner.parse(value, path);
  }
}

class NullableSchema<T> extends Schema<T | null> {
  constructor(readonly inner: Schema<T>) {
    super();
  }
  get expected(): string {
    return `${this.inner.expected} or null`;
  }
  parse(value: unknown, path: KeyPath = []): T | null {
    return value === null ? null : this.inner.parse(value, path);
  }
}

class DefaultSchema<T> extends Schema<T> {
  constructor(
    readonly inner: Schema<T>,
    readonly fallback: T,
  ) {
    super();
  }
  get expected(): string {
    return this.inner.expected;
  }
  parse(value: unknown, path: KeyPath = []): T {
    return value === undefined ? structuredClone(this.fallback) : this.inner.parse(value, path);
  }
}

class StringSchema extends Schema<string> {
  constructor(readonly options: { pattern?: RegExp; patternText?: string; nonEmpty?: boolean } = {}) {
    super();
  }
  get expected(): string {
    return this.options.patternText ?? (this.options.nonEmpty ? 'a non-empty string' : 'a string');
  }
  parse(value: unknown, path: KeyPath = []): string {
    if (typeof value !== 'string') throw new SchemaError(path, this.expected, value);
    if (this.options.nonEmpty && value.length === 0) throw new SchemaError(path, this.expected, value);
    if (this.options.pattern && !this.options.pattern.test(value)) throw new SchemaError(path, this.expected, value);
    return value;
  }
}

class NumberSchema extends Schema<number> {
  constructor(readonly options: { integer?: boolean; min?: number; max?: number; exclusiveMin?: number } = {}) {
    super();
  }
  get expected(): string {
    const o = this.options;
    const bounds = [
      o.min !== undefined ? `>= ${o.min}` : undefined,
      o.exclusiveMin !== undefined ? `> ${o.exclusiveMin}` : undefined,
      o.max !== undefined ? `<= ${o.max}` : undefined,
    ].filter(Boolean);
    return `${o.integer ? 'an integer' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
  }
  parse(value: unknown, path: KeyPath = []): number {
    const o = this.options;
    const ok =
      typeof value === 'number' &&
      Number.isFinite(value) &&
      (!o.integer || Number.isSafeInteger(value)) &&
      (o.min === undefined || value >= o.min) &&
      (o.exclusiveMin === undefined || value > o.exclusiveMin) &&
      (o.max === undefined || value <= o.max);
    if (!ok) throw new SchemaError(path, this.expected, value);
    return value as number;
  }
}

class BooleanSchema extends Schema<boolean> {
  readonly expected = 'true or false';
  parse(value: unknown, path: KeyPath = []): boolean {
    if (typeof value !== 'boolean') throw new SchemaError(path, this.expected, value);
    return value;
  }
}

class EnumSchema<T extends string> extends Schema<T> {
  constructor(readonly values: readonly T[]) {
    super();
  }
  get expected(): string {
    return `one of ${this.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  parse(value: unknown, path: KeyPath = []): T {
    if (typeof value !== 'string' || !(this.values as readonly string[]).includes(value)) {
      throw new SchemaError(path, this.expected, value);
    }
    return value as T;
  }
}

class ArraySchema<T> extends Schema<T[]> {
  constructor(
    readonly item: Schema<T>,
    readonly options: { minItems?: number } = {},
  ) {
    super();
  }
  get expected(): string {
    const min = this.options.minItems;
    // Pluralise the item's noun ("a number > 0" -> "numbers > 0"); items described without an article read as
    // "values, each true or false".
    const article = /^an? (.+?)((?: (?:[<>]=?|or|of) .*)?)$/.exec(this.item.expected);
    const items = article ? `${article[1]}s${article[2]}` : `values, each ${this.item.expected}`;
    return `a list${min ? ` of at least ${min}` : ''} of ${items}`;
  }
  parse(value: unknown, path: KeyPath = []): T[] {
    if (!Array.isArray(value)) throw new SchemaError(path, this.expected, value);
    if (this.options.minItems !== undefined && value.length < this.options.minItems) {
      throw new SchemaError(path, this.expected, value);
    }
    // Array.from, not map: a hole in a sparse list (possible in a JS config file) is a missing item, not skipped.
    return Array.from(value, (v, i) => this.item.parse(v, [...path, i]));
  }
}

type Shape = Record<string, Schema<unknown>>;
type InferShape<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

export class ObjectSchema<S extends Shape> extends Schema<InferShape<S>> {
  readonly expected = 'a mapping';
  constructor(readonly shape: S) {
    super();
  }
  parse(value: unknown, path: KeyPath = []): InferShape<S> {
    if (value === undefined) value = {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new SchemaError(path, this.expected, value);
    }
    const input = value as Record<string, unknown>;
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(this.shape, key)) {
        const known = Object.keys(this.shape);
        const near = closest(key, known);
        throw new SchemaError(
          [...path, key],
          `one of the keys ${known.join(', ')}`,
          input[key],
          `unknown key${near ? ` (did you mean "${near}"?)` : ''}; the keys here are ${known.join(', ') || 'none'}`,
        );
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(this.shape)) {
      const parsed = schema.parse(input[key], [...path, key]);
      if (parsed !== undefined) out[key] = parsed;
    }
    return out as InferShape<S>;
  }
}

class RecordSchema<T> extends Schema<Record<string, T>> {
  readonly expected = 'a mapping';
  constructor(readonly value: Schema<T>) {
    super();
  }
  parse(value: unknown, path: KeyPath = []): Record<string, T> {
    if (value === undefined) value = {};
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new SchemaError(path, this.expected, value);
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = this.value.parse(v, [...path, k]);
    return out;
  }
}

/** Any value, passed through untouched (validated later by whoever owns it, e.g. a plugin's options). */
class UnknownSchema extends Schema<unknown> {
  readonly expected = 'any value';
  parse(value: unknown): unknown {
    return value;
  }
}

class CustomSchema<T> extends Schema<T> {
  constructor(
    readonly expected: string,
    readonly check: (value: unknown, path: KeyPath) => T,
  ) {
    super();
  }
  parse(value: unknown, path: KeyPath = []): T {
    return this.check(value, path);
  }
}

export const s = {
  string: (options?: { pattern?: RegExp; patternText?: string; nonEmpty?: boolean }) => new StringSchema(options),
  number: (options?: { min?: number; max?: number; exclusiveMin?: number }) => new NumberSchema(options),
  integer: (options?: { min?: number; max?: number }) => new NumberSchema({ ...options, integer: true }),
  boolean: () => new BooleanSchema(),
  enum: <T extends string>(values: readonly T[]) => new EnumSchema(values),
  array: <T>(item: Schema<T>, options?: { minItems?: number }) => new ArraySchema(item, options),
  object: <S extends Shape>(shape: S) => new ObjectSchema(shape),
  record: <T>(value: Schema<T>) => new RecordSchema(value),
  unknown: () => new UnknownSchema(),
  /** A schema with its own check; throw `new SchemaError(path, expected, value)` on failure. */
  custom: <T>(expected: string, check: (value: unknown, path: KeyPath) => T) => new CustomSchema(expected, check),
};

/** The known name nearest to a misspelt one, if it is near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

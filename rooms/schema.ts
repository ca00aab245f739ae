/**
 * A tiny schema toolkit for action payloads and room options: each schema checks untrusted
 * input and carries its TypeScript type, so `apply(state, payload)` is typed by the schema
 * that guards it.
 *
 * Schemas never transform: a valid input is passed on as is. Errors name the failing path
 * and what was expected, e.g. `payload.dx: expected a number between -1 and 1, got 7`.
 *
 * @example
 * ```ts
 * import { type Infer, t } from "./schema.ts";
 * const move = t.object({ dx: t.number({ min: -1, max: 1 }), tag: t.optional(t.string()) });
 * type Move = Infer<typeof move>; // { dx: number; tag?: string }
 * const ok = move.parse({ dx: 0.5 });
 * const bad = move.parse({ dx: 7 });
 * console.log(ok.ok, bad.ok ? "" : bad.error);
 * ```
 *
 * @module
 */

/** What {@linkcode Schema.parse} returns: the checked value, or an actionable message. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Where a failed check went wrong. Filled from the failing leaf outwards so that a successful
 * check allocates nothing.
 */
export interface SchemaFailure {
  /** Path segments from the failing value up to the root, innermost first. */
  path: (string | number)[];
  /** What the schema expected, e.g. "an integer between 0 and 6". */
  expected: string;
  /** What it got, e.g. "7" or "an object". */
  got: string;
}

/**
 * A checker for values of type `T`.
 *
 * @example
 * ```ts
 * import { type Schema, t } from "./schema.ts";
 * const column: Schema<number> = t.int({ min: 0, max: 6 });
 * console.log(column.parse(3)); // { ok: true, value: 3 }
 * ```
 */
export interface Schema<T> {
  /** True for {@linkcode t.optional} schemas: the object key may be absent. */
  readonly optional: boolean;
  /** A phrase naming what is accepted, used in error messages. */
  readonly description: string;
  /** Checks `raw`; `path` names the root in messages (default `"payload"`). */
  parse(raw: unknown, path?: string): ParseResult<T>;
  /** Low-level check used by composite schemas: on failure fills `failure` and returns false. */
  check(raw: unknown, failure: SchemaFailure): raw is T;
}

/** A schema whose object key may be left out. */
export type OptionalSchema<T> = Schema<T | undefined> & { readonly optional: true };

/**
 * The type a schema accepts.
 *
 * @example
 * ```ts
 * import { type Infer, t } from "./schema.ts";
 * const card = t.enum(["rock", "paper", "scissors"]);
 * const pick: Infer<typeof card> = "paper";
 * console.log(pick);
 * ```
 */
export type Infer<S> = S extends Schema<infer T> ? T : never;

/** The fields of a {@linkcode t.object} schema. */
export type Shape = { readonly [key: string]: Schema<unknown> };

type OptionalKeys<Sh extends Shape> = {
  [K in keyof Sh]: Sh[K] extends { readonly optional: true } ? K : never;
}[keyof Sh];

type Simplify<T> = { [K in keyof T]: T[K] } & unknown;

/** The object type a {@linkcode Shape} describes: optional schemas make optional keys. */
export type InferShape<Sh extends Shape> = Simplify<
  & { -readonly [K in Exclude<keyof Sh, OptionalKeys<Sh>>]: Infer<Sh[K]> }
  & { -readonly [K in OptionalKeys<Sh>]?: Exclude<Infer<Sh[K]>, undefined> }
>;

/** Bounds of {@linkcode t.number} and {@linkcode t.int}. */
export interface NumberBounds {
  /** Smallest accepted value (inclusive). */
  min?: number;
  /** Largest accepted value (inclusive). */
  max?: number;
}

/** Length bounds of {@linkcode t.string} (UTF-16 code units) and {@linkcode t.array} (items). */
export interface LengthBounds {
  /** Shortest accepted length. */
  minLength?: number;
  /** Longest accepted length. */
  maxLength?: number;
}

function schema<T>(
  description: string,
  check: (raw: unknown, failure: SchemaFailure) => boolean,
  optional = false,
): Schema<T> {
  return {
    optional,
    description,
    check: check as (raw: unknown, failure: SchemaFailure) => raw is T,
    parse(raw: unknown, path = "payload"): ParseResult<T> {
      const failure: SchemaFailure = { path: [], expected: "", got: "" };
      if (check(raw, failure)) return { ok: true, value: raw as T };
      return { ok: false, error: formatFailure(path, failure) };
    },
  };
}

function fail(failure: SchemaFailure, expected: string, got: string): false {
  failure.expected = expected;
  failure.got = got;
  return false;
}

/**
 * Turns a failure into `root.path: expected …, got …`. A key longer than 32 characters is cut
 * (it may come from the client: its message must not echo a flood back).
 *
 * @example
 * ```ts
 * import { formatFailure } from "./schema.ts";
 * const msg = formatFailure("payload", { path: [2, "cards"], expected: "a string", got: "7" });
 * console.log(msg); // payload.cards[2]: expected a string, got 7
 * ```
 */
export function formatFailure(root: string, failure: SchemaFailure): string {
  let path = root;
  for (let i = failure.path.length - 1; i >= 0; i--) {
    const segment = failure.path[i];
    if (typeof segment === "number") path += `[${segment}]`;
    else if (segment.length > MAX_SHOWN_KEY) {
      path += `[${JSON.stringify(`${segment.slice(0, MAX_SHOWN_KEY)}…`)}]`;
    } else if (/^[A-Za-z_$][\w$]*$/.test(segment)) path += `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return `${path}: expected ${failure.expected}, got ${failure.got}`;
}

/** Longest key a failure's path shows whole. */
const MAX_SHOWN_KEY = 32;

/**
 * Describes an input for error messages without echoing much of it back.
 *
 * @example
 * ```ts
 * import { describeValue } from "./schema.ts";
 * console.log(describeValue([1, 2]), describeValue("hi"), describeValue(undefined));
 * // an array of 2 items "hi" nothing
 * ```
 */
export function describeValue(raw: unknown): string {
  if (raw === undefined) return "nothing";
  if (raw === null) return "null";
  switch (typeof raw) {
    case "number":
    case "boolean":
    case "bigint":
      return String(raw);
    case "string":
      return raw.length > 32 ? `${JSON.stringify(raw.slice(0, 32))}…` : JSON.stringify(raw);
  }
  if (Array.isArray(raw)) return `an array of ${raw.length} item${raw.length === 1 ? "" : "s"}`;
  if (raw instanceof Uint8Array) return `${raw.length} bytes`;
  if (typeof raw === "object") return "an object";
  return typeof raw;
}

function rangePhrase(noun: string, bounds: NumberBounds): string {
  const { min, max } = bounds;
  if (min !== undefined && max !== undefined) return `${noun} between ${min} and ${max}`;
  if (min !== undefined) return `${noun} of at least ${min}`;
  if (max !== undefined) return `${noun} of at most ${max}`;
  return noun;
}

function lengthPhrase(noun: string, unit: string, bounds: LengthBounds): string {
  const { minLength: lo, maxLength: hi } = bounds;
  if (lo !== undefined && hi !== undefined) {
    return lo === hi ? `${noun} of exactly ${lo} ${unit}` : `${noun} of ${lo} to ${hi} ${unit}`;
  }
  if (lo !== undefined) return `${noun} of at least ${lo} ${unit}`;
  if (hi !== undefined) return `${noun} of at most ${hi} ${unit}`;
  return noun;
}

function checkBounds(name: string, bounds: NumberBounds | LengthBounds): void {
  for (const [key, value] of Object.entries(bounds)) {
    if (value !== undefined && (typeof value !== "number" || Number.isNaN(value))) {
      throw new TypeError(`${name}: bound ${key} must be a number, got ${describeValue(value)}`);
    }
  }
}

function number(bounds: NumberBounds = {}): Schema<number> {
  checkBounds("t.number", bounds);
  const { min = -Infinity, max = Infinity } = bounds;
  const description = rangePhrase("a number", bounds);
  return schema(description, (raw, failure) => {
    if (typeof raw === "number" && Number.isFinite(raw) && raw >= min && raw <= max) return true;
    return fail(failure, description, describeValue(raw));
  });
}

function int(bounds: NumberBounds = {}): Schema<number> {
  checkBounds("t.int", bounds);
  const { min = -Infinity, max = Infinity } = bounds;
  const description = rangePhrase("an integer", bounds);
  return schema(description, (raw, failure) => {
    if (typeof raw === "number" && Number.isSafeInteger(raw) && raw >= min && raw <= max) {
      return true;
    }
    return fail(failure, description, describeValue(raw));
  });
}

function string(bounds: LengthBounds = {}): Schema<string> {
  checkBounds("t.string", bounds);
  const { minLength = 0, maxLength = Infinity } = bounds;
  const description = lengthPhrase("a string", "characters", bounds);
  return schema(description, (raw, failure) => {
    if (typeof raw !== "string") return fail(failure, description, describeValue(raw));
    if (raw.length < minLength || raw.length > maxLength) {
      return fail(failure, description, `a string of ${raw.length} characters`);
    }
    return true;
  });
}

function boolean(): Schema<boolean> {
  return schema("true or false", (raw, failure) => {
    return typeof raw === "boolean" || fail(failure, "true or false", describeValue(raw));
  });
}

type Literal = string | number | boolean | null;

function literal<const L extends Literal>(value: L): Schema<L> {
  const description = JSON.stringify(value);
  return schema(description, (raw, failure) => {
    return raw === value || fail(failure, description, describeValue(raw));
  });
}

function enumOf<const L extends readonly (string | number)[]>(values: L): Schema<L[number]> {
  if (values.length === 0) throw new TypeError("t.enum: give at least one value");
  const allowed = new Set<unknown>(values);
  const description = values.length === 1
    ? JSON.stringify(values[0])
    : `one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
  return schema(description, (raw, failure) => {
    return allowed.has(raw) || fail(failure, description, describeValue(raw));
  });
}

function isPlainObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === "object" && raw !== null && !Array.isArray(raw) &&
    !(raw instanceof Uint8Array);
}

function object<const Sh extends Shape>(shape: Sh): Schema<InferShape<Sh>> {
  const keys = Object.keys(shape);
  const known = new Set(keys);
  const required = keys.filter((k) => !shape[k].optional);
  const description = "an object";
  const keyList = keys.length > 0 ? keys.join(", ") : "no keys";
  return schema(description, (raw, failure) => {
    if (!isPlainObject(raw)) return fail(failure, description, describeValue(raw));
    for (const key of required) {
      if (!(key in raw) || raw[key] === undefined) {
        failure.path.push(key);
        return fail(failure, shape[key].description, "nothing");
      }
    }
    for (const key in raw) {
      if (!Object.hasOwn(raw, key)) continue;
      if (!known.has(key)) {
        failure.path.push(key);
        return fail(failure, `no such key (known keys: ${keyList})`, describeValue(raw[key]));
      }
      if (!shape[key].check(raw[key], failure)) {
        failure.path.push(key);
        return false;
      }
    }
    return true;
  });
}

function array<T>(item: Schema<T>, bounds: LengthBounds = {}): Schema<T[]> {
  checkBounds("t.array", bounds);
  const { minLength = 0, maxLength = Infinity } = bounds;
  const description = lengthPhrase("an array", "items", bounds);
  return schema(description, (raw, failure) => {
    if (!Array.isArray(raw)) return fail(failure, description, describeValue(raw));
    if (raw.length < minLength || raw.length > maxLength) {
      return fail(failure, description, describeValue(raw));
    }
    for (let i = 0; i < raw.length; i++) {
      if (!item.check(raw[i], failure)) {
        failure.path.push(i);
        return false;
      }
    }
    return true;
  });
}

function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  const description = `${inner.description} (optional)`;
  return schema<T | undefined>(description, (raw, failure) => {
    return raw === undefined || inner.check(raw, failure);
  }, true) as OptionalSchema<T>;
}

function nullable<T>(inner: Schema<T>): Schema<T | null> {
  const description = `${inner.description} or null`;
  return schema(description, (raw, failure) => {
    if (raw === null) return true;
    if (inner.check(raw, failure)) return true;
    // Only rewrite leaf failures of this value, not of nested fields.
    if (failure.path.length === 0) failure.expected = description;
    return false;
  });
}

/**
 * The schema builders.
 *
 * - `t.int({ min, max })`: a safe integer within bounds.
 * - `t.number({ min, max })`: a finite number within bounds.
 * - `t.string({ minLength, maxLength })`: a string (length in UTF-16 code units).
 * - `t.boolean()`, `t.literal(value)`, `t.enum([...values])`.
 * - `t.object({ ...fields })`: exactly these keys (unknown keys are refused).
 * - `t.array(item, { minLength, maxLength })`.
 * - `t.optional(schema)`: the key may be absent; `t.nullable(schema)`: null is accepted too.
 *
 * @example
 * ```ts
 * import { t } from "./schema.ts";
 * const play = t.object({
 *   card: t.string({ maxLength: 8 }),
 *   targets: t.array(t.enum(["p1", "p2"]), { maxLength: 2 }),
 *   note: t.nullable(t.string()),
 * });
 * console.log(play.parse({ card: "h07", targets: ["p3"], note: null }));
 * // { ok: false, error: 'payload.targets[0]: expected one of "p1", "p2", got "p3"' }
 * ```
 */
export const t = {
  int,
  number,
  string,
  boolean,
  literal,
  enum: enumOf,
  object,
  array,
  optional,
  nullable,
} as const;

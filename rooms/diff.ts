/**
 * Structural diff of JSON-like state. Game authors mutate their state (or return a new one)
 * and Arbiter works out what changed by comparing it with a private copy of what each
 * audience last saw; no proxies or change tracking touch the author's objects.
 *
 * Ops are minimal-ish: objects give per-key `set`/`delete`; arrays give per-index changes on
 * the common prefix, then one `push` for an appended tail or one `splice` for a removed tail.
 * An `undefined` object value counts as an absent key (as in JSON).
 *
 * @module
 */
import { FORBIDDEN_KEYS } from "../protocol/cbor_writer.ts";
import type { DeltaOp, DeltaOpSink, Path, Value } from "../protocol/types.ts";

type Key = string | number;
type Container = Record<Key, unknown>;

/**
 * The ops that turn `prev` into `next`. Neither input is modified. Subtrees that are the same
 * object in both are taken as unchanged, so immutable updates diff in time proportional to
 * what changed. Op values are references into `next`: encode or copy them before mutating
 * `next` again.
 *
 * @example
 * ```ts
 * import { diff } from "./diff.ts";
 * const ops = diff({ a: 1, list: [1, 2], gone: true }, { a: 2, list: [1, 2, 3] });
 * console.log(ops);
 * // [ { op: "set", path: ["a"], value: 2 },
 * //   { op: "push", path: ["list"], values: [3] },
 * //   { op: "delete", path: ["gone"] } ]
 * ```
 */
export function diff(prev: Value, next: Value): DeltaOp[] {
  const ops = new OpList();
  const box: Container = { v: prev };
  walk(prev, next, [], ops, false, box, "v");
  return ops.ops;
}

/** A {@linkcode DeltaOpSink} that keeps the ops it is given, each with its own path copy. */
class OpList implements DeltaOpSink {
  readonly ops: DeltaOp[] = [];
  set(path: Path, value: Value): void {
    this.ops.push({ op: "set", path: path.slice(), value });
  }
  delete(path: Path): void {
    this.ops.push({ op: "delete", path: path.slice() });
  }
  push(path: Path, values: Value[]): void {
    this.ops.push({ op: "push", path: path.slice(), values });
  }
  splice(path: Path, index: number, count: number): void {
    this.ops.push({ op: "splice", path: path.slice(), index, count });
  }
}

/**
 * A private deep copy of a value that can be brought up to date with {@linkcode Mirror.update},
 * which returns the ops it took. Rooms keep one per audience: the copy is what the audience's
 * members hold, and updating it costs one walk of the new value plus copies of what changed.
 *
 * @example
 * ```ts
 * import { Mirror } from "./diff.ts";
 * const state = { score: 0, log: [] as string[] };
 * const mirror = new Mirror(state);
 * state.score = 1;
 * state.log.push("goal");
 * console.log(mirror.update(state)); // set score, push log
 * console.log(mirror.update(state)); // []
 * ```
 */
export class Mirror {
  #box: Container;
  /** The walk's path, reused: it is empty again whenever a walk ends. */
  readonly #path: Key[] = [];

  /** Starts from a deep copy of `initial` (throws like {@linkcode clone} when it is not data). */
  constructor(initial: unknown) {
    this.#box = { v: clone(initial) };
  }

  /** The mirrored value (owned by the mirror: do not mutate it). */
  get value(): Value {
    return this.#box.v as Value;
  }

  /** Makes the mirror equal to `next` and returns the ops that did it (empty if equal). */
  update(next: unknown): DeltaOp[] {
    const ops = new OpList();
    this.updateInto(next, ops);
    return ops.ops;
  }

  /**
   * Makes the mirror equal to `next`, handing each op to `sink` as it is found (e.g. straight
   * to a `DeltaEncoder`, with no op objects in between). Throws a `TypeError` naming the path
   * when `next` holds something that is not data (see {@linkcode clone}); the mirror may then be
   * half updated.
   */
  updateInto(next: unknown, sink: DeltaOpSink): void {
    // A walk that threw may have left segments behind.
    this.#path.length = 0;
    try {
      walk(this.#box.v, next, this.#path, sink, true, this.#box, "v");
    } catch (error) {
      if (!(error instanceof NotData)) throw error;
      // The walk's path (outermost first) leads to the copied value, the error's path on inside it.
      for (let i = this.#path.length - 1; i >= 0; i--) error.path.push(this.#path[i]);
      throw notDataError(error, "state");
    }
  }
}

/**
 * A deep copy of JSON-like data (`Value`): plain objects, arrays, strings, finite numbers,
 * booleans, null and `Uint8Array`. Object keys whose value is `undefined` are dropped and
 * `undefined` array items become null, as JSON would. Anything else throws a `TypeError` naming
 * where it was found: functions, `Map`, `Date`, class instances, bigints, symbols, `NaN` and
 * infinities (the protocol cannot carry them), and the keys `__proto__`, `constructor` and
 * `prototype` (which no peer accepts). `what` names the value in that message (`state`).
 *
 * @example
 * ```ts
 * import { clone } from "./diff.ts";
 * const a = { list: [1, { b: 2 }], skip: undefined };
 * const b = clone(a);
 * console.log(b, b.list !== a.list); // { list: [1, { b: 2 }] } true
 * ```
 */
export function clone<T>(value: T, what = "state"): T {
  try {
    return copy(value) as T;
  } catch (error) {
    throw error instanceof NotData ? notDataError(error, what) : error;
  }
}

/** Thrown inside a copy; `path` is filled innermost first as it unwinds. */
class NotData extends Error {
  path: Key[] = [];
}

function notDataError(error: NotData, what: string): TypeError {
  return new TypeError(
    `${formatPath(what, error.path)}: ${error.message}; ${what} must be JSON-like data ` +
      "(objects, arrays, strings, finite numbers, booleans, null, Uint8Array)",
  );
}

function formatPath(root: string, innermostFirst: Key[]): string {
  let out = root;
  for (let i = innermostFirst.length - 1; i >= 0; i--) {
    const k = innermostFirst[i];
    // Keys may come from a client (room options): a long one is cut, not echoed back whole.
    out += typeof k === "number" ? `[${k}]` : `.${k.length > 32 ? `${k.slice(0, 32)}…` : k}`;
  }
  return out;
}

function copy(value: unknown): unknown {
  if (value === null) return null;
  const type = typeof value;
  if (type === "string" || type === "boolean") return value;
  if (type === "number") {
    if (Number.isFinite(value)) return value;
    throw new NotData(`${value} is not a finite number`);
  }
  if (type !== "object") throw new NotData(`a ${type} is not data`);
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      try {
        out[i] = item === undefined ? null : copy(item);
      } catch (error) {
        if (error instanceof NotData) error.path.push(i);
        throw error;
      }
    }
    return out;
  }
  if (value instanceof Uint8Array) return value.slice();
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new NotData(`a ${proto?.constructor?.name ?? "class instance"} is not data`);
  }
  const out: Container = {};
  const source = value as Container;
  for (const key in source) {
    const item = source[key];
    if (item === undefined) continue;
    try {
      out[key] = copyEntry(key, item);
    } catch (error) {
      if (error instanceof NotData) error.path.push(key);
      throw error;
    }
  }
  return out;
}

/** A copy of the value of a new object entry; checks the key too. */
function copyEntry(key: string, value: unknown): unknown {
  // Assigning `__proto__` would replace the copy's prototype rather than add a key.
  if (FORBIDDEN_KEYS.has(key)) throw new NotData(`the key ${key} is not allowed`);
  return copy(value);
}

const PRIMITIVE = 0, OBJECT = 1, ARRAY = 2, BYTES = 3;

function kindOf(value: unknown): number {
  if (value === null || typeof value !== "object") return PRIMITIVE;
  if (Array.isArray(value)) return ARRAY;
  if (value instanceof Uint8Array) return BYTES;
  return OBJECT;
}

// Inherited members such as `toString` read as functions, and functions are never data: both
// mean "no such key" here without the cost of an Object.hasOwn call per key.
function present(value: unknown): boolean {
  return value !== undefined && typeof value !== "function";
}

/**
 * Compares `prev` (found at `holder[key]`) with `next`, appending ops. With `write`, also
 * makes `holder[key]` equal to `next` (copying what changed), so `prev` becomes a mirror.
 */
function walk(
  prev: unknown,
  next: unknown,
  path: Key[],
  ops: DeltaOpSink,
  write: boolean,
  holder: Container,
  key: Key,
): void {
  if (prev === next) return;
  if (next === undefined) next = null;
  const kind = kindOf(next);
  if (kind === kindOf(prev)) {
    if (kind === OBJECT) return walkObject(prev as Container, next as Container, path, ops, write);
    if (kind === ARRAY) return walkArray(prev as unknown[], next as unknown[], path, ops, write);
    if (kind === BYTES && bytesEqual(prev as Uint8Array, next as Uint8Array)) return;
    // NaN is the one primitive not equal to itself.
    if (kind === PRIMITIVE && prev !== prev && next !== next) return;
  }
  // Copied before the op goes out: a value that is not data fails here, with its path, rather
  // than in the sink (an encoder would only say what, not where).
  if (write) holder[key] = copy(next);
  ops.set(path, next as Value);
}

function walkObject(
  prev: Container,
  next: Container,
  path: Key[],
  ops: DeltaOpSink,
  write: boolean,
): void {
  for (const key in next) {
    const value = next[key];
    if (!present(value)) continue;
    path.push(key);
    const old = prev[key];
    if (present(old)) {
      walk(old, value, path, ops, write, prev, key);
    } else {
      if (write) prev[key] = copyEntry(key, value);
      ops.set(path, value as Value);
    }
    path.pop();
  }
  for (const key in prev) {
    if (present(next[key])) continue;
    path.push(key);
    ops.delete(path);
    path.pop();
    if (write) delete prev[key];
  }
}

function walkArray(
  prev: unknown[],
  next: unknown[],
  path: Key[],
  ops: DeltaOpSink,
  write: boolean,
): void {
  const common = Math.min(prev.length, next.length);
  for (let i = 0; i < common; i++) {
    const a = prev[i];
    const b = next[i];
    if (a === b) continue;
    path.push(i);
    walk(a, b, path, ops, write, prev as unknown as Container, i);
    path.pop();
  }
  if (next.length > prev.length) {
    const values = next.slice(prev.length).map((v) => v === undefined ? null : v) as Value[];
    if (write) {
      for (const v of values) {
        path.push(prev.length);
        prev.push(copy(v));
        path.pop();
      }
    }
    ops.push(path, values);
  } else if (next.length < prev.length) {
    ops.splice(path, next.length, prev.length - next.length);
    if (write) prev.length = next.length;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

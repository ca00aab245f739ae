/**
 * Applying {@linkcode DeltaOp}s to a state mirror.
 *
 * @module
 */
import { FORBIDDEN_KEYS } from "./cbor_writer.ts";
import { ProtocolError } from "./errors.ts";
import type { DeltaOp, Path, Value } from "./types.ts";

type ValueMap = { [key: string]: Value };

const hasOwn = Object.prototype.hasOwnProperty;

function bad(message: string): never {
  throw new ProtocolError("bad_delta", message);
}

function isMap(v: Value): v is ValueMap {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isIndex(seg: unknown): seg is number {
  return typeof seg === "number" && Number.isSafeInteger(seg) && seg >= 0;
}

function checkKey(seg: string, path: Path): void {
  if (FORBIDDEN_KEYS.has(seg)) bad(`forbidden key ${seg} in ${JSON.stringify(path)}`);
}

/** The node at `path[0..len)`, which must exist. */
/**
 * The node at `path[0..len)` below `root`. With `fresh` (an immutable apply), every node on the
 * way below `root` that this apply did not create yet is replaced in its parent by a copy,
 * so the returned node and its ancestors may be written; `root` must be fresh already.
 */
function resolve(root: Value, path: Path, len: number, fresh: Set<object> | null): Value {
  let node = root;
  for (let i = 0; i < len; i++) {
    const seg = path[i];
    let child: Value;
    if (typeof seg === "string") {
      checkKey(seg, path);
      if (!isMap(node) || !hasOwn.call(node, seg)) bad(`no key ${seg} at ${JSON.stringify(path)}`);
      child = node[seg];
    } else {
      if (!Array.isArray(node) || !isIndex(seg) || seg >= node.length) {
        bad(`no index ${seg} at ${JSON.stringify(path)}`);
      }
      child = node[seg];
    }
    if (fresh) {
      child = writable(child, fresh);
      (node as { [key: string | number]: Value })[seg] = child;
    }
    node = child;
  }
  return node;
}

/** `node`, or (an array or map this apply did not create) its shallow copy, marked fresh. */
function writable(node: Value, fresh: Set<object>): Value {
  if (node === null || typeof node !== "object" || node instanceof Uint8Array) return node;
  if (fresh.has(node)) return node;
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  fresh.add(copy);
  return copy;
}

/**
 * Freezes `value` and every array and map inside it (not byte strings, which cannot be
 * frozen), and returns it.
 *
 * @example
 * ```ts
 * import { freezeValue } from "./apply_ops.ts";
 * const state = freezeValue({ board: [null, "p1"] });
 * console.log(Object.isFrozen(state.board)); // true
 * ```
 */
export function freezeValue<V extends Value>(value: V): V {
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  if (Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const child of Array.isArray(value) ? value : Object.values(value)) freezeValue(child);
  return value;
}

/** How {@linkcode applyOps} treats the state it is given. */
export interface ApplyOptions {
  /**
   * Leave `state` as it is: the returned root is a new value in which each changed path is
   * a copy and everything else is shared with `state`; every node created and every value
   * inserted is frozen ({@linkcode freezeValue}). A state handed out before (to a listener, to
   * a UI framework that compares by reference) keeps showing what it showed, and an attempt
   * to change a state in place throws instead of silently parting it from the server's. A
   * failing op leaves `state` untouched. Default false: change `state` in place (cheaper).
   */
  immutable?: boolean;
}

/**
 * Applies `ops` in order to `state`, changing it in place (see {@linkcode ApplyOptions} for a
 * copy instead), and returns the new root (a different value only when an op replaced the root,
 * or with `immutable`). Values are inserted by reference.
 * Throws {@linkcode ProtocolError} `bad_delta` when a path does not exist or has the wrong
 * type: set on a missing parent or past the end of an array (setting index `length` appends),
 * delete of a missing key or on an array, push or splice on a non-array or out of range, and
 * any path through `__proto__`, `constructor` or `prototype`. Ops before the failing one stay
 * applied (unless `immutable`): the mirror is then unusable and the client resyncs.
 *
 * @example
 * ```ts
 * import { applyOps } from "./apply_ops.ts";
 * const state = applyOps({ players: [{ x: 0 }] }, [
 *   { op: "set", path: ["players", 0, "x"], value: 12 },
 *   { op: "push", path: ["players"], values: [{ x: 5 }] },
 * ]);
 * console.log(state); // { players: [ { x: 12 }, { x: 5 } ] }
 * ```
 */
export function applyOps(
  state: Value,
  ops: readonly DeltaOp[],
  options: ApplyOptions = {},
): Value {
  const fresh = options.immutable ? new Set<object>() : null;
  let root = state;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const path = op.path;
    const n = path.length;
    if (fresh && (n > 0 || op.op !== "set")) root = writable(root, fresh);
    switch (op.op) {
      case "set": {
        if (n === 0) {
          root = op.value;
          break;
        }
        const parent = resolve(root, path, n - 1, fresh);
        const last = path[n - 1];
        if (typeof last === "string") {
          checkKey(last, path);
          if (!isMap(parent)) bad(`set ${JSON.stringify(path)}: parent is not an object`);
          parent[last] = op.value;
        } else {
          if (!Array.isArray(parent)) bad(`set ${JSON.stringify(path)}: parent is not an array`);
          if (!isIndex(last) || last > parent.length) {
            bad(`set ${JSON.stringify(path)}: index out of range`);
          }
          if (last === parent.length) parent.push(op.value);
          else parent[last] = op.value;
        }
        break;
      }
      case "delete": {
        if (n === 0) bad("delete needs a key");
        const parent = resolve(root, path, n - 1, fresh);
        const last = path[n - 1];
        if (typeof last !== "string" || !isMap(parent)) {
          bad(`delete ${JSON.stringify(path)}: not an object key`);
        }
        checkKey(last, path);
        if (!hasOwn.call(parent, last)) bad(`delete ${JSON.stringify(path)}: no such key`);
        delete parent[last];
        break;
      }
      case "push": {
        const target = resolve(root, path, n, fresh);
        if (!Array.isArray(target)) bad(`push ${JSON.stringify(path)}: not an array`);
        for (const v of op.values) target.push(v);
        break;
      }
      case "splice": {
        const target = resolve(root, path, n, fresh);
        if (!Array.isArray(target)) bad(`splice ${JSON.stringify(path)}: not an array`);
        const { index, count } = op;
        if (!isIndex(index) || !isIndex(count) || index + count > target.length) {
          bad(`splice ${JSON.stringify(path)}: ${index}+${count} out of range`);
        }
        target.splice(index, count);
        break;
      }
      default:
        bad(`unknown op ${(op as { op: unknown }).op}`);
    }
  }
  if (fresh) {
    for (const node of fresh) Object.freeze(node);
    for (const op of ops) {
      if (op.op === "set") freezeValue(op.value);
      else if (op.op === "push") { for (const v of op.values) freezeValue(v); }
    }
  }
  return root;
}

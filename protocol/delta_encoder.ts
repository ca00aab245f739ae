/**
 * The server side of delta encoding: turns {@linkcode DeltaOp}s into the compact ops body of a
 * `delta` frame, growing the key and target tables it shares with its audience's decoders.
 *
 * @module
 */
import { CborWriter, FORBIDDEN_KEYS, MAX_ENCODE_DEPTH } from "./cbor_writer.ts";
import {
  DELTA_MAX_KEYS,
  DELTA_MAX_REFS,
  type DeltaTableCaps,
  OP_DELETE,
  OP_INDEX,
  OP_PUSH,
  OP_REPLACE,
  OP_SPLICE,
  pathKey,
} from "./delta_format.ts";
import { ProtocolError } from "./errors.ts";
import type { DeltaOp, DeltaOpSink, Path, Value } from "./types.ts";

function badOp(message: string): never {
  throw new ProtocolError("bad_delta", message);
}

/** The empty path: the target every body starts at (never mutated; `#cur` is replaced). */
const ROOT: Path = Object.freeze([]);
const EMPTY_BODY = new Uint8Array(0);

function checkedLength(path: Path): number {
  if (!Array.isArray(path)) badOp("op.path must be an array");
  return path.length;
}

/**
 * Encodes delta ops for one audience (every recipient that sees the same view). All of the
 * audience's recipients must receive every body this encoder produces, in order: each body may
 * grow the tables, and a recipient that joins later starts from {@linkcode DeltaEncoder.keys}
 * and {@linkcode DeltaEncoder.refs} as they are after the last body sent before its `welcome`.
 *
 * @example
 * ```ts
 * import { DeltaDecoder, DeltaEncoder } from "./mod.ts";
 * const enc = new DeltaEncoder();
 * enc.learnKeys({ players: [{ x: 0, y: 0 }] });
 * const dec = new DeltaDecoder(enc.keys(), enc.refs());
 * enc.encode([{ op: "set", path: ["players", 0, "x"], value: 3 }]); // first use: literal path
 * const body = enc.encode([{ op: "set", path: ["players", 0, "x"], value: 4 }]);
 * console.log(body.length); // 3: target ref, key id, value
 * ```
 */
export class DeltaEncoder implements DeltaOpSink {
  #keys: string[] = [];
  #keyIds = new Map<string, number>();
  #refs: Path[] = [];
  #refIds = new Map<string, number>();
  readonly #maxKeys: number;
  readonly #maxRefs: number;
  #w = new CborWriter(256);
  #cur: Path = ROOT;
  /** Table sizes when the body being written began, to roll back to. */
  #keyCount = 0;
  #refCount = 0;

  /** Creates an encoder with empty tables; `options` must match the decoders' caps. */
  constructor(options: DeltaTableCaps = {}) {
    this.#maxKeys = options.maxKeys ?? DELTA_MAX_KEYS;
    this.#maxRefs = options.maxRefs ?? DELTA_MAX_REFS;
  }

  /**
   * Seeds the key table with every object key in `value` (depth first, in property order) while
   * it has room, so the first deltas need no literal keys. Call it before the first `welcome`
   * of the audience (its keys then travel in the welcome), never between two bodies a recipient
   * might miss.
   */
  learnKeys(value: Value): void {
    this.#learnFrom(value, 0);
  }

  #learnFrom(v: Value, depth: number): void {
    if (typeof v !== "object" || v === null || v instanceof Uint8Array) return;
    if (depth >= MAX_ENCODE_DEPTH) return;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) this.#learnFrom(v[i], depth + 1);
      return;
    }
    for (const key of Object.keys(v)) {
      if (!FORBIDDEN_KEYS.has(key)) this.#learn(key);
      const item = v[key];
      if (item !== undefined) this.#learnFrom(item, depth + 1);
    }
  }

  #learn(key: string): void {
    if (this.#keys.length < this.#maxKeys && !this.#keyIds.has(key)) {
      this.#keyIds.set(key, this.#keys.length);
      this.#keys.push(key);
    }
  }

  /** A copy of the key table, for a `welcome`. */
  keys(): string[] {
    return this.#keys.slice();
  }

  /** A copy of the target table, for a `welcome`. */
  refs(): Path[] {
    return this.#refs.map((p) => p.slice());
  }

  /**
   * Encodes `ops` (applied in order) as one ops body. Throws {@linkcode ProtocolError}
   * (`bad_delta`, `bad_field`, `forbidden_key`) for an op that cannot be encoded; the tables are
   * then left as they were.
   */
  encode(ops: readonly DeltaOp[]): Uint8Array {
    this.begin();
    try {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        switch (op.op) {
          case "set":
            this.set(op.path, op.value);
            break;
          case "delete":
            this.delete(op.path);
            break;
          case "push":
            this.push(op.path, op.values);
            break;
          case "splice":
            this.splice(op.path, op.index, op.count);
            break;
          default:
            badOp(`unknown op ${(op as { op: unknown }).op}`);
        }
      }
    } catch (e) {
      this.abort();
      throw e;
    }
    return this.finish();
  }

  /**
   * Starts a body to be written op by op (the encoder is a {@linkcode DeltaOpSink}), so a diff
   * can feed it without building op objects. End with {@linkcode DeltaEncoder.finish}, or
   * with {@linkcode DeltaEncoder.abort} when an op threw.
   *
   * @example
   * ```ts
   * import { DeltaEncoder } from "./mod.ts";
   * const enc = new DeltaEncoder();
   * enc.learnKeys({ score: 0 });
   * enc.begin();
   * enc.set(["score"], 1); // the root is the current target already: key id 0, value 1
   * console.log(enc.finish()); // Uint8Array(2) [ 0, 1 ]
   * ```
   */
  begin(): void {
    this.#keyCount = this.#keys.length;
    this.#refCount = this.#refs.length;
    this.#w.pos = 0;
    this.#cur = ROOT;
  }

  /** The body written since {@linkcode DeltaEncoder.begin}. */
  finish(): Uint8Array {
    const w = this.#w;
    // Nothing changed (most ticks of an idle room): one shared empty body, never written.
    if (w.pos === 0) return EMPTY_BODY;
    const out = w.finish();
    // Keep the scratch buffer from staying huge after one giant body.
    if (w.buf.length > 65536) this.#w = new CborWriter(256);
    return out;
  }

  /** Drops the body being written and forgets what it would have taught the decoders. */
  abort(): void {
    const keyCount = this.#keyCount;
    const refCount = this.#refCount;
    for (let i = keyCount; i < this.#keys.length; i++) this.#keyIds.delete(this.#keys[i]);
    this.#keys.length = keyCount;
    for (let i = refCount; i < this.#refs.length; i++) {
      this.#refIds.delete(pathKey(this.#refs[i], this.#refs[i].length));
    }
    this.#refs.length = refCount;
    this.#w.pos = 0;
  }

  /** Writes a `set` op (see {@linkcode DeltaOpSink.set}). */
  set(path: Path, value: Value): void {
    const n = checkedLength(path);
    const w = this.#w;
    if (n === 0) {
      this.#select(path, 0);
      w.byte(0xe0 + OP_REPLACE);
    } else {
      this.#select(path, n - 1);
      const last = path[n - 1];
      if (typeof last === "string") {
        this.#field(last);
      } else {
        w.byte(0xe0 + OP_INDEX);
        w.uint(this.#index(last));
      }
    }
    if (value === undefined) badOp("set needs a value");
    w.value(value, 0, this.#keyIds);
  }

  /** Writes a `delete` op (see {@linkcode DeltaOpSink.delete}). */
  delete(path: Path): void {
    const n = checkedLength(path);
    const last = path[n - 1];
    if (typeof last !== "string") badOp("delete needs a path ending in an object key");
    this.#select(path, n - 1);
    this.#w.byte(0xe0 + OP_DELETE);
    this.#field(last);
  }

  /** Writes a `push` op (see {@linkcode DeltaOpSink.push}). */
  push(path: Path, values: readonly Value[]): void {
    const n = checkedLength(path);
    if (!Array.isArray(values)) badOp("push needs values");
    const w = this.#w;
    this.#select(path, n);
    w.byte(0xe0 + OP_PUSH);
    w.uint(values.length);
    for (let i = 0; i < values.length; i++) {
      if (values[i] === undefined) badOp("push values cannot be undefined");
      w.value(values[i], 0, this.#keyIds);
    }
  }

  /** Writes a `splice` op (see {@linkcode DeltaOpSink.splice}). */
  splice(path: Path, index: number, count: number): void {
    const n = checkedLength(path);
    const w = this.#w;
    this.#select(path, n);
    w.byte(0xe0 + OP_SPLICE);
    w.uint(this.#index(index));
    w.uint(this.#index(count));
  }

  #index(n: unknown): number {
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      badOp(`${n} is not an array index`);
    }
    return n;
  }

  /** Writes a key in field position: its id when known, else the text (and learns it). */
  #field(key: string): void {
    if (FORBIDDEN_KEYS.has(key)) throw new ProtocolError("forbidden_key", `key ${key}`);
    const id = this.#keyIds.get(key);
    if (id !== undefined) {
      this.#w.uint(id);
    } else {
      this.#w.text(key);
      this.#learn(key);
    }
  }

  /** Makes `path[0..len)` the current target, writing a selection unless it already is. */
  #select(path: Path, len: number): void {
    const cur = this.#cur;
    if (cur.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (cur[i] !== path[i]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    const w = this.#w;
    const key = pathKey(path, len);
    const ref = this.#refIds.get(key);
    const target = path.slice(0, len);
    if (ref !== undefined) {
      w.negint(ref);
    } else {
      w.head(4, len);
      for (let i = 0; i < len; i++) {
        const seg = path[i];
        if (typeof seg === "string") {
          if (FORBIDDEN_KEYS.has(seg)) throw new ProtocolError("forbidden_key", `key ${seg}`);
          const id = this.#keyIds.get(seg);
          if (id !== undefined) {
            w.negint(id);
          } else {
            w.text(seg);
            this.#learn(seg);
          }
        } else {
          w.uint(this.#index(seg));
        }
      }
      if (len > 0 && this.#refs.length < this.#maxRefs) {
        this.#refIds.set(key, this.#refs.length);
        this.#refs.push(target);
      }
    }
    this.#cur = target;
  }
}

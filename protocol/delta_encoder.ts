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
import type { DeltaOp, Path, Value } from "./types.ts";

function badOp(message: string): never {
  throw new ProtocolError("bad_delta", message);
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
export class DeltaEncoder {
  #keys: string[] = [];
  #keyIds = new Map<string, number>();
  #refs: Path[] = [];
  #refIds = new Map<string, number>();
  readonly #maxKeys: number;
  readonly #maxRefs: number;
  #w = new CborWriter(256);
  #cur: Path = [];

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
    const keyCount = this.#keys.length;
    const refCount = this.#refs.length;
    const w = this.#w;
    w.pos = 0;
    this.#cur = [];
    try {
      for (let i = 0; i < ops.length; i++) this.#op(ops[i]);
    } catch (e) {
      // Nothing was sent: forget what this body would have taught the decoders.
      for (let i = keyCount; i < this.#keys.length; i++) this.#keyIds.delete(this.#keys[i]);
      this.#keys.length = keyCount;
      for (let i = refCount; i < this.#refs.length; i++) {
        this.#refIds.delete(pathKey(this.#refs[i], this.#refs[i].length));
      }
      this.#refs.length = refCount;
      throw e;
    }
    const out = w.finish();
    // Keep the scratch buffer from staying huge after one giant body.
    if (w.buf.length > 65536) this.#w = new CborWriter(256);
    return out;
  }

  #op(op: DeltaOp): void {
    const w = this.#w;
    const path = op.path;
    if (!Array.isArray(path)) badOp("op.path must be an array");
    const n = path.length;
    switch (op.op) {
      case "set": {
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
        if (op.value === undefined) badOp("set needs a value");
        w.value(op.value, 0, this.#keyIds);
        return;
      }
      case "delete": {
        const last = path[n - 1];
        if (typeof last !== "string") badOp("delete needs a path ending in an object key");
        this.#select(path, n - 1);
        w.byte(0xe0 + OP_DELETE);
        this.#field(last);
        return;
      }
      case "push": {
        const values = op.values;
        if (!Array.isArray(values)) badOp("push needs values");
        this.#select(path, n);
        w.byte(0xe0 + OP_PUSH);
        w.uint(values.length);
        for (let i = 0; i < values.length; i++) {
          if (values[i] === undefined) badOp("push values cannot be undefined");
          w.value(values[i], 0, this.#keyIds);
        }
        return;
      }
      case "splice":
        this.#select(path, n);
        w.byte(0xe0 + OP_SPLICE);
        w.uint(this.#index(op.index));
        w.uint(this.#index(op.count));
        return;
      default:
        badOp(`unknown op ${(op as { op: unknown }).op}`);
    }
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

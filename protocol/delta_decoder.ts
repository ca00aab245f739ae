/**
 * The client side of delta encoding: turns a `delta` frame's ops body back into
 * {@linkcode DeltaOp}s, growing its tables exactly as the server's encoder grew its own.
 *
 * @module
 */
import { CborReader } from "./cbor_reader.ts";
import { FORBIDDEN_KEYS } from "./cbor_writer.ts";
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
import { type DecodeLimits, DEFAULT_OUTBOUND_LIMITS, resolveLimits } from "./limits.ts";
import type { DeltaOp, Path } from "./types.ts";

function bad(message: string): never {
  throw new ProtocolError("bad_delta", message);
}

/**
 * Decodes ops bodies for one recipient. Start it from the `keys` and `refs` of the `welcome`,
 * then feed it every delta's `ops` in sequence order. Any error means this recipient's mirror
 * can no longer be trusted: resync by reconnecting with `resume`.
 *
 * @example
 * ```ts
 * import { DeltaDecoder } from "./delta_decoder.ts";
 * const dec = new DeltaDecoder(["players", "x", "y"], [["players", 3]]);
 * console.log(dec.decode(new Uint8Array([0x20, 0x01, 0x0c, 0x02, 0x18, 0x28])));
 * // [ { op: "set", path: ["players", 3, "x"], value: 12 },
 * //   { op: "set", path: ["players", 3, "y"], value: 40 } ]
 * ```
 */
export class DeltaDecoder {
  #keys: string[];
  #keyIds = new Map<string, number>();
  #refs: Path[];
  #refIds = new Map<string, number>();
  readonly #limits: Required<DecodeLimits>;
  readonly #maxKeys: number;
  readonly #maxRefs: number;

  /**
   * Creates a decoder with the tables of a `welcome`. Throws `bad_delta` when they hold
   * forbidden keys, bad path segments, a path longer than `limits.maxDepth` or more entries
   * than the caps.
   */
  constructor(
    keys: readonly string[] = [],
    refs: readonly Path[] = [],
    limits?: DecodeLimits,
    caps: DeltaTableCaps = {},
  ) {
    this.#limits = resolveLimits(limits, DEFAULT_OUTBOUND_LIMITS);
    this.#maxKeys = caps.maxKeys ?? DELTA_MAX_KEYS;
    this.#maxRefs = caps.maxRefs ?? DELTA_MAX_REFS;
    if (keys.length > this.#maxKeys) bad(`${keys.length} keys exceed the cap ${this.#maxKeys}`);
    if (refs.length > this.#maxRefs) bad(`${refs.length} refs exceed the cap ${this.#maxRefs}`);
    this.#keys = [];
    for (const key of keys) {
      if (typeof key !== "string" || FORBIDDEN_KEYS.has(key)) bad(`bad key table entry ${key}`);
      // A repeated key keeps its first id, as the encoder would have.
      if (!this.#keyIds.has(key)) this.#keyIds.set(key, this.#keys.length);
      this.#keys.push(key);
    }
    this.#refs = [];
    for (const ref of refs) {
      if (!Array.isArray(ref)) bad("a ref must be a path");
      this.#checkPathLength(ref.length);
      for (const seg of ref) {
        if (typeof seg === "string" ? FORBIDDEN_KEYS.has(seg) : !isIndex(seg)) {
          bad(`bad ref segment ${seg}`);
        }
      }
      const k = pathKey(ref, ref.length);
      if (!this.#refIds.has(k)) this.#refIds.set(k, this.#refs.length);
      this.#refs.push(ref.slice());
    }
  }

  /** A copy of the current key table. */
  keys(): string[] {
    return this.#keys.slice();
  }

  /** A copy of the current target table. */
  refs(): Path[] {
    return this.#refs.map((p) => p.slice());
  }

  /**
   * Decodes one ops body. Throws {@linkcode ProtocolError}: `frame_too_large` above the limit,
   * otherwise always `bad_delta` (the message says what was wrong, including CBOR errors in the
   * values, and a target path longer than `maxDepth`). On error the tables are left as they were.
   */
  decode(ops: Uint8Array): DeltaOp[] {
    if (ops.length > this.#limits.maxFrameBytes) {
      throw new ProtocolError(
        "frame_too_large",
        `${ops.length} bytes > ${this.#limits.maxFrameBytes}`,
      );
    }
    const keyCount = this.#keys.length;
    const refCount = this.#refs.length;
    try {
      return this.#decode(ops);
    } catch (e) {
      for (let i = keyCount; i < this.#keys.length; i++) this.#keyIds.delete(this.#keys[i]);
      this.#keys.length = keyCount;
      for (let i = refCount; i < this.#refs.length; i++) {
        this.#refIds.delete(pathKey(this.#refs[i], this.#refs[i].length));
      }
      this.#refs.length = refCount;
      if (e instanceof ProtocolError && e.code !== "bad_delta") {
        throw new ProtocolError("bad_delta", `${e.code}: ${e.message}`);
      }
      throw e;
    }
  }

  // Every op copies its target path: a path no deeper than a state can nest keeps what a body
  // decodes to within a constant factor of its size.
  #checkPathLength(len: number): void {
    if (len > this.#limits.maxDepth) {
      bad(`path of ${len} segments > maxDepth ${this.#limits.maxDepth}`);
    }
  }

  #learn(key: string): void {
    if (FORBIDDEN_KEYS.has(key)) bad(`forbidden key ${key}`);
    if (this.#keys.length < this.#maxKeys && !this.#keyIds.has(key)) {
      this.#keyIds.set(key, this.#keys.length);
      this.#keys.push(key);
    }
  }

  #key(id: number): string {
    if (id >= this.#keys.length) bad(`unknown key id ${id}`);
    return this.#keys[id];
  }

  #decode(ops: Uint8Array): DeltaOp[] {
    const r = new CborReader(ops, 0, ops.length, this.#limits);
    const out: DeltaOp[] = [];
    let cur: Path = [];
    while (!r.atEnd()) {
      const major = r.head();
      const arg = r.arg;
      switch (major) {
        case 0: // key id field: set
          out.push({ op: "set", path: [...cur, this.#key(arg)], value: r.value(0, this.#keys) });
          break;
        case 1: // select a known target
          if (arg >= this.#refs.length) bad(`unknown ref ${arg}`);
          cur = this.#refs[arg];
          break;
        case 3: { // literal key field: set
          const key = r.textBody(arg);
          this.#learn(key);
          out.push({ op: "set", path: [...cur, key], value: r.value(0, this.#keys) });
          break;
        }
        case 4: // select a target by literal path
          cur = this.#path(r, arg);
          break;
        case 7:
          this.#opcode(r, arg, cur, out);
          break;
        default:
          bad(`major type ${major} is not an op`);
      }
    }
    return out;
  }

  #path(r: CborReader, len: number): Path {
    this.#checkPathLength(len);
    if (len > r.end - r.pos) bad("path longer than the remaining bytes");
    const path: (string | number)[] = [];
    for (let i = 0; i < len; i++) {
      const major = r.head();
      if (major === 0) {
        path.push(r.arg);
      } else if (major === 1) {
        path.push(this.#key(r.arg));
      } else if (major === 3) {
        const key = r.textBody(r.arg);
        this.#learn(key);
        path.push(key);
      } else {
        bad(`major type ${major} is not a path segment`);
      }
    }
    if (len > 0 && this.#refs.length < this.#maxRefs) {
      const k = pathKey(path, len);
      if (!this.#refIds.has(k)) {
        this.#refIds.set(k, this.#refs.length);
        this.#refs.push(path);
      }
    }
    return path;
  }

  #uint(r: CborReader, what: string): number {
    if (r.head() !== 0) bad(`${what} must be an unsigned integer`);
    return r.arg;
  }

  #opcode(r: CborReader, info: number, cur: Path, out: DeltaOp[]): void {
    switch (info) {
      case OP_DELETE: {
        const major = r.head();
        let key: string;
        if (major === 0) {
          key = this.#key(r.arg);
        } else if (major === 3) {
          key = r.textBody(r.arg);
          this.#learn(key);
        } else {
          return bad("delete needs a key");
        }
        out.push({ op: "delete", path: [...cur, key] });
        return;
      }
      case OP_PUSH: {
        const count = this.#uint(r, "push count");
        if (count > r.end - r.pos) bad("push count exceeds the remaining bytes");
        const values = [];
        for (let i = 0; i < count; i++) values.push(r.value(0, this.#keys));
        out.push({ op: "push", path: cur.slice(), values });
        return;
      }
      case OP_SPLICE: {
        const index = this.#uint(r, "splice index");
        const count = this.#uint(r, "splice count");
        out.push({ op: "splice", path: cur.slice(), index, count });
        return;
      }
      case OP_REPLACE:
        out.push({ op: "set", path: cur.slice(), value: r.value(0, this.#keys) });
        return;
      case OP_INDEX: {
        const index = this.#uint(r, "index");
        out.push({ op: "set", path: [...cur, index], value: r.value(0, this.#keys) });
        return;
      }
      default:
        bad(`simple value ${info} is not an opcode`);
    }
  }
}

function isIndex(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * A small CBOR writer for {@linkcode Value}s: definite lengths only, text-keyed maps, and every
 * number in its smallest exact form (integer, float16, float32 or float64). cbor-x cannot do
 * the exact-float part, and owning the writer also keeps the output deterministic, which the
 * golden vectors in PROTOCOL.md depend on.
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";
import type { Value } from "./types.ts";
import { frameBytes } from "./slab.ts";
import { utf8Length, utf8Write } from "./utf8.ts";

/** Object keys that would reach or shadow prototype machinery in a receiver. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  "__proto__",
  "constructor",
  "prototype",
]);

/** How deep the writer nests before it assumes a cycle (the outbound decode limit). */
export const MAX_ENCODE_DEPTH = 64;

const scratch = new DataView(new ArrayBuffer(8));

/**
 * The float16 bits of `v` when float16 holds it exactly, else -1. `v` must be finite, non-zero
 * or negative zero, and equal to `Math.fround(v)`.
 */
function toFloat16(v: number): number {
  scratch.setFloat32(0, v);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0) return mant === 0 ? sign : -1; // ±0; float32 subnormals are far below float16
  const e = exp - 127;
  if (e >= -14 && e <= 15) {
    if ((mant & 0x1fff) !== 0) return -1;
    return sign | ((e + 15) << 10) | (mant >>> 13);
  }
  if (e >= -24 && e < -14) {
    // A float16 subnormal: the whole significand, implicit bit included, must survive the shift.
    const full = mant | 0x800000;
    const shift = -e - 14 + 13;
    if ((full & ((1 << shift) - 1)) !== 0) return -1;
    return sign | (full >>> shift);
  }
  return -1;
}

/**
 * Whether `v` is a plain object: a `Value` map. Class instances, `Map`s, dates and the like are
 * not, so a game cannot put them in its state by accident.
 *
 * @example
 * ```ts
 * import { isPlainObject } from "./cbor_writer.ts";
 * console.log(isPlainObject({ a: 1 }), isPlainObject(new Date())); // true false
 * ```
 */
export function isPlainObject(v: unknown): v is { [key: string]: Value } {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  // A root prototype from another realm (a worker) counts too.
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/**
 * A growable CBOR output buffer.
 *
 * @example
 * ```ts
 * import { CborWriter } from "./cbor_writer.ts";
 * const w = new CborWriter();
 * w.value({ x: 1.5 });
 * console.log(w.finish()); // a1 61 78 f9 3e 00
 * ```
 */
export class CborWriter {
  /** The buffer; valid bytes are `[0, pos)`. */
  buf: Uint8Array;
  /** Write position. */
  pos = 0;

  /** Creates a writer with `capacity` bytes reserved. */
  constructor(capacity = 128) {
    this.buf = new Uint8Array(capacity);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Appends one raw byte. */
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Appends raw bytes. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Appends an item head: major type (0-7) and its argument (a safe non-negative integer). */
  head(major: number, arg: number): void {
    this.ensure(9);
    const buf = this.buf;
    const m = major << 5;
    if (arg < 24) {
      buf[this.pos++] = m | arg;
    } else if (arg < 0x100) {
      buf[this.pos++] = m | 24;
      buf[this.pos++] = arg;
    } else if (arg < 0x10000) {
      buf[this.pos++] = m | 25;
      buf[this.pos++] = arg >>> 8;
      buf[this.pos++] = arg & 0xff;
    } else if (arg < 0x100000000) {
      buf[this.pos++] = m | 26;
      buf[this.pos++] = arg >>> 24;
      buf[this.pos++] = (arg >>> 16) & 0xff;
      buf[this.pos++] = (arg >>> 8) & 0xff;
      buf[this.pos++] = arg & 0xff;
    } else {
      const hi = Math.floor(arg / 0x100000000);
      const lo = arg >>> 0;
      buf[this.pos++] = m | 27;
      buf[this.pos++] = hi >>> 24;
      buf[this.pos++] = (hi >>> 16) & 0xff;
      buf[this.pos++] = (hi >>> 8) & 0xff;
      buf[this.pos++] = hi & 0xff;
      buf[this.pos++] = lo >>> 24;
      buf[this.pos++] = (lo >>> 16) & 0xff;
      buf[this.pos++] = (lo >>> 8) & 0xff;
      buf[this.pos++] = lo & 0xff;
    }
  }

  /** Appends an unsigned integer (major 0). */
  uint(n: number): void {
    this.head(0, n);
  }

  /** Appends the negative integer `-1 - n` (major 1), given `n >= 0`. */
  negint(n: number): void {
    this.head(1, n);
  }

  /** Appends a text string. */
  text(s: string): void {
    const len = utf8Length(s);
    this.head(3, len);
    this.ensure(len);
    this.pos = utf8Write(s, this.buf, this.pos);
  }

  /** Appends a number in its smallest exact form; non-finite numbers throw `bad_field`. */
  number(v: number): void {
    if (Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0)) {
      if (v >= 0) this.head(0, v);
      else this.head(1, -1 - v);
      return;
    }
    if (!Number.isFinite(v)) {
      throw new ProtocolError("bad_field", `${v} is not a finite number`);
    }
    this.ensure(9);
    const buf = this.buf;
    if (Math.fround(v) === v) {
      const h = toFloat16(v);
      if (h >= 0) {
        buf[this.pos++] = 0xf9;
        buf[this.pos++] = h >>> 8;
        buf[this.pos++] = h & 0xff;
        return;
      }
      scratch.setFloat32(0, v);
      buf[this.pos++] = 0xfa;
      for (let i = 0; i < 4; i++) buf[this.pos++] = scratch.getUint8(i);
      return;
    }
    scratch.setFloat64(0, v);
    buf[this.pos++] = 0xfb;
    for (let i = 0; i < 8; i++) buf[this.pos++] = scratch.getUint8(i);
  }

  /**
   * Appends a {@linkcode Value}. Object properties whose value is `undefined` are skipped, as
   * `JSON.stringify` does; anything else that is not a `Value` throws `bad_field`, and the keys
   * `__proto__`, `constructor` and `prototype` throw `forbidden_key`. With `keyIds` (a delta
   * key table), map keys found in it are written as their id, an unsigned integer.
   */
  value(v: Value, depth = 0, keyIds?: ReadonlyMap<string, number>): void {
    switch (typeof v) {
      case "number":
        this.number(v);
        return;
      case "string":
        this.text(v);
        return;
      case "boolean":
        this.byte(v ? 0xf5 : 0xf4);
        return;
      case "object":
        break;
      default:
        throw new ProtocolError("bad_field", `a ${typeof v} is not a Value`);
    }
    if (v === null) {
      this.byte(0xf6);
      return;
    }
    if (depth >= MAX_ENCODE_DEPTH) {
      throw new ProtocolError(
        "bad_field",
        `Value nested deeper than ${MAX_ENCODE_DEPTH} (a cycle?)`,
      );
    }
    if (Array.isArray(v)) {
      const n = v.length;
      this.head(4, n);
      for (let i = 0; i < n; i++) {
        const item = v[i];
        if (item === undefined) {
          throw new ProtocolError("bad_field", "arrays cannot hold undefined or holes");
        }
        this.value(item, depth + 1, keyIds);
      }
      return;
    }
    if (v instanceof Uint8Array) {
      this.head(2, v.length);
      this.bytes(v);
      return;
    }
    if (!isPlainObject(v)) {
      throw new ProtocolError("bad_field", "only plain objects, arrays and Uint8Arrays are Values");
    }
    const keys = Object.keys(v);
    let n = 0;
    for (let i = 0; i < keys.length; i++) if (v[keys[i]] !== undefined) n++;
    this.head(5, n);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      const item = v[key];
      if (item === undefined) continue;
      if (FORBIDDEN_KEYS.has(key)) throw new ProtocolError("forbidden_key", `key ${key}`);
      const id = keyIds?.get(key);
      if (id === undefined) this.text(key);
      else this.head(0, id);
      this.value(item, depth + 1, keyIds);
    }
  }

  /** The bytes written, as a right-sized copy with a buffer of its own. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** The bytes written, as a copy that may share a slab with other frames (see slab.ts). */
  finishFrame(): Uint8Array {
    const out = frameBytes(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }
}

let spare: CborWriter | null = new CborWriter(1024);

/**
 * Takes the shared scratch writer (or a new one if it is in use, should an encoder ever be
 * re-entered), reset to empty. Give it back with {@linkcode releaseWriter}.
 *
 * @example
 * ```ts
 * import { acquireWriter, releaseWriter } from "./cbor_writer.ts";
 * const w = acquireWriter();
 * try {
 *   w.value([1, 2]);
 *   console.log(w.finishFrame());
 * } finally {
 *   releaseWriter(w);
 * }
 * ```
 */
export function acquireWriter(): CborWriter {
  const w = spare ?? new CborWriter(1024);
  spare = null;
  w.pos = 0;
  return w;
}

/** Returns a writer from {@linkcode acquireWriter}; an oversized one is dropped. */
export function releaseWriter(w: CborWriter): void {
  // One huge welcome must not pin megabytes for the life of the process.
  spare = w.buf.length > 64 * 1024 ? new CborWriter(1024) : w;
}

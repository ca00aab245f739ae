/**
 * A hardened CBOR reader: it builds {@linkcode Value}s directly from the bytes in one pass and
 * enforces every rule of PROTOCOL.md ("CBOR conventions") on the way, so no untrusted byte ever
 * reaches a general-purpose decoder with process-global settings.
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";
import type { DecodeLimits } from "./limits.ts";
import { FORBIDDEN_KEYS } from "./cbor_writer.ts";
import type { Value } from "./types.ts";
import { utf8Decode } from "./utf8.ts";

const hasOwn = Object.prototype.hasOwnProperty;
const scratch = new DataView(new ArrayBuffer(8));

function fail(message: string): never {
  throw new ProtocolError("bad_cbor", message);
}

/**
 * The `bad_cbor` a {@linkcode CborReader} throws for well-formed data over one of its limits
 * (nesting depth, item count, string length), before reading further. A decoder that knows what
 * it was reading can refuse it as that (a join field, an action's payload) instead of as a
 * broken frame.
 *
 * @example
 * ```ts
 * import { CborReader, LimitExceededError } from "./cbor_reader.ts";
 * import { DEFAULT_INBOUND_LIMITS } from "./limits.ts";
 * const deep = new Uint8Array([...new Uint8Array(40).fill(0x81), 0x00]);
 * try {
 *   new CborReader(deep, 0, deep.length, DEFAULT_INBOUND_LIMITS).value();
 * } catch (error) {
 *   if (error instanceof LimitExceededError) console.log(error.message); // nested deeper than 32
 * }
 * ```
 */
export class LimitExceededError extends ProtocolError {
  /** Creates the error; `message` says which limit. */
  constructor(message: string) {
    super("bad_cbor", message);
  }
}

/**
 * The {@linkcode LimitExceededError} for a text or byte string longer than `maxStringBytes`,
 * with both numbers (`join` names the field and the limit with them).
 *
 * @example
 * ```ts
 * import { CborReader, StringTooLongError } from "./cbor_reader.ts";
 * import { DEFAULT_INBOUND_LIMITS } from "./limits.ts";
 * const frame = new Uint8Array([0x79, 0x27, 0x10, ...new Uint8Array(10_000).fill(0x61)]);
 * try {
 *   new CborReader(frame, 0, frame.length, DEFAULT_INBOUND_LIMITS).value();
 * } catch (error) {
 *   if (error instanceof StringTooLongError) console.log(error.bytes, error.limit); // 10000 8192
 * }
 * ```
 */
export class StringTooLongError extends LimitExceededError {
  /** Creates the error for a string of `bytes` bytes over a limit of `limit`. */
  constructor(readonly bytes: number, readonly limit: number) {
    super(`string of ${bytes} bytes exceeds ${limit}`);
  }
}

function overLimit(message: string): never {
  throw new LimitExceededError(message);
}

/** Converts float16 bits to a number. */
function fromFloat16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/**
 * Reads CBOR items from `buf[pos..end)` within {@linkcode DecodeLimits}. Every method throws
 * {@linkcode ProtocolError} (`bad_cbor`, `forbidden_tag`, `forbidden_key`) and nothing else.
 *
 * @example
 * ```ts
 * import { CborReader } from "./cbor_reader.ts";
 * import { DEFAULT_INBOUND_LIMITS } from "./limits.ts";
 * const r = new CborReader(new Uint8Array([0x82, 0x01, 0x61, 0x61]), 0, 4, DEFAULT_INBOUND_LIMITS);
 * console.log(r.value()); // [ 1, "a" ]
 * ```
 */
export class CborReader {
  /** The input. */
  readonly buf: Uint8Array;
  /** Read position. */
  pos: number;
  /** End of the input (exclusive). */
  readonly end: number;
  /** Argument of the last {@linkcode head}: a length, an integer, or for major 7 the info bits. */
  arg = 0;
  /** Items read so far (each head is one item). */
  items = 0;
  private readonly maxDepth: number;
  private readonly maxItems: number;
  private readonly maxStringBytes: number;

  /** Creates a reader over `buf[pos..end)`. */
  constructor(buf: Uint8Array, pos: number, end: number, limits: Required<DecodeLimits>) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.maxDepth = limits.maxDepth;
    this.maxItems = limits.maxItems;
    this.maxStringBytes = limits.maxStringBytes;
  }

  /** Whether all input was read. */
  atEnd(): boolean {
    return this.pos >= this.end;
  }

  /**
   * Reads an item head and returns its major type. For majors 0-6 `arg` is the argument; for
   * major 7 `arg` is the 5 info bits and nothing after the initial byte is consumed.
   * Indefinite lengths and reserved info values are `bad_cbor`; so are arguments above
   * `2^53 - 1`.
   */
  head(): number {
    if (++this.items > this.maxItems) overLimit(`more than ${this.maxItems} items`);
    const buf = this.buf;
    if (this.pos >= this.end) fail("truncated: item expected");
    const b = buf[this.pos++];
    const major = b >> 5;
    const info = b & 31;
    if (major === 7 || info < 24) {
      this.arg = info;
      return major;
    }
    const pos = this.pos;
    switch (info) {
      case 24:
        if (pos + 1 > this.end) fail("truncated head");
        this.arg = buf[pos];
        this.pos = pos + 1;
        break;
      case 25:
        if (pos + 2 > this.end) fail("truncated head");
        this.arg = (buf[pos] << 8) | buf[pos + 1];
        this.pos = pos + 2;
        break;
      case 26:
        if (pos + 4 > this.end) fail("truncated head");
        this.arg = ((buf[pos] << 24) >>> 0) + ((buf[pos + 1] << 16) | (buf[pos + 2] << 8) |
          buf[pos + 3]);
        this.pos = pos + 4;
        break;
      case 27: {
        if (pos + 8 > this.end) fail("truncated head");
        const hi = ((buf[pos] << 24) >>> 0) + ((buf[pos + 1] << 16) | (buf[pos + 2] << 8) |
          buf[pos + 3]);
        if (hi > 0x1fffff) fail("integer or length above 2^53 - 1");
        const lo = ((buf[pos + 4] << 24) >>> 0) + ((buf[pos + 5] << 16) | (buf[pos + 6] << 8) |
          buf[pos + 7]);
        this.arg = hi * 0x100000000 + lo;
        this.pos = pos + 8;
        break;
      }
      case 31:
        fail("indefinite-length items are not allowed");
        break;
      default:
        fail(`reserved additional information ${info}`);
    }
    return major;
  }

  /** Reads the `len` bytes of a text string whose head was just read. */
  textBody(len: number): string {
    const start = this.pos;
    // Declared longer than what is left is broken, whatever the limit; complete but over the
    // limit is merely too large (see LimitExceededError).
    if (len > this.end - start) fail("truncated text string");
    if (len > this.maxStringBytes) throw new StringTooLongError(len, this.maxStringBytes);
    const s = utf8Decode(this.buf, start, start + len);
    if (s === undefined) fail("text string is not valid UTF-8");
    this.pos = start + len;
    return s;
  }

  /** Reads the `len` bytes of a byte string whose head was just read, as a copy. */
  bytesBody(len: number): Uint8Array {
    const start = this.pos;
    if (len > this.end - start) fail("truncated byte string");
    if (len > this.maxStringBytes) throw new StringTooLongError(len, this.maxStringBytes);
    this.pos = start + len;
    return this.buf.slice(start, start + len);
  }

  /** Reads a major-7 item whose initial byte was just read (`arg` = info bits) as a Value. */
  private simple(info: number): Value {
    const buf = this.buf;
    const pos = this.pos;
    let v: number;
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return fail("undefined is not a Value");
      case 25:
        if (pos + 2 > this.end) fail("truncated float16");
        v = fromFloat16((buf[pos] << 8) | buf[pos + 1]);
        this.pos = pos + 2;
        break;
      case 26:
        if (pos + 4 > this.end) fail("truncated float32");
        for (let i = 0; i < 4; i++) scratch.setUint8(i, buf[pos + i]);
        v = scratch.getFloat32(0);
        this.pos = pos + 4;
        break;
      case 27:
        if (pos + 8 > this.end) fail("truncated float64");
        for (let i = 0; i < 8; i++) scratch.setUint8(i, buf[pos + i]);
        v = scratch.getFloat64(0);
        this.pos = pos + 8;
        break;
      case 31:
        return fail("unexpected break");
      default:
        return fail(`simple value ${info} is not a Value`);
    }
    if (!Number.isFinite(v)) fail("NaN and infinities are not Values");
    return v;
  }

  /**
   * Reads one complete item as a {@linkcode Value}; `depth` is the nesting it sits at. With
   * `keys` (a delta key table), a map key may also be an unsigned integer: that key's id.
   */
  value(depth = 0, keys?: readonly string[]): Value {
    const major = this.head();
    const arg = this.arg;
    switch (major) {
      case 0:
        return arg;
      case 1:
        // -1 - arg must stay a safe integer.
        if (arg > Number.MAX_SAFE_INTEGER - 1) fail("integer below -(2^53 - 1)");
        return -1 - arg;
      case 2:
        return this.bytesBody(arg);
      case 3:
        return this.textBody(arg);
      case 4: {
        if (depth >= this.maxDepth) overLimit(`nested deeper than ${this.maxDepth}`);
        // Every item takes at least one byte: a larger count is a length bomb.
        if (arg > this.end - this.pos) fail("array length exceeds the remaining bytes");
        if (arg > this.maxItems - this.items) overLimit(`more than ${this.maxItems} items`);
        const out: Value[] = [];
        for (let i = 0; i < arg; i++) out.push(this.value(depth + 1, keys));
        return out;
      }
      case 5: {
        if (depth >= this.maxDepth) overLimit(`nested deeper than ${this.maxDepth}`);
        if (arg > (this.end - this.pos) / 2) fail("map length exceeds the remaining bytes");
        if (arg > (this.maxItems - this.items) / 2) overLimit(`more than ${this.maxItems} items`);
        const out: { [key: string]: Value } = {};
        for (let i = 0; i < arg; i++) {
          const key = this.key(keys);
          if (hasOwn.call(out, key)) fail(`duplicate map key ${JSON.stringify(key)}`);
          out[key] = this.value(depth + 1, keys);
        }
        return out;
      }
      case 6:
        throw new ProtocolError("forbidden_tag", `tag ${arg} is not allowed`);
      default:
        return this.simple(arg);
    }
  }

  /**
   * Reads the head of a map at `depth` and returns its length, checked against the remaining
   * bytes and the item budget; a tag is `forbidden_tag`, as anywhere else, and anything else
   * is `bad_field` for `field`.
   */
  mapHead(depth: number, field: string): number {
    if (this.atEnd() || this.buf[this.pos] >> 5 !== 5) {
      if (!this.atEnd() && this.buf[this.pos] >> 5 === 6) this.value(depth);
      throw new ProtocolError("bad_field", `${field} must be a map`);
    }
    this.head();
    const n = this.arg;
    if (depth >= this.maxDepth) overLimit(`nested deeper than ${this.maxDepth}`);
    if (n > (this.end - this.pos) / 2) fail("map length exceeds the remaining bytes");
    if (n > (this.maxItems - this.items) / 2) overLimit(`more than ${this.maxItems} items`);
    return n;
  }

  /**
   * Reads a map key: a text string other than a forbidden key or, given `keys`, a key id.
   */
  key(keys?: readonly string[]): string {
    const major = this.head();
    if (major === 0 && keys !== undefined) {
      if (this.arg >= keys.length) fail(`unknown key id ${this.arg}`);
      return keys[this.arg];
    }
    if (major !== 3) fail("map keys must be text strings");
    const len = this.arg;
    const start = this.pos;
    const short = len <= MAX_CACHED_KEY && len <= this.end - start && len <= this.maxStringBytes;
    const slot = short ? keySlot(this.buf, start, len) : -1;
    if (short) {
      const cached = keyCache[slot];
      if (cached !== undefined && sameAscii(cached, this.buf, start, len)) {
        this.pos = start + len;
        return cached;
      }
    }
    const key = this.textBody(len);
    if (FORBIDDEN_KEYS.has(key)) throw new ProtocolError("forbidden_key", `key ${key}`);
    // As many UTF-16 units as bytes: all ASCII, so the byte comparison above can find it.
    if (short && key.length === len) keyCache[slot] = key;
    return key;
  }
}

/**
 * Recently read short ASCII map keys, by a hash of their bytes: every frame of a game repeats
 * the same few keys, and finding one here costs a comparison instead of a new string.
 */
const keyCache: (string | undefined)[] = new Array(512).fill(undefined);
const MAX_CACHED_KEY = 16;

function keySlot(buf: Uint8Array, start: number, len: number): number {
  let h = len;
  for (let i = 0; i < len; i++) h = (Math.imul(h, 31) + buf[start + i]) | 0;
  return (h ^ (h >>> 9)) & 511;
}

function sameAscii(key: string, buf: Uint8Array, start: number, len: number): boolean {
  if (key.length !== len) return false;
  for (let i = 0; i < len; i++) if (key.charCodeAt(i) !== buf[start + i]) return false;
  return true;
}

/**
 * What every frame shares: the kind byte, header varints, body checks and the field validators
 * used by the message codecs.
 *
 * @module
 */
import { CborReader } from "./cbor_reader.ts";
import { type CborWriter, FORBIDDEN_KEYS } from "./cbor_writer.ts";
import { ProtocolError } from "./errors.ts";
import type { DecodeLimits } from "./limits.ts";
import type { Path, Value } from "./types.ts";
import { checkVarint, readVarint, VARINT_MAX_BYTES, writeVarint } from "./varint.ts";

/**
 * The first byte of every frame. Client kinds are below 0x10, server kinds from 0x10.
 *
 * @example
 * ```ts
 * import { FRAME_KINDS } from "./frame.ts";
 * const frame = new Uint8Array([0x03, 0x05]);
 * console.log(frame[0] === FRAME_KINDS.ping); // true
 * ```
 */
export const FRAME_KINDS = Object.freeze(
  {
    join: 0x01,
    action: 0x02,
    ping: 0x03,
    leave: 0x04,
    welcome: 0x10,
    delta: 0x11,
    reject: 0x12,
    event: 0x13,
    game_over: 0x14,
    pong: 0x15,
    error: 0x16,
  } as const,
);

/** Throws `frame_too_large` or `empty_frame`; run before anything else reads the frame. */
export function checkFrame(frame: Uint8Array, limits: Required<DecodeLimits>): void {
  if (!(frame instanceof Uint8Array)) {
    throw new ProtocolError("bad_field", "a frame must be a Uint8Array");
  }
  if (frame.length > limits.maxFrameBytes) {
    throw new ProtocolError("frame_too_large", `${frame.length} bytes > ${limits.maxFrameBytes}`);
  }
  if (frame.length === 0) throw new ProtocolError("empty_frame");
}

/** A read position inside a frame, shared by the header reads. */
export class FrameCursor {
  /** Position of the next unread byte. */
  pos = 1;
  /** Creates a cursor just after the kind byte of `frame`. */
  constructor(readonly frame: Uint8Array) {}

  /** Reads one header varint. */
  varint(): number {
    return readVarint(this.frame, this.frame.length, this);
  }

  /** Throws `trailing_bytes` unless the frame ends here. */
  end(): void {
    if (this.pos !== this.frame.length) {
      throw new ProtocolError(
        "trailing_bytes",
        `${this.frame.length - this.pos} bytes after the message`,
      );
    }
  }

  /** A CBOR reader over the rest of the frame. */
  body(limits: Required<DecodeLimits>): CborReader {
    return new CborReader(this.frame, this.pos, this.frame.length, limits);
  }
}

/** Throws `trailing_bytes` unless `r` consumed the whole frame. */
export function endBody(r: CborReader): void {
  if (!r.atEnd()) {
    throw new ProtocolError("trailing_bytes", `${r.end - r.pos} bytes after the message`);
  }
}

/**
 * Writes the kind byte and the header varints into `w` (an empty writer from
 * `acquireWriter`).
 */
export function startFrame(
  w: CborWriter,
  kind: number,
  header: readonly number[],
  names: readonly string[],
): void {
  for (let i = 0; i < header.length; i++) checkVarint(header[i], names[i]);
  w.ensure(1 + header.length * VARINT_MAX_BYTES);
  w.buf[0] = kind;
  let pos = 1;
  for (let i = 0; i < header.length; i++) pos = writeVarint(header[i], w.buf, pos);
  w.pos = pos;
}

// ---------------------------------------------------------------------------------------------
// field validation, shared by the encoders (to refuse what the decoders would refuse) and the
// decoders (to turn generic Values into typed messages)

/** Throws `bad_field` for `field`. */
export function badField(field: string, want: string): never {
  throw new ProtocolError("bad_field", `${field} must be ${want}`);
}

/** `v` as a string, or `bad_field`. */
export function asString(v: unknown, field: string): string {
  if (typeof v !== "string") badField(field, "a string");
  return v;
}

/** `v` as a safe non-negative integer, or `bad_field`. */
export function asUint(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    badField(field, "an integer in [0, 2^53 - 1]");
  }
  return v;
}

/** `v` as a boolean, or `bad_field`. */
export function asBoolean(v: unknown, field: string): boolean {
  if (typeof v !== "boolean") badField(field, "a boolean");
  return v;
}

/** `v` as an array, or `bad_field`. */
export function asArray(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) badField(field, "an array");
  return v;
}

/** `v` as a text-keyed map (a plain object), or `bad_field`. */
export function asMap(v: unknown, field: string): { [key: string]: Value } {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    badField(field, "a map");
  }
  return v as { [key: string]: Value };
}

/** `v` as an array of strings, or `bad_field`. */
export function asStrings(v: unknown, field: string): string[] {
  const a = asArray(v, field);
  for (let i = 0; i < a.length; i++) asString(a[i], `${field}[${i}]`);
  return a as string[];
}

/** `v` as a delta key table: strings, none forbidden. */
export function asKeys(v: unknown, field: string): string[] {
  const keys = asStrings(v, field);
  for (const k of keys) {
    if (FORBIDDEN_KEYS.has(k)) throw new ProtocolError("forbidden_key", `${field}: ${k}`);
  }
  return keys;
}

/** `v` as a {@linkcode Path}: strings (not forbidden) and safe non-negative integers. */
export function asPath(v: unknown, field: string): Path {
  const a = asArray(v, field);
  for (let i = 0; i < a.length; i++) {
    const seg = a[i];
    if (typeof seg === "string") {
      if (FORBIDDEN_KEYS.has(seg)) throw new ProtocolError("forbidden_key", `${field}: ${seg}`);
    } else {
      asUint(seg, `${field}[${i}]`);
    }
  }
  return a as Path;
}

/** `v` as an array of paths. */
export function asPaths(v: unknown, field: string): Path[] {
  const a = asArray(v, field);
  for (let i = 0; i < a.length; i++) asPath(a[i], `${field}[${i}]`);
  return a as Path[];
}

/** Most bytes of an error code on the wire; longer codes are `bad_field`. */
export const MAX_CODE_BYTES = 64;
const CODE_PATTERN = /^[a-z][a-z0-9_]*$/;

/**
 * `v` as an error code. Unknown codes pass (forward compatibility: clients treat them like
 * `internal`) as long as they look like codes: `[a-z][a-z0-9_]*`, at most 64 bytes.
 */
export function asCode(v: unknown, field: string): string {
  const s = asString(v, field);
  if (s.length > MAX_CODE_BYTES || !CODE_PATTERN.test(s)) {
    badField(field, "an error code: [a-z][a-z0-9_]*, at most 64 bytes");
  }
  return s;
}

/**
 * Plain CBOR of one {@linkcode Value}: what persistence stores and what message bodies are made
 * of.
 *
 * @module
 */
import { CborReader } from "./cbor_reader.ts";
import { CborWriter } from "./cbor_writer.ts";
import { ProtocolError } from "./errors.ts";
import { type DecodeLimits, DEFAULT_OUTBOUND_LIMITS, resolveLimits } from "./limits.ts";
import type { Value } from "./types.ts";

/**
 * Encodes `v` as one CBOR item: integers as CBOR integers, other numbers as the smallest of
 * float16/float32/float64 that holds them exactly, `Uint8Array` as a byte string, plain objects
 * as text-keyed maps (properties set to `undefined` are skipped). Throws
 * {@linkcode ProtocolError} `bad_field` for anything that is not a `Value` (including NaN and
 * infinities) and `forbidden_key` for `__proto__`, `constructor` and `prototype` keys.
 *
 * @example
 * ```ts
 * import { encodeValue } from "./value.ts";
 * console.log(encodeValue({ x: 1.5, n: [1, -2] }));
 * // a2 61 78 f9 3e 00 61 6e 82 01 21
 * ```
 */
export function encodeValue(v: Value): Uint8Array {
  const w = new CborWriter();
  w.value(v);
  return w.finish();
}

/**
 * Decodes exactly one CBOR item into a `Value`, enforcing `limits` (default:
 * {@linkcode DEFAULT_OUTBOUND_LIMITS}) and the rules of PROTOCOL.md. Throws only
 * {@linkcode ProtocolError}.
 *
 * @example
 * ```ts
 * import { decodeValue } from "./value.ts";
 * console.log(decodeValue(new Uint8Array([0xa1, 0x61, 0x78, 0xf9, 0x3e, 0x00]))); // { x: 1.5 }
 * ```
 */
export function decodeValue(bytes: Uint8Array, limits?: DecodeLimits): Value {
  const lim = resolveLimits(limits, DEFAULT_OUTBOUND_LIMITS);
  if (bytes.length > lim.maxFrameBytes) {
    throw new ProtocolError("frame_too_large", `${bytes.length} bytes > ${lim.maxFrameBytes}`);
  }
  const r = new CborReader(bytes, 0, bytes.length, lim);
  const v = r.value();
  if (!r.atEnd()) {
    throw new ProtocolError("trailing_bytes", `${bytes.length - r.pos} bytes after the value`);
  }
  return v;
}

/**
 * Unsigned LEB128 varints for frame headers: 7 bits per byte, low group first, high bit set on
 * every byte but the last. At most 8 bytes and at most `2^53 - 1`, always minimal.
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";

/** Most bytes one header varint may take. */
export const VARINT_MAX_BYTES = 8;

/**
 * Bytes {@linkcode writeVarint} uses for `n`.
 *
 * @example
 * ```ts
 * import { varintLength } from "./varint.ts";
 * console.log(varintLength(127), varintLength(128)); // 1 2
 * ```
 */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/**
 * Checks that `n` can be a header field: a safe, non-negative integer.
 *
 * @example
 * ```ts
 * import { checkVarint } from "./varint.ts";
 * checkVarint(5, "seq"); // ok; checkVarint(-1, "seq") throws bad_field
 * ```
 */
export function checkVarint(n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ProtocolError("bad_field", `${field} must be an integer in [0, 2^53 - 1], got ${n}`);
  }
}

/**
 * Writes `n` (already checked) at `pos`; returns the position after it.
 *
 * @example
 * ```ts
 * import { writeVarint } from "./varint.ts";
 * const buf = new Uint8Array(2);
 * writeVarint(300, buf, 0); // buf = [0xac, 0x02]
 * ```
 */
export function writeVarint(n: number, buf: Uint8Array, pos: number): number {
  // 32-bit fast path: bit operations are exact below 2^31.
  if (n < 0x80000000) {
    while (n >= 0x80) {
      buf[pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[pos++] = n;
    return pos;
  }
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * Reads a varint at `pos` of `buf[..end)`. Returns the value; the position after it is left in
 * `cursor.pos`. Throws `bad_varint` when it is truncated, longer than 8 bytes, not minimal (a
 * last byte of 0x00 after others) or above `2^53 - 1`.
 *
 * @example
 * ```ts
 * import { readVarint } from "./varint.ts";
 * const cursor = { pos: 0 };
 * console.log(readVarint(new Uint8Array([0xac, 0x02]), 2, cursor), cursor.pos); // 300 2
 * ```
 */
export function readVarint(buf: Uint8Array, end: number, cursor: { pos: number }): number {
  let pos = cursor.pos;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < VARINT_MAX_BYTES; i++) {
    if (pos >= end) throw new ProtocolError("bad_varint", "truncated varint");
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (b === 0 && i > 0) throw new ProtocolError("bad_varint", "varint is not minimal");
      if (value > Number.MAX_SAFE_INTEGER) {
        throw new ProtocolError("bad_varint", "varint above 2^53 - 1");
      }
      cursor.pos = pos;
      return value;
    }
    scale *= 128;
  }
  throw new ProtocolError("bad_varint", `varint longer than ${VARINT_MAX_BYTES} bytes`);
}

/**
 * UTF-8 without `TextEncoder`/`TextDecoder`: the codec must also run in engines that lack them
 * (k6), and the decoder must reject what `TextDecoder` would silently repair.
 *
 * @module
 */

/**
 * The UTF-8 length of `s`; a lone surrogate counts as U+FFFD (3 bytes), as
 * {@linkcode utf8Write} writes it.
 *
 * @example
 * ```ts
 * import { utf8Length } from "./utf8.ts";
 * console.log(utf8Length("né")); // 3
 * ```
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        // A pair: two UTF-16 units, four bytes.
        len += 2;
        i++;
      } else {
        len += 2;
      }
    } else {
      len += 2;
    }
  }
  return len;
}

/**
 * Writes `s` as UTF-8 into `buf` at `pos` and returns the position after it. `buf` must have
 * {@linkcode utf8Length}`(s)` bytes free. Lone surrogates become U+FFFD, like `TextEncoder`.
 *
 * @example
 * ```ts
 * import { utf8Write } from "./utf8.ts";
 * const buf = new Uint8Array(3);
 * console.log(utf8Write("né", buf, 0)); // 3
 * ```
 */
export function utf8Write(s: string, buf: Uint8Array, pos: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[pos++] = 0xf0 | (cp >> 18);
          buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
          buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
          buf[pos++] = 0x80 | (cp & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/**
 * Encodes `s` as UTF-8.
 *
 * @example
 * ```ts
 * import { utf8Encode } from "./utf8.ts";
 * console.log(utf8Encode("hi")); // Uint8Array(2) [ 104, 105 ]
 * ```
 */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  utf8Write(s, out, 0);
  return out;
}

const CHUNK = 4096;

/**
 * Decodes the UTF-8 bytes `buf[start..end)`, or returns `undefined` when they are not valid
 * UTF-8 (overlong forms, surrogates, code points above U+10FFFF, truncated sequences).
 *
 * @example
 * ```ts
 * import { utf8Decode } from "./utf8.ts";
 * console.log(utf8Decode(new Uint8Array([104, 105]), 0, 2)); // "hi"
 * console.log(utf8Decode(new Uint8Array([0xc0, 0x80]), 0, 2)); // undefined
 * ```
 */
export function utf8Decode(buf: Uint8Array, start: number, end: number): string | undefined {
  // Short ASCII strings (most object keys) skip the code unit array.
  if (end - start <= 24) {
    let s = "";
    let i = start;
    for (; i < end; i++) {
      const c = buf[i];
      if (c >= 0x80) break;
      s += String.fromCharCode(c);
    }
    if (i === end) return s;
  }
  const units: number[] = [];
  let out = "";
  let i = start;
  while (i < end) {
    const b0 = buf[i];
    if (b0 < 0x80) {
      units.push(b0);
      i++;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      if (i + 1 >= end) return undefined;
      const b1 = buf[i + 1];
      if ((b1 & 0xc0) !== 0x80) return undefined;
      units.push(((b0 & 0x1f) << 6) | (b1 & 0x3f));
      i += 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      if (i + 2 >= end) return undefined;
      const b1 = buf[i + 1];
      const b2 = buf[i + 2];
      const lo = b0 === 0xe0 ? 0xa0 : 0x80;
      const hi = b0 === 0xed ? 0x9f : 0xbf;
      if (b1 < lo || b1 > hi || (b2 & 0xc0) !== 0x80) return undefined;
      units.push(((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f));
      i += 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      if (i + 3 >= end) return undefined;
      const b1 = buf[i + 1];
      const b2 = buf[i + 2];
      const b3 = buf[i + 3];
      const lo = b0 === 0xf0 ? 0x90 : 0x80;
      const hi = b0 === 0xf4 ? 0x8f : 0xbf;
      if (b1 < lo || b1 > hi || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return undefined;
      const cp = (((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)) -
        0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      i += 4;
    } else {
      return undefined;
    }
    if (units.length >= CHUNK) {
      out += String.fromCharCode.apply(null, units);
      units.length = 0;
    }
  }
  return out + String.fromCharCode.apply(null, units);
}

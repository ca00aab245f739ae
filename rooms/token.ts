/**
 * Unguessable identifiers: session tokens that let a player resume a seat, and room ids.
 *
 * @module
 */

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * A new session token: 144 random bits from `crypto.getRandomValues`, base64url (24 chars).
 * Whoever holds it can resume the seat, so it must never be derived from anything guessable.
 *
 * @example
 * ```ts
 * import { newSessionToken } from "./token.ts";
 * console.log(newSessionToken().length); // 24
 * ```
 */
export function newSessionToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  let out = "";
  // 18 bytes = 6 groups of 3 bytes = 24 base64 characters, no padding.
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64URL[(n >> 18) & 63] + BASE64URL[(n >> 12) & 63] + BASE64URL[(n >> 6) & 63] +
      BASE64URL[n & 63];
  }
  return out;
}

// No 0/o, 1/l/i: room ids get read aloud and typed from screenshots.
const ROOM_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

/**
 * A room id of `length` characters (default 8, ~39 bits: easy to read out and share; private
 * rooms take 16, ~79 bits, as their id is their invitation). `random` defaults to crypto
 * randomness; pass a seeded source for deterministic tests.
 *
 * @example
 * ```ts
 * import { newRoomId } from "./token.ts";
 * console.log(/^[a-z2-9]{8}$/.test(newRoomId()));
 * ```
 */
export function newRoomId(random?: () => number, length = 8): string {
  let out = "";
  if (random) {
    for (let i = 0; i < length; i++) {
      out += ROOM_ALPHABET[Math.floor(random() * ROOM_ALPHABET.length)];
    }
    return out;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  // 256 % 31 leaves a bias below 1%: fine for ids, which are checked for collisions anyway.
  for (const b of bytes) out += ROOM_ALPHABET[b % ROOM_ALPHABET.length];
  return out;
}

/**
 * Compares two strings in time independent of where they differ, for secrets.
 *
 * @example
 * ```ts
 * import { safeEqual } from "./token.ts";
 * console.log(safeEqual("abc", "abc"), safeEqual("abc", "abd")); // true false
 * ```
 */
export function safeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Decode limits: how much work and memory one frame may cost the receiver.
 *
 * @module
 */

/**
 * Bounds a decoder enforces. Missing fields take the direction's defaults
 * ({@linkcode DEFAULT_INBOUND_LIMITS} or {@linkcode DEFAULT_OUTBOUND_LIMITS}).
 *
 * @example
 * ```ts
 * import type { DecodeLimits } from "./limits.ts";
 * const strict: DecodeLimits = { maxFrameBytes: 4096, maxDepth: 8 };
 * ```
 */
export interface DecodeLimits {
  /** Largest frame accepted, in bytes; checked before any parsing (`frame_too_large`). */
  maxFrameBytes?: number;
  /** Deepest nesting of CBOR arrays and maps (`bad_cbor`). */
  maxDepth?: number;
  /** Most CBOR data items in one frame, map keys included (`bad_cbor`). */
  maxItems?: number;
  /** Longest text or byte string, in bytes (`bad_cbor`). */
  maxStringBytes?: number;
}

/**
 * What a server accepts from a client: small frames, shallow payloads.
 *
 * @example
 * ```ts
 * import { DEFAULT_INBOUND_LIMITS } from "./limits.ts";
 * console.log(DEFAULT_INBOUND_LIMITS.maxFrameBytes); // 16384
 * ```
 */
export const DEFAULT_INBOUND_LIMITS: Readonly<Required<DecodeLimits>> = Object.freeze({
  maxFrameBytes: 16 * 1024,
  maxDepth: 32,
  maxItems: 4096,
  maxStringBytes: 8 * 1024,
});

/**
 * How many refused actions a server remembers per seat, to repeat them in a resume's welcome
 * (a `reject` in flight when the connection dropped is lost with it); and so the most actions a
 * client keeps unsettled on the wire, so that every refusal it may have missed is among them
 * (PROTOCOL.md 6.3). Enough for a client sending at the default rate limit (30 a second) over
 * two seconds of round trip and tick: in a game that acknowledges on its tick, a smaller window
 * would hold back a fast sender's actions ever longer.
 *
 * @example
 * ```ts
 * import { REMEMBERED_REFUSALS } from "./limits.ts";
 * console.log(REMEMBERED_REFUSALS); // 64
 * ```
 */
export const REMEMBERED_REFUSALS = 64;

/**
 * What a client accepts from a server: a `welcome` carries the whole visible state, so frames
 * may be large, but nesting stays bounded so decoding cannot exhaust the stack.
 *
 * @example
 * ```ts
 * import { DEFAULT_OUTBOUND_LIMITS } from "./limits.ts";
 * console.log(DEFAULT_OUTBOUND_LIMITS.maxFrameBytes); // 4194304
 * ```
 */
export const DEFAULT_OUTBOUND_LIMITS: Readonly<Required<DecodeLimits>> = Object.freeze({
  maxFrameBytes: 4 * 1024 * 1024,
  maxDepth: 64,
  maxItems: 1024 * 1024,
  maxStringBytes: 1024 * 1024,
});

/** Fills the missing fields of `limits` from `defaults`. */
export function resolveLimits(
  limits: DecodeLimits | undefined,
  defaults: Readonly<Required<DecodeLimits>>,
): Required<DecodeLimits> {
  if (limits === undefined) return defaults;
  // Already complete (e.g. resolved once per server): use as is, allocating nothing per frame.
  if (
    limits.maxFrameBytes !== undefined && limits.maxDepth !== undefined &&
    limits.maxDepth <= 1000 && limits.maxItems !== undefined &&
    limits.maxStringBytes !== undefined
  ) {
    return limits as Required<DecodeLimits>;
  }
  return {
    maxFrameBytes: limits.maxFrameBytes ?? defaults.maxFrameBytes,
    // Decoding recurses once per level: keep far from the engine's stack limit.
    maxDepth: Math.min(limits.maxDepth ?? defaults.maxDepth, 1000),
    maxItems: limits.maxItems ?? defaults.maxItems,
    maxStringBytes: limits.maxStringBytes ?? defaults.maxStringBytes,
  };
}

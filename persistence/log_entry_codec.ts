/**
 * How a logged action is laid out in Deno KV, whose values hold at most 64 KiB. A small
 * payload (the common case) stays inline in the entry; a larger one is stored as CBOR split
 * into parts of their own keys, written in the same commit as the entry.
 *
 * @module
 */
import { decodeValue, encodeValue, type Value } from "../protocol/mod.ts";
import type { JournalEntry } from "../rooms/mod.ts";
import { PersistenceError } from "./errors.ts";

/**
 * Largest payload (as CBOR) kept inline. KV stores values in V8's serialization, which takes
 * up to 7 bytes for a 1-byte CBOR item (measured: an array of empty byte strings), so 8 KiB of
 * CBOR always fits one 64 KiB value next to the entry's other fields.
 */
export const INLINE_PAYLOAD_BYTES = 8 * 1024;
/** Size of each stored part of a large payload (a KV value holds at most 64 KiB). */
export const LOG_PART_BYTES = 60 * 1024;
/** Most parts one entry may take: they share one atomic commit (≤ 800 KiB) with the entry. */
export const MAX_LOG_PARTS = 11;

/** A logged action as stored: a large payload is replaced by the number of its parts. */
export interface StoredLogEntry extends JournalEntry {
  /** Set when the payload is stored in parts (`payload` is then null). */
  payloadParts?: number;
}

/** A log entry ready to be written: the entry's value and the payload's parts, if any. */
export interface EncodedLogEntry {
  value: StoredLogEntry;
  parts: Uint8Array[];
}

// A payload the room accepted may be larger than any inbound frame default allows.
const PAYLOAD_LIMITS = {
  maxFrameBytes: MAX_LOG_PARTS * LOG_PART_BYTES,
  maxDepth: 256,
  maxItems: 16 * 1024 * 1024,
  maxStringBytes: MAX_LOG_PARTS * LOG_PART_BYTES,
};

/**
 * Lays `entry` out for KV. Throws {@linkcode PersistenceError} `log_entry_too_large` when the
 * payload does not fit one commit (`MAX_FRAME_BYTES` is capped so that a frame always does).
 *
 * @example
 * ```ts
 * import { encodeLogEntry } from "./log_entry_codec.ts";
 * const entry = { index: 1, seq: 1, time: 0, player: "p1", action: "post", payload: "x".repeat(20_000) };
 * console.log(encodeLogEntry(entry).parts.length); // 1
 * ```
 */
export function encodeLogEntry(entry: JournalEntry): EncodedLogEntry {
  const payload = encodeValue(entry.payload);
  if (payload.length <= INLINE_PAYLOAD_BYTES) return { value: entry, parts: [] };
  const count = Math.ceil(payload.length / LOG_PART_BYTES);
  if (count > MAX_LOG_PARTS) {
    throw new PersistenceError(
      "log_entry_too_large",
      `Action ${entry.index} has a ${payload.length}-byte payload; a logged action holds at most ${
        MAX_LOG_PARTS * LOG_PART_BYTES
      } bytes.`,
    );
  }
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(payload.subarray(i * LOG_PART_BYTES, (i + 1) * LOG_PART_BYTES));
  }
  return { value: { ...entry, payload: null, payloadParts: count }, parts };
}

/**
 * Joins a large payload's stored parts and decodes it. Throws {@linkcode PersistenceError}
 * `snapshot_corrupt` when parts are missing or the bytes are not a value.
 *
 * @example
 * ```ts
 * import { decodeLogPayload, encodeLogEntry } from "./log_entry_codec.ts";
 * const entry = { index: 1, time: 0, player: "p1", action: "post", payload: "x".repeat(20_000) };
 * const { parts } = encodeLogEntry(entry);
 * console.log(decodeLogPayload("r1", 1, 1, parts) === entry.payload); // true
 * ```
 */
export function decodeLogPayload(
  room: string,
  index: number,
  expected: number,
  parts: readonly unknown[],
): Value {
  if (parts.length !== expected || !parts.every((part) => part instanceof Uint8Array)) {
    throw new PersistenceError(
      "snapshot_corrupt",
      `Logged action ${index} of room ${room} has ${parts.length} of ${expected} payload parts.`,
    );
  }
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  try {
    return decodeValue(bytes, PAYLOAD_LIMITS);
  } catch (error) {
    throw new PersistenceError(
      "snapshot_corrupt",
      `Logged action ${index} of room ${room} does not decode: ${error}`,
    );
  }
}

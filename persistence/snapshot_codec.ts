/**
 * Snapshot bytes: a {@linkcode RoomSnapshot} as one CBOR value (the protocol's own codec, so
 * states holding `Uint8Array`s round-trip), with a version check that refuses snapshots from
 * newer releases and migrates older ones.
 *
 * @module
 */
import { decodeValue, encodeValue, type Value } from "../protocol/mod.ts";
import { type RoomSnapshot, SNAPSHOT_VERSION } from "../rooms/mod.ts";
import { PersistenceError } from "./errors.ts";

// A stored snapshot may be far larger than any frame; its nesting is the game's state's.
const SNAPSHOT_LIMITS = {
  maxFrameBytes: 256 * 1024 * 1024,
  maxDepth: 256,
  maxItems: 64 * 1024 * 1024,
  maxStringBytes: 256 * 1024 * 1024,
};

/**
 * Encodes a room snapshot for storage.
 *
 * @example
 * ```ts
 * import { decodeSnapshot, encodeSnapshot } from "./snapshot_codec.ts";
 * import { ManualClock, RoomManager } from "../rooms/mod.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const manager = new RoomManager({ games: [ticTacToe], clock: new ManualClock() });
 * const snapshot = manager.create("tic_tac_toe").snapshot();
 * console.log(decodeSnapshot(encodeSnapshot(snapshot)).room === snapshot.room); // true
 * manager.dispose();
 * ```
 */
export function encodeSnapshot(snapshot: RoomSnapshot): Uint8Array {
  return encodeValue(snapshot as unknown as Value);
}

/**
 * Decodes stored snapshot bytes, migrating older versions to the current shape. Throws
 * {@linkcode PersistenceError}: `snapshot_version` for a snapshot from a newer release,
 * `snapshot_corrupt` for bytes that are not a snapshot.
 *
 * @example
 * ```ts
 * import { decodeSnapshot } from "./snapshot_codec.ts";
 * try {
 *   decodeSnapshot(new Uint8Array([0x01]));
 * } catch (error) {
 *   console.log((error as { code: string }).code); // "snapshot_corrupt"
 * }
 * ```
 */
export function decodeSnapshot(bytes: Uint8Array): RoomSnapshot {
  let value: Value;
  try {
    value = decodeValue(bytes, SNAPSHOT_LIMITS);
  } catch (error) {
    throw new PersistenceError("snapshot_corrupt", `Snapshot bytes do not decode: ${error}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new PersistenceError("snapshot_corrupt", "A snapshot must be a map.");
  }
  const version = (value as { version?: unknown }).version;
  if (typeof version !== "number" || !Number.isInteger(version) || version < 1) {
    throw new PersistenceError("snapshot_corrupt", `Snapshot version ${version} is not valid.`);
  }
  if (version > SNAPSHOT_VERSION) {
    throw new PersistenceError(
      "snapshot_version",
      `Room snapshot version ${version} was written by a newer release (this one reads up to ${SNAPSHOT_VERSION}); upgrade the server.`,
    );
  }
  // Version 1 is the only shape so far; later versions add their migrations here, oldest first.
  const snapshot = value as unknown as RoomSnapshot;
  for (const field of ["room", "game", "seed"] as const) {
    if (typeof snapshot[field] !== "string") {
      throw new PersistenceError("snapshot_corrupt", `Snapshot field ${field} is missing.`);
    }
  }
  if (!Number.isSafeInteger(snapshot.seq) || !Array.isArray(snapshot.seats)) {
    throw new PersistenceError("snapshot_corrupt", "Snapshot seq or seats are missing.");
  }
  return snapshot;
}

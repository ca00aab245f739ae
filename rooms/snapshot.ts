/**
 * The plain-data form of a room, for the persistence layer: everything needed to bring a
 * room back after a restart with its sequences continuing and its deadlines running from the
 * stored times. Snapshots are JSON-compatible apart from whatever the game keeps in its state
 * (Arbiter values may hold `Uint8Array`s); store them with a structured or CBOR codec.
 *
 * @module
 */
import type { Outcome, Presence, SettledReject, Value } from "../protocol/types.ts";
import type { RandomState } from "./rng.ts";

/** The version of {@linkcode RoomSnapshot}'s shape. */
export const SNAPSHOT_VERSION = 1;

/**
 * One seat in a snapshot.
 *
 * @example
 * ```ts
 * import type { SeatSnapshot } from "./snapshot.ts";
 * const seat: SeatSnapshot = {
 *   seat: 0, player: "p1", name: "ann", userId: null, presence: "connected",
 *   session: "secret-token", ack: 4, lastSeq: 5, graceDeadline: null,
 * };
 * ```
 */
export interface SeatSnapshot {
  /** Seat index, 0-based. */
  seat: number;
  /** Player id (`p1` for seat 0). */
  player: string;
  name: string;
  /** The authenticated user bound to the seat, or null. */
  userId: string | null;
  presence: Presence;
  /** The resume token (secret: store snapshots where only the server can read them). */
  session: string;
  /** Highest client sequence applied. */
  ack: number;
  /** Highest client sequence seen (applied or rejected). */
  lastSeq: number;
  /** When a dropped player's seat expires, ms since the epoch; null when not in grace. */
  graceDeadline: number | null;
  /**
   * The seat's last refused actions (at most `REMEMBERED_REFUSALS`, oldest first), which a resume's `welcome`
   * repeats so that a refusal lost with a connection, or with a restart, still settles as
   * refused. Absent when there are none (and in snapshots written before it existed).
   */
  rejects?: SettledReject[];
}

/**
 * Everything about a room but its connections and its replay rings.
 *
 * @example
 * ```ts
 * import { ManualClock, RoomManager } from "./mod.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const clock = new ManualClock();
 * const manager = new RoomManager({ games: [ticTacToe], clock });
 * const room = manager.create("tic_tac_toe");
 * const snapshot = room.snapshot(); // plain data: store it
 * manager.dispose();
 * const again = new RoomManager({ games: [ticTacToe], clock });
 * console.log(again.restore(snapshot).seq === snapshot.seq); // true
 * again.dispose();
 * ```
 */
export interface RoomSnapshot {
  version: typeof SNAPSHOT_VERSION;
  /** Game name. */
  game: string;
  /** Room id. */
  room: string;
  /** The room's checked options. */
  options: Value;
  /** Hidden from listings and join-or-create. */
  private: boolean;
  /** The seed the room's generator started from. */
  seed: string;
  /** The generator's current state. */
  random: RandomState;
  /** Room sequence of the last broadcast. */
  seq: number;
  /** Actions (and timeouts) applied so far; the last journal entry's index. */
  actionIndex: number;
  /** Server time of the last broadcast. */
  time: number;
  /** The game state. */
  state: Value;
  /** Whether an action was ever applied (late joins may be refused after). */
  started: boolean;
  seats: SeatSnapshot[];
  /** When the running turn clock fires, or null. */
  turnDeadline: number | null;
  createdAt: number;
  /** Time of the last state-changing step. */
  updatedAt: number;
  /** The result, once the game ended. */
  outcome: Outcome | null;
  /** When the game ended (the room is disposed `finishedRetentionMs` later), or null. */
  finishedAt: number | null;
}

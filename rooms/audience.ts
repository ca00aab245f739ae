/**
 * An audience: the members of a room who see the same view. It owns what they were last
 * sent (a {@linkcode Mirror}), the delta tables they share (a `DeltaEncoder`), and a ring of
 * recent broadcast bodies for resumes. One diff and one encoded body per broadcast serve all
 * of its members; each member then only gets its own few header bytes.
 *
 * @module
 */
import { DeltaEncoder } from "../protocol/mod.ts";
import type { Path, Value } from "../protocol/types.ts";
import { Mirror } from "./diff.ts";

/** One past broadcast of an audience, kept for resumes. */
export interface RingEntry {
  /** Room sequence of the broadcast. */
  seq: number;
  /** Milliseconds since the broadcast before it. */
  dt: number;
  /** The encoded ops body every member of the audience got. */
  body: Uint8Array;
}

/** What a replaying resume gets: the missed broadcasts and the time of the first one's base. */
export interface Replay {
  /** Server time of broadcast `seq` (the client's last), for the replaying `welcome`. */
  time: number;
  /** Broadcasts after it, oldest first. */
  entries: RingEntry[];
}

/**
 * The shared state of one view's recipients.
 *
 * @example
 * ```ts
 * import { Audience } from "./audience.ts";
 * const audience = new Audience(null, { score: 0 }, 0, 16);
 * const body = audience.update({ score: 1 });
 * audience.record(1, 50, body);
 * console.log(audience.replay(0, 1, 1_050)?.entries.length); // 1
 * ```
 */
export class Audience<M = unknown> {
  /** Whose view this is: a player id, or null for spectators and for games without views. */
  readonly viewer: string | null;
  /** Members currently attached (live connections). */
  readonly members: Set<M> = new Set();
  readonly #mirror: Mirror;
  readonly #encoder = new DeltaEncoder();
  /** Grows to `#ringSize` as broadcasts come: a short game never pays for the whole ring. */
  readonly #ring: RingEntry[] = [];
  readonly #ringSize: number;
  #ringStart = 0;
  #ringCount = 0;
  /** The oldest client sequence a replay may start from. */
  readonly #replayFloor: number;

  /**
   * Starts at `view` as of room sequence `seq`, keeping the last `ringSize` broadcasts.
   * The key table is seeded from the first view, so early deltas need no literal keys; this
   * is safe only now, before any member got the tables.
   *
   * `replayFloor` (default `seq`) is the oldest sequence a resuming client may replay from.
   * An audience that replaces an earlier one (after a restore) passes `seq + 1`: a client
   * that stopped at `seq` holds the old audience's tables, not this one's, and needs a full
   * state.
   */
  constructor(
    viewer: string | null,
    view: unknown,
    seq: number,
    ringSize: number,
    replayFloor: number = seq,
  ) {
    this.viewer = viewer;
    this.#mirror = new Mirror(view);
    this.#encoder.learnKeys(this.#mirror.value);
    this.#ringSize = Math.max(0, ringSize);
    this.#replayFloor = replayFloor;
  }

  /** What the members hold as of the last broadcast (owned by the audience). */
  get state(): Value {
    return this.#mirror.value;
  }

  /** The current key table, for a full `welcome`. */
  keys(): string[] {
    return this.#encoder.keys();
  }

  /** The current target table, for a full `welcome`. */
  refs(): Path[] {
    return this.#encoder.refs();
  }

  /**
   * Brings the mirror up to `view` and returns what changed as the ops body all members get
   * (empty when nothing did), growing the shared tables. The diff feeds the encoder directly,
   * so no op objects are made. Throws when `view` is not data or cannot be encoded; the
   * tables are then as before, but the mirror may be half updated: replace the audience.
   */
  update(view: unknown): Uint8Array {
    const encoder = this.#encoder;
    encoder.begin();
    try {
      this.#mirror.updateInto(view, encoder);
    } catch (error) {
      encoder.abort();
      throw error;
    }
    return encoder.finish();
  }

  /** Remembers a broadcast for resumes, dropping the oldest when the ring is full. */
  record(seq: number, dt: number, body: Uint8Array): void {
    const size = this.#ringSize;
    if (size === 0) return;
    const entry: RingEntry = { seq, dt, body };
    if (this.#ringCount < size) {
      // Not full yet, so nothing was overwritten: the ring starts at 0 and grows at the end.
      this.#ring.push(entry);
      this.#ringCount++;
    } else {
      this.#ring[this.#ringStart] = entry;
      this.#ringStart = (this.#ringStart + 1) % size;
    }
  }

  /**
   * The broadcasts after `since` up to `seq` (the room's current sequence), or null when some
   * are no longer in the ring, or `since` is not a sequence this audience ever had.
   * `time` is the current broadcast time; the base time is worked back from it.
   */
  replay(since: number, seq: number, time: number): Replay | null {
    if (!Number.isSafeInteger(since) || since < this.#replayFloor || since > seq) return null;
    const missed = seq - since;
    if (missed > this.#ringCount) return null;
    const size = this.#ringSize;
    const entries: RingEntry[] = [];
    for (let i = this.#ringCount - missed; i < this.#ringCount; i++) {
      entries.push(this.#ring[(this.#ringStart + i) % size]);
    }
    // Every broadcast since the audience started is in the ring, so the sequences are
    // contiguous; check anyway, since a gap would corrupt the client's mirror.
    for (let i = 0; i < entries.length; i++) {
      if (entries[i].seq !== since + 1 + i) return null;
    }
    let base = time;
    for (const entry of entries) base -= entry.dt;
    return { time: base, entries };
  }
}

/**
 * Room persistence in Deno KV: snapshots of any size (chunked, switched atomically), an
 * append-only action log for `log` durability, and expiry that does not trust `expireIn`.
 *
 * Key layout (all under the store's prefix, default `["arbiter"]`):
 *
 * | key | value |
 * | --- | --- |
 * | `meta, <id>` | {@linkcode SnapshotMeta}: version, game, generation, chunk count, seq, expiry |
 * | `rooms, <id>, chunk, <generation>, <i>` | `Uint8Array` part `i` of snapshot `generation` |
 * | `rooms, <id>, log, <actionIndex>` | {@linkcode LogEntry} (log durability) |
 * | `rooms, <id>, head` | `{ index }`: last logged action index (checked on append) |
 *
 * Resume tokens need no keys of their own: they are part of each seat in the snapshot.
 *
 * @module
 */
import type { JournalEntry } from "../rooms/mod.ts";
import { retryLocked } from "./kv_retry.ts";

/** Current snapshot format version; loaders refuse newer ones and migrate older ones. */
export const SNAPSHOT_FORMAT_VERSION = 1;

// Deno KV: values ≤ 64 KiB, ≤ 800 KiB and ≤ 1000 mutations per atomic commit.
const DEFAULT_CHUNK_BYTES = 60 * 1024;
const MAX_COMMIT_BYTES = 700 * 1024;
/** Chunks written plus chunks deleted that one commit may carry (KV allows 1000 mutations). */
const MAX_MUTATIONS_WITH_DELETES = 900;

/** What the store keeps about a room's latest snapshot. */
export interface SnapshotMeta {
  version: number;
  room: string;
  game: string;
  /** Snapshot generation: chunks of older generations are garbage once this is written. */
  generation: number;
  chunks: number;
  bytes: number;
  /** Room sequence and action index the snapshot was taken at. */
  seq: number;
  actionIndex: number;
  /**
   * A room sequence the room will not reach before its next snapshot: a room restored after a
   * crash continues from here, so sequences stay monotonic even for deltas that went out
   * after this snapshot.
   */
  seqCeiling: number;
  status: string;
  savedAt: number;
  /** When the room's data may be deleted (ms since epoch); checked by {@linkcode KvRoomStore.sweep}. */
  expiresAt: number;
}

/** One accepted action, as logged in `log` durability mode before it is acknowledged. */
export type LogEntry = JournalEntry;

/** A typed failure of the store (e.g. a snapshot written by a newer release). */
export class PersistenceError extends Error {
  /** `snapshot_version`, `snapshot_corrupt` or `log_conflict`. */
  readonly code: "snapshot_version" | "snapshot_corrupt" | "log_conflict";
  /** Creates the error. */
  constructor(code: PersistenceError["code"], message: string) {
    super(message);
    this.name = "PersistenceError";
    this.code = code;
  }
}

/** Options of {@linkcode KvRoomStore}. */
export interface KvRoomStoreOptions {
  /** Key prefix, default `["arbiter"]`. */
  prefix?: Deno.KvKey;
  /** Snapshot chunk size in bytes (≤ 64 KiB), default 60 KiB. */
  chunkBytes?: number;
  /** Clock for expiry, ms. */
  now?: () => number;
  /** Called with the duration of each KV write, ms (metrics). */
  onWrite?: (ms: number) => void;
  /**
   * The check that fences writes of `room`'s owner (`cluster/`: the room's owner record), or
   * null for none. Log appends, snapshot switches and room deletions commit only while it
   * holds, so an instance that lost a room cannot write it anymore.
   */
  fence?: (room: string) => Deno.AtomicCheck | null | Promise<Deno.AtomicCheck | null>;
}

/**
 * Deno KV storage for rooms. Snapshot bytes are opaque here (the room layer encodes them).
 *
 * @example
 * ```ts
 * import { KvRoomStore } from "./kv_store.ts";
 * const kv = await Deno.openKv(":memory:");
 * const store = new KvRoomStore(kv);
 * await store.saveSnapshot({
 *   room: "r1", game: "tic_tac_toe", seq: 3, actionIndex: 3, seqCeiling: 1003,
 *   status: "playing", expiresAt: Date.now() + 60_000,
 * }, new Uint8Array([1, 2, 3]));
 * const loaded = await store.loadSnapshot("r1");
 * console.log(loaded?.bytes.length); // 3
 * kv.close();
 * ```
 */
export class KvRoomStore {
  readonly kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  readonly #chunkBytes: number;
  readonly #now: () => number;
  readonly #onWrite: (ms: number) => void;
  readonly #fence: KvRoomStoreOptions["fence"];
  /** Versionstamp of each room's log head as this store last wrote it (saves a read). */
  readonly #heads = new Map<string, { index: number; versionstamp: string | null }>();
  /** Each room's snapshot meta as this store last wrote it (saves a read per snapshot). */
  readonly #metas = new Map<string, Deno.KvEntry<SnapshotMeta>>();

  /** Wraps an open Deno KV handle. */
  constructor(kv: Deno.Kv, options: KvRoomStoreOptions = {}) {
    this.kv = kv;
    this.#prefix = options.prefix ?? ["arbiter"];
    this.#chunkBytes = Math.min(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, 64 * 1024 - 256);
    this.#now = options.now ?? Date.now;
    this.#onWrite = options.onWrite ?? (() => {});
    this.#fence = options.fence;
  }

  /** Adds the owner's fence (if any) to `atomic`. */
  async #fenced(room: string, atomic: Deno.AtomicOperation): Promise<void> {
    // (An AtomicOperation cannot be a promise's value: it has a `then` that throws.)
    const check = await this.#fence?.(room);
    if (check) atomic.check(check);
  }

  #roomKey(room: string, ...rest: Deno.KvKeyPart[]): Deno.KvKey {
    return [...this.#prefix, "rooms", room, ...rest];
  }

  // Metadata has its own key space so that listing rooms reads no chunks or log entries.
  #metaKey(room: string): Deno.KvKey {
    return [...this.#prefix, "meta", room];
  }

  /**
   * Writes a snapshot. Chunks go under a new generation in as many commits as KV's limits
   * need; one final atomic commit switches `meta` to it (checked against concurrent writers),
   * so a reader sees the old snapshot or the new one, never a mix.
   */
  async saveSnapshot(
    meta: Omit<SnapshotMeta, "version" | "generation" | "chunks" | "bytes" | "savedAt">,
    bytes: Uint8Array,
  ): Promise<SnapshotMeta> {
    const started = performance.now();
    const metaKey = this.#metaKey(meta.room);
    // What this store wrote last saves a read; if someone else wrote since, the check below
    // fails and the save is tried once more from what is really stored.
    const cached = this.#metas.get(meta.room);
    const previous = cached ?? await this.kv.get<SnapshotMeta>(metaKey);
    const generation = (previous.value?.generation ?? 0) + 1;
    const chunks = Math.max(1, Math.ceil(bytes.length / this.#chunkBytes));
    const next: SnapshotMeta = {
      ...meta,
      version: SNAPSHOT_FORMAT_VERSION,
      generation,
      chunks,
      bytes: bytes.length,
      savedAt: this.#now(),
    };
    const expireIn = Math.max(1, meta.expiresAt - this.#now());
    // Small snapshots (the common case) take a single commit with the meta switch.
    let atomic = this.kv.atomic();
    let pending = 0;
    for (let i = 0; i < chunks; i++) {
      const part = bytes.subarray(i * this.#chunkBytes, (i + 1) * this.#chunkBytes);
      if (pending + part.length > MAX_COMMIT_BYTES) {
        await this.#commit(atomic);
        atomic = this.kv.atomic();
        pending = 0;
      }
      atomic.set(this.#roomKey(meta.room, "chunk", generation, i), part, { expireIn });
      pending += part.length;
    }
    atomic.check(previous).set(metaKey, next, { expireIn });
    const old = previous.value;
    // The replaced chunks go in the same commit when KV's mutation limit allows (always, but
    // for snapshots of tens of megabytes); their keys follow from the old meta.
    const deleteNow = old !== null && old.chunks + chunks <= MAX_MUTATIONS_WITH_DELETES;
    if (deleteNow) {
      for (let i = 0; i < old.chunks; i++) {
        atomic.delete(this.#roomKey(meta.room, "chunk", old.generation, i));
      }
    }
    await this.#fenced(meta.room, atomic);
    const result = await retryLocked(() => atomic.commit());
    if (!result.ok) {
      this.#metas.delete(meta.room);
      if (cached) return this.saveSnapshot(meta, bytes);
      throw new PersistenceError(
        "log_conflict",
        `Snapshot of room ${meta.room} raced another writer; the room has two owners.`,
      );
    }
    this.#metas.set(meta.room, { key: metaKey, value: next, versionstamp: result.versionstamp });
    if (old && !deleteNow) await this.#deleteGeneration(meta.room, old.generation);
    this.#onWrite(performance.now() - started);
    return next;
  }

  /** Reads the latest snapshot, or null. Throws {@linkcode PersistenceError} on a bad one. */
  async loadSnapshot(room: string): Promise<{ meta: SnapshotMeta; bytes: Uint8Array } | null> {
    const meta = (await this.kv.get<SnapshotMeta>(this.#metaKey(room))).value;
    if (!meta) return null;
    if (meta.version > SNAPSHOT_FORMAT_VERSION) {
      throw new PersistenceError(
        "snapshot_version",
        `Room ${room} was saved in snapshot format ${meta.version}; this release reads up to ${SNAPSHOT_FORMAT_VERSION}. Upgrade the server.`,
      );
    }
    const bytes = new Uint8Array(meta.bytes);
    let offset = 0;
    const prefix = this.#roomKey(room, "chunk", meta.generation);
    for await (const entry of this.kv.list<Uint8Array>({ prefix })) {
      bytes.set(entry.value, offset);
      offset += entry.value.length;
    }
    if (offset !== meta.bytes) {
      throw new PersistenceError(
        "snapshot_corrupt",
        `Room ${room} snapshot ${meta.generation} has ${offset} of ${meta.bytes} bytes.`,
      );
    }
    return { meta, bytes };
  }

  /** The metadata of `room`'s latest snapshot, or null when nothing is stored. */
  async readMeta(room: string): Promise<SnapshotMeta | null> {
    return (await this.kv.get<SnapshotMeta>(this.#metaKey(room))).value;
  }

  /** Metadata of every stored room (for recovery at boot and listings). */
  async listRooms(): Promise<SnapshotMeta[]> {
    const metas: SnapshotMeta[] = [];
    for await (const entry of this.kv.list<SnapshotMeta>({ prefix: [...this.#prefix, "meta"] })) {
      metas.push(entry.value);
    }
    return metas;
  }

  /**
   * Appends an accepted action to the room's log, atomically with the room's log head, and
   * checked against the head this store last saw: it fails with `log_conflict` if anyone
   * else appended meanwhile (two owners) or the index does not follow the head.
   */
  async appendLog(room: string, entry: LogEntry, expiresAt: number): Promise<void> {
    const started = performance.now();
    const headKey = this.#roomKey(room, "head");
    let head = this.#heads.get(room);
    if (head === undefined) {
      const stored = await this.kv.get<{ index: number }>(headKey);
      head = { index: stored.value?.index ?? 0, versionstamp: stored.versionstamp };
    }
    if (entry.index <= head.index) {
      throw new PersistenceError(
        "log_conflict",
        `Action ${entry.index} of room ${room} is already logged (head ${head.index}).`,
      );
    }
    const expireIn = Math.max(1, expiresAt - this.#now());
    const atomic = this.kv.atomic();
    await this.#fenced(room, atomic);
    atomic
      .check({ key: headKey, versionstamp: head.versionstamp })
      .set(this.#roomKey(room, "log", entry.index), entry, { expireIn })
      .set(headKey, { index: entry.index }, { expireIn });
    const result = await retryLocked(() => atomic.commit());
    if (!result.ok) {
      this.#heads.delete(room);
      throw new PersistenceError("log_conflict", `Room ${room}'s log was appended concurrently.`);
    }
    this.#heads.set(room, { index: entry.index, versionstamp: result.versionstamp });
    this.#onWrite(performance.now() - started);
  }

  /** Logged actions with an index above `afterIndex`, in order. */
  async readLog(room: string, afterIndex: number): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    const iter = this.kv.list<LogEntry>({
      start: this.#roomKey(room, "log", afterIndex + 1),
      end: this.#roomKey(room, "log", Number.MAX_SAFE_INTEGER),
    });
    for await (const entry of iter) entries.push(entry.value);
    return entries;
  }

  /** Drops log entries at or below `uptoIndex` (they are in a snapshot now). */
  async trimLog(room: string, uptoIndex: number): Promise<void> {
    await this.#deleteAll({
      start: this.#roomKey(room, "log", 0),
      end: this.#roomKey(room, "log", uptoIndex + 1),
    });
  }

  /**
   * Forgets what this store remembers of `room` between calls (the log head it last wrote):
   * call it when the room stops or starts running here, as another instance may write it.
   */
  forget(room: string): void {
    this.#heads.delete(room);
    this.#metas.delete(room);
  }

  /** Deletes everything stored for a room. */
  async deleteRoom(room: string): Promise<void> {
    this.#heads.delete(room);
    this.#metas.delete(room);
    // Metadata first: a room without it is invisible, so a half-finished delete is harmless.
    const atomic = this.kv.atomic();
    await this.#fenced(room, atomic);
    atomic.delete(this.#metaKey(room));
    if (!(await retryLocked(() => atomic.commit())).ok) {
      throw new PersistenceError("log_conflict", `Room ${room} has another owner now.`);
    }
    await this.#deleteAll({ prefix: this.#roomKey(room) });
  }

  /**
   * Deletes rooms whose stored expiry has passed, except those `keep` names (rooms still live
   * in this process). KV's own `expireIn` sweep is only a lower bound (and runs rarely), so
   * this is what keeps storage bounded. Returns the ids of the deleted rooms.
   */
  async sweep(keep: (room: string) => boolean = () => false): Promise<string[]> {
    const now = this.#now();
    const deleted: string[] = [];
    for (const meta of await this.listRooms()) {
      if (meta.expiresAt <= now && !keep(meta.room)) {
        await this.deleteRoom(meta.room);
        deleted.push(meta.room);
      }
    }
    return deleted;
  }

  async #deleteGeneration(room: string, generation: number): Promise<void> {
    await this.#deleteAll({ prefix: this.#roomKey(room, "chunk", generation) });
  }

  async #deleteAll(selector: Deno.KvListSelector): Promise<void> {
    let atomic = this.kv.atomic();
    let count = 0;
    for await (const entry of this.kv.list(selector, { batchSize: 500 })) {
      atomic.delete(entry.key);
      // Stay well under KV's 1000 mutations per commit.
      if (++count % 500 === 0) {
        await this.#commit(atomic);
        atomic = this.kv.atomic();
      }
    }
    if (count % 500 !== 0) await this.#commit(atomic);
  }

  async #commit(atomic: Deno.AtomicOperation): Promise<void> {
    const result = await retryLocked(() => atomic.commit());
    if (!result.ok) throw new PersistenceError("log_conflict", "A KV commit failed its checks.");
  }
}

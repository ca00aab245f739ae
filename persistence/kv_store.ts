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
 * | `rooms, <id>, loose, <generation>` | chunk count of a generation no meta points to yet or anymore (a save in progress or cut short, or a replaced snapshot still being deleted) |
 * | `rooms, <id>, log, <actionIndex>` | {@linkcode StoredLogEntry} (log durability) |
 * | `rooms, <id>, logpart, <actionIndex>, <i>` | `Uint8Array` part `i` of a large logged payload |
 * | `rooms, <id>, head` | `{ index }`: last logged action index (checked on append) |
 *
 * Resume tokens need no keys of their own: they are part of each seat in the snapshot.
 *
 * @module
 */
import { PersistenceError } from "./errors.ts";
import { retryLocked } from "./kv_retry.ts";
import {
  decodeLogPayload,
  encodeLogEntry,
  MAX_LOG_PARTS,
  type StoredLogEntry,
} from "./log_entry_codec.ts";
import type { JournalEntry } from "../rooms/mod.ts";

export { PersistenceError } from "./errors.ts";
export type { StoredLogEntry } from "./log_entry_codec.ts";

/** Current snapshot format version; loaders refuse newer ones and migrate older ones. */
export const SNAPSHOT_FORMAT_VERSION = 1;

// Deno KV: values ≤ 64 KiB, ≤ 800 KiB, ≤ 1000 mutations and ≤ 10 checks per atomic commit.
const DEFAULT_CHUNK_BYTES = 60 * 1024;
const MAX_CHUNK_BYTES = 64 * 1024 - 256;
const MAX_COMMIT_BYTES = 700 * 1024;
/** Chunks one commit carries at most (small `chunkBytes` would otherwise pass 1000 mutations). */
const MAX_CHUNKS_PER_COMMIT = 500;
/** Chunks written plus chunks deleted that one commit may carry (KV allows 1000 mutations). */
const MAX_MUTATIONS_WITH_DELETES = 900;

/** What the store keeps about a room's latest snapshot. */
export interface SnapshotMeta {
  version: number;
  room: string;
  game: string;
  /**
   * Snapshot generation: a random id drawn for each save attempt, so chunks of a save that
   * never switched (a crash, a lost fence) are never mistaken for those of a later one.
   */
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

/** A snapshot as read back: its meta, its bytes and the meta's versionstamp. */
export interface LoadedSnapshot {
  meta: SnapshotMeta;
  bytes: Uint8Array;
  /** Version of the meta read: {@linkcode KvRoomStore.raiseSeqCeiling} checks it. */
  versionstamp: string;
}

/** One accepted action, as logged in `log` durability mode before it is acknowledged. */
export type LogEntry = JournalEntry;

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
    this.#chunkBytes = Math.min(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES);
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

  #looseKey(room: string, generation: number): Deno.KvKey {
    return this.#roomKey(room, "loose", generation);
  }

  /**
   * Writes a snapshot. Chunks go under a generation drawn for this attempt, in as many commits
   * as KV's limits need, each checked against the previous meta and fenced; one final atomic
   * commit switches `meta` to it, so a reader sees the old snapshot or the new one, never a
   * mix. A save that takes several commits marks its generation `loose` until the switch, so
   * chunks of a save cut short are found and deleted later.
   */
  async saveSnapshot(
    meta: Omit<SnapshotMeta, "version" | "generation" | "chunks" | "bytes" | "savedAt">,
    bytes: Uint8Array,
  ): Promise<SnapshotMeta> {
    const started = performance.now();
    const room = meta.room;
    const metaKey = this.#metaKey(room);
    // What this store wrote last saves a read; if someone else wrote since, the checks below
    // fail and the save is tried once more from what is really stored.
    const cached = this.#metas.get(room);
    const previous = cached ?? await this.kv.get<SnapshotMeta>(metaKey);
    const old = isSnapshotMeta(previous.value) ? previous.value : null;
    // A store that did not write the room last may find what a save cut short left behind.
    if (!cached && previous.versionstamp !== null) await this.#dropLoose(room, old?.generation);
    const generation = newGeneration(old?.generation);
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
    let loose: Deno.KvCommitResult | null = null;
    let result: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      // Small snapshots (the common case) take a single commit with the meta switch.
      let atomic = this.kv.atomic();
      let pendingBytes = 0;
      let pendingChunks = 0;
      for (let i = 0; i < chunks; i++) {
        const part = bytes.subarray(i * this.#chunkBytes, (i + 1) * this.#chunkBytes);
        if (
          pendingBytes + part.length > MAX_COMMIT_BYTES || pendingChunks === MAX_CHUNKS_PER_COMMIT
        ) {
          if (loose === null) atomic.set(this.#looseKey(room, generation), chunks, { expireIn });
          atomic.check(previous);
          await this.#fenced(room, atomic);
          const written = await retryLocked(() => atomic.commit());
          if (!written.ok) {
            return await this.#saveRaced(meta, bytes, cached, room, loose ? generation : null);
          }
          loose ??= written;
          atomic = this.kv.atomic();
          pendingBytes = pendingChunks = 0;
        }
        atomic.set(this.#roomKey(room, "chunk", generation, i), part, { expireIn });
        pendingBytes += part.length;
        pendingChunks++;
      }
      atomic.check(previous).set(metaKey, next, { expireIn });
      if (loose !== null) {
        // The mark must still be there: if it is not, someone took these chunks for garbage.
        atomic.check({ key: this.#looseKey(room, generation), versionstamp: loose.versionstamp })
          .delete(this.#looseKey(room, generation));
      }
      // The replaced chunks go in the same commit when KV's mutation limit allows (always, but
      // for snapshots of tens of megabytes); else their generation is marked loose and goes
      // right after. Their keys follow from the old meta.
      const deleteNow = old !== null && old.chunks + pendingChunks <= MAX_MUTATIONS_WITH_DELETES;
      if (old !== null && deleteNow) {
        for (let i = 0; i < old.chunks; i++) {
          atomic.delete(this.#roomKey(room, "chunk", old.generation, i));
        }
      } else if (old !== null) {
        atomic.set(this.#looseKey(room, old.generation), old.chunks, { expireIn });
      }
      await this.#fenced(room, atomic);
      result = await retryLocked(() => atomic.commit());
      if (!result.ok) {
        return await this.#saveRaced(meta, bytes, cached, room, loose ? generation : null);
      }
      if (old !== null && !deleteNow) await this.#dropGeneration(room, old.generation);
    } catch (error) {
      this.#metas.delete(room);
      if (loose !== null) await this.#dropGeneration(room, generation).catch(() => {});
      throw error;
    }
    this.#metas.set(room, { key: metaKey, value: next, versionstamp: result.versionstamp });
    this.#onWrite(performance.now() - started);
    return next;
  }

  /**
   * A check of a save failed: someone else wrote the room. Deletes the generation the attempt
   * wrote, if any (it is its own, so nobody else needs it), and tries once more from what is stored if the attempt started
   * from this store's cache; else the room has two owners.
   */
  async #saveRaced(
    meta: Parameters<KvRoomStore["saveSnapshot"]>[0],
    bytes: Uint8Array,
    cached: Deno.KvEntry<SnapshotMeta> | undefined,
    room: string,
    written: number | null,
  ): Promise<SnapshotMeta> {
    this.#metas.delete(room);
    if (written !== null) await this.#dropGeneration(room, written).catch(() => {});
    if (cached) return this.saveSnapshot(meta, bytes);
    throw new PersistenceError(
      "log_conflict",
      `Snapshot of room ${room} raced another writer; the room has two owners.`,
    );
  }

  /**
   * Reads the latest snapshot (exactly chunks `0 … chunks - 1` of its generation), or null.
   * Throws {@linkcode PersistenceError} on a snapshot from a newer release or data that does
   * not add up (a garbled meta, a missing or extra chunk, a wrong byte count).
   */
  async loadSnapshot(room: string): Promise<LoadedSnapshot | null> {
    const entry = await this.kv.get<SnapshotMeta>(this.#metaKey(room));
    if (entry.versionstamp === null) return null;
    const meta = entry.value;
    if (!isSnapshotMeta(meta)) {
      throw new PersistenceError("snapshot_corrupt", `Room ${room}'s snapshot meta is garbled.`);
    }
    if (meta.version > SNAPSHOT_FORMAT_VERSION) {
      throw new PersistenceError(
        "snapshot_version",
        `Room ${room} was saved in snapshot format ${meta.version}; this release reads up to ${SNAPSHOT_FORMAT_VERSION}. Upgrade the server.`,
      );
    }
    const corrupt = (why: string) =>
      new PersistenceError("snapshot_corrupt", `Room ${room} snapshot ${meta.generation}: ${why}.`);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(meta.bytes);
    } catch {
      throw corrupt(`${meta.bytes} bytes cannot be held`);
    }
    let offset = 0;
    let index = 0;
    const chunks = this.kv.list<unknown>({
      start: this.#roomKey(room, "chunk", meta.generation, 0),
      end: this.#roomKey(room, "chunk", meta.generation, meta.chunks),
    });
    for await (const chunk of chunks) {
      if (chunk.key[chunk.key.length - 1] !== index) throw corrupt(`chunk ${index} is missing`);
      if (!(chunk.value instanceof Uint8Array)) throw corrupt(`chunk ${index} is not bytes`);
      if (offset + chunk.value.length > meta.bytes) throw corrupt(`more than ${meta.bytes} bytes`);
      bytes.set(chunk.value, offset);
      offset += chunk.value.length;
      index++;
    }
    if (index !== meta.chunks) throw corrupt(`${index} of ${meta.chunks} chunks`);
    if (offset !== meta.bytes) throw corrupt(`${offset} of ${meta.bytes} bytes`);
    return { meta, bytes, versionstamp: entry.versionstamp };
  }

  /**
   * Stores a new sequence ceiling for the room `loaded` came from, in a small meta-only
   * commit checked against that read (and fenced): a restored room calls it before it goes
   * live, so a second crash before its first snapshot cannot reuse its sequence numbers.
   */
  async raiseSeqCeiling(loaded: LoadedSnapshot, seqCeiling: number): Promise<SnapshotMeta> {
    const room = loaded.meta.room;
    const next: SnapshotMeta = { ...loaded.meta, seqCeiling };
    const key = this.#metaKey(room);
    const atomic = this.kv.atomic()
      .check({ key, versionstamp: loaded.versionstamp })
      // The chunks keep their `expireIn`: so does the meta that points to them.
      .set(key, next, { expireIn: Math.max(1, next.expiresAt - this.#now()) });
    await this.#fenced(room, atomic);
    const result = await retryLocked(() => atomic.commit());
    // Never cached: the room's first save here then reads the meta and, as a store that did
    // not write the room last, deletes what a save cut short by the crash left behind.
    this.#metas.delete(room);
    if (!result.ok) {
      throw new PersistenceError("log_conflict", `Room ${room} was written while it was restored.`);
    }
    return next;
  }

  /** The metadata of `room`'s latest snapshot, or null when nothing (readable) is stored. */
  async readMeta(room: string): Promise<SnapshotMeta | null> {
    const meta = (await this.kv.get<SnapshotMeta>(this.#metaKey(room))).value;
    return isSnapshotMeta(meta) ? meta : null;
  }

  /**
   * Metadata of every stored room (for recovery at boot and listings). A garbled meta is left
   * out and reported to `onCorrupt` with the room id its key names.
   */
  async listRooms(
    onCorrupt?: (room: string, error: PersistenceError) => void,
  ): Promise<SnapshotMeta[]> {
    const metas: SnapshotMeta[] = [];
    for await (const entry of this.kv.list<unknown>({ prefix: [...this.#prefix, "meta"] })) {
      if (isSnapshotMeta(entry.value)) {
        metas.push(entry.value);
      } else {
        const room = String(entry.key[entry.key.length - 1]);
        onCorrupt?.(
          room,
          new PersistenceError("snapshot_corrupt", `Room ${room}'s meta is garbled.`),
        );
      }
    }
    return metas;
  }

  /**
   * Appends an accepted action to the room's log, atomically with the room's log head (and a
   * large payload's parts), checked against the head this store last saw: it fails with
   * `log_conflict` if anyone else appended meanwhile (two owners) or the index does not follow
   * the head, and with `log_entry_too_large` for a payload no commit can hold.
   */
  async appendLog(room: string, entry: LogEntry, expiresAt: number): Promise<void> {
    const started = performance.now();
    const { value, parts } = encodeLogEntry(entry);
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
      .set(this.#roomKey(room, "log", entry.index), value, { expireIn })
      .set(headKey, { index: entry.index }, { expireIn });
    parts.forEach((part, i) =>
      atomic.set(this.#roomKey(room, "logpart", entry.index, i), part, { expireIn })
    );
    let result: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      result = await retryLocked(() => atomic.commit());
    } catch (error) {
      this.#heads.delete(room);
      // A commit whose answer was lost (a remote KV's connection dropped) may have landed. If
      // it did, the action is logged and must count as such: refused, it would still be
      // replayed by a restore, and every later append of the room would find its index taken.
      if (await this.#landed(room, entry).catch(() => false)) {
        this.#onWrite(performance.now() - started);
        return;
      }
      throw error;
    }
    if (!result.ok) {
      this.#heads.delete(room);
      // The head of a room idle for longer than its data's lifetime was deleted by KV's own
      // expiry, not by another writer: that one append may go on from the index it knew.
      const now = await this.kv.get(headKey);
      if (now.versionstamp === null && head.versionstamp !== null) {
        this.#heads.set(room, { index: head.index, versionstamp: null });
        return this.appendLog(room, entry, expiresAt);
      }
      throw new PersistenceError("log_conflict", `Room ${room}'s log was appended concurrently.`);
    }
    this.#heads.set(room, { index: entry.index, versionstamp: result.versionstamp });
    this.#onWrite(performance.now() - started);
  }

  /** Whether `entry` is the one stored at its index, with the head at it (then cached). */
  async #landed(room: string, entry: LogEntry): Promise<boolean> {
    const headKey = this.#roomKey(room, "head");
    const [head, stored] = await this.kv.getMany<[{ index: number }, StoredLogEntry]>([
      headKey,
      this.#roomKey(room, "log", entry.index),
    ]);
    const logged = stored.value;
    if (
      head.value?.index !== entry.index || !logged || logged.seq !== entry.seq ||
      logged.time !== entry.time || logged.player !== entry.player ||
      logged.action !== entry.action
    ) {
      return false;
    }
    this.#heads.set(room, { index: entry.index, versionstamp: head.versionstamp });
    return true;
  }

  /**
   * Logged actions with an index above `afterIndex`, in order. Throws
   * {@linkcode PersistenceError} `snapshot_corrupt` for an entry that does not read back.
   */
  async readLog(room: string, afterIndex: number): Promise<LogEntry[]> {
    const entries: LogEntry[] = [];
    const iter = this.kv.list<StoredLogEntry>({
      start: this.#roomKey(room, "log", afterIndex + 1),
      end: this.#roomKey(room, "log", Number.MAX_SAFE_INTEGER),
    });
    for await (const { value } of iter) {
      if (typeof value !== "object" || value === null || !Number.isSafeInteger(value.index)) {
        throw new PersistenceError("snapshot_corrupt", `Room ${room}'s log holds a garbled entry.`);
      }
      const { payloadParts, ...entry } = value;
      if (payloadParts !== undefined) {
        const parts: unknown[] = [];
        const stored = this.kv.list<unknown>({
          prefix: this.#roomKey(room, "logpart", value.index),
        }, { limit: MAX_LOG_PARTS + 1 });
        for await (const part of stored) parts.push(part.value);
        entry.payload = decodeLogPayload(room, value.index, payloadParts, parts);
      }
      entries.push(entry);
    }
    return entries;
  }

  /** Drops log entries (and their payload parts) at or below `uptoIndex`: they are in a snapshot now. */
  async trimLog(room: string, uptoIndex: number): Promise<void> {
    await this.#deleteAll({
      start: this.#roomKey(room, "log", 0),
      end: this.#roomKey(room, "log", uptoIndex + 1),
    });
    await this.#deleteAll({
      start: this.#roomKey(room, "logpart", 0),
      end: this.#roomKey(room, "logpart", uptoIndex + 1),
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
   * this is what keeps storage bounded. A garbled meta is left alone (a restore reports it).
   * Returns the ids of the deleted rooms.
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

  /**
   * Deletes the chunks of every generation marked loose but `current` (saves cut short, or
   * replaced snapshots whose deletion was). Fenced: an instance that lost the room must not
   * delete the chunks its new owner is writing.
   */
  async #dropLoose(room: string, current: number | undefined): Promise<void> {
    const loose: number[] = [];
    for await (const entry of this.kv.list({ prefix: this.#roomKey(room, "loose") })) {
      const generation = entry.key[entry.key.length - 1];
      if (typeof generation === "number" && generation !== current) loose.push(generation);
    }
    for (const generation of loose) {
      // The mark goes first, so that a save still writing this generation can no longer switch.
      const atomic = this.kv.atomic().delete(this.#looseKey(room, generation));
      await this.#fenced(room, atomic);
      await this.#commit(atomic);
      await this.#deleteAll({ prefix: this.#roomKey(room, "chunk", generation) });
    }
  }

  /** Deletes a generation nothing points to: its chunks, then its loose mark. */
  async #dropGeneration(room: string, generation: number): Promise<void> {
    await this.#deleteAll({ prefix: this.#roomKey(room, "chunk", generation) });
    await this.#commit(this.kv.atomic().delete(this.#looseKey(room, generation)));
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

/**
 * A random generation id (53 bits), never `previous`: each save attempt writes its chunks
 * under its own, so nothing a failed attempt left can mix into a later snapshot.
 */
function newGeneration(previous: number | undefined): number {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  const generation = (high & 0x1f_ffff) * 2 ** 32 + low;
  return generation === previous || generation === 0 ? newGeneration(previous) : generation;
}

/** Whether a stored meta has every field a load needs, with sane values. */
function isSnapshotMeta(value: unknown): value is SnapshotMeta {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  const whole = (v: unknown, min = 0) => Number.isSafeInteger(v) && (v as number) >= min;
  return typeof m.room === "string" && typeof m.game === "string" &&
    typeof m.status === "string" && whole(m.version, 1) && whole(m.generation) &&
    whole(m.chunks, 1) && whole(m.bytes) &&
    (m.bytes as number) <= (m.chunks as number) * MAX_CHUNK_BYTES &&
    whole(m.seq) && whole(m.actionIndex) && (m.seqCeiling === undefined || whole(m.seqCeiling)) &&
    typeof m.expiresAt === "number" && !Number.isNaN(m.expiresAt);
}

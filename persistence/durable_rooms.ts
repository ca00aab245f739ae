/**
 * Durable rooms: decides when each room is saved to a {@linkcode KvRoomStore}, writes the
 * action log in `log` durability, brings rooms back after a restart, and deletes the data of
 * rooms that are over.
 *
 * - **snapshot** durability saves a room every N accepted actions or T ms (whichever comes
 *   first), at once when its seats change (so resume tokens survive a restart) and when its
 *   game ends. A crash loses what came after the last snapshot; clients resync to it.
 * - **log** durability also appends every accepted action to the store before the room
 *   applies, broadcasts or acknowledges it: a crash loses no acknowledged action.
 *
 * Rooms are restored eagerly, at boot: their turn clocks and grace windows keep running (a
 * player who never comes back still times out), and listings and join-or-create see them.
 * In a cluster (`cluster/`) each room is restored instead by the instance that claims its lease
 * ({@linkcode DurableRooms.restoreRoom}), and a room that moved away is dropped without a save
 * ({@linkcode DurableRooms.forget}).
 *
 * @module
 */
import type {
  AnyGame,
  DisposeReason,
  Durability,
  Journal,
  JournalEntry,
  Room,
  RoomChange,
  RoomManager,
  RoomManagerOptions,
} from "../rooms/mod.ts";
import { type KvRoomStore, PersistenceError } from "./kv_store.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot_codec.ts";

/**
 * How far past a snapshot's room sequence a room may broadcast before its next snapshot. A
 * room restored after a crash continues from this ceiling, so no client ever sees a sequence
 * number reused; a room that gets within half of it is saved at once.
 */
export const SEQ_MARGIN = 10_000;

/** Where durability reports what it does (a `Logger` from `server/log.ts` fits). */
export interface DurabilityLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@linkcode DurableRooms}. */
export interface DurableRoomsOptions {
  /** Where rooms are kept. */
  store: KvRoomStore;
  /** The server-wide mode; a game's own `durability` wins. Default `"snapshot"`. */
  durability?: Durability;
  /** Save a room after this many accepted actions. Default 500. */
  snapshotEveryActions?: number;
  /** Save a changed room at most this long after its first unsaved change, ms. Default 5000. */
  snapshotEveryMs?: number;
  /** How long a finished room's data is kept after the game ended, ms. Default 60 000. */
  finishedRetentionMs?: number;
  /** How long a live room's data outlives its last save (rooms orphaned by a crash). Default 24 h. */
  roomDataTtlMs?: number;
  /** Default: silent. */
  log?: DurabilityLog;
  /** Clock for expiry times, ms since the epoch. */
  now?: () => number;
  /**
   * Rooms the expiry sweep must leave alone besides those live here (`cluster/`: rooms live
   * on other instances). Default: none.
   */
  keep?: (room: string) => boolean;
}

/** What {@linkcode DurableRooms.restore} did. */
export interface RestoreReport {
  /** Rooms live again. */
  restored: string[];
  /** Rooms whose stored data had expired and was deleted. */
  expired: string[];
  /** Rooms left in storage untouched because they could not be restored. */
  failed: { room: string; code: string; message: string }[];
}

/** What {@linkcode DurableRooms.flush} did. */
export interface FlushReport {
  saved: number;
  failed: number;
  /** True when the time ran out with saves still writing. */
  timedOut: boolean;
}

interface Tracked {
  readonly room: Room;
  readonly durability: Durability;
  /** Accepted actions since the last save started. */
  actions: number;
  /** Changed since the last save started. */
  dirty: boolean;
  timer: ReturnType<typeof setTimeout> | null;
  writing: Promise<void> | null;
  /** Another save was asked for while one was writing. */
  again: boolean;
  /** The sequence ceiling of the last stored snapshot. */
  ceiling: number;
  /** Bumped on each seat change; `seatsSaved` is the count a completed save covered. */
  seatChanges: number;
  seatsSaved: number;
  /** Log entries may exist (log durability, or a restore that replayed some). */
  trimLog: boolean;
  /** Disposed for good: its data is being deleted. */
  closed: boolean;
  failures: number;
}

/**
 * Makes a {@linkcode RoomManager}'s rooms durable. Pass {@linkcode DurableRooms.hooks} into the
 * manager's options, then call {@linkcode DurableRooms.restore} before serving.
 *
 * @example
 * ```ts
 * import { DurableRooms, KvRoomStore } from "./mod.ts";
 * import { RoomManager } from "../rooms/mod.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const durable = new DurableRooms({ store: new KvRoomStore(kv), durability: "log" });
 * const manager = new RoomManager({ games: [ticTacToe], ...durable.hooks() });
 * await durable.restore(manager); // nothing stored yet
 * manager.create("tic_tac_toe");
 * manager.dispose("server_restart");
 * console.log((await durable.flush()).saved); // 1
 * await durable.close();
 * kv.close();
 * ```
 */
export class DurableRooms {
  readonly store: KvRoomStore;
  readonly #durability: Durability;
  readonly #everyActions: number;
  readonly #everyMs: number;
  readonly #finishedRetentionMs: number;
  readonly #ttlMs: number;
  readonly #log: DurabilityLog | undefined;
  readonly #now: () => number;
  readonly #keep: (room: string) => boolean;
  readonly #tracked = new Map<string, Tracked>();
  readonly #deletes = new Set<Promise<void>>();
  #restoring = false;
  #sweeper: ReturnType<typeof setInterval> | null = null;
  /** Snapshots written and failed (metrics). */
  saves = 0;
  saveFailures = 0;

  /** Configures durability; nothing is read or written until rooms exist. */
  constructor(options: DurableRoomsOptions) {
    this.store = options.store;
    this.#durability = options.durability ?? "snapshot";
    this.#everyActions = Math.max(1, options.snapshotEveryActions ?? 500);
    this.#everyMs = Math.max(1, options.snapshotEveryMs ?? 5000);
    this.#finishedRetentionMs = options.finishedRetentionMs ?? 60_000;
    this.#ttlMs = options.roomDataTtlMs ?? 24 * 60 * 60 * 1000;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#keep = options.keep ?? (() => false);
  }

  #keeps(id: string): boolean {
    return this.#tracked.has(id) || this.#keep(id);
  }

  /** The durability `game` runs with: its own, else the server's. */
  durabilityOf(game: AnyGame): Durability {
    return game.durability ?? this.#durability;
  }

  /** The room manager options that connect it to this layer. */
  hooks(): Pick<
    RoomManagerOptions,
    "journal" | "onRoomCreated" | "onRoomChanged" | "onRoomDisposed"
  > {
    return {
      journal: ({ id, game }) => this.durabilityOf(game) === "log" ? this.#journal(id) : undefined,
      onRoomCreated: (room) => this.#created(room),
      onRoomChanged: (room, change) => this.#changed(room, change),
      onRoomDisposed: (room, reason) => this.#disposed(room, reason),
    };
  }

  /**
   * Deletes expired room data, then brings every stored room back into `manager`, replaying
   * logged actions after each snapshot. A room that cannot be restored (a snapshot from a
   * newer release, a game no longer registered, corrupt data) is reported and left in storage.
   */
  async restore(manager: RoomManager): Promise<RestoreReport> {
    const report: RestoreReport = { restored: [], expired: [], failed: [] };
    report.expired = await this.store.sweep((id) => this.#keeps(id));
    for (const meta of await this.store.listRooms()) {
      if (manager.get(meta.room)) continue;
      try {
        if (await this.restoreRoom(manager, meta.room)) report.restored.push(meta.room);
      } catch (error) {
        const code = (error as { code?: string }).code ?? "restore_failed";
        const message = error instanceof Error ? error.message : String(error);
        report.failed.push({ room: meta.room, code, message });
        this.#log?.error("room not restored", { room: meta.room, code, error: message });
      }
    }
    if (report.restored.length || report.expired.length || report.failed.length) {
      this.#log?.info("rooms restored", {
        restored: report.restored.length,
        expired: report.expired.length,
        failed: report.failed.length,
      });
    }
    return report;
  }

  /**
   * Brings one stored room back into `manager` (its snapshot, then the actions logged after
   * it); resolves with the room, or null when nothing is stored for `id`. Throws a
   * {@linkcode PersistenceError} or the manager's error when the room cannot be restored. The
   * cluster calls it for a room whose lease it just claimed.
   *
   * @example
   * ```ts ignore
   * const room = await durable.restoreRoom(manager, "ab3k9mzq");
   * ```
   */
  async restoreRoom(manager: RoomManager, id: string): Promise<Room | null> {
    // The log head this store cached is stale if another instance ran the room meanwhile.
    this.store.forget(id);
    const loaded = await this.store.loadSnapshot(id);
    if (!loaded) return null;
    const snapshot = decodeSnapshot(loaded.bytes);
    const journal = await this.store.readLog(id, snapshot.actionIndex);
    // Deltas may have gone out after this snapshot: continue above anything sent.
    snapshot.seq = Math.max(snapshot.seq, loaded.meta.seqCeiling ?? snapshot.seq);
    this.#restoring = true;
    try {
      return manager.restore(snapshot, journal);
    } finally {
      this.#restoring = false;
    }
  }

  /**
   * Stops tracking `id` without saving or deleting anything: the room stopped running here
   * because another instance owns it now (`cluster/`), and only the owner writes it.
   */
  forget(id: string): void {
    const tracked = this.#tracked.get(id);
    if (!tracked) return;
    if (tracked.timer !== null) clearTimeout(tracked.timer);
    tracked.timer = null;
    tracked.closed = true;
    this.#tracked.delete(id);
    this.store.forget(id);
  }

  /**
   * Saves every room with unsaved changes (live or stopped for a restart) and waits for all
   * writes, for at most `timeoutMs`.
   */
  async flush(timeoutMs = 5000): Promise<FlushReport> {
    const failuresBefore = this.saveFailures;
    const savesBefore = this.saves;
    const pending: Promise<void>[] = [];
    for (const tracked of this.#tracked.values()) {
      if (tracked.dirty) this.#save(tracked);
      pending.push(this.#settled(tracked));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      Promise.all([...pending, ...this.#deletes]).then(() => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), timeoutMs)),
    ]);
    clearTimeout(timer);
    return {
      saved: this.saves - savesBefore,
      failed: this.saveFailures - failuresBefore,
      timedOut,
    };
  }

  /** Resolves when no save or delete is writing (without starting any). */
  async idle(): Promise<void> {
    await Promise.all([
      ...[...this.#tracked.values()].map((t) => this.#settled(t)),
      ...this.#deletes,
    ]);
  }

  /** Deletes expired data of rooms not live here every `intervalMs` (KV's `expireIn` is lax). */
  startSweeping(intervalMs = 60_000): void {
    if (this.#sweeper !== null) return;
    this.#sweeper = setInterval(() => {
      this.store.sweep((id) => this.#keeps(id)).then((deleted) => {
        if (deleted.length) this.#log?.info("expired rooms deleted", { rooms: deleted.length });
      }, (error) => this.#log?.error("sweep failed", { error: String(error) }));
    }, intervalMs);
    Deno.unrefTimer(this.#sweeper);
  }

  /** Stops timers and waits for writes in flight. Call {@linkcode flush} first to save. */
  async close(): Promise<void> {
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
    for (const tracked of this.#tracked.values()) {
      if (tracked.timer !== null) clearTimeout(tracked.timer);
      tracked.timer = null;
    }
    await Promise.all([
      ...[...this.#tracked.values()].map((t) => this.#settled(t)),
      ...this.#deletes,
    ]);
  }

  // --- hooks ---------------------------------------------------------------------------

  #journal(id: string): Journal {
    return {
      append: async (entry: JournalEntry) => {
        const tracked = this.#tracked.get(id);
        // A seat must be stored before its first action is: a replay needs the seat.
        if (tracked && tracked.seatsSaved < tracked.seatChanges) await this.#settled(tracked);
        await this.store.appendLog(id, entry, this.#now() + this.#ttlMs);
      },
    };
  }

  #created(room: Room): void {
    const durability = this.durabilityOf(room.game);
    const tracked: Tracked = {
      room,
      durability,
      actions: 0,
      dirty: true,
      timer: null,
      writing: null,
      again: false,
      ceiling: 0,
      seatChanges: 0,
      seatsSaved: 0,
      trimLog: durability === "log" || this.#restoring,
      closed: false,
      failures: 0,
    };
    this.#tracked.set(room.id, tracked);
    // A new room is saved so its id works after a restart; a restored one so its new
    // sequence ceiling is stored before it broadcasts anything.
    this.#save(tracked);
  }

  #changed(room: Room, change: RoomChange): void {
    const tracked = this.#tracked.get(room.id);
    if (!tracked || tracked.room !== room || tracked.closed) return;
    tracked.dirty = true;
    if (change === "action") tracked.actions++;
    if (change === "seats") tracked.seatChanges++;
    const urgent = change === "seats" || change === "finished" ||
      tracked.actions >= this.#everyActions || room.seq >= tracked.ceiling - SEQ_MARGIN / 2;
    if (urgent) this.#save(tracked);
    else this.#schedule(tracked, this.#everyMs);
  }

  #disposed(room: Room, reason: DisposeReason): void {
    const tracked = this.#tracked.get(room.id);
    if (!tracked || tracked.room !== room) return;
    if (tracked.timer !== null) clearTimeout(tracked.timer);
    tracked.timer = null;
    // Stopped for a restart: `flush` saves it. Closed for good: its data goes.
    if (reason === "server_restart") return;
    tracked.closed = true;
    this.#tracked.delete(room.id);
    const deletion = this.#settled(tracked)
      .then(() => this.store.deleteRoom(room.id))
      .catch((error) =>
        this.#log?.error("room data not deleted", { room: room.id, error: String(error) })
      );
    this.#deletes.add(deletion);
    deletion.finally(() => this.#deletes.delete(deletion));
  }

  // --- saving --------------------------------------------------------------------------

  #schedule(tracked: Tracked, ms: number): void {
    if (tracked.timer !== null || tracked.closed) return;
    tracked.timer = setTimeout(() => {
      tracked.timer = null;
      this.#save(tracked);
    }, ms);
  }

  /** Starts a save now, or right after the one writing. */
  #save(tracked: Tracked): void {
    if (tracked.closed) return;
    if (tracked.writing) {
      tracked.again = true;
      return;
    }
    if (tracked.timer !== null) clearTimeout(tracked.timer);
    tracked.timer = null;
    tracked.dirty = false;
    tracked.actions = 0;
    const seatChanges = tracked.seatChanges;
    // Taken synchronously: the room is between two steps, so the snapshot is consistent.
    const snapshot = tracked.room.snapshot();
    tracked.writing = this.#write(tracked, snapshot).then(() => {
      this.saves++;
      tracked.failures = 0;
      tracked.seatsSaved = Math.max(tracked.seatsSaved, seatChanges);
    }, (error) => {
      this.saveFailures++;
      tracked.failures++;
      tracked.dirty = true;
      const code = error instanceof PersistenceError ? error.code : "kv_error";
      this.#log?.error("room not saved", { room: tracked.room.id, code, error: String(error) });
      // Retry later, backing off while storage keeps failing.
      this.#schedule(tracked, Math.min(this.#everyMs * 2 ** tracked.failures, 60_000));
    }).finally(() => {
      tracked.writing = null;
      if (tracked.again) {
        tracked.again = false;
        if (tracked.dirty) this.#save(tracked);
      }
    });
  }

  async #write(tracked: Tracked, snapshot: ReturnType<Room["snapshot"]>): Promise<void> {
    const room = tracked.room;
    const ceiling = snapshot.seq + SEQ_MARGIN;
    const expiresAt = snapshot.finishedAt !== null
      ? snapshot.finishedAt + this.#finishedRetentionMs
      : this.#now() + this.#ttlMs;
    await this.store.saveSnapshot({
      room: room.id,
      game: room.game.name,
      seq: snapshot.seq,
      actionIndex: snapshot.actionIndex,
      seqCeiling: ceiling,
      status: snapshot.outcome ? "finished" : room.status,
      expiresAt,
    }, encodeSnapshot(snapshot));
    tracked.ceiling = ceiling;
    // Logged actions up to the snapshot are in it now.
    if (tracked.trimLog) await this.store.trimLog(room.id, snapshot.actionIndex);
  }

  /** Resolves once no save of `tracked` is writing or queued. */
  async #settled(tracked: Tracked): Promise<void> {
    while (tracked.writing) await tracked.writing;
  }
}

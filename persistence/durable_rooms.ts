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
 * number reused; a room that gets within half of it is saved at once. (Past it, when saves kept
 * failing, a crash can reuse numbers: rooms replay deltas only to seats welcomed by the same run.)
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
  /** Saves completed while it ran. */
  saved: number;
  /** Rooms whose last save failed: storage refused until the time ran out, or the state is not data. */
  failed: number;
  /** True when the time ran out with rooms still writing or unsaved. */
  timedOut: boolean;
}

/** The first wait before `flush` saves again a room storage refused, ms; it doubles up to 1 s. */
const FLUSH_RETRY_MS = 50;

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
  /** The room's `ticksRun` when the last completed save took its snapshot. */
  ticksSaved: number;
  /** The expiry stored by the last completed save (0: none yet). */
  expiresAt: number;
  /** Disposed for good: its data is being deleted. */
  closed: boolean;
  /** Failed saves in a row. */
  failures: number;
  /** The last save failed in a way a retry cannot fix (a typed {@linkcode PersistenceError}). */
  hopeless: boolean;
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
  /** Set while `manager.restore` runs: what is stored for the room being restored. */
  #restoring: { ceiling: number; expiresAt: number } | null = null;
  #sweeper: ReturnType<typeof setInterval> | null = null;
  #refresher: ReturnType<typeof setInterval> | null = null;
  /** `close` was called: no save is scheduled anymore (a failing one would retry forever). */
  #closed = false;
  /** Every save timer armed and not yet fired or cleared. */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
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
    const garbled = (room: string, error: PersistenceError) => {
      report.failed.push({ room, code: error.code, message: error.message });
      this.#log?.error("room not restored", { room, code: error.code, error: error.message });
    };
    for (const meta of await this.store.listRooms(garbled)) {
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
    // The ceiling of this run is stored before the room can broadcast: should it crash before
    // its first snapshot lands, the next restore still starts above everything it sent.
    const ceiling = snapshot.seq + SEQ_MARGIN;
    await this.store.raiseSeqCeiling(loaded, ceiling);
    this.#restoring = { ceiling, expiresAt: loaded.meta.expiresAt };
    try {
      return manager.restore(snapshot, journal);
    } finally {
      this.#restoring = null;
    }
  }

  /**
   * Stops tracking `id` without saving or deleting anything: the room stopped running here
   * because another instance owns it now (`cluster/`), and only the owner writes it.
   */
  forget(id: string): void {
    const tracked = this.#tracked.get(id);
    if (!tracked) return;
    this.#cancelTimer(tracked);
    tracked.closed = true;
    this.#tracked.delete(id);
    this.store.forget(id);
  }

  /**
   * Saves every room with unsaved changes or a stored expiry less than half of
   * `roomDataTtlMs` away (live or stopped for a restart), and waits for all writes, for at
   * most `timeoutMs`: after a graceful shutdown every room's data outlives the downtime by at
   * least half of `roomDataTtlMs`. A save that storage refused (a KV file locked for longer
   * than a commit's own retries last) is tried again, after waits growing from 50 ms to 1 s,
   * until it lands or the time runs out.
   */
  async flush(timeoutMs = 5000): Promise<FlushReport> {
    const savesBefore = this.saves;
    const deadline = performance.now() + timeoutMs;
    const attempted = new Set<Tracked>();
    // A save already writing is watched too: if it fails, it is tried again like the others.
    let due = [...this.#tracked.values()].filter((t) =>
      t.dirty || t.writing !== null || this.#expiresSoon(t)
    );
    let timedOut = false;
    for (let waitMs = FLUSH_RETRY_MS;; waitMs = Math.min(waitMs * 2, 1000)) {
      for (const tracked of due) {
        attempted.add(tracked);
        this.#save(tracked);
      }
      timedOut = !(await settledBy(this.idle(), deadline));
      due = [...attempted].filter((t) => t.failures > 0 && !t.hopeless && !t.closed && t.dirty);
      if (timedOut || due.length === 0) break;
      if (deadline - performance.now() <= waitMs) {
        timedOut = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
    return {
      saved: this.saves - savesBefore,
      failed: [...attempted].filter((t) => t.failures > 0).length,
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

  /**
   * Deletes expired data of rooms not live here every `intervalMs` (KV's `expireIn` is lax),
   * and keeps the stored expiry of rooms live here fresh ({@linkcode refreshExpiries}, every
   * `intervalMs` or a quarter of `roomDataTtlMs`, whichever is shorter).
   */
  startSweeping(intervalMs = 60_000): void {
    if (this.#sweeper !== null) return;
    this.#sweeper = setInterval(() => {
      this.store.sweep((id) => this.#keeps(id)).then((deleted) => {
        if (deleted.length) this.#log?.info("expired rooms deleted", { rooms: deleted.length });
      }, (error) => this.#log?.error("sweep failed", { error: String(error) }));
    }, intervalMs);
    Deno.unrefTimer(this.#sweeper);
    this.#refresher = setInterval(
      () => this.refreshExpiries(),
      Math.max(1, Math.min(intervalMs, this.#ttlMs / 4)),
    );
    Deno.unrefTimer(this.#refresher);
  }

  /**
   * Saves every live room whose stored expiry is less than half of `roomDataTtlMs` away, so a
   * room that runs on without changing (players thinking, nobody connected yet) is never
   * deleted by the sweep or by KV's `expireIn`. A save rather than a meta-only touch, because
   * the chunks' `expireIn` must move too. Returns how many saves it started.
   */
  refreshExpiries(): number {
    let started = 0;
    for (const tracked of this.#tracked.values()) {
      if (tracked.room.disposed || !this.#expiresSoon(tracked)) continue;
      this.#save(tracked);
      started++;
    }
    return started;
  }

  /** Stops timers and waits for writes in flight. Call {@linkcode flush} first to save. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper !== null) clearInterval(this.#sweeper);
    this.#sweeper = null;
    if (this.#refresher !== null) clearInterval(this.#refresher);
    this.#refresher = null;
    // Every armed timer, not only those of the rooms tracked now: none may outlive `close`.
    for (const tracked of this.#tracked.values()) tracked.timer = null;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
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
        if (tracked) await this.#readyToLog(tracked);
        await this.store.appendLog(id, entry, this.#now() + this.#ttlMs);
      },
    };
  }

  /**
   * Stores what a replay of the next logged action needs besides the log: its seat (a replay
   * needs the seat) and the effects of ticks run since the last snapshot (ticks are not
   * logged: their effects reach storage in the snapshot taken here, before the action, while
   * the room waits for the log).
   */
  async #readyToLog(tracked: Tracked): Promise<void> {
    const ticked = () => tracked.ticksSaved < tracked.room.ticksRun;
    const unsaved = () => tracked.seatsSaved < tracked.seatChanges || ticked();
    if (!unsaved()) return;
    // Ticks never start a save of their own. A seat change did, unless it failed: then its
    // retry waits for a timer, and this action must not.
    if (ticked() || !tracked.writing) {
      tracked.dirty = true;
      this.#save(tracked);
    }
    await this.#settled(tracked);
    if (unsaved()) {
      throw new PersistenceError(
        "log_conflict",
        `Room ${tracked.room.id}: its seats or ticks since the last snapshot could not be ` +
          "stored, so the action is not logged (a replay could not apply it).",
      );
    }
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
      trimLog: durability === "log" || this.#restoring !== null,
      ticksSaved: 0,
      expiresAt: this.#restoring?.expiresAt ?? 0,
      closed: false,
      failures: 0,
      hopeless: false,
    };
    // A restored room's ceiling was stored before it went live (`restoreRoom`).
    if (this.#restoring) tracked.ceiling = this.#restoring.ceiling;
    this.#tracked.set(room.id, tracked);
    // A new room is saved so its id works after a restart; a restored one so that its log is
    // trimmed and what it replayed is in its snapshot.
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
    this.#cancelTimer(tracked);
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
    if (tracked.timer !== null || tracked.closed || this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      tracked.timer = null;
      this.#save(tracked);
    }, ms);
    tracked.timer = timer;
    this.#timers.add(timer);
  }

  #cancelTimer(tracked: Tracked): void {
    if (tracked.timer === null) return;
    clearTimeout(tracked.timer);
    this.#timers.delete(tracked.timer);
    tracked.timer = null;
  }

  /** Starts a save now, or right after the one writing. */
  #save(tracked: Tracked): void {
    if (tracked.closed) return;
    if (tracked.writing) {
      tracked.again = true;
      return;
    }
    this.#cancelTimer(tracked);
    tracked.dirty = false;
    tracked.actions = 0;
    tracked.writing = this.#saveSettled(tracked, this.#snapshotAndWrite(tracked), {
      seatChanges: tracked.seatChanges,
      ticksRun: tracked.room.ticksRun,
    });
  }

  /**
   * Takes the snapshot synchronously (the room is between two steps, so it is consistent) and
   * writes it. A state that is not data (game code wrote NaN) fails like storage would, and is
   * logged as `state_not_data`: the game's bug, not the storage's.
   */
  #snapshotAndWrite(tracked: Tracked): Promise<void> {
    let snapshot: ReturnType<Room["snapshot"]>;
    try {
      snapshot = tracked.room.snapshot();
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return Promise.reject(new PersistenceError("state_not_data", why));
    }
    return this.#write(tracked, snapshot);
  }

  /** Books the outcome of a save of `tracked` and starts the one queued behind it. */
  #saveSettled(
    tracked: Tracked,
    written: Promise<void>,
    covered: { seatChanges: number; ticksRun: number },
  ): Promise<void> {
    return written.then(() => {
      this.saves++;
      tracked.failures = 0;
      tracked.hopeless = false;
      tracked.seatsSaved = Math.max(tracked.seatsSaved, covered.seatChanges);
      tracked.ticksSaved = Math.max(tracked.ticksSaved, covered.ticksRun);
    }, (error) => {
      this.saveFailures++;
      tracked.failures++;
      tracked.hopeless = error instanceof PersistenceError;
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
    tracked.expiresAt = expiresAt;
    // Logged actions up to the snapshot are in it now.
    if (tracked.trimLog) await this.store.trimLog(room.id, snapshot.actionIndex);
  }

  /** Whether a live room's stored expiry is less than half of `roomDataTtlMs` away. */
  #expiresSoon(tracked: Tracked): boolean {
    return !tracked.closed && tracked.room.outcome === null &&
      tracked.expiresAt - this.#now() < this.#ttlMs / 2;
  }

  /** Resolves once no save of `tracked` is writing or queued. */
  async #settled(tracked: Tracked): Promise<void> {
    while (tracked.writing) await tracked.writing;
  }
}

/** Waits for `work` until `deadline` (a `performance.now()` time): false if time ran out first. */
async function settledBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The room directory: one KV entry per room with its summary and owner, written by the owner
 * when the room's seats or status change (fenced by its lease, so a deposed owner's late write
 * cannot hide the room), so that listings and join-or-create on any instance see rooms run by
 * every instance.
 *
 * @module
 */
import type { Room, RoomSummary } from "../rooms/mod.ts";
import type { ClusterKeys } from "./keys.ts";
import { retryLocked } from "../persistence/kv_retry.ts";

/**
 * A room as the directory lists it.
 *
 * @example
 * ```ts
 * import type { DirectoryEntry } from "./directory.ts";
 * const entry: DirectoryEntry = {
 *   id: "ab3k9mzq", game: "tic_tac_toe", players: 1, maxPlayers: 2, spectators: 0,
 *   status: "waiting", open: true, private: false, seq: 1, createdAt: 0,
 *   owner: "i-1", updatedAt: 0,
 * };
 * ```
 */
export interface DirectoryEntry extends RoomSummary {
  /** The instance that wrote it (the owner then). */
  owner: string;
  /** When it was written, ms since the epoch. */
  updatedAt: number;
}

/** Options of {@linkcode Directory}. */
export interface DirectoryOptions {
  kv: Deno.Kv;
  keys: ClusterKeys;
  instance: string;
  /** How often {@linkcode Directory.cached} is refreshed, ms. */
  refreshMs: number;
  /**
   * The check that makes a write of `room`'s entry commit only while this instance owns the
   * room (`Leases.fence`); null (or a rejection) when it does not, and nothing is written.
   * Without it every write goes through.
   */
  fence?: (room: string) => Deno.AtomicCheck | null | Promise<Deno.AtomicCheck>;
  onError?: (error: unknown) => void;
  now?: () => number;
}

interface Writing {
  promise: Promise<void>;
  room: Room | null;
  again: boolean;
}

/**
 * Reads and writes the directory.
 *
 * @example
 * ```ts
 * import { ClusterKeys } from "./keys.ts";
 * import { Directory } from "./directory.ts";
 * import { RoomManager } from "../rooms/mod.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const directory = new Directory({ kv, keys: new ClusterKeys(), instance: "a", refreshMs: 1000 });
 * const manager = new RoomManager({ games: [ticTacToe] });
 * const room = manager.create("tic_tac_toe");
 * directory.publish(room);
 * await directory.idle();
 * console.log((await directory.list("tic_tac_toe")).length); // 1
 * manager.dispose();
 * kv.close();
 * ```
 */
export class Directory {
  readonly #kv: Deno.Kv;
  readonly #keys: ClusterKeys;
  readonly #instance: string;
  readonly #refreshMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  readonly #fence: DirectoryOptions["fence"];
  readonly #writing = new Map<string, Writing>();
  #cache: DirectoryEntry[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  #refreshing: Promise<void> | null = null;

  /** Writes on demand; call {@linkcode start} to keep a cached listing. */
  constructor(options: DirectoryOptions) {
    this.#kv = options.kv;
    this.#keys = options.keys;
    this.#instance = options.instance;
    this.#refreshMs = options.refreshMs;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#fence = options.fence;
  }

  /**
   * Writes `room`'s entry soon (its state when the write starts); writes asked for while one
   * is in flight collapse into one.
   */
  publish(room: Room): void {
    this.#queue(room.id, room);
  }

  /** Deletes `id`'s entry (after any write in flight). */
  remove(id: string): Promise<void> {
    return this.#queue(id, null);
  }

  #queue(id: string, room: Room | null): Promise<void> {
    const writing = this.#writing.get(id);
    if (writing) {
      writing.room = room;
      writing.again = true;
      return writing.promise;
    }
    const state: Writing = { promise: Promise.resolve(), room, again: false };
    state.promise = (async () => {
      do {
        state.again = false;
        const current = state.room;
        try {
          await this.#write(id, current && !current.disposed ? current : null);
        } catch (error) {
          this.#onError(error);
        }
      } while (state.again);
      this.#writing.delete(id);
    })();
    this.#writing.set(id, state);
    return state.promise;
  }

  /**
   * Writes `id`'s entry (deletes it for null) if this instance still owns the room: an owner
   * that lost the room does not overwrite or delete what the next owner wrote.
   */
  async #write(id: string, room: Room | null): Promise<void> {
    const atomic = this.#kv.atomic();
    if (this.#fence) {
      const fence = await Promise.resolve(this.#fence(id)).catch(() => null);
      if (!fence) return;
      atomic.check(fence);
    }
    if (room) atomic.set(this.#keys.room(id), this.#entry(room));
    else atomic.delete(this.#keys.room(id));
    await retryLocked(() => atomic.commit());
  }

  #entry(room: Room): DirectoryEntry {
    return {
      ...room.summary(),
      owner: this.#instance,
      updatedAt: this.#now(),
    };
  }

  /** Resolves when no write is in flight. */
  async idle(): Promise<void> {
    while (this.#writing.size > 0) {
      await Promise.all([...this.#writing.values()].map((w) => w.promise));
    }
  }

  /** Every entry (of `game`), read now. */
  async list(game?: string): Promise<DirectoryEntry[]> {
    const out: DirectoryEntry[] = [];
    for await (const entry of this.#kv.list<DirectoryEntry>({ prefix: this.#keys.rooms() })) {
      if (game === undefined || entry.value.game === game) out.push(entry.value);
    }
    return out;
  }

  /** The listing as of the last refresh (at most `refreshMs` old). */
  cached(): readonly DirectoryEntry[] {
    return this.#cache;
  }

  /** Reads the listing again now. */
  refresh(): Promise<void> {
    return this.#refreshing ??= this.list().then(
      (entries) => void (this.#cache = entries),
      (error) => this.#onError(error),
    ).finally(() => this.#refreshing = null);
  }

  /** Refreshes the cached listing every `refreshMs`. */
  start(): void {
    if (this.#timer !== null) return;
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#refreshMs);
  }

  /** Stops refreshing and waits for writes. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#refreshing;
    await this.idle();
  }
}

/**
 * The room manager: the registry of games and live rooms that the WebSocket edge talks to.
 * It routes joins (by room id, by game with join-or-create, or by session token), creates and
 * lists rooms, restores them from snapshots, and disposes them.
 *
 * @module
 */
import { ArbiterError, ProtocolError } from "../protocol/mod.ts";
import { isJoinKey } from "../protocol/client_messages.ts";
import type { ActionLimits, JoinMode, Value } from "../protocol/types.ts";
import { type Clock, systemClock } from "./clock.ts";
import type { AnyGame } from "./game.ts";
import { KeyedSerializer } from "./keyed_serializer.ts";
import type { Member, Seat } from "./member.ts";
import { Random } from "./rng.ts";
import {
  type DisposeReason,
  type Journal,
  type JournalEntry,
  Room,
  type RoomChange,
  type RoomJoin,
  type RoomSettings,
  type RoomStatus,
  type RoomSummary,
} from "./room.ts";
import type { RoomSnapshot } from "./snapshot.ts";
import { newRoomId } from "./token.ts";

/**
 * A join as the edge hands it over (the protocol's `join` message plus the authenticated
 * user, if any).
 *
 * @example
 * ```ts
 * import type { JoinRequest } from "./manager.ts";
 * const request: JoinRequest = { mode: "join_or_create", game: "tic_tac_toe", name: "ann" };
 * ```
 */
export interface JoinRequest {
  mode: JoinMode;
  /** Room id: required for `join` (unless resuming), ignored by the other modes. */
  room?: string;
  /** Game name: required for `create` and `join_or_create`. */
  game?: string;
  /** Room options for a room this join creates. */
  options?: { [key: string]: Value };
  /** Display name. */
  name?: string;
  /** Watch without a seat (`join` only). */
  spectator?: boolean;
  /** Make the room private (`create` only): out of room lists and `join_or_create`. */
  private?: boolean;
  /** Resume a seat; the room is found by `room`, or by the token alone. */
  resume?: { session: string; seq: number };
  /** From authentication: the seat belongs to this user; nobody else can take or resume it. */
  user?: { userId: string; name: string };
  /**
   * The client's join key (PROTOCOL.md 6.1): a seat-taking join repeated with it gets the seat,
   * and for `create` / `join_or_create` within 60 s the room, the first one took.
   */
  key?: string;
}

/** How long `create` and `join_or_create` remember the room a join key went to, ms. */
const JOIN_KEY_TTL_MS = 60_000;
/** Most join keys a manager remembers (a flood of keys must not grow memory without bound). */
const MAX_JOIN_KEYS = 10_000;

/**
 * Refuses, with `bad_field`, a join whose fields do not fit its mode (PROTOCOL.md 5.1): `join`
 * needs a room id (or a resume token), `create` and `join_or_create` a game name, and only
 * `join` may watch. Both {@linkcode RoomManager.join} and the cluster's router start with it.
 *
 * @example
 * ```ts
 * import { checkJoinFields } from "./manager.ts";
 * try {
 *   checkJoinFields({ mode: "create" });
 * } catch (error) {
 *   console.log((error as Error).message); // "A create join needs g: the name of a game."
 * }
 * ```
 */
export function checkJoinFields(request: JoinRequest): void {
  if (request.key !== undefined && !isJoinKey(request.key)) {
    throw new ArbiterError(
      "bad_field",
      "A join key (k) must be 16 to 64 characters of A-Z, a-z, 0-9, _ and -.",
    );
  }
  if (request.private !== undefined && (request.mode !== "create" || request.resume)) {
    throw new ArbiterError(
      "bad_field",
      `p (private) is for a create join; a ${request.resume ? "resume" : request.mode} ` +
        "cannot make a room private (join_or_create never picks or makes a private room).",
    );
  }
  if (request.resume) return;
  if (request.mode === "join") {
    if (typeof request.room === "string") return;
    throw new ArbiterError("bad_field", "A join (mode join) needs r: the id of the room.");
  }
  if (typeof request.game !== "string") {
    throw new ArbiterError("bad_field", `A ${request.mode} join needs g: the name of a game.`);
  }
  if (request.spectator) {
    throw new ArbiterError(
      "bad_field",
      `A ${request.mode} join takes a seat; to watch, join a room by its id with w (spectator).`,
    );
  }
}

/** Options of {@linkcode RoomManager}. */
export interface RoomManagerOptions {
  /** The games rooms can be created for. */
  games: readonly AnyGame[];
  /** Time source of every room. Default: the system clock. */
  clock?: Clock;
  /** Grace window of a dropped player's seat, ms. Default 30 000. */
  graceMs?: number;
  /** How long finished rooms stay readable, ms. Default 60 000. */
  finishedRetentionMs?: number;
  /** How long a room with nobody in it lives, ms. Default 60 000. */
  idleDisposeMs?: number;
  /**
   * Most rooms alive at once. Finished rooms count until their retention ends, but a new room
   * takes the place of the one that finished first rather than being refused; with no finished
   * room to close, more → `too_many_rooms`. Default 10 000.
   */
  maxRooms?: number;
  /** Broadcasts kept per audience for resumes. Default 256. */
  ringSize?: number;
  /** The limit on each connection's actions, told to clients in their welcome (see `Room`). */
  actionLimits?: ActionLimits;
  /** Most spectators per room; more → `room_full`. Default 1 000. */
  maxSpectators?: number;
  /** Makes room ids and room seeds deterministic (tests). Session tokens stay random. */
  seed?: string;
  /** The journal of each room (e.g. `log` durability), by room. */
  journal?: (room: { id: string; game: AnyGame }) => Journal | undefined;
  /** Called with every room created or restored (`how` says which), before anyone joins it. */
  onRoomCreated?: (room: Room, how: "created" | "restored") => void;
  /** Called after each step that changed a room (e.g. to save it). */
  onRoomChanged?: (room: Room, change: RoomChange) => void;
  /** Called when a room is disposed (e.g. to delete its stored snapshot), with the reason. */
  onRoomDisposed?: (room: Room, reason: DisposeReason) => void;
  /**
   * Receives errors from game code and members, and failures of the server's own making that a
   * client only sees as `internal` (a `setup` that threw or made a state that is not data, a
   * `welcome` that could not be encoded). Default `console.error`.
   */
  onError?: (error: unknown, room: { id: string; game: string }) => void;
  /**
   * Rooms live on other instances (`cluster/`'s directory), by id: {@linkcode RoomManager.list}
   * includes those not live here. Called on every list, lookup and count, so it should hand
   * back a map it keeps rather than build one.
   */
  remoteRooms?: () => ReadonlyMap<string, RoomSummary>;
}

/** Options of {@linkcode RoomManager.list}. */
export interface ListOptions {
  /** Only rooms of this game. */
  game?: string;
  /** Leave out private rooms (a public lobby must not show them). Default false. */
  publicOnly?: boolean;
  /** Only rooms live in this process, not those of other instances. Default false. */
  localOnly?: boolean;
  /** Only rooms in this status. */
  status?: RoomStatus;
  /**
   * Only rooms a new player could take a seat in now (true), or only the others (false):
   * {@linkcode RoomSummary.open}.
   */
  open?: boolean;
}

/**
 * Owns every live room of a server.
 *
 * @example
 * ```ts
 * import { ManualClock, RoomManager } from "./mod.ts";
 * import { exampleGames } from "../games/mod.ts";
 * const manager = new RoomManager({ games: exampleGames, clock: new ManualClock() });
 * const member = { send: (_frame: Uint8Array) => {}, close: () => {} };
 * const seat = await manager.join({ mode: "join_or_create", game: "tic_tac_toe" }, member);
 * console.log(seat.player, manager.list().length); // "p1" 1
 * manager.dispose();
 * ```
 */
export class RoomManager {
  /** The registered games, by name. */
  readonly games: ReadonlyMap<string, AnyGame>;
  readonly #options: RoomManagerOptions;
  readonly #rooms = new Map<string, Room>();
  /**
   * Finished rooms (kept only for late readers), in the order they finished (rooms restored
   * finished: in the order they were restored, before any that finishes here): the first gives
   * its place up when a new room needs one at `maxRooms`.
   */
  readonly #finished = new Map<string, Room>();
  /** Join-or-create calls per game, one at a time (see {@linkcode KeyedSerializer}). */
  readonly #joinOrCreateQueue = new KeyedSerializer();
  readonly #random: Random | null;
  readonly #clock: Clock;
  /**
   * Join key → the room a `create` / `join_or_create` with it went to, oldest first (every
   * entry lives equally long, so the first to expire is the first in the map).
   */
  readonly #joinKeys = new Map<
    string,
    { room: string; game: string; userId: string | null; expires: number }
  >();
  /** Set by {@linkcode RoomManager.dispose}: what later calls are refused with. */
  #disposedWith: DisposeReason | null = null;

  /** Registers the games; rooms are created on demand. */
  constructor(options: RoomManagerOptions) {
    const games = new Map<string, AnyGame>();
    for (const game of options.games) {
      if (games.has(game.name)) throw new TypeError(`Two games are named ${game.name}`);
      games.set(game.name, game);
    }
    this.games = games;
    this.#options = options;
    this.#random = options.seed !== undefined ? new Random(`rooms:${options.seed}`) : null;
    this.#clock = options.clock ?? systemClock;
  }

  /** Live rooms. */
  get size(): number {
    return this.#rooms.size;
  }

  /** The live room with this id. */
  get(id: string): Room | undefined {
    return this.#rooms.get(id);
  }

  /**
   * Summaries of live rooms, with those live on other instances (with the `remoteRooms`
   * option), oldest first (by `createdAt`; rooms of the same millisecond in the order this
   * instance knows them); private ones flagged, or left out on request.
   */
  list(options: ListOptions = {}): RoomSummary[] {
    const out: RoomSummary[] = [];
    const wanted = (room: RoomSummary) =>
      (options.game === undefined || room.game === options.game) &&
      !(room.private && options.publicOnly) &&
      (options.status === undefined || room.status === options.status) &&
      (options.open === undefined || room.open === options.open);
    for (const room of this.#rooms.values()) {
      // The cheap tests first: a lobby of one game skips the others without a summary.
      if (options.game !== undefined && room.game.name !== options.game) continue;
      if (room.private && options.publicOnly) continue;
      const summary = room.summary();
      if (wanted(summary)) out.push(summary);
    }
    const remote = options.localOnly ? undefined : this.#options.remoteRooms?.();
    for (const room of remote?.values() ?? []) {
      if (!this.#rooms.has(room.id) && wanted(room)) out.push(room);
    }
    // By creation, not by arrival here: restored rooms come back in storage order, and other
    // instances' rooms would come after all of this one's (pages would overlap between them).
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * The summary of one room, as {@linkcode RoomManager.list} has it (private rooms included,
   * flagged): the room live here with this id, else one live on another instance (with the
   * `remoteRooms` option). Looks the room up by id rather than listing every room.
   */
  summary(id: string): RoomSummary | undefined {
    return this.#rooms.get(id)?.summary() ?? this.#options.remoteRooms?.().get(id);
  }

  /**
   * How many rooms {@linkcode RoomManager.list} reports without options: the live ones (a count
   * kept as rooms come and go, no summaries built), plus, with the `remoteRooms` option, those
   * live on other instances only.
   */
  count(): number {
    const remote = this.#options.remoteRooms?.();
    if (!remote) return this.#rooms.size;
    // The directory may still list rooms that have moved here: count those once.
    let both = 0;
    for (const id of this.#rooms.keys()) if (remote.has(id)) both++;
    return this.#rooms.size + remote.size - both;
  }

  /**
   * Creates a room of `game`. Throws `game_not_found`, `bad_options` or `too_many_rooms`; or
   * `internal` when the game's own code fails (its `setup` throws or makes a state that is not
   * data, e.g. `Infinity`), which is reported to `onError` with the game's name first.
   */
  create(
    game: string,
    options?: { [key: string]: Value },
    flags: { private?: boolean } = {},
  ): Room {
    this.#checkOpen();
    const definition = this.games.get(game);
    if (!definition) {
      throw new ArbiterError("game_not_found", `No game named ${quote(game)}.`);
    }
    const max = this.#options.maxRooms ?? 10_000;
    if (this.#rooms.size >= max) this.#closeOldestFinished();
    if (this.#rooms.size >= max) {
      throw new ArbiterError("too_many_rooms", `This server already runs ${max} rooms.`);
    }
    // A private room's id is its invitation: long enough that guessing one (say, by asking
    // `GET /api/rooms/:id` thousands of times a second) finds none among thousands of rooms.
    const id = this.#newId(flags.private ? PRIVATE_ROOM_ID_LENGTH : undefined);
    const seed = this.#random ? `${this.#options.seed}:${id}` : undefined;
    let room: Room;
    try {
      room = new Room({
        ...this.#settings(id, definition),
        id,
        game: definition,
        options,
        private: flags.private ?? false,
        seed,
      });
    } catch (error) {
      if (error instanceof ArbiterError) throw error;
      // The game's fault, not the caller's: a bug to log with its name, `internal` to the client.
      throw this.#internal(error, { id, game: definition.name });
    }
    this.#rooms.set(id, room);
    this.#options.onRoomCreated?.(room, "created");
    return room;
  }

  /**
   * Brings a room back from a snapshot (and the journal entries written after it). Throws
   * `game_not_found` when the game is no longer registered, `too_many_rooms`, or a
   * `TypeError` for a snapshot that does not fit the game.
   */
  restore(snapshot: RoomSnapshot, journal: readonly JournalEntry[] = []): Room {
    this.#checkOpen();
    const game = this.games.get(snapshot.game);
    if (!game) throw new ArbiterError("game_not_found", `No game named ${snapshot.game}.`);
    if (this.#rooms.has(snapshot.room)) {
      throw new TypeError(`Room ${snapshot.room} is already live`);
    }
    const room = Room.restore(game, snapshot, this.#settings(snapshot.room, game), journal);
    if (!room.disposed) {
      this.#rooms.set(room.id, room);
      if (room.status === "finished") this.#finished.set(room.id, room);
      this.#options.onRoomCreated?.(room, "restored");
    }
    return room;
  }

  /**
   * Routes a join to its room. On success the `welcome` was already sent to `member`; on
   * failure throws an {@linkcode ArbiterError}: `room_not_found`, `game_not_found`,
   * `room_full`, `game_started`, `spectators_not_allowed`, `bad_options`, `bad_session`,
   * `too_many_rooms`, `game_over`, `bad_field` when the fields do not fit the mode,
   * `room_closed` or `server_restart` when the room (or manager) was disposed meanwhile, or
   * `internal` for a failure of the server's own making (reported to `onError` first).
   */
  async join(request: JoinRequest, member: Member): Promise<Seat> {
    this.#checkOpen();
    checkJoinFields(request);
    const roomJoin = {
      name: request.name,
      spectator: request.spectator,
      resume: request.resume,
      user: request.user,
      key: request.key,
    };
    if (request.resume) {
      const room = request.room !== undefined
        ? this.#rooms.get(request.room)
        : [...this.#rooms.values()].find((r) => r.hasSession(request.resume!.session));
      if (!room) {
        throw new ArbiterError("bad_session", "That session does not hold a seat on this server.");
      }
      return await this.#enter(room, roomJoin, member);
    }
    switch (request.mode) {
      case "join": {
        const room = this.#rooms.get(request.room!);
        if (!room) {
          throw new ArbiterError("room_not_found", `No room ${quote(request.room)}.`);
        }
        return await this.#enter(room, roomJoin, member);
      }
      case "create": {
        const game = this.#gameName(request);
        // Awaited only when the key names a room: from the lookup to `rememberJoinKey` nothing
        // else runs, so a retry with the same key arriving in the same tick finds this room.
        const keyed = this.#joinKeyed(game, request, member);
        const again = keyed && await keyed;
        if (again) return again;
        const room = this.create(game, request.options, { private: request.private });
        // Remembered before the join lands: a retry racing it then queues behind it in the room.
        this.rememberJoinKey(request, game, room.id);
        return await this.#enter(room, { ...roomJoin, spectator: false }, member);
      }
      case "join_or_create": {
        const game = this.#gameName(request);
        return await this.#joinOrCreateQueue.run(game, async () => {
          const seat = await this.#joinKeyed(game, request, member) ??
            await this.#joinOrCreate(game, request, member);
          this.rememberJoinKey(request, game, seat.room.id);
          return seat;
        });
      }
      default:
        throw new ArbiterError("bad_field", `Unknown join mode ${JSON.stringify(request.mode)}.`);
    }
  }

  /**
   * The id of the room a `create` or `join_or_create` of `game` with the request's join key, by
   * the same user (or anonymous), went to in the last 60 s (PROTOCOL.md 6.1), if this manager
   * remembers one. The room may have gone since, or (in a cluster) run on another instance.
   */
  joinKeyRoom(request: Pick<JoinRequest, "key" | "user">, game: string): string | undefined {
    const key = request.key;
    if (key === undefined) return undefined;
    const entry = this.#joinKeys.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.#clock.now()) {
      this.#joinKeys.delete(key);
      return undefined;
    }
    const sameUser = entry.userId === (request.user?.userId ?? null);
    return entry.game === game && sameUser ? entry.room : undefined;
  }

  /**
   * Remembers for 60 s that a `create` or `join_or_create` of `game` with the request's join key
   * (and user) went to room `room` (nothing without a key). At most 10 000 keys are kept, the
   * oldest forgotten first.
   */
  rememberJoinKey(request: Pick<JoinRequest, "key" | "user">, game: string, room: string): void {
    const key = request.key;
    if (key === undefined) return;
    const now = this.#clock.now();
    // Every entry lives equally long, so the expired ones are at the front.
    for (const [old, entry] of this.#joinKeys) {
      if (entry.expires > now) break;
      this.#joinKeys.delete(old);
    }
    this.#joinKeys.delete(key);
    if (this.#joinKeys.size >= MAX_JOIN_KEYS) {
      this.#joinKeys.delete(this.#joinKeys.keys().next().value!);
    }
    const userId = request.user?.userId ?? null;
    this.#joinKeys.set(key, { room, game, userId, expires: now + JOIN_KEY_TTL_MS });
  }

  /**
   * Disposes every room (members get `code` and are closed) and refuses further work with
   * `code` (so a restart tells late joins to come back, not that their room is gone).
   */
  dispose(code: DisposeReason = "room_closed"): void {
    this.#disposedWith ??= code;
    for (const room of [...this.#rooms.values()]) room.dispose(code);
    this.#rooms.clear();
    this.#finished.clear();
    this.#joinKeys.clear();
  }

  /**
   * Joins the room an earlier `create` / `join_or_create` with the request's join key went to,
   * where the key gets back the seat that join took. Null when no such room runs here or it no
   * longer takes the player: the caller goes on as for a new join. Null at once (not a promise)
   * when no such room runs here.
   */
  #joinKeyed(game: string, request: JoinRequest, member: Member): Promise<Seat | null> | null {
    const id = this.joinKeyRoom(request, game);
    const room = id === undefined ? undefined : this.#rooms.get(id);
    if (!room) return null;
    return this.#enter(room, { name: request.name, user: request.user, key: request.key }, member)
      .catch((error) => {
        if (error instanceof ArbiterError && RETRYABLE.has(error.code)) return null;
        throw error;
      });
  }

  async #joinOrCreate(game: string, request: JoinRequest, member: Member): Promise<Seat> {
    const roomJoin = { name: request.name, user: request.user, key: request.key };
    for (const room of this.#rooms.values()) {
      if (room.game.name !== game || room.private || !room.acceptsPlayers) continue;
      try {
        return await this.#enter(room, roomJoin, member);
      } catch (error) {
        // A direct join by id may have taken the last seat meanwhile: try the next room.
        if (error instanceof ArbiterError && RETRYABLE.has(error.code)) continue;
        throw error;
      }
    }
    const room = this.create(game, request.options);
    return await this.#enter(room, roomJoin, member);
  }

  /**
   * `room.join`, where a failure that is not an {@linkcode ArbiterError} the room meant for the
   * client (a bug, or a `welcome` whose state or view could not be encoded, which throws a
   * `ProtocolError` that would blame the client's frame) becomes `internal`.
   */
  async #enter(room: Room, join: RoomJoin, member: Member): Promise<Seat> {
    try {
      return await room.join(join, member);
    } catch (error) {
      if (error instanceof ArbiterError && !(error instanceof ProtocolError)) throw error;
      throw this.#internal(error, { id: room.id, game: room.game.name });
    }
  }

  /** Reports a failure of the server's own making and returns what the client gets for it. */
  #internal(error: unknown, room: { id: string; game: string }): ArbiterError {
    const report = this.#options.onError ?? ((e: unknown) => console.error(e));
    try {
      report(error, room);
    } catch {
      // A failing logger must not turn into an unexpected error of its own.
    }
    return new ArbiterError("internal", "Unexpected server error.");
  }

  #gameName(request: JoinRequest): string {
    if (!this.games.has(request.game!)) {
      throw new ArbiterError("game_not_found", `No game named ${quote(request.game)}.`);
    }
    return request.game!;
  }

  #settings(id: string, game: AnyGame): RoomSettings {
    const o = this.#options;
    return {
      clock: o.clock,
      graceMs: o.graceMs,
      finishedRetentionMs: o.finishedRetentionMs,
      idleDisposeMs: o.idleDisposeMs,
      ringSize: o.ringSize,
      actionLimits: o.actionLimits,
      maxSpectators: o.maxSpectators,
      journal: o.journal?.({ id, game }),
      onError: o.onError && ((error) => o.onError!(error, { id, game: game.name })),
      onChange: (room, change) => {
        if (change === "finished") this.#finished.set(room.id, room);
        o.onRoomChanged?.(room, change);
      },
      onDispose: (room, reason) => {
        if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
        if (this.#finished.get(room.id) === room) this.#finished.delete(room.id);
        o.onRoomDisposed?.(room, reason);
      },
    };
  }

  /** Ends the retention of the room that finished first (its members are told `room_closed`). */
  #closeOldestFinished(): void {
    for (const [id, room] of this.#finished) {
      this.#finished.delete(id);
      room.dispose();
      return;
    }
  }

  #newId(length?: number): string {
    const random = this.#random;
    for (;;) {
      const id = newRoomId(random ? () => random.next() : undefined, length);
      if (!this.#rooms.has(id)) return id;
    }
  }

  #checkOpen(): void {
    if (this.#disposedWith === "server_restart") {
      throw new ArbiterError("server_restart", "The server is restarting; retry shortly.");
    }
    if (this.#disposedWith) throw new ArbiterError("room_closed", "The room manager was disposed.");
  }
}

/** `value` as JSON for an error message, cut to 64 characters: a flood is not echoed back. */
function quote(value: unknown): string {
  const short = typeof value === "string" && value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return JSON.stringify(short) ?? String(short);
}

/** Characters in a private room's id (~79 bits; public ones: 8, ~39 bits, easy to share). */
const PRIVATE_ROOM_ID_LENGTH = 16;

const RETRYABLE: ReadonlySet<string> = new Set([
  "room_full",
  "game_started",
  "room_closed",
  "game_over",
]);

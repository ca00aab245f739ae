/**
 * The room actor: one game instance, its seats and members, and the single mailbox through
 * which every input passes. It applies actions, works out deltas by diffing each audience's
 * view, broadcasts gap-free sequences, runs ticks, turn clocks and grace windows on an
 * injectable {@linkcode Clock}, and can be snapshotted and restored.
 *
 * @module
 */
import {
  ArbiterError,
  checkOutboundFrame,
  checkOutboundOps,
  CLOSE_CODES,
  closeCodeFor,
  decodeValue,
  DEFAULT_INBOUND_LIMITS,
  encodeDeltaFrame,
  encodeServerMessage,
  encodeValue,
  REMEMBERED_REFUSALS,
  type RoomStatus,
  type RoomSummary,
} from "../protocol/mod.ts";
import type {
  ActionLimits,
  ErrorCode,
  Outcome,
  PlayerInfo,
  Presence,
  ServerMessage,
  SettledReject,
  Value,
} from "../protocol/types.ts";
import { Audience } from "./audience.ts";
import {
  type Clock,
  everyTick,
  MAX_TIMER_MS,
  systemClock,
  type TickHandle,
  type TimerId,
} from "./clock.ts";
import { clone } from "./diff.ts";
import {
  type ActionContext,
  type ActionDefinition,
  type ActionReadContext,
  type AnyGame,
  type GameContext,
  type GameOptions,
  MIN_TICK_HZ,
  type PlayerHook,
  type ReadContext,
} from "./game.ts";
import { type HeldInputHandler, Mailbox } from "./mailbox.ts";
import type { Member, Seat } from "./member.ts";
import { Random } from "./rng.ts";
import { describeValue, formatFailure, type SchemaFailure } from "./schema.ts";
import { type RoomSnapshot, type SeatSnapshot, SNAPSHOT_VERSION } from "./snapshot.ts";
import { newSessionToken, safeEqual } from "./token.ts";

/** A {@linkcode GameContext} the room refreshes before each call into game code. */
type MutableContext = {
  -readonly [K in keyof GameContext<GameOptions>]: GameContext<GameOptions>[K];
};
type MutableReadContext = {
  -readonly [K in keyof ReadContext<GameOptions>]: ReadContext<GameOptions>[K];
};

const READ_ONLY_CALLS = "validate, turn, outcome and view";
/** What a read-only function gets for `random` and `emit`: they throw, saying why. */
const READ_ONLY_GUARDS = {
  get random(): never {
    throw new TypeError(
      `ctx.random is not for ${READ_ONLY_CALLS}: they run a different number of times live ` +
        "and when a room is restored, so a draw there changes what its log replays. Draw in " +
        "apply, a hook, tick.update or turnClock.onTimeout.",
    );
  },
  emit(): never {
    throw new TypeError(
      `ctx.emit is not for ${READ_ONLY_CALLS}: an event there would go out with no step of ` +
        "its own (a refused action's, say). Emit in apply, a hook, tick.update or " +
        "turnClock.onTimeout.",
    );
  },
};

/**
 * One journaled input. Actions carry the player's name for the action and the client
 * sequence; a turn-clock timeout is journaled as action `"@timeout"` with player null.
 */
export interface JournalEntry {
  /** Room-wide index: 1 for the first action, then +1 per action or timeout. */
  index: number;
  /** The client's sequence number (absent for timeouts). */
  seq?: number;
  /** Server time the action was applied at (its `ctx.now`). */
  time: number;
  /** Acting player, or null for a timeout. */
  player: string | null;
  /** Action name, or `"@timeout"`. */
  action: string;
  /** The checked payload (null for timeouts). */
  payload: Value;
}

/**
 * Where a room writes accepted actions before they take effect (the persistence layer's
 * `log` durability). When `append` returns a promise, the room applies and broadcasts the
 * action only after it resolves, and no other input is processed meanwhile; a rejection
 * refuses the action with `internal`.
 *
 * @example
 * ```ts
 * import type { Journal, JournalEntry } from "./room.ts";
 * const entries: JournalEntry[] = [];
 * const journal: Journal = { append: (entry) => void entries.push(entry) };
 * ```
 */
export interface Journal {
  append(entry: JournalEntry): void | PromiseLike<void>;
}

/**
 * What changed in a room, as reported to {@linkcode RoomSettings.onChange} after the
 * broadcast: an accepted action or turn timeout, the seats (join, leave, drop, reconnect,
 * expiry), a simulation tick, the end of the game, or a refused action the seat remembers
 * (no broadcast: its snapshot must still hold the refusal, so a resume settles it).
 */
export type RoomChange = "action" | "seats" | "tick" | "finished" | "refusal";

/** Why a room was disposed: closed for good, or stopped because the server is restarting. */
export type DisposeReason = "room_closed" | "server_restart";

export type { RoomStatus, RoomSummary };

/** How a connection enters a room (the room-level part of a join request). */
export interface RoomJoin {
  /** Display name (ignored when `user` is given). */
  name?: string;
  /** Watch without a seat. */
  spectator?: boolean;
  /** Resume a seat: its session token and the last room sequence the client applied. */
  resume?: { session: string; seq: number };
  /** The authenticated user: a seat taken by a user can only be resumed by that user. */
  user?: { userId: string; name: string };
  /**
   * The client's join key (PROTOCOL.md 6.1): a seat-taking join with the key of a held seat
   * (same user, or both anonymous) gets that seat back, its first welcome having been lost.
   */
  key?: string;
}

/** Settings shared by new and restored rooms. */
export interface RoomSettings {
  /** Time source for every timer. Default {@linkcode systemClock}. */
  clock?: Clock;
  /** How long a dropped player's seat is held, ms. Default 30 000. */
  graceMs?: number;
  /** How long a finished room stays readable before it is disposed, ms. Default 60 000. */
  finishedRetentionMs?: number;
  /** How long a room with nobody in it (and no seat in grace) lives, ms. Default 60 000. */
  idleDisposeMs?: number;
  /** How many recent broadcasts each audience keeps for resumes. Default 256. */
  ringSize?: number;
  /**
   * Most spectators watching at once; one more is refused with `room_full` (each comes and
   * goes with an event to every member, so a crowd costs every member). Default 1 000.
   */
  maxSpectators?: number;
  /** Write-ahead hook for accepted actions (see {@linkcode Journal}). */
  journal?: Journal;
  /** The limit on each connection's actions, told to clients in their welcome so they pace. */
  actionLimits?: ActionLimits;
  /**
   * Called after each step that changed the room (see {@linkcode RoomChange}), e.g. so the
   * persistence layer can save it. Never called for a disposed room.
   */
  onChange?: (room: Room, change: RoomChange) => void;
  /** Called once when the room is disposed, with the reason. */
  onDispose?: (room: Room, reason: DisposeReason) => void;
  /** Receives errors thrown by game code or members. Default `console.error`. */
  onError?: (error: unknown) => void;
}

/** Everything a new room needs. */
export interface RoomInit extends RoomSettings {
  /** Room id. */
  id: string;
  /** The game to play. */
  game: AnyGame;
  /** Room options (checked against the game's `options` schema; bad → `bad_options`). */
  options?: unknown;
  /** Hidden from listings and join-or-create. */
  private?: boolean;
  /** Seed of the room's generator. Default: 128 random bits. */
  seed?: string;
}

const DEFAULTS = {
  graceMs: 30_000,
  finishedRetentionMs: 60_000,
  idleDisposeMs: 60_000,
  ringSize: 256,
  maxSpectators: 1000,
};

const MAX_NAME_LENGTH = 32;
/** `ackDelta` values below this get one delta frame per broadcast, shared by their members. */
const SHARED_ACK_FRAMES = 16;
const TIMEOUT_ACTION = "@timeout";

/** Longest refusal message a seat remembers for a resume (longer ones are cut). */
const MAX_REMEMBERED_MESSAGE = 200;

interface SeatRecord {
  index: number;
  id: string;
  name: string;
  userId: string | null;
  /** The join key of the join that took the seat (in memory only: not in snapshots). */
  joinKey: string | null;
  presence: Presence;
  session: string;
  /** Highest client sequence applied. */
  ack: number;
  /** `ack` as of the last broadcast: what the seat's member has been told. */
  ackBroadcast: number;
  /** Highest client sequence seen, applied or not. */
  lastSeq: number;
  /**
   * The seat's latest refused actions (at most {@linkcode REMEMBERED_REFUSALS}, kept in the
   * room's snapshots): a resume's welcome repeats them, since a `reject` in flight when the
   * link dropped is lost.
   */
  rejects: SettledReject[];
  graceDeadline: number | null;
  graceTimer: TimerId | null;
  connection: Connection | null;
  /** The seat's audience: its own with `view`, else the room's shared one. */
  audience: Audience<Connection> | null;
  /**
   * Whether this room object has welcomed the seat (in memory only: not in snapshots). Until
   * then the client's room sequence is an earlier run's, and a run that crashed after its
   * saves failed for long enough may have sent numbers this one reuses for other broadcasts:
   * only the full state is safe to resume from.
   */
  welcomedHere: boolean;
}

interface Connection {
  member: Member;
  seat: SeatRecord | null;
  audience: Audience<Connection>;
  /** Absolute ack this member has been told about. */
  ackSent: number;
  /**
   * On a resumed seat, its `ack` when the resume began: client sequences up to here are old
   * actions the client sends again because it never saw them settled.
   */
  resentUpTo: number;
  attached: boolean;
  name: string;
}

interface PendingEvent {
  frame: Uint8Array;
  /**
   * The seats it is for (`null`: everyone), resolved when it was emitted: in tick mode it
   * waits for the tick, and a seat left and taken again by then is another player's.
   */
  to: readonly SeatRecord[] | null;
}

type HookName = "onJoin" | "onLeave" | "onDisconnect" | "onReconnect" | "onSeatExpired";

const RESTORE = Symbol("restore");

interface RestoreData {
  snapshot: RoomSnapshot;
  journal: readonly JournalEntry[];
}

/**
 * A running game instance. Most code reaches rooms through a {@linkcode RoomManager}; tests
 * can build one directly and join it with plain {@linkcode Member} objects.
 *
 * @example
 * ```ts
 * import { ManualClock, Room } from "./mod.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const clock = new ManualClock();
 * const room = new Room({ id: "r1", game: ticTacToe, clock });
 * const frames: Uint8Array[] = [];
 * const member = { send: (f: Uint8Array) => frames.push(f), close: () => {} };
 * const ann = await room.join({ name: "ann" }, member);
 * const bob = await room.join({ name: "bob" }, { send: () => {}, close: () => {} });
 * ann.act(1, "place", { cell: 4 });
 * console.log(room.seq, room.state); // 1, board with "p1" in the centre
 * room.dispose();
 * ```
 */
export class Room {
  /** Room id. */
  readonly id: string;
  /** The game played. */
  readonly game: AnyGame;
  /** The checked room options. */
  readonly options: GameOptions;
  /** Hidden from listings and join-or-create. */
  readonly private: boolean;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;

  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #retentionMs: number;
  readonly #idleMs: number;
  readonly #ringSize: number;
  readonly #actionLimits: ActionLimits | undefined;
  readonly #maxSpectators: number;
  readonly #journal: Journal | undefined;
  readonly #onDispose: ((room: Room, reason: DisposeReason) => void) | undefined;
  readonly #onChange: ((room: Room, change: RoomChange) => void) | undefined;
  readonly #onError: (error: unknown) => void;
  readonly #mailbox: Mailbox;
  readonly #seed: string;
  readonly #random: Random;
  readonly #actionNames: string[];

  #state: unknown;
  #seq = 0;
  #time: number;
  #actionIndex = 0;
  #started = false;
  #outcome: Outcome | null = null;
  #finishedAt: number | null = null;
  /** The seq of the broadcast `game_over` followed (0: not over, or over before a restore). */
  #endSeq = 0;
  #updatedAt: number;
  #now: number;
  #disposed = false;

  #seats: (SeatRecord | undefined)[];
  #shared: Audience<Connection> | null = null;
  #spectatorAudience: Audience<Connection> | null = null;
  #connections = new Set<Connection>();
  #events: PendingEvent[] = [];
  /** Seats the room dropped (`#breakAudience`) whose drop is not announced yet. */
  readonly #unannounced = new Set<SeatRecord>();
  #players: PlayerInfo[] | null = null;
  #playerContext: MutableContext | null = null;
  #systemContext: MutableContext | null = null;
  #readContext: MutableReadContext | null = null;
  /** Filled by a failing payload check; reset after each failure is reported. */
  readonly #payloadFailure: SchemaFailure = { path: [], expected: "", got: "" };

  #ticking = false;
  /** The tick interval, ms (from `tick.hz`, which may depend on the options). */
  readonly #tickPeriod: number = 0;
  /** `turnClock.ms` for this room's options (they never change), ms. */
  readonly #turnTime: number = 0;
  #ticks: TickHandle | null = null;
  /** A tick waits in the mailbox (behind a slow journal write): do not queue another. */
  #tickQueued = false;
  #lastTickAt = 0;
  #ticksRun = 0;
  /** Ops bodies of the broadcast being sent, by audience (null: it could not be made). */
  readonly #bodies: (Uint8Array | null)[] = [];
  /** `[#shared]`, kept rather than made per broadcast. */
  #sharedList: Audience<Connection>[] = [];
  /** Delta frames of the broadcast being sent, by `ackDelta` (small values only). */
  readonly #deltaFrames: (Uint8Array | undefined)[] = [];
  #turnTimer: TimerId | null = null;
  /** When `#turnTimer` fires: at the deadline or before it (it then re-arms for the rest). */
  #turnTimerDue = 0;
  #turnDeadline: number | null = null;
  #turnKey: string | null = null;
  #turnGeneration = 0;
  #idleTimer: TimerId | null = null;
  #retentionTimer: TimerId | null = null;

  /** Creates a room: checks the options, runs `setup`, starts the idle countdown. */
  constructor(init: RoomInit);
  /** @internal Restores from a snapshot: use {@linkcode Room.restore}. */
  constructor(init: RoomInit, restore: typeof RESTORE, data: RestoreData);
  constructor(init: RoomInit, restore?: typeof RESTORE, data?: RestoreData) {
    const game = init.game;
    this.id = init.id;
    this.game = game;
    this.private = init.private ?? false;
    this.#clock = init.clock ?? systemClock;
    this.#graceMs = init.graceMs ?? DEFAULTS.graceMs;
    this.#retentionMs = init.finishedRetentionMs ?? DEFAULTS.finishedRetentionMs;
    this.#idleMs = init.idleDisposeMs ?? DEFAULTS.idleDisposeMs;
    this.#ringSize = init.ringSize ?? DEFAULTS.ringSize;
    this.#actionLimits = init.actionLimits;
    this.#maxSpectators = init.maxSpectators ?? DEFAULTS.maxSpectators;
    this.#journal = init.journal;
    this.#onDispose = init.onDispose;
    this.#onChange = init.onChange;
    this.#onError = init.onError ?? ((error) => console.error(error));
    this.#mailbox = new Mailbox((error) => this.#onError(error));
    this.#actionNames = [...game.actionNames];
    this.#seats = new Array(game.players.max).fill(undefined);
    this.#now = this.#clockNow();

    if (restore === RESTORE && data) {
      const s = data.snapshot;
      this.options = s.options as GameOptions;
      this.#seed = s.seed;
      this.#random = Random.fromState(s.random);
      this.createdAt = s.createdAt;
      this.#updatedAt = s.updatedAt;
      this.#time = s.time;
      // Replayed steps arm the turn clock with it.
      if (game.turnClock) this.#turnTime = turnTime(game, this.options);
      this.#restoreFrom(s, data.journal);
    } else {
      this.options = checkOptions(game, init.options);
      this.#seed = init.seed ?? newSessionToken();
      this.#random = new Random(this.#seed);
      this.createdAt = this.#now;
      this.#updatedAt = this.#now;
      this.#time = this.#now;
      this.#state = game.setup({ now: this.#now, random: this.#random, options: this.options });
      // Fail at creation, naming the path, rather than at the first broadcast.
      clone(this.#state);
    }
    if (game.tick) this.#tickPeriod = tickPeriod(game, this.options);
    // After a restore, clients hold the tables of the audiences before the restart.
    const replaces = restore === RESTORE;
    if (game.turnClock && !replaces) this.#turnTime = turnTime(game, this.options);
    if (!game.view) {
      this.#shared = new Audience(
        null,
        this.#state,
        this.#seq,
        this.#ringSize,
        this.#seq + (replaces ? 1 : 0),
      );
    } else {
      for (const seat of this.#seats) {
        if (seat && seat.presence !== "left") seat.audience = this.#newAudience(seat.id, replaces);
      }
    }
    for (const seat of this.#seats) if (seat && !game.view) seat.audience = this.#shared;
    if (restore === RESTORE) this.#resumeTimers();
    else this.#syncTimers(false);
    this.#checkIdle();
  }

  /**
   * Brings a room back from {@linkcode Room.snapshot}: sequences continue from the stored
   * ones, and grace windows, turn clocks and retention run on from the stored deadlines. Seats
   * that were connected count as dropped from now (their grace window starts now). Journal
   * entries after the snapshot's `actionIndex` are re-applied in order.
   */
  static restore(
    game: AnyGame,
    snapshot: RoomSnapshot,
    settings: RoomSettings = {},
    journal: readonly JournalEntry[] = [],
  ): Room {
    if (snapshot.version !== SNAPSHOT_VERSION) {
      throw new TypeError(`Room.restore: unsupported snapshot version ${snapshot.version}`);
    }
    if (snapshot.game !== game.name) {
      throw new TypeError(`Room.restore: snapshot of ${snapshot.game}, not ${game.name}`);
    }
    return new Room({ ...settings, id: snapshot.room, game, private: snapshot.private }, RESTORE, {
      snapshot,
      journal,
    });
  }

  // --- reading -------------------------------------------------------------------------

  /** Room sequence: the number of broadcasts so far. */
  get seq(): number {
    return this.#seq;
  }

  /** Actions (and timeouts) applied so far. */
  get actionIndex(): number {
    return this.#actionIndex;
  }

  /**
   * Simulation ticks this room object has run (counting from 0 again after a restore). Ticks
   * are not journaled: the persistence layer compares this count to decide whether a snapshot
   * must be stored before the next journal entry.
   */
  get ticksRun(): number {
    return this.#ticksRun;
  }

  /** The live game state (read it; change it only through actions). */
  get state(): unknown {
    return this.#state;
  }

  /** The result, once the game is over. */
  get outcome(): Outcome | null {
    return this.#outcome;
  }

  /** True once disposed: no more inputs are taken. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Seat holders in seat order, with presence (seats given up show as `left`). */
  get players(): readonly PlayerInfo[] {
    return this.#playerList();
  }

  /** Seats held (connected or within their grace window). */
  get playerCount(): number {
    let n = 0;
    for (const seat of this.#seats) if (seat && seat.presence !== "left") n++;
    return n;
  }

  /** Spectators watching. */
  get spectatorCount(): number {
    let n = 0;
    for (const c of this.#connections) if (!c.seat) n++;
    return n;
  }

  /** Waiting for players, playing, or finished. */
  get status(): RoomStatus {
    if (this.#outcome) return "finished";
    return this.playerCount >= this.game.players.min ? "playing" : "waiting";
  }

  /** Whether a new player could take a seat now. */
  get acceptsPlayers(): boolean {
    if (this.#disposed || this.#outcome) return false;
    if (this.#started && !this.game.lateJoin) return false;
    return this.#seats.some((s) => !s || s.presence === "left");
  }

  /** A listing entry for this room. */
  summary(): RoomSummary {
    return {
      id: this.id,
      game: this.game.name,
      players: this.playerCount,
      maxPlayers: this.game.players.max,
      spectators: this.spectatorCount,
      status: this.status,
      open: this.acceptsPlayers,
      private: this.private,
      seq: this.#seq,
      createdAt: this.createdAt,
    };
  }

  /** What `viewer` (a player id, or null for a spectator) sees of the live state now. */
  view(viewer: string | null): unknown {
    if (!this.game.view) return this.#state;
    return this.game.view(this.#state, viewer, this.#readOnly(null));
  }

  /** Whether `session` is the resume token of a seat held in this room. */
  hasSession(session: string): boolean {
    return this.#seats.some((s) => s && s.presence !== "left" && safeEqual(s.session, session));
  }

  /** Resolves once every queued input was processed (inputs held for the next tick wait for it). */
  idle(): Promise<void> {
    return this.#mailbox.idle();
  }

  // --- inputs --------------------------------------------------------------------------

  /**
   * Adds a member: takes a free seat, resumes one (`resume`, a `user` already seated, or the
   * `key` of the join that took it), or watches (`spectator`). Resolves after the `welcome`
   * (and, for a replaying resume, the missed deltas) went to `member`; rejects with an
   * {@linkcode ArbiterError}.
   */
  join(request: RoomJoin, member: Member): Promise<Seat> {
    if (this.#disposed) return Promise.reject(closedError(this.id));
    return this.#mailbox.call(() => this.#join(request, member));
  }

  /**
   * Stops the room: every timer is cleared, queued inputs are dropped (queued joins reject with
   * an {@linkcode ArbiterError} of `code`), and members get an `error` frame with `code` and are
   * closed with its close code. Idempotent.
   */
  dispose(code: DisposeReason = "room_closed"): void {
    if (this.#disposed) return;
    // Inputs held for the next tick arrived before the dispose: they are applied (and in a
    // restart's snapshot), as they would have been on arrival.
    this.#mailbox.release();
    if (this.#disposed) return;
    this.#disposed = true;
    const message = code === "server_restart"
      ? "The server is restarting; reconnect and resume."
      : `Room ${this.id} was closed.`;
    // A join waiting behind a slow journal write must not wait forever (nor its caller's queue).
    // (Only then is an error made: capturing its stack costs more than the rest of a dispose.)
    if (this.#mailbox.size > 0) this.#mailbox.clear(new ArbiterError(code, message));
    this.#stopTicks();
    const turnDeadline = this.#turnDeadline;
    this.#clearTurnClock();
    // Stopped for a restart, the room keeps its deadline: the snapshot taken next carries it.
    if (code === "server_restart") this.#turnDeadline = turnDeadline;
    this.#clearTimer(this.#idleTimer);
    this.#idleTimer = null;
    this.#clearTimer(this.#retentionTimer);
    this.#retentionTimer = null;
    for (const seat of this.#seats) {
      if (seat?.graceTimer != null) this.#clearTimer(seat.graceTimer);
      if (seat) seat.graceTimer = null;
    }
    const frame = encodeServerMessage({ kind: "error", code, message });
    for (const conn of [...this.#connections]) {
      this.#detach(conn);
      this.#send(conn, frame);
      this.#close(conn, closeCodeFor(code), code);
    }
    try {
      this.#onDispose?.(this, code);
    } catch (error) {
      this.#onError(error);
    }
  }

  /** The room as plain data, for the persistence layer (see {@linkcode RoomSnapshot}). */
  snapshot(): RoomSnapshot {
    const seats: SeatSnapshot[] = [];
    for (const seat of this.#seats) {
      if (!seat) continue;
      seats.push({
        seat: seat.index,
        player: seat.id,
        name: seat.name,
        userId: seat.userId,
        presence: seat.presence,
        session: seat.session,
        ack: seat.ack,
        lastSeq: seat.lastSeq,
        graceDeadline: seat.graceDeadline,
        ...(seat.rejects.length > 0 ? { rejects: seat.rejects.map((r) => ({ ...r })) } : {}),
      });
    }
    return {
      version: SNAPSHOT_VERSION,
      game: this.game.name,
      room: this.id,
      options: clone(this.options),
      private: this.private,
      seed: this.#seed,
      random: this.#random.state(),
      seq: this.#seq,
      actionIndex: this.#actionIndex,
      time: this.#time,
      state: clone(this.#state) as Value,
      started: this.#started,
      seats,
      turnDeadline: this.#turnDeadline,
      createdAt: this.createdAt,
      updatedAt: this.#updatedAt,
      outcome: this.#outcome ? clone(this.#outcome) as Outcome : null,
      finishedAt: this.#finishedAt,
    };
  }

  // --- join, leave, drop ---------------------------------------------------------------

  #join(request: RoomJoin, member: Member): Seat {
    if (this.#disposed) throw closedError(this.id);
    this.#begin();
    if (request.resume) return this.#resume(request, member);
    if (request.spectator) return this.#watch(request, member);
    const user = request.user;
    if (user) {
      // A user coming back without a token (another device, a reload) gets their own seat.
      const own = this.#seats.find((s) => s && s.presence !== "left" && s.userId === user.userId);
      if (own) return this.#reattach(own, member, undefined);
    }
    const key = request.key;
    if (typeof key === "string") {
      // The same join again, its welcome lost with the connection: the seat it took, not another.
      const userId = user?.userId ?? null;
      const own = this.#seats.find((s) =>
        s && s.presence !== "left" && s.joinKey !== null && s.userId === userId &&
        safeEqual(s.joinKey, key)
      );
      if (own) return this.#reattach(own, member, undefined);
    }
    return this.#takeSeat(request, member);
  }

  #takeSeat(request: RoomJoin, member: Member): Seat {
    if (this.#outcome) {
      throw new ArbiterError("game_over", `The game in room ${this.id} is over; watch instead.`);
    }
    // A full room says so even when it has started: "full" tells the player more.
    const index = this.#seats.findIndex((s) => !s || s.presence === "left");
    if (index < 0) {
      const max = this.game.players.max;
      throw new ArbiterError("room_full", `Room ${this.id} has ${max} of ${max} seats taken.`);
    }
    if (this.#started && !this.game.lateJoin) {
      throw new ArbiterError("game_started", `The game in room ${this.id} has already started.`);
    }
    const id = `p${index + 1}`;
    const seat: SeatRecord = {
      index,
      id,
      name: cleanName(request.user?.name ?? request.name, id),
      userId: request.user?.userId ?? null,
      joinKey: typeof request.key === "string" ? request.key : null,
      presence: "connected",
      session: newSessionToken(),
      ack: 0,
      ackBroadcast: 0,
      lastSeq: 0,
      rejects: [],
      graceDeadline: null,
      graceTimer: null,
      connection: null,
      audience: null,
      welcomedHere: false,
    };
    const previous = this.#seats[index];
    this.#seats[index] = seat;
    this.#players = null;
    let conn: Connection | undefined;
    try {
      conn = this.#connect(member, seat, this.#seatAudience(seat));
      this.#welcome(conn, false, undefined);
    } catch (error) {
      // A join that failed halfway (a view or the welcome threw) leaves no seat behind.
      if (conn) this.#detach(conn);
      this.#seats[index] = previous;
      this.#players = null;
      this.#checkIdle();
      throw error;
    }
    this.#notify("player_joined", seat, conn);
    this.#runHook("onJoin", seat.id);
    this.#afterChange(false);
    return this.#handle(conn);
  }

  #resume(request: RoomJoin, member: Member): Seat {
    const { session, seq } = request.resume!;
    const seat = typeof session === "string"
      ? this.#seats.find((s) => s && s.presence !== "left" && safeEqual(s.session, session))
      : undefined;
    if (!seat) {
      throw new ArbiterError(
        "bad_session",
        `That session does not hold a seat in room ${this.id} (wrong, expired or left).`,
      );
    }
    if (seat.userId !== null && seat.userId !== request.user?.userId) {
      throw new ArbiterError("bad_session", "That seat belongs to another user.");
    }
    // Resuming by token, the client shows it had its welcome: the join key has served.
    seat.joinKey = null;
    return this.#reattach(seat, member, seq);
  }

  #reattach(seat: SeatRecord, member: Member, since: number | undefined): Seat {
    const old = seat.connection;
    if (old) {
      this.#detach(old);
      this.#send(
        old,
        encodeServerMessage({
          kind: "error",
          code: "session_replaced",
          message: "This seat was resumed from another connection.",
        }),
      );
      this.#close(old, CLOSE_CODES.session_replaced, "session_replaced");
    }
    const wasAway = seat.presence === "disconnected";
    const graceDeadline = seat.graceDeadline;
    if (wasAway) {
      this.#clearTimer(seat.graceTimer);
      seat.graceTimer = null;
      seat.graceDeadline = null;
      seat.presence = "connected";
      this.#players = null;
    }
    // Only this connection acts for the seat from now on: any client sequence above the last
    // applied action is new. Those up to it were settled: applied, or refused (the welcome
    // repeats the refusals it remembers), so the client may send them again harmlessly.
    seat.lastSeq = seat.ack;
    let conn: Connection | undefined;
    try {
      conn = this.#connect(member, seat, this.#seatAudience(seat));
      conn.resentUpTo = seat.ack;
      this.#welcome(conn, true, since);
    } catch (error) {
      // The seat stays away (its grace window running on) rather than held by nobody.
      if (conn) this.#detach(conn);
      seat.connection = null;
      seat.presence = "disconnected";
      seat.graceDeadline = wasAway && graceDeadline !== null
        ? graceDeadline
        : this.#now + this.#graceMs;
      this.#players = null;
      this.#startGrace(seat, Math.max(0, seat.graceDeadline - this.#now));
      // Its connection was replaced: it is away now, which the others must hear of.
      if (!wasAway) this.#dropUnannounced(seat);
      this.#checkIdle();
      throw error;
    }
    if (wasAway) {
      // Dropped by the room and back before that was told: the drop comes first.
      if (this.#unannounced.delete(seat)) this.#announceDrop(seat);
      this.#notify("player_reconnected", seat, conn);
      this.#runHook("onReconnect", seat.id);
      this.#afterChange(false);
    }
    return this.#handle(conn);
  }

  #watch(request: RoomJoin, member: Member): Seat {
    if (!this.game.spectators) {
      throw new ArbiterError("spectators_not_allowed", `${this.game.name} cannot be watched.`);
    }
    if (this.spectatorCount >= this.#maxSpectators) {
      throw new ArbiterError(
        "room_full",
        `Room ${this.id} has ${this.#maxSpectators} spectators, the most it takes.`,
      );
    }
    const audience = this.#shared ?? (this.#spectatorAudience ??= this.#newAudience(null));
    const conn = this.#connect(member, null, audience);
    conn.name = cleanName(request.user?.name ?? request.name, "spectator");
    try {
      this.#welcome(conn, false, undefined);
    } catch (error) {
      this.#detach(conn);
      if (this.#spectatorAudience?.members.size === 0) this.#spectatorAudience = null;
      this.#checkIdle();
      throw error;
    }
    this.#broadcastEvent(
      { kind: "event", type: "spectator_joined", data: { name: conn.name } },
      conn,
    );
    return this.#handle(conn);
  }

  /** The seat's audience, rebuilt if a broken view lost it; throws when it cannot be. */
  #seatAudience(seat: SeatRecord): Audience<Connection> {
    seat.audience ??= this.game.view ? this.#newAudience(seat.id) : this.#shared;
    if (!seat.audience) {
      throw new ArbiterError("internal", `Room ${this.id} cannot show its state right now.`);
    }
    return seat.audience;
  }

  #leave(conn: Connection): void {
    if (!conn.attached || this.#disposed) return;
    this.#begin();
    // A game that broadcasts on its tick has not acknowledged the seat's latest actions yet:
    // the leaving client hears them now, or never.
    if (conn.seat && conn.seat.ack !== conn.ackSent) {
      this.#broadcast();
      this.#flushEvents();
    }
    this.#detach(conn);
    const seat = conn.seat;
    if (!seat) return this.#spectatorGone(conn);
    seat.connection = null;
    this.#vacate(seat);
    this.#notify("player_left", seat, null, "left");
    this.#runHook("onLeave", seat.id);
    this.#afterChange(false);
    this.#checkIdle();
  }

  #drop(conn: Connection): void {
    if (!conn.attached || this.#disposed) return;
    this.#begin();
    this.#detach(conn);
    const seat = conn.seat;
    if (!seat) return this.#spectatorGone(conn);
    seat.connection = null;
    seat.presence = "disconnected";
    seat.graceDeadline = this.#now + this.#graceMs;
    this.#players = null;
    this.#startGrace(seat, this.#graceMs);
    this.#notify("player_disconnected", seat, null);
    this.#runHook("onDisconnect", seat.id);
    this.#afterChange(false);
    this.#checkIdle();
  }

  /**
   * Queues the drop of a seat the room let go itself (a view or welcome it could not send), to
   * be told like any other drop by `#announceAway`.
   */
  #dropUnannounced(seat: SeatRecord): void {
    const pending = this.#unannounced.size > 0;
    this.#unannounced.add(seat);
    // One step for every seat waiting.
    if (!pending) this.#mailbox.post(() => this.#announceAway());
  }

  /**
   * `player_disconnected` and `onDisconnect` for the seats the room dropped itself (see
   * `#dropUnannounced`), in a step of their own: game hooks must not run mid-broadcast.
   */
  #announceAway(): void {
    if (this.#disposed || this.#unannounced.size === 0) return;
    this.#begin();
    const seats = [...this.#unannounced];
    this.#unannounced.clear();
    let any = false;
    for (const seat of seats) {
      // Gone meanwhile (left, expired): nothing to announce.
      if (seat.presence !== "disconnected" || this.#seats[seat.index] !== seat) continue;
      this.#announceDrop(seat);
      any = true;
    }
    if (any) this.#afterChange(false);
  }

  #announceDrop(seat: SeatRecord): void {
    this.#notify("player_disconnected", seat, null);
    this.#runHook("onDisconnect", seat.id);
  }

  #startGrace(seat: SeatRecord, ms: number): void {
    const session = seat.session;
    seat.graceTimer = this.#clock.setTimer(() => {
      seat.graceTimer = null;
      this.#mailbox.post(() => this.#expire(seat, session));
    }, ms);
  }

  #expire(seat: SeatRecord, session: string): void {
    if (this.#disposed || seat.presence !== "disconnected" || seat.session !== session) return;
    this.#begin();
    this.#vacate(seat);
    this.#notify("player_left", seat, null, "expired");
    this.#runHook("onSeatExpired", seat.id);
    this.#afterChange(false);
    this.#checkIdle();
  }

  /** The seat is given up: its token stops working and a new player may take it. */
  #vacate(seat: SeatRecord): void {
    this.#clearTimer(seat.graceTimer);
    seat.graceTimer = null;
    seat.graceDeadline = null;
    seat.presence = "left";
    seat.session = "";
    seat.ack = seat.ackBroadcast = seat.lastSeq = 0;
    seat.rejects = [];
    // A private view nobody can resume costs a diff per broadcast for nothing.
    if (this.game.view) seat.audience = null;
    this.#players = null;
  }

  #spectatorGone(conn: Connection): void {
    this.#broadcastEvent(
      { kind: "event", type: "spectator_left", data: { name: conn.name } },
      null,
    );
    // Spectators never resume, so an empty spectator view can go and be rebuilt on demand.
    if (this.#spectatorAudience && this.#spectatorAudience.members.size === 0) {
      this.#spectatorAudience = null;
    }
    this.#checkIdle();
  }

  // --- actions -------------------------------------------------------------------------

  #act(
    conn: Connection,
    clientSeq: number,
    name: string | number,
    payload: Value,
    refusedBefore?: readonly SettledReject[],
  ): void | Promise<void> {
    if (!conn.attached || this.#disposed) return;
    const seat = conn.seat;
    if (!seat) return this.#reject(conn, clientSeq, "not_a_player", "Spectators cannot act.");
    if (!Number.isSafeInteger(clientSeq) || clientSeq <= seat.lastSeq) {
      // Sequences start at 1: a 0 was never sent before, whatever the resume covered.
      if (clientSeq >= 1 && clientSeq <= conn.resentUpTo) {
        return this.#settledBefore(conn, seat, clientSeq);
      }
      return this.#reject(
        conn,
        clientSeq,
        "out_of_order",
        `Client sequence ${clientSeq} is not above the last one, ${seat.lastSeq}.`,
      );
    }
    const previousSeq = seat.lastSeq;
    seat.lastSeq = clientSeq;
    // A client that started over (a reloaded page resuming from its token) numbers from the
    // last applied action again: refusals remembered for those numbers belong to older actions.
    if (seat.rejects.length > 0 && seat.rejects.some((r) => r.seq >= clientSeq)) {
      seat.rejects = seat.rejects.filter((r) => r.seq < clientSeq);
    }
    if (refusedBefore) {
      // Refused by the transport between the previous action and this one: once this one is
      // acknowledged, only the remembered refusal tells a resuming client they were not applied.
      for (const refused of refusedBefore) {
        if (refused.seq > previousSeq && refused.seq < clientSeq) this.#remember(seat, refused);
      }
    }
    // Acting, the client shows it has its welcome: the join key has served (it would only be
    // one more secret that takes the seat).
    seat.joinKey = null;
    if (this.#outcome) return this.#reject(conn, clientSeq, "game_over", "The game is over.");
    const actionName = typeof name === "number" ? this.#actionNames[name] : name;
    const action = typeof actionName === "string" && Object.hasOwn(this.game.actions, actionName)
      ? this.game.actions[actionName] as ActionDefinition<unknown, unknown, unknown>
      : undefined;
    if (!action) {
      return this.#reject(
        conn,
        clientSeq,
        "unknown_action",
        `${this.game.name} has no action ${JSON.stringify(shorten(name))}; known: ${
          this.#actionNames.join(", ")
        }.`,
      );
    }
    const min = this.game.players.min;
    if (this.playerCount < min) {
      return this.#reject(
        conn,
        clientSeq,
        "waiting_for_players",
        `${this.game.name} needs ${min} players; ${this.playerCount} seated.`,
      );
    }
    this.#begin();
    const ctx = this.#readOnly(seat.id);
    if (this.game.turn && !action.anyTurn) {
      const turn = this.#whoseTurn(ctx);
      if (turn !== seat.id && !(Array.isArray(turn) && turn.includes(seat.id))) {
        return this.#reject(conn, clientSeq, "not_your_turn", `It is not ${seat.id}'s turn.`);
      }
    }
    // Schemas never transform: a payload that passes is the checked value.
    const checked: unknown = payload;
    if (action.payload) {
      let passed: boolean;
      try {
        passed = action.payload.check(payload, this.#payloadFailure);
      } catch (error) {
        // A schema of the game's own making that throws is the game's bug, not the player's.
        this.#payloadFailure.path.length = 0;
        this.#onError(error);
        return this.#reject(conn, clientSeq, "internal", `${actionName} failed to check.`);
      }
      if (!passed) {
        const message = formatFailure("payload", this.#payloadFailure);
        this.#payloadFailure.path.length = 0;
        return this.#reject(conn, clientSeq, "bad_payload", message);
      }
    }
    if (action.validate) {
      let reason: unknown;
      try {
        reason = action.validate(this.#state, checked, ctx);
      } catch (error) {
        this.#onError(error);
        return this.#reject(conn, clientSeq, "internal", `${actionName} failed to validate.`);
      }
      if (typeof reason === "string") {
        return this.#reject(conn, clientSeq, "invalid_action", reason);
      }
      if (reason !== undefined && reason !== null) {
        // A promise (an async validate) would let every action through unchecked.
        this.#onError(
          new TypeError(
            `${this.game.name}.actions.${actionName}.validate returned ${preview(reason)}: ` +
              "it must return a reason (string) or nothing, synchronously",
          ),
        );
        return this.#reject(conn, clientSeq, "internal", `${actionName} failed to validate.`);
      }
    }
    // An action taken out of turn leaves the turn clock of whoever's turn it is running.
    const restartClock = !action.anyTurn;
    if (!this.#journal) {
      // Nothing to wait for: apply at once, without the journal's entry and closures.
      this.#actionIndex++;
      this.#apply(seat, action, checked, clientSeq);
      this.#afterChange(true, restartClock);
      return;
    }
    const entry: JournalEntry = {
      index: this.#actionIndex + 1,
      seq: clientSeq,
      time: this.#now,
      player: seat.id,
      action: actionName!,
      payload: checked as Value,
    };
    return this.#commit(entry, () => this.#apply(seat, action, checked, clientSeq), (error) => {
      this.#onError(error);
      this.#reject(conn, clientSeq, "internal", "The action could not be recorded; try again.");
    }, restartClock);
  }

  #apply(
    seat: SeatRecord,
    action: ActionDefinition<unknown, unknown, unknown>,
    payload: unknown,
    clientSeq: number,
  ): void {
    this.#started = true;
    try {
      this.#adopt(action.apply(this.#state, payload, this.#context(seat.id)), "apply");
    } catch (error) {
      // The action counts as applied: a journal replay would throw the same way.
      this.#onError(error);
    }
    seat.ack = clientSeq;
  }

  /**
   * Journals `entry` (waiting for the journal when it returns a promise), then applies it and
   * lets everyone know. The action index is taken only once the entry is durable.
   */
  #commit(
    entry: JournalEntry,
    apply: () => void,
    refuse: (error: unknown) => void,
    restartClock = true,
  ): void | Promise<void> {
    const run = () => {
      this.#actionIndex = entry.index;
      apply();
      this.#afterChange(true, restartClock);
    };
    if (!this.#journal) return run();
    let pending: void | PromiseLike<void>;
    try {
      pending = this.#journal.append(entry);
    } catch (error) {
      return refuse(error);
    }
    if (typeof (pending as PromiseLike<void> | undefined)?.then !== "function") return run();
    return Promise.resolve(pending).then(() => {
      if (this.#disposed) return;
      // Time moved while the journal wrote; the entry's time is what the action saw.
      this.#now = entry.time;
      run();
    }, (error) => {
      if (!this.#disposed) refuse(error);
    });
  }

  /**
   * An action the resumed client sends again: a remembered refusal is repeated; otherwise it
   * was applied, and the welcome or the next broadcast acknowledges it.
   */
  #settledBefore(conn: Connection, seat: SeatRecord, clientSeq: number): void {
    const refused = seat.rejects.find((r) => r.seq === clientSeq);
    if (refused) this.#send(conn, encodeServerMessage({ kind: "reject", ...refused }));
  }

  #reject(conn: Connection, seq: number, code: ErrorCode, message: string): void {
    const seat = conn.seat;
    // Remember refusals of new actions (not repeats, whose seq belongs to an earlier action).
    if (seat && code !== "out_of_order" && seq === seat.lastSeq) {
      this.#remember(seat, { seq, code, message });
    }
    this.#send(
      conn,
      encodeServerMessage({
        kind: "reject",
        seq: Number.isSafeInteger(seq) && seq >= 0 ? seq : 0,
        code,
        message,
      }),
    );
  }

  /** Keeps a refusal for the seat's resumes (the latest {@linkcode REMEMBERED_REFUSALS}). */
  #remember(seat: SeatRecord, { seq, code, message }: SettledReject): void {
    // Kept short: every snapshot stores them and every resume's welcome repeats them.
    const kept = message.length > MAX_REMEMBERED_MESSAGE
      ? `${wholeCharacters(message.slice(0, MAX_REMEMBERED_MESSAGE))}…`
      : message;
    // A client that numbers again from its last applied action can reuse the seq of a refusal
    // the transport made: the latest refusal of a seq is the one a resume must repeat.
    const earlier = seat.rejects.findIndex((r) => r.seq === seq);
    if (earlier >= 0) {
      seat.rejects[earlier] = { seq, code, message: kept };
    } else if (seat.rejects.push({ seq, code, message: kept }) > REMEMBERED_REFUSALS) {
      seat.rejects.shift();
    }
    this.#changed("refusal");
  }

  // --- time ----------------------------------------------------------------------------

  #timeout(generation: number): void | Promise<void> {
    if (this.#disposed || this.#outcome || generation !== this.#turnGeneration) return;
    this.#begin();
    this.#turnTimer = null;
    // The deadline stays until the outcome of the timeout replaces it: clients were told it, and
    // a game the timeout ends must tell them the clock stopped.
    const clock = this.game.turnClock!;
    const entry: JournalEntry = {
      index: this.#actionIndex + 1,
      time: this.#now,
      player: null,
      action: TIMEOUT_ACTION,
      payload: null,
    };
    return this.#commit(entry, () => {
      const next = this.#call(() => clock.onTimeout(this.#state, this.#context(null)));
      this.#adopt(next ?? undefined, "turnClock.onTimeout");
    }, (error) => {
      this.#onError(error);
      // Try again shortly rather than lose the timeout, and say so now: no broadcast follows.
      this.#armTurnClock(1000);
      this.#flushEvents();
    });
  }

  #tick(): void {
    this.#tickQueued = false;
    if (this.#disposed || !this.#ticking) return;
    this.#begin();
    const dt = this.#now - this.#lastTickAt;
    this.#lastTickAt = this.#now;
    this.#ticksRun++;
    const tick = this.game.tick!;
    try {
      this.#adopt(tick.update(this.#state, dt, this.#context(null)), "tick.update");
    } catch (error) {
      this.#onError(error);
    }
    this.#updatedAt = this.#now;
    const ended = this.#checkOutcome();
    this.#syncTimers(false);
    const sent = this.#broadcast(ended);
    this.#flushEvents();
    if (ended) this.#announceEnd();
    // Without views the broadcast diffs the whole state: no broadcast, no change, and nothing
    // for `onChange` (an idle realtime room would otherwise be saved over and over).
    else if (sent || this.game.view) this.#changed("tick");
  }

  /**
   * The shared tick timer fired (see `everyTick`): hand back the inputs held since the last
   * tick (they queue first), then queue this room's tick.
   */
  #onTick = (): void => {
    if (this.#disposed) return;
    this.#mailbox.release();
    if (this.#tickQueued) return;
    this.#tickQueued = true;
    this.#mailbox.post(this.#tickTask);
  };

  #tickTask = (): void => this.#tick();

  #stopTicks(): void {
    this.#ticking = false;
    this.#ticks?.stop();
    this.#ticks = null;
    // No tick is coming to hand them back.
    this.#mailbox.release();
  }

  /** Starts or stops ticks and the turn clock to match the room's status. */
  #syncTimers(actionApplied: boolean): void {
    const playing = this.#playing;
    this.#syncTicks(playing);
    if (!this.game.turnClock) return;
    const key = playing ? this.#currentTurnKey() : null;
    if (key === null) {
      this.#clearTurnClock();
      this.#turnKey = null;
      return;
    }
    if (actionApplied || key !== this.#turnKey || this.#turnTimer === null) {
      this.#armTurnClock(this.#turnTime);
    }
    this.#turnKey = key;
  }

  /** Enough players seated for the game to run, and it is not over. */
  get #playing(): boolean {
    return !this.#disposed && !this.#outcome && this.playerCount >= this.game.players.min;
  }

  /**
   * Ticks run while the game runs and someone is connected to see it: a room whose members all
   * dropped does not burn a core ticking through their grace period (nor a restored room
   * nobody came back to); the next tick after a pause advances time from the resumption.
   */
  #syncTicks(playing: boolean): void {
    if (!this.game.tick) return;
    const run = playing && this.#connections.size > 0;
    if (run && !this.#ticking) {
      this.#ticking = true;
      this.#lastTickAt = this.#now;
      this.#ticks = everyTick(this.#clock, this.#tickPeriod, this.#onTick);
    } else if (!run && this.#ticking) {
      this.#stopTicks();
    }
  }

  #currentTurnKey(): string | null {
    if (!this.game.turn) return "*";
    const turn = this.#whoseTurn(this.#readOnly(null));
    if (turn === null || typeof turn === "string") return turn;
    return turn.length === 0 ? null : [...turn].sort().join("\u0000");
  }

  /**
   * Whose turn it is: one player's, several players', or nobody's (null; also, reported, when
   * the game's `turn` gives nonsense).
   */
  #whoseTurn(ctx: ReadContext<GameOptions>): string | readonly string[] | null {
    const turn: unknown = this.#call(() => this.game.turn!(this.#state, ctx));
    if (turn === null || turn === undefined || typeof turn === "string") return turn ?? null;
    if (Array.isArray(turn) && turn.every((p) => typeof p === "string")) return turn;
    this.#onError(
      new TypeError(
        `${this.game.name}.turn returned ${preview(turn)}: expected a player id, an array of ` +
          "them, or null",
      ),
    );
    return null;
  }

  #armTurnClock(ms: number): void {
    this.#turnGeneration++;
    this.#turnDeadline = this.#now + ms;
    // Moves restart the clock far more often than turns run out, and clearing and setting a
    // timer cost more than a move: the timer is replaced only when it would fire too late.
    if (this.#turnTimer === null || this.#turnTimerDue > this.#turnDeadline) {
      this.#setTurnTimer(this.#now, this.#turnDeadline);
    }
    this.#events.push({ frame: this.#turnClockFrame(), to: null });
  }

  #setTurnTimer(now: number, due: number): void {
    this.#clearTimer(this.#turnTimer);
    this.#turnTimerDue = due;
    this.#turnTimer = this.#clock.setTimer(this.#onTurnTimer, due - now);
  }

  /** The turn timer fired: the turn ran out, or the clock was restarted since and runs on. */
  #onTurnTimer = (): void => {
    this.#turnTimer = null;
    const deadline = this.#turnDeadline;
    if (deadline === null || this.#disposed) return;
    const now = this.#clockNow();
    if (deadline > now) return this.#setTurnTimer(now, deadline);
    const generation = this.#turnGeneration;
    this.#mailbox.post(() => this.#timeout(generation));
  };

  #clearTurnClock(): void {
    this.#clearTimer(this.#turnTimer);
    this.#turnTimer = null;
    const wasRunning = this.#turnDeadline !== null;
    this.#turnDeadline = null;
    this.#turnGeneration++;
    if (wasRunning && !this.#disposed) {
      this.#events.push({ frame: this.#turnClockFrame(), to: null });
    }
  }

  /** The `turn_clock` event: when the running turn ends (server time), or null when none runs. */
  #turnClockFrame(): Uint8Array {
    return encodeServerMessage({
      kind: "event",
      type: "turn_clock",
      data: { deadline: this.#turnDeadline },
    });
  }

  /** After members came or went: ticks, and disposal of a room no player holds a seat in. */
  #checkIdle(): void {
    if (this.#disposed) return;
    this.#syncTicks(this.#playing);
    // Spectators alone do not keep a room: they would keep an abandoned one forever.
    const empty = !this.#seatHeld();
    if (empty && this.#idleTimer === null && !this.#outcome) {
      this.#idleTimer = this.#clock.setTimer(() => {
        this.#idleTimer = null;
        this.#mailbox.post(() => {
          if (!this.#seatHeld()) this.dispose();
        });
      }, this.#idleMs);
    } else if (!empty && this.#idleTimer !== null) {
      this.#clearTimer(this.#idleTimer);
      this.#idleTimer = null;
    }
  }

  /** Whether a player is seated, connected or within the grace window of a drop. */
  #seatHeld(): boolean {
    return this.#seats.some((s) => !!s && s.presence !== "left");
  }

  // --- change, broadcast, end ----------------------------------------------------------

  /** After a step that may have changed the state or the seats. */
  #afterChange(actionApplied: boolean, restartClock = actionApplied): void {
    if (this.#disposed) return;
    this.#updatedAt = this.#now;
    const ended = this.#checkOutcome();
    this.#syncTimers(restartClock);
    // Tick mode coalesces: the next tick broadcasts. Otherwise (or at the end), now.
    if (!this.#coalescing) {
      this.#broadcast(ended);
      this.#flushEvents();
    }
    if (ended) this.#announceEnd();
    else this.#changed(actionApplied ? "action" : "seats");
  }

  /**
   * Changes go out with the next tick, not as they are made: the game broadcasts per tick and
   * ticks now. Inputs may then wait for that tick too (see `Seat.hold`).
   */
  get #coalescing(): boolean {
    return this.game.broadcast === "tick" && this.#ticking;
  }

  #changed(change: RoomChange): void {
    if (this.#disposed || !this.#onChange) return;
    try {
      this.#onChange(this, change);
    } catch (error) {
      this.#onError(error);
    }
  }

  #checkOutcome(): boolean {
    if (this.#outcome || !this.game.outcome) return false;
    let outcome: unknown;
    try {
      outcome = this.game.outcome(this.#state, this.#readOnly(null));
    } catch (error) {
      this.#onError(error);
      return false;
    }
    if (!outcome) return false;
    const known = toOutcome(outcome);
    if (!known) {
      this.#onError(
        new TypeError(
          `${this.game.name}.outcome returned ${preview(outcome)}: expected ` +
            "{ winners: string[], reason?: string } or { draw: true, reason?: string }",
        ),
      );
      return false;
    }
    this.#outcome = known;
    this.#finishedAt = this.#now;
    return true;
  }

  /**
   * The final state (if not broadcast yet), its events, `game_over`, and only then the acks of
   * the actions that ended the game: a client's `send` of the winning move resolves with the
   * outcome known.
   */
  #announceEnd(): void {
    this.#broadcast(true);
    this.#flushEvents();
    this.#endSeq = this.#seq;
    const frame = this.#gameOverFrame();
    for (const conn of this.#connections) this.#send(conn, frame);
    this.#broadcast();
    this.#scheduleRetention(this.#retentionMs);
    this.#changed("finished");
  }

  #gameOverFrame(): Uint8Array {
    return encodeServerMessage({ kind: "game_over", outcome: this.#outcome! });
  }

  #scheduleRetention(ms: number): void {
    this.#clearTimer(this.#idleTimer);
    this.#idleTimer = null;
    this.#clearTimer(this.#retentionTimer);
    this.#retentionTimer = this.#clock.setTimer(() => {
      this.#retentionTimer = null;
      this.dispose();
    }, ms);
  }

  #audiences(): Audience<Connection>[] {
    if (this.#shared) {
      return this.#sharedList[0] === this.#shared
        ? this.#sharedList
        : (this.#sharedList = [this.#shared]);
    }
    const out: Audience<Connection>[] = [];
    for (const seat of this.#seats) if (seat?.audience) out.push(seat.audience);
    if (this.#spectatorAudience) out.push(this.#spectatorAudience);
    return out;
  }

  /**
   * One broadcast, if anything changed for anyone (state or acks): the sequence grows by one
   * and every member gets a frame, an empty delta when its view did not change. Returns
   * whether there was one. `holdAcks`: acks wait for the next broadcast (and do not make one).
   */
  #broadcast(holdAcks = false): boolean {
    const audiences = this.#audiences();
    const bodies = this.#bodies;
    let changed = false;
    for (let i = 0; i < audiences.length; i++) {
      const audience = audiences[i];
      let body: Uint8Array | null;
      try {
        body = audience.update(this.#viewFor(audience.viewer));
      } catch (error) {
        this.#onError(error);
        body = null;
      }
      if (body !== null && !this.#decodable(body, audience, "delta")) body = null;
      bodies[i] = body;
      if (body === null || body.length > 0) changed = true;
    }
    if (!changed && (holdAcks || !this.#seats.some((s) => s && s.ack !== s.ackBroadcast))) {
      bodies.length = 0;
      return false;
    }
    const seq = ++this.#seq;
    const dt = Math.max(0, this.#now - this.#time);
    this.#time = this.#now;
    for (let i = 0; i < audiences.length; i++) {
      const audience = audiences[i];
      const body = bodies[i];
      if (body === null) {
        this.#breakAudience(audience);
        continue;
      }
      audience.record(seq, dt, body);
      // Members differ only in `ackDelta`, mostly 0 or 1: one frame per value serves them all
      // (frames are never written once made, so sharing one is safe).
      const frames = this.#deltaFrames;
      for (const conn of audience.members) {
        const seat = conn.seat;
        const ackDelta = seat && !holdAcks ? seat.ack - conn.ackSent : 0;
        conn.ackSent += ackDelta;
        let frame = ackDelta < SHARED_ACK_FRAMES ? frames[ackDelta] : undefined;
        if (frame === undefined) {
          frame = encodeDeltaFrame(seq, dt, ackDelta, body);
          if (ackDelta < SHARED_ACK_FRAMES) frames[ackDelta] = frame;
        }
        this.#send(conn, frame);
      }
      frames.length = 0;
    }
    bodies.length = 0;
    if (!holdAcks) {
      for (const seat of this.#seats) if (seat) seat.ackBroadcast = seat.ack;
    }
    return true;
  }

  /** Whether clients can decode a delta's ops or a welcome; reported to the game's author if not. */
  #decodable(
    bytes: Uint8Array,
    audience: Audience<Connection>,
    what: "delta" | "welcome",
  ): boolean {
    try {
      // No closure: this runs for every audience of every broadcast.
      if (what === "delta") checkOutboundOps(bytes, audience);
      else checkOutboundFrame(bytes);
      return true;
    } catch (error) {
      this.#onError(
        new TypeError(
          `${this.game.name}: a ${what} for this state is more than clients accept ` +
            `(${error instanceof Error ? error.message : error}); keep the state (or each ` +
            "player's view) within 4 MiB, 1,048,576 items and 1 MiB per string",
        ),
      );
      return false;
    }
  }

  /**
   * The state could not be diffed or encoded for this audience (not JSON-like data, or a
   * forbidden key): its members' mirrors can no longer be kept right, so they are closed with
   * `internal` and the audience starts over (when the state can be copied again); their resumes
   * get a full state.
   */
  #breakAudience(audience: Audience<Connection>): void {
    const frame = encodeServerMessage({
      kind: "error",
      code: "internal",
      message: "The game state could not be sent; resume to get it again.",
    });
    for (const conn of [...audience.members]) {
      this.#detach(conn);
      if (conn.seat) {
        conn.seat.connection = null;
        conn.seat.presence = "disconnected";
        conn.seat.graceDeadline = this.#now + this.#graceMs;
        this.#startGrace(conn.seat, this.#graceMs);
        this.#players = null;
        this.#dropUnannounced(conn.seat);
      }
      this.#send(conn, frame);
      this.#close(conn, closeCodeFor("internal"), "internal");
    }
    // Spectators never resume: their audience is rebuilt when the next one comes.
    if (audience === this.#spectatorAudience) {
      this.#spectatorAudience = null;
      return;
    }
    let fresh: Audience<Connection>;
    try {
      fresh = this.#newAudience(audience.viewer, true);
    } catch {
      // The state is still not data (the broadcast reported why). The old audience stays, now
      // memberless: its mirror is data, so resumes get a welcome from it, and the broadcast it
      // missed makes them full-state ones. Seats must never be left without an audience.
      return;
    }
    if (audience === this.#shared) this.#shared = fresh;
    for (const seat of this.#seats) {
      if (seat?.audience === audience) seat.audience = fresh;
    }
  }

  #viewFor(viewer: string | null): unknown {
    if (!this.game.view) return this.#state;
    const view = this.game.view(this.#state, viewer, this.#readOnly(null));
    if (!isData(view)) {
      // Diffed anyway, a Map or a promise would look like an empty object to the clients.
      throw new TypeError(
        `${this.game.name}.view returned ${preview(view)} for ${viewer ?? "spectators"}: ` +
          "return plain objects, arrays and primitives",
      );
    }
    return view;
  }

  /** `replaces`: members may hold another audience's tables at the current seq. */
  #newAudience(viewer: string | null, replaces = false): Audience<Connection> {
    const seq = this.#seq;
    const floor = replaces ? seq + 1 : seq;
    return new Audience(viewer, this.#viewFor(viewer), seq, this.#ringSize, floor);
  }

  #welcome(conn: Connection, resumed: boolean, since: number | undefined): void {
    const seat = conn.seat;
    const audience = conn.audience;
    conn.ackSent = seat ? seat.ackBroadcast : 0;
    const common = {
      kind: "welcome" as const,
      room: this.id,
      game: this.game.name,
      player: seat ? seat.id : null,
      session: seat ? seat.session : "",
      ack: conn.ackSent,
      players: this.#playerList() as PlayerInfo[],
      actions: this.#actionNames,
      resumed,
      ...(resumed && seat?.rejects.length ? { rejected: seat.rejects } : {}),
      ...(this.#actionLimits ? { limits: this.#actionLimits } : {}),
    };
    const outcome = this.#outcome ? { outcome: this.#outcome } : {};
    // Sequence 0 is how a client asks for the full state (its mirror is in doubt).
    const replay = since !== undefined && since > 0 && seat?.welcomedHere
      ? audience.replay(since, this.#seq, this.#time)
      : null;
    if (replay) {
      // The acknowledgement rides on the last replayed delta, so the client settles its actions
      // only once its mirror shows them. A game that ended in the replayed span gets its
      // `game_over` where it was live, after the final state, not in the welcome before it.
      const last = replay.entries.length - 1;
      const endReplayed = this.#endSeq > since!;
      this.#send(
        conn,
        encodeServerMessage({
          ...common,
          ...(endReplayed ? {} : outcome),
          ack: last < 0 ? conn.ackSent : 0,
          seq: since!,
          time: replay.time,
          state: null,
          keys: [],
          refs: [],
          replay: true,
        }),
      );
      for (let i = 0; i <= last; i++) {
        const { seq, dt, body } = replay.entries[i];
        this.#send(conn, encodeDeltaFrame(seq, dt, i === last ? conn.ackSent : 0, body));
        if (endReplayed && seq === this.#endSeq) this.#send(conn, this.#gameOverFrame());
      }
    } else {
      const frame = encodeServerMessage({
        ...common,
        ...outcome,
        seq: this.#seq,
        time: this.#time,
        state: audience.state,
        keys: audience.keys(),
        refs: audience.refs(),
      });
      if (!this.#decodable(frame, audience, "welcome")) {
        throw new ArbiterError("internal", "The game state is too large to send.");
      }
      this.#send(conn, frame);
    }
    if (seat) seat.welcomedHere = true;
    // Events are not replayed: a newcomer learns the running turn clock here.
    if (this.#turnDeadline !== null) this.#send(conn, this.#turnClockFrame());
  }

  // --- members, events -----------------------------------------------------------------

  #connect(member: Member, seat: SeatRecord | null, audience: Audience<Connection>): Connection {
    const conn: Connection = {
      member,
      seat,
      audience,
      ackSent: 0,
      resentUpTo: 0,
      attached: true,
      name: seat?.name ?? "",
    };
    if (seat) seat.connection = conn;
    this.#connections.add(conn);
    audience.members.add(conn);
    this.#checkIdle();
    return conn;
  }

  #detach(conn: Connection): void {
    conn.attached = false;
    this.#connections.delete(conn);
    conn.audience.members.delete(conn);
  }

  #handle(conn: Connection): Seat {
    return new Room.#SeatHandle(this, conn);
  }

  /** Queues an input of `conn` unless it was replaced, left, dropped or the room is gone. */
  #post(conn: Connection, task: () => void | Promise<void>): void {
    if (conn.attached && !this.#disposed) this.#mailbox.post(task);
  }

  /**
   * What {@linkcode Room.join} hands out: a class rather than an object of closures, since a
   * seat lives as long as its connection and thousands are open at once. Declared inside
   * `Room` so its methods can reach the room's private inputs.
   */
  static readonly #SeatHandle = class SeatHandle implements Seat {
    readonly room: Room;
    readonly player: string | null;
    readonly session: string;
    readonly #conn: Connection;

    constructor(room: Room, conn: Connection) {
      this.room = room;
      this.#conn = conn;
      this.player = conn.seat ? conn.seat.id : null;
      this.session = conn.seat ? conn.seat.session : "";
    }

    act(
      clientSeq: number,
      name: string | number,
      payload: Value,
      refusedBefore?: readonly SettledReject[],
    ): void {
      const { room } = this;
      const conn = this.#conn;
      room.#post(conn, () => room.#act(conn, clientSeq, name, payload, refusedBefore));
    }

    leave(): Promise<void> {
      const conn = this.#conn;
      const room = this.room;
      if (!conn.attached || room.#disposed) return Promise.resolve();
      return room.#mailbox.call(() => room.#leave(conn)).catch((error) => {
        // Dropped by a dispose: the room let the seat go too. Anything else is a fault.
        if (!room.#disposed) room.#onError(error);
      });
    }

    disconnect(): void {
      const conn = this.#conn;
      this.room.#post(conn, () => this.room.#drop(conn));
    }

    hold(handler: HeldInputHandler, input: unknown, arrivedAt: number): boolean {
      const { room } = this;
      // A spectator's frames are only ever refused or answered: nothing to gain from holding.
      if (!room.#coalescing || room.#disposed || !this.#conn.attached || !this.#conn.seat) {
        return false;
      }
      room.#mailbox.hold(handler, input, arrivedAt);
      return true;
    }

    release(): void {
      this.room.#mailbox.release();
    }
  };

  #send(conn: Connection, frame: Uint8Array): void {
    try {
      conn.member.send(frame);
    } catch (error) {
      // A member that cannot take frames is the transport's to drop; the room goes on.
      this.#onError(error);
    }
  }

  #close(conn: Connection, code: number, reason: string): void {
    try {
      conn.member.close(code, reason);
    } catch (error) {
      this.#onError(error);
    }
  }

  /** A presence event about `seat`, to everyone but `except`. */
  #notify(type: string, seat: SeatRecord, except: Connection | null, reason?: string): void {
    const data: { [key: string]: Value } = { name: seat.name, seat: seat.index };
    if (reason) data.reason = reason;
    this.#broadcastEvent({ kind: "event", type, player: seat.id, data }, except);
  }

  #broadcastEvent(message: ServerMessage, except: Connection | null): void {
    const frame = encodeServerMessage(message);
    for (const conn of this.#connections) if (conn !== except) this.#send(conn, frame);
  }

  #emit = (type: string, data?: Value, to?: readonly string[]): void => {
    if (typeof type !== "string" || type === "") {
      throw new TypeError("ctx.emit: type must be a non-empty string");
    }
    if (to !== undefined && (!Array.isArray(to) || !to.every((p) => typeof p === "string"))) {
      throw new TypeError("ctx.emit: to must be an array of player ids");
    }
    const message: ServerMessage = data === undefined
      ? { kind: "event", type }
      : { kind: "event", type, data: clone(data, "ctx.emit data") };
    const seats = to
      ? this.#seats.filter((s): s is SeatRecord =>
        !!s && s.presence !== "left" && to.includes(s.id)
      )
      : null;
    const frame = encodeServerMessage(message);
    try {
      checkOutboundFrame(frame);
    } catch (error) {
      throw new TypeError(
        `ctx.emit: event ${JSON.stringify(type)} is more than clients accept (${
          (error as Error).message
        })`,
      );
    }
    this.#events.push({ frame, to: seats });
  };

  #flushEvents(): void {
    if (this.#events.length === 0) return;
    const events = this.#events;
    this.#events = [];
    for (const event of events) {
      for (const conn of this.#connections) {
        if (event.to === null || (conn.seat && event.to.includes(conn.seat))) {
          this.#send(conn, event.frame);
        }
      }
    }
  }

  // --- helpers -------------------------------------------------------------------------

  /** Starts a step: one `now` for all game code of the step. */
  #begin(): void {
    this.#now = this.#clockNow();
  }

  #clockNow(): number {
    // Frame headers carry whole milliseconds.
    return Math.floor(this.#clock.now());
  }

  /**
   * The context for a call into game code. Two objects serve every call (one for the acting
   * player, one for system steps), refreshed each time: game code runs synchronously, one step
   * at a time, so nothing sees a context change under it, and a busy room allocates none.
   */
  #context(player: string): ActionContext<GameOptions>;
  #context(player: string | null): GameContext<GameOptions>;
  #context(player: string | null): GameContext<GameOptions> {
    const ctx = player === null
      ? this.#systemContext ??= this.#newContext()
      : this.#playerContext ??= this.#newContext();
    ctx.now = this.#now;
    ctx.player = player;
    ctx.players = this.#playerList();
    return ctx;
  }

  /**
   * The context for `validate`, `turn`, `outcome` and `view`: one object like
   * {@linkcode Room.#context}'s, whose `random` and `emit` throw ({@linkcode ReadContext}).
   */
  #readOnly(player: string): ActionReadContext<GameOptions>;
  #readOnly(player: string | null): ReadContext<GameOptions>;
  #readOnly(player: string | null): ReadContext<GameOptions> {
    const ctx = this.#readContext ??= Object.defineProperties(
      { now: 0, player: null, players: [], options: this.options },
      Object.getOwnPropertyDescriptors(READ_ONLY_GUARDS),
    ) as MutableReadContext;
    ctx.now = this.#now;
    ctx.player = player;
    ctx.players = this.#playerList();
    return ctx;
  }

  #newContext(): MutableContext {
    return {
      now: 0,
      player: null,
      players: [],
      random: this.#random,
      options: this.options,
      emit: this.#emit,
    };
  }

  #playerList(): PlayerInfo[] {
    if (this.#players) return this.#players;
    const list: PlayerInfo[] = [];
    for (const seat of this.#seats) {
      if (seat) {
        list.push({ id: seat.id, name: seat.name, seat: seat.index, presence: seat.presence });
      }
    }
    return this.#players = list;
  }

  #runHook(name: HookName, player: string): void {
    const hook = this.game[name] as PlayerHook<unknown, GameOptions> | undefined;
    if (!hook || this.#outcome) return;
    this.#adopt(this.#call(() => hook(this.#state, player, this.#context(player))), name);
  }

  /**
   * Takes what game code returned as the new state (nothing: it mutated the state in place).
   * A value that is not data (a promise from an async function, a Map, a class instance) is
   * reported and the state stays as it was: it could be neither diffed nor stored.
   */
  #adopt(next: unknown, source: string): void {
    if (next === undefined) return;
    if (isData(next)) {
      this.#state = next;
      return;
    }
    this.#onError(
      new TypeError(
        `${this.game.name}: ${source} returned ${preview(next)}, which is not a state: return ` +
          "plain objects, arrays and primitives (or nothing, after changing the state in place)",
      ),
    );
  }

  /** Runs game code; a throw is reported and counts as "no result". */
  #call<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      this.#onError(error);
      return undefined;
    }
  }

  #clearTimer(id: TimerId | null): void {
    if (id !== null) this.#clock.clearTimer(id);
  }

  // --- restore -------------------------------------------------------------------------

  #restoreFrom(s: RoomSnapshot, journal: readonly JournalEntry[]): void {
    this.#state = clone(s.state);
    this.#seq = s.seq;
    this.#actionIndex = s.actionIndex;
    this.#started = s.started;
    this.#outcome = s.outcome ? clone(s.outcome) : null;
    this.#finishedAt = s.finishedAt;
    for (const seat of s.seats) {
      if (seat.seat < 0 || seat.seat >= this.#seats.length) {
        throw new TypeError(`Room.restore: seat ${seat.seat} does not exist in ${this.game.name}`);
      }
      this.#seats[seat.seat] = {
        index: seat.seat,
        id: seat.player,
        name: seat.name,
        userId: seat.userId,
        // Not stored: a client retrying a join across a restart takes a new seat.
        joinKey: null,
        presence: seat.presence,
        session: seat.session,
        ack: seat.ack,
        ackBroadcast: seat.ack,
        lastSeq: seat.lastSeq,
        rejects: (seat.rejects ?? []).slice(-REMEMBERED_REFUSALS).map((r) => ({ ...r })),
        graceDeadline: seat.graceDeadline,
        graceTimer: null,
        connection: null,
        audience: null,
        welcomedHere: false,
      };
    }
    // Replayed steps move the turn clock on from the snapshot's deadline.
    this.#turnDeadline = s.turnDeadline;
    for (const entry of journal) {
      if (entry.index <= this.#actionIndex) continue;
      this.#replay(entry);
    }
  }

  #replay(entry: JournalEntry): void {
    if (entry.index !== this.#actionIndex + 1) {
      throw new TypeError(
        `Room.restore: journal entry ${entry.index} follows ${this.#actionIndex} (a gap)`,
      );
    }
    this.#now = entry.time;
    this.#actionIndex = entry.index;
    this.#updatedAt = entry.time;
    let keptClock: string | null | undefined;
    if (entry.action === TIMEOUT_ACTION) {
      const next = this.#call(() =>
        this.game.turnClock?.onTimeout(this.#state, this.#context(null))
      );
      this.#adopt(next ?? undefined, "turnClock.onTimeout");
    } else {
      const action = this.game.actions[entry.action] as
        | ActionDefinition<unknown, unknown, unknown>
        | undefined;
      if (!action) throw new TypeError(`Room.restore: unknown action ${entry.action}`);
      if (entry.player === null) {
        throw new TypeError(`Room.restore: journal entry ${entry.index} has no player`);
      }
      // Live, an action taken out of turn left the clock alone unless the turn changed hands.
      if (action.anyTurn && this.game.turnClock) keptClock = this.#currentTurnKey();
      const ctx = this.#context(entry.player);
      this.#adopt(this.#call(() => action.apply(this.#state, entry.payload, ctx)), "apply");
      this.#started = true;
      const seat = this.#seats.find((s) => s?.id === entry.player);
      if (seat && entry.seq !== undefined) {
        seat.ack = seat.ackBroadcast = entry.seq;
        seat.lastSeq = Math.max(seat.lastSeq, entry.seq);
      }
    }
    // Events of replayed steps went out before the restart.
    this.#events = [];
    this.#checkOutcome();
    if (this.game.turnClock) this.#turnDeadline = this.#replayedTurnDeadline(keptClock);
  }

  /**
   * The turn deadline after a replayed step at `#now`: what `#syncTimers` arms live. `kept` is
   * the turn before an action taken out of turn (`anyTurn`): while the same turn runs on, so
   * does its deadline.
   */
  #replayedTurnDeadline(kept: string | null | undefined): number | null {
    if (this.#outcome || this.playerCount < this.game.players.min) return null;
    const key = this.#currentTurnKey();
    if (key === null) return null;
    if (kept === key && this.#turnDeadline !== null) return this.#turnDeadline;
    return this.#now + this.#turnTime;
  }

  #resumeTimers(): void {
    this.#now = this.#clockNow();
    // The deadline of the last step: the snapshot's, or the last replayed step's.
    const turnDeadline = this.#turnDeadline;
    this.#turnDeadline = null;
    for (const seat of this.#seats) {
      if (!seat || seat.presence === "left") continue;
      if (seat.presence === "connected") {
        // Nobody is attached after a restart: everyone gets a grace window from now.
        seat.presence = "disconnected";
        seat.graceDeadline = this.#now + this.#graceMs;
      }
      const deadline = seat.graceDeadline ?? this.#now + this.#graceMs;
      seat.graceDeadline = deadline;
      this.#startGrace(seat, Math.max(0, deadline - this.#now));
    }
    this.#players = null;
    if (this.#outcome) {
      const end = (this.#finishedAt ?? this.#now) + this.#retentionMs;
      this.#scheduleRetention(Math.max(0, end - this.#now));
      return;
    }
    this.#syncTimers(false);
    // The turn clock continues from that deadline rather than restarting.
    if (this.game.turnClock && this.#turnTimer !== null && turnDeadline !== null) {
      this.#armTurnClock(Math.max(0, turnDeadline - this.#now));
    }
    // Nobody is attached yet, and each welcome carries the deadline: the `turn_clock` events
    // arming queued would reach the first to resume late, one of them with a full turn.
    this.#events = [];
  }
}

/** A game's tick interval in ms for rooms with `options`; throws on a nonsensical rate. */
function tickPeriod(game: AnyGame, options: GameOptions): number {
  const hz = game.tick!.hz;
  const value = typeof hz === "function" ? hz(options) : hz;
  if (typeof value !== "number" || !(value >= MIN_TICK_HZ && value <= 1000)) {
    throw new TypeError(
      `${game.name}.tick.hz gave ${preview(value)}; it must be in [${MIN_TICK_HZ}, 1000]`,
    );
  }
  return 1000 / value;
}

/** A game's turn time in ms for rooms with `options`; throws on one timers cannot wait. */
function turnTime(game: AnyGame, options: GameOptions): number {
  const ms = game.turnClock!.ms;
  const value = typeof ms === "function" ? ms(options) : ms;
  if (typeof value === "number" && value > 0 && value <= MAX_TIMER_MS) return Math.round(value);
  throw new TypeError(
    `${game.name}.turnClock.ms gave ${preview(value)}: it must be a number of ms in ` +
      `(0, ${MAX_TIMER_MS}]`,
  );
}

function closedError(id: string): ArbiterError {
  return new ArbiterError("room_closed", `Room ${id} was closed.`);
}

/** A join frame's rules for room options; the frame (or HTTP body) limit bounds their size. */
const OPTIONS_LIMITS = { ...DEFAULT_INBOUND_LIMITS, maxFrameBytes: Number.MAX_SAFE_INTEGER };

/** `name` cut to 64 characters, so that an error message does not echo a flood back. */
function shorten(name: string | number): string | number {
  return typeof name === "string" && name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

/**
 * Characters that would garble other players' UIs and logs or let one name pass for another:
 * controls, format characters (bidi overrides, zero-width spaces and joiners), line and
 * paragraph separators, lone surrogates, and letters that draw nothing (Hangul fillers, the
 * braille blank). {@linkcode keptInContext} spares those that are part of something.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u3164\uffa0\u2800]/gu;

/**
 * A zero-width joiner between emoji (👩‍💻), a zero-width non-joiner between letters of a script
 * that uses it (Persian, Indic; not Latin, where it only hides), the tag characters of a
 * subdivision flag (England's 🏴 and its tags).
 */
function keptInContext(ch: string, before: string, after: string): boolean {
  if (ch === "\u200d") {
    return /\p{Extended_Pictographic}[\u{1f3fb}-\u{1f3ff}\ufe0f]*$/u.test(before) &&
      /^\p{Extended_Pictographic}/u.test(after);
  }
  if (ch === "\u200c") {
    return /(?!\p{Script=Latin})\p{L}\p{M}*$/u.test(before) &&
      /^(?!\p{Script=Latin})\p{L}/u.test(after);
  }
  const code = ch.codePointAt(0)!;
  return code >= 0xe0020 && code <= 0xe007f && /\u{1f3f4}[\u{e0020}-\u{e007e}]*$/u.test(before);
}

function wholeCharacters(text: string): string {
  return /[\ud800-\udbff]$/.test(text) ? text.slice(0, -1) : text;
}

function cleanName(name: unknown, fallback: string): string {
  if (typeof name !== "string") return fallback;
  const visible = name.replace(
    INVISIBLE,
    (ch, offset: number, whole: string) =>
      keptInContext(ch, whole.slice(0, offset), whole.slice(offset + ch.length)) ? ch : "",
  );
  const clean = wholeCharacters(visible.trim().slice(0, MAX_NAME_LENGTH));
  return clean === "" ? fallback : clean;
}

/**
 * Whether game code's return value can be a state: a primitive, an array, bytes or a plain
 * object (the diff and the snapshot walk only those; one level is enough to catch a promise, a Map or
 * a class instance, and deeper ones fail at the broadcast with a path).
 */
function isData(value: unknown): boolean {
  if (typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
    return false;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return true;
  if (value instanceof Uint8Array) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A short rendering of what game code returned, for its author (never throws). */
function preview(value: unknown): string {
  // JSON would show NaN and the infinities as null.
  if (typeof value === "number") return String(value);
  if (typeof value === "object" && value !== null && !isData(value)) {
    // JSON would show a promise or a Map as {}.
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return typeof name === "string" && name !== "" ? `a ${name}` : "an object with a prototype";
  }
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 120 ? `${json.slice(0, 120)}…` : json;
  } catch {
    // Circular, or a BigInt: say what it is instead.
  }
  return describeValue(value);
}

/**
 * A fresh outcome of only the fields the protocol knows, or null when `value` is not one:
 * anything else the game put in it (which might not even encode) stays out of `game_over`.
 */
function toOutcome(value: unknown): Outcome | null {
  if (typeof value !== "object" || value === null) return null;
  const o = value as { winners?: unknown; draw?: unknown; reason?: unknown };
  if (o.reason !== undefined && typeof o.reason !== "string") return null;
  const reason = o.reason === undefined ? {} : { reason: o.reason };
  if (o.draw === true) return o.winners === undefined ? { draw: true, ...reason } : null;
  if (o.draw !== undefined && o.draw !== false) return null;
  if (!Array.isArray(o.winners) || !o.winners.every((w) => typeof w === "string")) return null;
  return { winners: [...o.winners], ...reason };
}

/**
 * Checks room options against the game's schema (or, without one, that they are a plain
 * object) and returns a copy; throws `bad_options` with the schema's message. Options that
 * could not cross the wire (a non-finite number, a `__proto__` key, nesting or item counts past
 * the inbound limits) are refused too, whichever way they came (a `join` frame or HTTP): the room
 * could not be saved with them. (Their size is the transport's to bound.)
 *
 * @example
 * ```ts
 * import { checkOptions } from "./room.ts";
 * import { connectFour } from "../games/mod.ts";
 * console.log(checkOptions(connectFour, { turnMs: 5000 })); // { turnMs: 5000 }
 * ```
 */
export function checkOptions(game: AnyGame, raw: unknown): GameOptions {
  let options: Value;
  try {
    // `clone` names the path of anything that is not data; the round trip then applies the
    // rules and limits of a join frame.
    options = decodeValue(encodeValue(clone(raw ?? {}, "options") as Value), OPTIONS_LIMITS);
  } catch (error) {
    // A RangeError is the stack running out: options nested thousands deep.
    const message = error instanceof RangeError ? "nested too deeply" : (error as Error).message;
    throw new ArbiterError(
      "bad_options",
      message.startsWith("options") ? message : `options: ${message}`,
    );
  }
  if (game.options) {
    const result = game.options.parse(options, "options");
    if (!result.ok) throw new ArbiterError("bad_options", result.error);
    return result.value as GameOptions;
  }
  if (
    typeof options !== "object" || options === null || Array.isArray(options) ||
    options instanceof Uint8Array
  ) {
    throw new ArbiterError("bad_options", "options: expected an object");
  }
  return options as GameOptions;
}

/**
 * The game definition API: a game is plain data plus pure-ish functions over its state.
 * Authors write `setup`, a few `actions` and optionally `turn`, `outcome`, `view`, `tick` and
 * hooks; Arbiter does sequencing, validation, diffing, broadcasting and seats.
 *
 * @example
 * ```ts
 * import { defineGame, t } from "./mod.ts";
 * export const counter = defineGame({
 *   name: "counter",
 *   players: { min: 1, max: 4 },
 *   setup: () => ({ total: 0 }),
 *   actions: {
 *     add: {
 *       payload: t.object({ by: t.int({ min: 1, max: 10 }) }),
 *       apply(state, { by }) {
 *         state.total += by;
 *       },
 *     },
 *   },
 *   outcome: (state, ctx) => state.total >= 100 ? { winners: [ctx.players[0].id] } : undefined,
 * });
 * ```
 *
 * @module
 */
import type { Outcome, PlayerInfo, Value } from "../protocol/types.ts";
import type { Random } from "./rng.ts";
import { MAX_TIMER_MS } from "./clock.ts";
import type { Schema } from "./schema.ts";

/** Room options when the game declares no options schema: any JSON-like object. */
export type GameOptions = { [key: string]: Value };

/** When members hear about changes: after each change, or once per tick. */
export type BroadcastMode = "immediate" | "tick";

/** How the persistence layer keeps a room: periodic snapshots, or every action in a log. */
export type Durability = "snapshot" | "log";

/**
 * What every game function gets besides the state. It is valid for the duration of the call:
 * the room reuses the object for its next call into game code, so read what you need from it
 * rather than keep it.
 *
 * @example
 * ```ts
 * import type { GameContext } from "./game.ts";
 * function roll(ctx: GameContext): number {
 *   ctx.emit("rolled", { by: ctx.player });
 *   return ctx.random.int(6) + 1;
 * }
 * ```
 */
export interface GameContext<O = GameOptions> {
  /** Server time of this step, ms since the Unix epoch (the same for the whole step). */
  readonly now: number;
  /** The acting player, or null for system steps (ticks, timeouts, views, outcome checks). */
  readonly player: string | null;
  /** Every seat holder, in seat order, with presence. */
  readonly players: readonly PlayerInfo[];
  /**
   * The room's seeded generator: the only randomness game code may use, and only in `apply`,
   * hooks, `tick.update` and `turnClock.onTimeout` (see {@linkcode ReadContext}).
   */
  readonly random: Random;
  /** The room's options, checked against the game's `options` schema. */
  readonly options: O;
  /**
   * Sends a custom `event` message (not part of the state, never replayed), to the players
   * in `to` or, without `to`, to every member. Events go out after the broadcast that
   * carries this step's state changes. `to` names the players holding those seats now: if
   * one leaves before the event goes out (in tick mode, at the next tick), it is dropped, even
   * when someone else has taken that seat meanwhile.
   */
  emit(type: string, data?: Value, to?: readonly string[]): void;
}

/**
 * What the functions that only look at the state get (`validate`, `turn`, `outcome`, `view`):
 * a {@linkcode GameContext} without `random` and `emit`. How often they run differs live and
 * when a room is restored (refused actions are not replayed, views are taken per broadcast),
 * so a draw there would change what a replayed log produces, and an event would go out with
 * no step of its own. At runtime either one throws a `TypeError` saying so.
 *
 * @example
 * ```ts
 * import type { ReadContext } from "./game.ts";
 * const mine = (state: { owner: string }, ctx: ReadContext) => state.owner === ctx.player;
 * ```
 */
export type ReadContext<O = GameOptions> = Omit<GameContext<O>, "random" | "emit">;

/**
 * What an action's `apply` gets: a {@linkcode GameContext} whose `player` is the acting
 * player, never null (only system steps have none).
 *
 * @example
 * ```ts
 * import type { ActionContext } from "./game.ts";
 * const claim = (state: { owner: string }, _: unknown, ctx: ActionContext) => {
 *   state.owner = ctx.player; // a string: no null check needed
 * };
 * ```
 */
export type ActionContext<O = GameOptions> = GameContext<O> & { readonly player: string };

/**
 * What an action's `validate` gets: a {@linkcode ReadContext} whose `player` is the acting
 * player, never null.
 *
 * @example
 * ```ts
 * import type { ActionReadContext } from "./game.ts";
 * const mine = (state: { owner: string }, _: unknown, ctx: ActionReadContext) =>
 *   state.owner === ctx.player ? undefined : "not yours";
 * ```
 */
export type ActionReadContext<O = GameOptions> = ReadContext<O> & { readonly player: string };

/**
 * What `setup` gets: no players have joined yet when a room is created.
 *
 * @example
 * ```ts
 * import type { SetupContext } from "./game.ts";
 * const setup = (ctx: SetupContext) => ({ deck: ctx.random.shuffle([1, 2, 3]) });
 * ```
 */
export interface SetupContext<O = GameOptions> {
  /** Creation time, ms since the Unix epoch. */
  readonly now: number;
  /** The room's seeded generator. */
  readonly random: Random;
  /** The room's checked options. */
  readonly options: O;
}

/**
 * One action: an optional payload schema, an optional rule check, and the state change.
 *
 * @example
 * ```ts
 * import { type ActionDefinition, t } from "./mod.ts";
 * const place: ActionDefinition<{ cells: (string | null)[] }, { cell: number }> = {
 *   payload: t.object({ cell: t.int({ min: 0, max: 8 }) }),
 *   validate: (state, { cell }) => state.cells[cell] ? "that cell is taken" : undefined,
 *   apply(state, { cell }, ctx) {
 *     state.cells[cell] = ctx.player;
 *   },
 * };
 * ```
 */
export interface ActionDefinition<S, P, O = GameOptions> {
  /**
   * Checks the payload (a failure is rejected as `bad_payload`): a `t` schema, e.g.
   * `t.object({ cell: t.int() })`, not a plain object of schemas. Without it any value gets
   * through and `payload` is typed `unknown` (annotate it, e.g. as `Value`, and check it in
   * `validate`).
   */
  payload?: Schema<P>;
  /**
   * Allowed whoever's turn it is (a game with `turn` refuses other actions of a player whose
   * turn it is not as `not_your_turn`): resigning, offering a draw, chatting, or a
   * simultaneous-move game whose own `validate` gives the reason ("you already chose"). The
   * turn clock keeps running for the player whose turn it is, unless the action changes whose
   * turn it is. Default false.
   */
  anyTurn?: boolean;
  /**
   * Returns a reason to refuse the action (`invalid_action`), or nothing to accept it;
   * synchronously, and without changing the state, drawing or emitting (anything else is a bug
   * of the game: the action is refused as `internal` and the room reports it).
   */
  validate?(state: S, payload: P, ctx: ActionReadContext<O>): string | undefined | void;
  /**
   * Changes the state: mutate `state` or return a new one (plain data: a promise, a `Map` or
   * a class instance is reported and ignored, so `apply` cannot be async). Should not throw:
   * state changed before a throw stays changed. Put the checks that may refuse in `validate`.
   */
  apply(state: S, payload: P, ctx: ActionContext<O>): S | void;
}

/**
 * A player hook (`onJoin`, `onLeave`, ...): may change the state like an action.
 *
 * @example
 * ```ts
 * import type { PlayerHook } from "./game.ts";
 * const onJoin: PlayerHook<{ scores: Record<string, number> }> = (state, player) => {
 *   state.scores[player] = 0;
 * };
 * ```
 */
export type PlayerHook<S, O = GameOptions> = (
  state: S,
  player: string,
  ctx: GameContext<O>,
) => S | void;

/**
 * Everything an author writes. `S` is the state, `A` maps action names to payload types, `V`
 * is what `view` returns, `O` the room options; all are inferred by {@linkcode defineGame}.
 */
export interface GameConfig<S, A, V, O, N extends string = string> {
  /** Unique name, used to create rooms (lowercase letters, digits, `_` and `-`). */
  name: N;
  /**
   * Seats: the game runs once `min` are taken; nobody joins past `max`. Whole numbers with
   * 1 <= min <= max <= 1000: every room allocates its `max` seats when it is created.
   */
  players: { min: number; max: number };
  /** Whether spectators may watch. Default true. */
  spectators?: boolean;
  /** Whether players may join after the first action was applied. Default true. */
  lateJoin?: boolean;
  /** `"immediate"` or `"tick"`. Default: `"tick"` when `tick` is defined, else `"immediate"`. */
  broadcast?: BroadcastMode;
  /**
   * How the persistence layer keeps this game's rooms: `"log"` writes every accepted action to
   * storage before it is acknowledged; `"snapshot"` saves the room periodically. Default: the
   * server's setting (`ARBITER_DURABILITY`).
   */
  durability?: Durability;
  /**
   * Schema of the room options given at creation (a `t` schema such as `t.object({...})`); a
   * failure refuses with `bad_options`.
   */
  options?: Schema<O>;
  /**
   * The initial state: plain JSON-like data (objects, arrays, strings, finite numbers, booleans,
   * null, `Uint8Array`). `NaN`, infinities, class instances and the keys `__proto__`,
   * `constructor` and `prototype` fail room creation with a `TypeError` naming the path (clients
   * get `internal`). Actions, ticks and hooks must keep it so: a broadcast of a state that is not
   * data is reported to `onError` with the path, and the players who were to get it are closed
   * with `internal` to resume.
   */
  setup(ctx: SetupContext<O>): S;
  /** The moves players can make. */
  actions: { [K in keyof A]: ActionDefinition<S, A[K], O> };
  /** Who may act now: a player id, several, or null for nobody. Default: every player. */
  turn?(state: S, ctx: ReadContext<O>): string | readonly string[] | null;
  /**
   * A deadline for the player(s) to move. It restarts whenever `turn` changes or an action
   * is applied (an `anyTurn` action only when it changes `turn`); when it passes, `onTimeout`
   * runs as a system step (`ctx.player` is null).
   */
  turnClock?: {
    /**
     * Time allowed per turn in ms, or a function of the room options: at most 2147483647
     * (2^31 - 1, about 24.8 days), the longest delay Deno's timers keep (a longer one fires at
     * once).
     */
    ms: number | { (options: O): number };
    /** What happens when time runs out, e.g. a forfeit. */
    onTimeout(state: S, ctx: GameContext<O>): S | void;
  };
  /**
   * Realtime games: `update` runs `hz` times a second while the game is running, `hz` from
   * 0.000001 to 1000. `hz` may be a function of the room options (a game whose rooms tick at
   * different rates).
   */
  tick?: {
    hz: number | { (options: O): number };
    update(state: S, dtMs: number, ctx: GameContext<O>): S | void;
  };
  /**
   * Checked after every change: a result ends the game. Only `winners`, `draw` and `reason`
   * reach the players; a result of another shape is reported and the game goes on.
   */
  outcome?(state: S, ctx: ReadContext<O>): Outcome | undefined;
  /**
   * What `viewer` (null: a spectator) may see. Without it, everyone sees the whole state. A
   * player's first view is taken when they take their seat, before `onJoin` runs: a view must
   * cope with a player the state does not know yet (`onJoin`'s changes follow as a delta).
   */
  view?(state: S, viewer: string | null, ctx: ReadContext<O>): V;
  /** A player took a seat (also when a new player takes a seat someone left). */
  onJoin?: PlayerHook<S, O>;
  /** A player left deliberately; the seat is free again. */
  onLeave?: PlayerHook<S, O>;
  /** A player's connection dropped; the seat is held for the grace window. */
  onDisconnect?: PlayerHook<S, O>;
  /** A player came back within the grace window. */
  onReconnect?: PlayerHook<S, O>;
  /** The grace window passed without a resume; the seat is free again (e.g. forfeit here). */
  onSeatExpired?: PlayerHook<S, O>;
}

/**
 * A checked game definition with its defaults filled in, as {@linkcode defineGame} returns.
 * The parameters are the state, the action payload map, the view, the options and the name
 * (its literal type, so a typed client checks the name it creates rooms of).
 */
// The options parameter defaults to `any` so that `GameDefinition<any, any, any>` matches
// every game whatever its options type (the client library tests games against it).
// deno-lint-ignore no-explicit-any
export interface GameDefinition<S, A, V, O = any, N extends string = string>
  extends GameConfig<S, A, V, O, N> {
  readonly spectators: boolean;
  readonly lateJoin: boolean;
  readonly broadcast: BroadcastMode;
  /** The game's own durability, or undefined to follow the server's setting. */
  readonly durability: Durability | undefined;
  /** Action names in declaration order: the list `welcome` sends (actions by index). */
  readonly actionNames: readonly string[];
}

/** Any game definition, as rooms and managers hold them. */
// deno-lint-ignore no-explicit-any
export type AnyGame = GameDefinition<any, any, any, any>;

/**
 * The state type of a game.
 *
 * @example
 * ```ts
 * import type { StateOf } from "./game.ts";
 * import type { ticTacToe } from "../games/mod.ts";
 * type Board = StateOf<typeof ticTacToe>["board"];
 * ```
 */
// deno-lint-ignore no-explicit-any
export type StateOf<G> = G extends GameDefinition<infer S, any, any, any> ? S : never;

/**
 * What a member sees of a game's state: the return type of `view`, or the state itself.
 *
 * @example
 * ```ts
 * import type { ViewOf } from "./game.ts";
 * import type { secretCards } from "../games/mod.ts";
 * type Hand = ViewOf<typeof secretCards>["hand"];
 * ```
 */
// deno-lint-ignore no-explicit-any
export type ViewOf<G> = G extends GameDefinition<any, any, infer V, any> ? V : never;

/**
 * Action names mapped to payload types; actions without a payload schema take any `Value`.
 *
 * @example
 * ```ts
 * import type { ActionsOf } from "./game.ts";
 * import type { connectFour } from "../games/mod.ts";
 * const drop: ActionsOf<typeof connectFour>["drop"] = { column: 3 };
 * ```
 */
// deno-lint-ignore no-explicit-any
export type ActionsOf<G> = G extends GameDefinition<any, infer A, any, any>
  ? { [K in keyof A]: unknown extends A[K] ? Value : A[K] }
  : never;

/**
 * The options type of a game.
 *
 * @example
 * ```ts
 * import type { OptionsOf } from "./game.ts";
 * import type { connectFour } from "../games/mod.ts";
 * const options: OptionsOf<typeof connectFour> = { turnMs: 10_000 };
 * ```
 */
// deno-lint-ignore no-explicit-any
export type OptionsOf<G> = G extends GameDefinition<any, any, any, infer O> ? O : never;

/**
 * The name of a game, as a literal type when {@linkcode defineGame} could infer it (a game
 * whose type arguments were spelled out has `string`).
 *
 * @example
 * ```ts
 * import type { NameOf } from "./game.ts";
 * import type { connectFour } from "../games/mod.ts";
 * const name: NameOf<typeof connectFour> = "connect_four";
 * ```
 */
// deno-lint-ignore no-explicit-any
export type NameOf<G> = G extends GameDefinition<any, any, any, any, infer N> ? N : never;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Seats per room: a room allocates all of them when it is created. */
const MAX_PLAYERS = 1000;

/** The slowest tick rate: a tick every 11.6 days keeps its timer within {@linkcode MAX_TIMER_MS}. */
export const MIN_TICK_HZ = 1e-6;

/** The optional functions of a game, each checked when present. */
const OPTIONAL_FUNCTIONS = [
  "turn",
  "outcome",
  "view",
  "onJoin",
  "onLeave",
  "onDisconnect",
  "onReconnect",
  "onSeatExpired",
] as const satisfies readonly (keyof GameConfig<unknown, unknown, unknown, unknown>)[];

const BROADCAST_MODES: readonly unknown[] = ["immediate", "tick"] satisfies BroadcastMode[];
const DURABILITIES: readonly unknown[] = ["snapshot", "log"] satisfies Durability[];

function positiveInteger(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n > 0;
}

/** Throws unless `value` is a function, or absent when not `required`. */
/**
 * Every field a game's definition may have: any other is a typo (`onjoin`, `outcomes`) that
 * would be ignored without a word. `actionNames` is what {@linkcode defineGame} adds, so a game
 * made from another (`defineGame({ ...ticTacToe, name: "variant" })`) passes; it is recomputed.
 */
const GAME_FIELDS: ReadonlySet<string> = new Set(Object.keys(
  {
    name: true,
    players: true,
    spectators: true,
    lateJoin: true,
    broadcast: true,
    durability: true,
    options: true,
    setup: true,
    actions: true,
    turn: true,
    turnClock: true,
    tick: true,
    outcome: true,
    view: true,
    onJoin: true,
    onLeave: true,
    onDisconnect: true,
    onReconnect: true,
    onSeatExpired: true,
    actionNames: true,
  } satisfies Record<keyof AnyGame, true>,
));

function checkBoolean(where: string, field: string, value: unknown): void {
  if (value === undefined || typeof value === "boolean") return;
  const got = typeof value === "string" ? JSON.stringify(value) : typeof value;
  throw new TypeError(`${where}: ${field} must be true or false, got ${got}`);
}

function checkFunction(where: string, field: string, value: unknown, required = false): void {
  if (typeof value === "function" || (!required && value == null)) return;
  throw new TypeError(`${where}: ${field} must be a function, got ${typeof value}`);
}

/**
 * Checks a game and fills in its defaults. Types flow from `setup` (the state), each action's
 * `payload` schema (its payload), `view` (what members see) and `options`.
 *
 * @example
 * ```ts
 * import { defineGame, t } from "./mod.ts";
 * const coin = defineGame({
 *   name: "coin_flip",
 *   players: { min: 2, max: 2 },
 *   setup: () => ({ calls: {} as Record<string, "heads" | "tails">, result: null as string | null }),
 *   actions: {
 *     call: {
 *       payload: t.enum(["heads", "tails"]),
 *       validate: (state, _call, ctx) => state.calls[ctx.player] ? "already called" : undefined,
 *       apply(state, call, ctx) {
 *         state.calls[ctx.player] = call;
 *         if (Object.keys(state.calls).length === 2) {
 *           state.result = ctx.random.pick(["heads", "tails"]);
 *         }
 *       },
 *     },
 *   },
 *   outcome: (state) => {
 *     if (!state.result) return undefined;
 *     const winners = Object.keys(state.calls).filter((p) => state.calls[p] === state.result);
 *     return winners.length === 1 ? { winners } : { draw: true };
 *   },
 * });
 * console.log(coin.actionNames); // ["call"]
 * ```
 */
export function defineGame<S, A, V = S, O = GameOptions, N extends string = string>(
  config: GameConfig<S, A, V, O, N>,
): GameDefinition<S, A, V, O, N> {
  const where = `defineGame(${JSON.stringify(config?.name)})`;
  if (typeof config.name !== "string" || !NAME.test(config.name)) {
    throw new TypeError(
      `${where}: name must be 1-64 lowercase letters, digits, "_" or "-", starting with a ` +
        "letter or digit",
    );
  }
  for (const field of Object.keys(config)) {
    if (!GAME_FIELDS.has(field)) {
      throw new TypeError(
        `${where}: unknown field ${JSON.stringify(field)}; a game's fields are ` +
          [...GAME_FIELDS].filter((known) => known !== "actionNames").join(", "),
      );
    }
  }
  checkBoolean(where, "spectators", config.spectators);
  checkBoolean(where, "lateJoin", config.lateJoin);
  const { min, max } = config.players ?? {};
  if (!positiveInteger(min) || !positiveInteger(max) || max < min || max > MAX_PLAYERS) {
    throw new TypeError(
      `${where}: players must be { min, max } with 1 <= min <= max <= ${MAX_PLAYERS}`,
    );
  }
  if (typeof config.setup !== "function") throw new TypeError(`${where}: setup is required`);
  for (const field of OPTIONAL_FUNCTIONS) checkFunction(where, field, config[field]);
  if (config.options != null && typeof config.options.parse !== "function") {
    throw new TypeError(`${where}: options must be a schema such as t.object({ ... })`);
  }
  if (typeof config.actions !== "object" || config.actions === null) {
    throw new TypeError(`${where}: actions must be an object`);
  }
  const actionNames = Object.keys(config.actions);
  for (const name of actionNames) {
    const action = (config.actions as Record<string, ActionDefinition<S, unknown, O>>)[name];
    if (name.startsWith("@")) {
      // Journals name system steps "@timeout"; a game action must never be mistaken for one.
      throw new TypeError(`${where}: action names cannot start with "@" (${name})`);
    }
    if (typeof action?.apply !== "function") {
      throw new TypeError(`${where}: action ${JSON.stringify(name)} needs an apply function`);
    }
    checkFunction(where, `action ${JSON.stringify(name)} validate`, action.validate);
    checkBoolean(where, `action ${JSON.stringify(name)} anyTurn`, action.anyTurn);
    // A plain object of schemas (`{ cell: t.int() }`) would only fail at the first action.
    if (action.payload != null && typeof action.payload.check !== "function") {
      throw new TypeError(
        `${where}: action ${JSON.stringify(name)} payload must be a schema such as ` +
          "t.object({ ... })",
      );
    }
  }
  if (config.tick) {
    const { hz } = config.tick;
    if (typeof hz !== "function" && !(typeof hz === "number" && hz >= MIN_TICK_HZ && hz <= 1000)) {
      throw new TypeError(
        `${where}: tick.hz must be a number in [${MIN_TICK_HZ}, 1000] or a function`,
      );
    }
    checkFunction(where, "tick.update", config.tick.update, true);
  }
  if (config.turnClock) {
    const { ms } = config.turnClock;
    if (typeof ms !== "function" && !(typeof ms === "number" && ms > 0 && ms <= MAX_TIMER_MS)) {
      throw new TypeError(
        `${where}: turnClock.ms must be a positive number of ms up to ${MAX_TIMER_MS} ` +
          "(about 24.8 days, the longest delay Deno's timers keep) or a function",
      );
    }
    checkFunction(where, "turnClock.onTimeout", config.turnClock.onTimeout, true);
  }
  if (config.broadcast != null && !BROADCAST_MODES.includes(config.broadcast)) {
    throw new TypeError(
      `${where}: broadcast must be "immediate" or "tick", got ${JSON.stringify(config.broadcast)}`,
    );
  }
  if (config.durability != null && !DURABILITIES.includes(config.durability)) {
    throw new TypeError(
      `${where}: durability must be "snapshot" or "log", got ${JSON.stringify(config.durability)}`,
    );
  }
  const broadcast = config.broadcast ?? (config.tick ? "tick" : "immediate");
  if (broadcast === "tick" && !config.tick) {
    throw new TypeError(`${where}: broadcast "tick" needs a tick definition`);
  }
  return {
    ...config,
    spectators: config.spectators ?? true,
    lateJoin: config.lateJoin ?? true,
    broadcast,
    durability: config.durability,
    actionNames: Object.freeze(actionNames),
  };
}

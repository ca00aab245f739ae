/**
 * The entry point of the client library: `connect(url)` gives a client that joins rooms.
 * Each joined room has its own WebSocket (one session per socket).
 *
 * @module
 */
import {
  ArbiterError,
  ERROR_CODES,
  type ErrorCode,
  roomListParams,
  type RoomListQuery,
  type RoomSummary,
  type Value,
} from "../protocol/mod.ts";
import type { ActionsOf, GameDefinition, NameOf, OptionsOf, ViewOf } from "../rooms/game.ts";
import { type ClientOptions, type JoinTarget, RoomConnection } from "./room.ts";

/**
 * A room connection typed by a game definition: `Room<typeof ticTacToe>` has the game's view
 * as its state and its actions' payload types on `send`. Only the type is used, so a browser
 * bundle does not include the game's server code.
 */
// deno-lint-ignore no-explicit-any
export type Room<G = any> = 0 extends 1 & G
  // No game given (`Room` alone): any state, any action name; so a helper taking a `Room`
  // takes every room a client returns, typed by a game or not.
  // deno-lint-ignore no-explicit-any
  ? RoomConnection<any, any>
  // A game: only its own action names, each with its payload type.
  // deno-lint-ignore no-explicit-any
  : [G] extends [GameDefinition<any, any, any>] ? RoomConnection<ViewOf<G>, ActionsOf<G>>
  : RoomConnection<Value, Record<string, Value>>;

/**
 * A spectator's room connection: the game's view as its state, like {@linkcode Room}, and no
 * action name `send` accepts, since a spectator cannot act (the server would refuse with
 * `not_a_player`). It fits wherever a `Room` with no game is taken.
 *
 * @example
 * ```ts ignore
 * import { connect, type SpectatorRoom } from "./mod.ts";
 * import type { ticTacToe } from "../games/mod.ts";
 * const room: SpectatorRoom<typeof ticTacToe> = await connect("ws://localhost:8000/ws")
 *   .spectate<typeof ticTacToe>("ab3k9mzq");
 * room.onState((state) => console.log(state.board));
 * ```
 */
// deno-lint-ignore no-explicit-any
export type SpectatorRoom<G = any> = RoomConnection<StateOf<Room<G>>, Record<never, never>>;

/** The state type of a room connection. */
type StateOf<R> = R extends RoomConnection<infer S, infer _> ? S : never;

/**
 * The room options a game takes (its `options` schema's type) when the game's type is given
 * (`client.create<typeof connectFour>("connect_four", { turnMs: 10_000 })`); any plain data
 * without one.
 *
 * @example
 * ```ts
 * import type { GameOptionsOf } from "./client.ts";
 * import type { connectFour } from "../games/mod.ts";
 * const options: GameOptionsOf<typeof connectFour> = { turnMs: 10_000 };
 * ```
 */
export type GameOptionsOf<G> = 0 extends 1 & G ? { [key: string]: Value }
  // deno-lint-ignore no-explicit-any
  : [G] extends [GameDefinition<any, any, any, any>] ? OptionsOf<G>
  : { [key: string]: Value };

/**
 * The game names `create` and `joinOrCreate` accept: the game's own name when its type is given
 * (`client.create<typeof connectFour>("connect_four")`, so a typo or the wrong game's name is a
 * type error), any string without one.
 *
 * @example
 * ```ts
 * import type { GameNameOf } from "./client.ts";
 * import type { connectFour } from "../games/mod.ts";
 * const name: GameNameOf<typeof connectFour> = "connect_four";
 * const any: GameNameOf<unknown> = "whatever_game";
 * ```
 */
export type GameNameOf<G> = 0 extends 1 & G ? string
  // deno-lint-ignore no-explicit-any
  : [G] extends [GameDefinition<any, any, any, any>] ? NameOf<G>
  : string;

/**
 * What {@linkcode ArbiterClient.create} takes besides the game and its options: the room
 * handle's {@linkcode ClientOptions}, and whether the room is private.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * const room = await connect("ws://localhost:8000/ws").create("tic_tac_toe", {}, { private: true });
 * console.log(room.roomId.length); // 16: share it to invite
 * ```
 */
export interface CreateOptions extends ClientOptions {
  /**
   * A private room: left out of room lists (`GET /api/rooms`, {@linkcode ArbiterClient.listRooms})
   * and of `joinOrCreate`; its id, the invitation, has 16 characters (8 for public ones) so that
   * it cannot be guessed. Default false.
   */
  private?: boolean;
}

/**
 * Joins rooms on one Arbiter server.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * const client = connect("ws://localhost:8000/ws", { name: "ann" });
 * const room = await client.joinOrCreate("tic_tac_toe");
 * console.log(room.roomId, room.player, room.state);
 * ```
 */
export class ArbiterClient {
  /** The WebSocket URL of the server (`ws://host:port/ws`). */
  readonly url: string;
  /** Options every room of this client uses. */
  readonly options: ClientOptions;

  /** Prefer {@linkcode connect}. */
  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.options = options;
  }

  /** Joins the room with this id (takes a free seat). */
  join<G = unknown>(roomId: string, options?: ClientOptions): Promise<Room<G>> {
    return this.#open<Room<G>>({ mode: "join", room: roomId }, options);
  }

  /**
   * Creates a new room of `game` with optional game options, and takes its first seat;
   * `{ private: true }` makes it private (invitation only: see {@linkcode CreateOptions}).
   */
  create<G = unknown>(
    game: GameNameOf<G>,
    gameOptions?: GameOptionsOf<G>,
    options?: CreateOptions,
  ): Promise<Room<G>> {
    const { private: isPrivate, ...roomOptions } = options ?? {};
    const target: JoinTarget = { mode: "create", game, options: asOptions(gameOptions) };
    if (isPrivate) target.private = true;
    return this.#open<Room<G>>(target, roomOptions);
  }

  /** Joins the first open room of `game` with a free seat, or creates one. */
  joinOrCreate<G = unknown>(
    game: GameNameOf<G>,
    gameOptions?: GameOptionsOf<G>,
    options?: ClientOptions,
  ): Promise<Room<G>> {
    return this.#open<Room<G>>(
      { mode: "join_or_create", game, options: asOptions(gameOptions) },
      options,
    );
  }

  /**
   * Takes back a seat held for this client, e.g. after a page reload: `session` is the token
   * from an earlier join ({@linkcode Room.session}, kept in `sessionStorage`). Fails with
   * `bad_session` when the token is wrong, expired (the grace window is over) or not for
   * this room.
   */
  resume<G = unknown>(roomId: string, session: string, options?: ClientOptions): Promise<Room<G>> {
    return this.#open<Room<G>>({ mode: "join", room: roomId, session }, options);
  }

  /** Watches the room with this id as a spectator (no seat; cannot act, so no `send`). */
  spectate<G = unknown>(roomId: string, options?: ClientOptions): Promise<SpectatorRoom<G>> {
    return this.#open<SpectatorRoom<G>>({ mode: "join", room: roomId, spectator: true }, options);
  }

  /**
   * A page of the server's public rooms, oldest first, and how many match in all: the server's
   * `GET /api/rooms` beside its WebSocket endpoint (`ws://h/ws` → `http://h/api/rooms`).
   * Filter by `game`, `status` and `open` (a seat free now); page with `limit` (default 100, at
   * most 1,000) and `offset`. A query the server would refuse rejects with a `TypeError` before
   * any request; a server that cannot be reached, with `unreachable`.
   *
   * @example
   * ```ts ignore
   * import { connect } from "./mod.ts";
   * const client = connect("http://localhost:8000", { name: "ann" });
   * const { rooms, total } = await client.listRooms({ game: "tic_tac_toe", open: true });
   * console.log(`${total} rooms with a free seat`);
   * const room = rooms.length > 0 ? await client.join(rooms[0].id) : await client.create("tic_tac_toe");
   * ```
   */
  async listRooms(query: RoomListQuery = {}): Promise<RoomList> {
    // Beside the endpoint: `ws://h/ws` and `ws://h/ws/` both → `http://h/api/rooms`.
    const url = new URL(`api/rooms?${roomListParams(query)}`, this.url.replace(/\/+$/, ""));
    url.protocol = url.protocol === "wss:" ? "https:" : "http:";
    let response: Response;
    let body: unknown;
    try {
      response = await fetch(url, { headers: { accept: "application/json" } });
      body = await response.json();
    } catch (error) {
      throw new ArbiterError("unreachable", `GET ${url} failed: ${describe(error)}`);
    }
    if (response.ok && Array.isArray(body)) {
      // Without the header (an older server, a proxy that drops it): this page is all we know.
      const header = response.headers.get("x-total-count");
      const total = header === null ? NaN : Number(header);
      return { rooms: body, total: Number.isSafeInteger(total) ? total : body.length };
    }
    const { code, message } = (body ?? {}) as { code?: unknown; message?: unknown };
    const known = typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
    throw new ArbiterError(
      known ? code as ErrorCode : "unreachable",
      `GET ${url} answered ${response.status}${typeof code === "string" ? ` ${code}` : ""}: ${
        typeof message === "string" ? message : "not an Arbiter room list"
      }`,
    );
  }

  /** Opens a connection typed `R` (a `Room` or `SpectatorRoom` of the caller's game). */
  #open<R>(target: JoinTarget, options?: ClientOptions): Promise<R> {
    if (target.options === undefined) delete target.options;
    const connection = new RoomConnection(this.url, target, { ...this.options, ...options });
    return connection.open() as Promise<unknown> as Promise<R>;
  }
}

/**
 * What {@linkcode ArbiterClient.listRooms} returns: a page of rooms, and how many match in all.
 *
 * @example
 * ```ts
 * import type { RoomList } from "./client.ts";
 * const empty: RoomList = { rooms: [], total: 0 };
 * ```
 */
export interface RoomList {
  /** The page, oldest room first. */
  rooms: RoomSummary[];
  /** How many public rooms match the filters, on every page. */
  total: number;
}

/** A game's options as the join carries them (checked when the join is encoded). */
function asOptions(options: unknown): { [key: string]: Value } | undefined {
  return options as { [key: string]: Value } | undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates a client for the Arbiter server at `url`: its WebSocket endpoint (e.g.
 * `ws://localhost:8000/ws`, used as given) or its site (`http://localhost:8000` becomes
 * `ws://localhost:8000/ws`; an `http(s)://` URL with a path keeps it, as behind a proxy that
 * serves the endpoint elsewhere: `https://example.com/arbiter` → `wss://example.com/arbiter`).
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * const client = connect("http://localhost:8000", { name: "bob" });
 * const room = await client.create("connect_four");
 * await room.send("drop", { column: 3 });
 * ```
 */
export function connect(url: string, options: ClientOptions = {}): ArbiterClient {
  return new ArbiterClient(toWebSocketUrl(url), options);
}

/** `http://h/` → `ws://h/ws`; `ws://h/ws` unchanged. */
function toWebSocketUrl(url: string): string {
  const parsed = new URL(url);
  if (!["ws:", "wss:", "http:", "https:"].includes(parsed.protocol)) {
    throw new TypeError(
      `An Arbiter server URL starts with ws://, wss://, http:// or https://, not ${parsed.protocol}//`,
    );
  }
  if (parsed.protocol === "http:" || parsed.protocol === "https:") {
    parsed.protocol = parsed.protocol === "https:" ? "wss:" : "ws:";
    if (parsed.pathname === "/" || parsed.pathname === "") parsed.pathname = "/ws";
  }
  return parsed.toString();
}

/**
 * The room list of the HTTP API, `GET /api/rooms?game=&status=&open=&limit=&offset=`: the
 * rooms it shows, and its filters and page as the client library writes them and the server
 * reads them (one set of rules, so a query the client sends is one the server accepts).
 *
 * @module
 */

/**
 * What a room's status can be: waiting for players, playing, or finished.
 *
 * @example
 * ```ts
 * import { ROOM_STATUSES } from "./room_list.ts";
 * console.log(ROOM_STATUSES.includes("playing")); // true
 * ```
 */
export const ROOM_STATUSES = Object.freeze(["waiting", "playing", "finished"] as const);

/**
 * Where a room stands: waiting for players, playing, or finished.
 *
 * @example
 * ```ts
 * import type { RoomStatus } from "./room_list.ts";
 * const status: RoomStatus = "waiting";
 * ```
 */
export type RoomStatus = (typeof ROOM_STATUSES)[number];

/**
 * One room as a room list shows it (`GET /api/rooms`, `GET /api/rooms/:id`, the client's
 * `listRooms`).
 *
 * @example
 * ```ts
 * import type { RoomSummary } from "./room_list.ts";
 * const s: RoomSummary = {
 *   id: "ab3k9mzq", game: "tic_tac_toe", players: 1, maxPlayers: 2, spectators: 0,
 *   status: "waiting", open: true, private: false, seq: 0, createdAt: 1_700_000_000_000,
 * };
 * ```
 */
export interface RoomSummary {
  id: string;
  game: string;
  /** Seats held (connected or within their grace window). */
  players: number;
  maxPlayers: number;
  /** Spectators watching. */
  spectators: number;
  status: RoomStatus;
  /**
   * Whether a new player could take a seat now: one is free and the game is not over (nor
   * started, unless the game allows late joins).
   */
  open: boolean;
  private: boolean;
  /** Room sequence: how many broadcasts so far. */
  seq: number;
  /** When the room was created, ms since the Unix epoch. */
  createdAt: number;
}

/**
 * Most rooms one `GET /api/rooms` returns, and how many it returns without `limit`.
 *
 * @example
 * ```ts
 * import { ROOM_LIST_LIMITS } from "./room_list.ts";
 * console.log(ROOM_LIST_LIMITS.default, ROOM_LIST_LIMITS.max); // 100 1000
 * ```
 */
export const ROOM_LIST_LIMITS = Object.freeze({ default: 100, max: 1000 });

/**
 * Which public rooms to list, and which page of them (oldest first).
 *
 * @example
 * ```ts
 * import type { RoomListQuery } from "./room_list.ts";
 * const lobby: RoomListQuery = { game: "tic_tac_toe", open: true, limit: 20 };
 * ```
 */
export interface RoomListQuery {
  /** Only rooms of this game. */
  game?: string;
  /** Only rooms in this status. */
  status?: RoomStatus;
  /** Only rooms a new player could take a seat in now (`true`), or only the others. */
  open?: boolean;
  /** Most rooms to return: 1 to {@linkcode ROOM_LIST_LIMITS}`.max`; default `.default`. */
  limit?: number;
  /** How many matching rooms to skip (for the next page). Default 0. */
  offset?: number;
}

const PARAMETERS = ["game", "status", "open", "limit", "offset"];

/**
 * Reads a room list query from URL parameters; returns what is wrong with it as a message for
 * the caller instead. Unknown parameters are wrong too: a misspelt filter must not pass for
 * "every room".
 *
 * @example
 * ```ts
 * import { parseRoomListQuery } from "./room_list.ts";
 * console.log(parseRoomListQuery(new URLSearchParams("game=arena&open=true")));
 * // { game: "arena", open: true }
 * console.log(parseRoomListQuery(new URLSearchParams("limit=0")));
 * // "limit must be a whole number from 1 to 1000, not \"0\"."
 * ```
 */
export function parseRoomListQuery(params: URLSearchParams): RoomListQuery | string {
  const query: RoomListQuery = {};
  for (const [name, value] of params) {
    if (!PARAMETERS.includes(name)) {
      return `Unknown parameter ${JSON.stringify(name.slice(0, 64))}: filter with game, status ` +
        "and open; page with limit and offset.";
    }
    if (params.getAll(name).length > 1) return `Give ${name} once.`;
    const quoted = JSON.stringify(value.slice(0, 64));
    if (name === "game") {
      if (value) query.game = value;
    } else if (name === "status") {
      const status = ROOM_STATUSES.find((s) => s === value);
      if (!status) return `status must be ${ROOM_STATUSES.join(", ")} or left out, not ${quoted}.`;
      query.status = status;
    } else if (name === "open") {
      if (value !== "true" && value !== "false") {
        return `open must be true or false, not ${quoted}.`;
      }
      query.open = value === "true";
    } else {
      const min = name === "limit" ? 1 : 0;
      const max = name === "limit" ? ROOM_LIST_LIMITS.max : MAX_OFFSET;
      const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
      if (!(n >= min && n <= max)) {
        return `${name} must be a whole number from ${min} to ${max}, not ${quoted}.`;
      }
      query[name as "limit" | "offset"] = n;
    }
  }
  return query;
}

/** Most rooms a page may skip: nine digits. */
const MAX_OFFSET = 999_999_999;

/**
 * Writes a room list query as URL parameters, checking it as the server would: a query it
 * would refuse is a `TypeError` here, with the server's message.
 *
 * @example
 * ```ts
 * import { roomListParams } from "./room_list.ts";
 * console.log(roomListParams({ game: "arena", open: true, limit: 20 }).toString());
 * // "game=arena&open=true&limit=20"
 * ```
 */
export function roomListParams(query: RoomListQuery): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of PARAMETERS) {
    const value = query[name as keyof RoomListQuery];
    if (value !== undefined) params.set(name, String(value));
  }
  const problem = parseRoomListQuery(params);
  if (typeof problem === "string") throw new TypeError(problem);
  return params;
}

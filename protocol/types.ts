/**
 * The message shapes of Arbiter's wire protocol v1, shared by the server and every client.
 *
 * The byte layout of each message is specified in `protocol/PROTOCOL.md`; this module holds
 * only the typed, decoded form.
 *
 * @module
 */

/** A JSON-like value: what game state, payloads and events are made of. */
export type Value =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value };

/** A path into a state tree: object keys are strings, array indices are numbers. */
export type Path = readonly (string | number)[];

/**
 * One change to a JSON-like state tree. Applying a delta's ops in order to the recipient's
 * previous state yields its new state.
 *
 * @example
 * ```ts
 * import type { DeltaOp } from "./types.ts";
 * const ops: DeltaOp[] = [
 *   { op: "set", path: ["players", 3, "x"], value: 12 },
 *   { op: "push", path: ["log"], values: ["p2 moved"] },
 * ];
 * ```
 */
export type DeltaOp =
  /** Set the key or index at `path` (an empty path replaces the whole state). */
  | { op: "set"; path: Path; value: Value }
  /** Delete the object key at `path`. */
  | { op: "delete"; path: Path }
  /** Append `values` to the array at `path`. */
  | { op: "push"; path: Path; values: Value[] }
  /** Remove `count` items starting at `index` from the array at `path`. */
  | { op: "splice"; path: Path; index: number; count: number };

/**
 * Takes {@linkcode DeltaOp}s one at a time as a diff finds them, so that no op objects need to
 * exist. `path` is only read during the call: the caller may change it afterwards.
 *
 * @example
 * ```ts
 * import type { DeltaOp, DeltaOpSink } from "./types.ts";
 * const ops: DeltaOp[] = [];
 * const collect: DeltaOpSink = {
 *   set: (path, value) => void ops.push({ op: "set", path: path.slice(), value }),
 *   delete: (path) => void ops.push({ op: "delete", path: path.slice() }),
 *   push: (path, values) => void ops.push({ op: "push", path: path.slice(), values }),
 *   splice: (path, index, count) =>
 *     void ops.push({ op: "splice", path: path.slice(), index, count }),
 * };
 * collect.set(["score"], 1);
 * console.log(ops); // [ { op: "set", path: [ "score" ], value: 1 } ]
 * ```
 */
export interface DeltaOpSink {
  /** Set the key or index at `path` (an empty path replaces the whole state). */
  set(path: Path, value: Value): void;
  /** Delete the object key at `path`. */
  delete(path: Path): void;
  /** Append `values` to the array at `path`. */
  push(path: Path, values: Value[]): void;
  /** Remove `count` items starting at `index` from the array at `path`. */
  splice(path: Path, index: number, count: number): void;
}

/** How a player is seen by the others in the room. */
export type Presence = "connected" | "disconnected" | "left";

/** A seat holder as the room lists it in `welcome` and presence events. */
export interface PlayerInfo {
  /** Stable player id within the room (e.g. `"p1"`). */
  id: string;
  /** Display name given at join (or by the authenticator). */
  name: string;
  /** Seat index, 0-based. */
  seat: number;
  presence: Presence;
}

/** The end of a game: winners (player ids), or a draw, and why. */
export type Outcome =
  | { winners: string[]; draw?: false; reason?: string }
  | { draw: true; winners?: undefined; reason?: string };

/** How a `join` finds its room. */
export type JoinMode = "join" | "create" | "join_or_create";

// ---------------------------------------------------------------------------------------------
// client → server

/** `join`: enter a room as a player or spectator, or resume a seat. */
export interface JoinMessage {
  kind: "join";
  /** Protocol version the client speaks; the server answers `unsupported_version` otherwise. */
  version: number;
  mode: JoinMode;
  /** Room id: required for `join` (unless resuming), ignored by `create` and `join_or_create`. */
  room?: string;
  /** Game name: required for `create` and `join_or_create`. */
  game?: string;
  /** Game options for `create` / `join_or_create` (the game validates them). */
  options?: { [key: string]: Value };
  /** Display name. */
  name?: string;
  /** Auth token, when the server requires authentication. */
  token?: string;
  /** Resume a seat: the session token from an earlier `welcome` and the last room sequence seen. */
  resume?: { session: string; seq: number };
  /** Join without a seat; spectators see the spectator view and cannot act. */
  spectator?: boolean;
  /**
   * `create` only: a private room, left out of room lists and of `join_or_create`, with a
   * 16-character id (its invitation) instead of 8.
   */
  private?: boolean;
  /**
   * An id the client picks for this join attempt series (16-64 chars of `[A-Za-z0-9_-]`,
   * random and kept secret like a session token): a join repeated with the same key, because
   * its welcome was lost, gets the seat (and room) the first one took instead of another.
   * Ignored by resumes and spectator joins.
   */
  key?: string;
}

/** `action`: a player's move. `seq` is the client's own counter, increasing by one per action. */
export interface ActionMessage {
  kind: "action";
  seq: number;
  /** Action name, or its index in the `actions` list of `welcome` (smaller on the wire). */
  name: string | number;
  payload: Value;
}

/** `ping`: asks for a `pong`; `time` is the client's clock in whole ms, echoed back. */
export interface PingMessage {
  kind: "ping";
  time: number;
}

/** `leave`: give up the seat deliberately (distinct from a dropped connection). */
export interface LeaveMessage {
  kind: "leave";
}

/** Every message a client may send. */
export type ClientMessage = JoinMessage | ActionMessage | PingMessage | LeaveMessage;

// ---------------------------------------------------------------------------------------------
// server → client

/** `welcome`: the answer to a successful `join`, with everything the recipient may see. */
export interface WelcomeMessage {
  kind: "welcome";
  /** Room sequence of `state`: the next delta carries `seq + 1`. */
  seq: number;
  /** Server time (ms since the Unix epoch) of the broadcast that produced `seq`. */
  time: number;
  room: string;
  game: string;
  /** This recipient's player id, or null for a spectator. */
  player: string | null;
  /** Secret resume token for this seat (empty for spectators). */
  session: string;
  /** Highest client action sequence already applied for this session (0 if none). */
  ack: number;
  /** The full state as this recipient may see it. */
  state: Value;
  players: PlayerInfo[];
  /** Action names of the game; an `action` may name one by its index in this list. */
  actions: string[];
  /** The delta key table to start from (see PROTOCOL.md, "Delta encoding"). */
  keys: string[];
  /** The delta target table to start from (see PROTOCOL.md, "Delta encoding"). */
  refs: Path[];
  /** True when this welcome resumed an existing seat. */
  resumed: boolean;
  /**
   * True on a resume that replays instead of resending the state: `state`, `keys` and `refs`
   * are absent on the wire (decoded as `null`, `[]`, `[]`) and must be ignored; the client keeps
   * its mirror and tables as they were at `seq`, and the missed deltas follow as usual.
   */
  replay?: boolean;
  /** Set when the game is already over. */
  outcome?: Outcome;
  /**
   * On a resume: the seat's latest refused actions (the server remembers a few), since a
   * `reject` in flight when the connection dropped never arrived. A client rejects its pending
   * actions listed here before settling the rest by `ack`.
   */
  rejected?: SettledReject[];
  /**
   * The server's limit on this connection's actions and pings. A client that paces its sends
   * by it, with a margin for frames that reach the server bunched, is not refused
   * `rate_limited`, not even when it sends what it queued while reconnecting.
   */
  limits?: ActionLimits;
}

/**
 * Actions (and pings, which share the budget) a connection may send: `rate` a second on
 * average, up to `burst` at once (a token bucket, see {@linkcode TokenBucket}).
 */
export interface ActionLimits {
  rate: number;
  burst: number;
}

/**
 * `delta`: a room broadcast. `ops` is the raw delta body: decode it with a
 * {@linkcode DeltaDecoder} that holds this recipient's tables.
 */
export interface DeltaMessage {
  kind: "delta";
  /** Room sequence: exactly one more than the previous delta (or welcome) this client got. */
  seq: number;
  /** Milliseconds since the previous broadcast's time (the welcome's `time` for the first). */
  dt: number;
  /** How much this recipient's highest applied client sequence grew (0: unchanged). */
  ackDelta: number;
  /** Encoded ops: CBOR items, see PROTOCOL.md. */
  ops: Uint8Array;
}

/** `reject`: an action was refused; state and sequence did not change. */
export interface RejectMessage {
  kind: "reject";
  /** The client sequence of the refused action. */
  seq: number;
  code: ErrorCode;
  message: string;
}

/** A refused action as a resume's `welcome` repeats it (a `reject` without its kind). */
export type SettledReject = Omit<RejectMessage, "kind">;

/** Built-in event types; games add their own names. */
export type EventType =
  | "player_joined"
  | "player_left"
  | "player_disconnected"
  | "player_reconnected"
  | "spectator_joined"
  | "spectator_left"
  // deno-lint-ignore ban-types -- `string & {}` keeps editor completion for the names above
  | (string & {});

/** `event`: an ephemeral notice; not part of the state and not replayed on resume. */
export interface EventMessage {
  kind: "event";
  type: EventType;
  /** The player concerned, when there is one. */
  player?: string;
  data?: Value;
}

/** `game_over`: the game ended; later actions are rejected with `game_over`. */
export interface GameOverMessage {
  kind: "game_over";
  outcome: Outcome;
}

/** `pong`: answer to `ping`, for round-trip time and clock offset. */
export interface PongMessage {
  kind: "pong";
  /** The client's `time` from the ping. */
  clientTime: number;
  /** Server clock, ms since the Unix epoch. */
  serverTime: number;
}

/** `error`: fatal for this connection; the server closes with `CLOSE_CODES[code]` next. */
export interface ErrorMessage {
  kind: "error";
  code: ErrorCode;
  message: string;
}

/** Every message the server may send. */
export type ServerMessage =
  | WelcomeMessage
  | DeltaMessage
  | RejectMessage
  | EventMessage
  | GameOverMessage
  | PongMessage
  | ErrorMessage;

// ---------------------------------------------------------------------------------------------
// codes

/**
 * Every error code the server or the codec can produce, with when it happens.
 * Codes are stable strings: clients switch on them.
 */
export const ERROR_CODES = {
  // decoding (ProtocolError)
  frame_too_large: "Frame larger than the receiver's limit.",
  empty_frame: "Frame has no bytes.",
  unknown_kind: "The first byte is not a known message kind.",
  bad_varint: "A header varint is truncated or longer than allowed.",
  bad_cbor: "The CBOR body is malformed, truncated or nested too deeply.",
  forbidden_tag: "The CBOR body uses a tag outside the allowlist.",
  forbidden_key: "An object key such as __proto__, constructor or prototype.",
  trailing_bytes: "Bytes left over after the message.",
  bad_field: "A field is missing or has the wrong type.",
  bad_delta: "A delta op cannot be decoded or applied (client resyncs).",
  text_frame: "Text frames are not part of the protocol.",
  unsupported_version: "The join asked for a protocol version this server does not speak.",
  // join
  room_not_found: "No room with that id.",
  game_not_found: "No game with that name.",
  room_full: "Every seat is taken.",
  game_started: "The game has started and does not allow late joins.",
  spectators_not_allowed: "This game does not allow spectators.",
  bad_options: "The game refused the room options.",
  not_joined: "Join a room first.",
  already_joined: "This connection already joined a room.",
  bad_session: "The resume token is wrong, expired, or belongs to another room or user.",
  unauthorized: "Authentication failed or the token expired.",
  too_many_rooms: "The server's room limit is reached.",
  // actions
  waiting_for_players: "Not enough players have joined for the game to start.",
  unknown_action: "The game has no action with that name.",
  invalid_action: "The game refused the action (see message for its reason).",
  bad_payload: "The action payload does not have the shape the game expects.",
  not_your_turn: "It is another player's turn.",
  not_a_player: "Spectators cannot act.",
  game_over: "The game is over.",
  out_of_order: "Client sequence numbers must increase.",
  rate_limited: "Too many actions; slow down.",
  // connection
  unreachable: "The client could not reach the server (it never answered the WebSocket).",
  join_timeout: "No join arrived in time.",
  heartbeat_timeout: "The peer stopped answering pings.",
  slow_consumer: "The client stopped reading; its seat waits for a resume.",
  session_replaced: "The seat was resumed from another connection.",
  room_closed: "The room was disposed.",
  server_restart: "The server is restarting; reconnect and resume.",
  policy_violation: "Sustained abuse of limits.",
  internal: "Unexpected server error.",
} as const;

/** An error code: a key of {@linkcode ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * WebSocket close codes the server uses, by the error that caused the close.
 * 1000 is also used for a normal `leave`.
 */
export const CLOSE_CODES = {
  normal: 1000,
  protocol_error: 1002,
  unsupported_data: 1003,
  policy_violation: 1008,
  message_too_big: 1009,
  internal_error: 1011,
  service_restart: 1012,
  join_failed: 4000,
  join_timeout: 4001,
  heartbeat_timeout: 4002,
  slow_consumer: 4003,
  session_replaced: 4004,
  room_closed: 4005,
  unauthorized: 4006,
} as const;

/** One of {@linkcode CLOSE_CODES}' values. */
export type CloseCode = typeof CLOSE_CODES[keyof typeof CLOSE_CODES];

/** The protocol version this code speaks (also the `arbiter.v1` WebSocket subprotocol). */
export const PROTOCOL_VERSION = 1;

/** The `Sec-WebSocket-Protocol` value of this protocol version. */
export const SUBPROTOCOL = "arbiter.v1";

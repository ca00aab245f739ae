/**
 * Arbiter's client library, for browsers and Deno (no Deno-only API): join rooms, keep a typed
 * mirror of the state, send actions that resolve when applied, and resume after drops.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * import type { ticTacToe } from "../games/mod.ts";
 * const client = connect("ws://localhost:8000/ws", { name: "ann" });
 * const room = await client.joinOrCreate<typeof ticTacToe>("tic_tac_toe");
 * room.onState((state) => render(state));
 * room.onGameOver((outcome) => console.log(outcome));
 * await room.send("place", { cell: 4 });
 * ```
 *
 * @module
 */
export {
  ArbiterClient,
  connect,
  type CreateOptions,
  type GameNameOf,
  type GameOptionsOf,
  type Room,
  type RoomList,
  type SpectatorRoom,
} from "./client.ts";
export {
  type ClientOptions,
  type ConnectionStatus,
  type JoinTarget,
  RoomConnection,
  type WebSocketConstructor,
} from "./room.ts";
export { backoffDelay, type BackoffOptions } from "./backoff.ts";
export {
  ArbiterError,
  type ErrorCode,
  type EventMessage,
  type Outcome,
  type PlayerInfo,
  ProtocolError,
  type RoomListQuery,
  type RoomStatus,
  type RoomSummary,
  type Value,
} from "../protocol/mod.ts";

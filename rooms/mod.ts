/**
 * Arbiter's rooms: define a game, and run it in rooms that apply actions one at a time,
 * broadcast deltas worked out by diffing, keep seats through dropped connections, and hide
 * whatever each player may not see.
 *
 * @example
 * ```ts
 * import { defineGame, ManualClock, RoomManager, t } from "./mod.ts";
 * const guess = defineGame({
 *   name: "guess",
 *   players: { min: 1, max: 4 },
 *   setup: (ctx) => ({ secret: ctx.random.int(10), found: null as string | null }),
 *   actions: {
 *     guess: {
 *       payload: t.object({ n: t.int({ min: 0, max: 9 }) }),
 *       apply(state, { n }, ctx) {
 *         if (n === state.secret) state.found = ctx.player;
 *       },
 *     },
 *   },
 *   outcome: (state) => state.found ? { winners: [state.found] } : undefined,
 *   view: (state) => ({ found: state.found }), // the secret never leaves the server
 * });
 * const manager = new RoomManager({ games: [guess], clock: new ManualClock() });
 * const seat = await manager.join({ mode: "join_or_create", game: "guess" }, {
 *   send: (_frame) => {},
 *   close: () => {},
 * });
 * seat.act(1, "guess", { n: 3 });
 * manager.dispose();
 * ```
 *
 * @module
 */
export {
  type ActionContext,
  type ActionDefinition,
  type ActionReadContext,
  type ActionsOf,
  type AnyGame,
  type BroadcastMode,
  defineGame,
  type Durability,
  type GameConfig,
  type GameContext,
  type GameDefinition,
  type GameOptions,
  type NameOf,
  type OptionsOf,
  type PlayerHook,
  type ReadContext,
  type SetupContext,
  type StateOf,
  type ViewOf,
} from "./game.ts";
export {
  type Infer,
  type InferShape,
  type LengthBounds,
  type NumberBounds,
  type OptionalSchema,
  type ParseResult,
  type Schema,
  type Shape,
  t,
} from "./schema.ts";
export { type Clock, ManualClock, MAX_TIMER_MS, systemClock, type TimerId } from "./clock.ts";
export { Random, type RandomState } from "./rng.ts";
export { clone, diff, Mirror } from "./diff.ts";
export type { Member, Seat } from "./member.ts";
export type { HeldInputHandler } from "./mailbox.ts";
export {
  checkOptions,
  type DisposeReason,
  type Journal,
  type JournalEntry,
  Room,
  type RoomChange,
  type RoomInit,
  type RoomJoin,
  type RoomSettings,
  type RoomStatus,
  type RoomSummary,
} from "./room.ts";
export {
  checkJoinFields,
  type JoinRequest,
  type ListOptions,
  RoomManager,
  type RoomManagerOptions,
} from "./manager.ts";
export { type RoomSnapshot, type SeatSnapshot, SNAPSHOT_VERSION } from "./snapshot.ts";
export { newRoomId, newSessionToken } from "./token.ts";
/** What `outcome` returns, and what game code keeping an outcome in its state stores. */
export type { Outcome, PlayerInfo } from "../protocol/types.ts";
export { KeyedSerializer } from "./keyed_serializer.ts";

/**
 * The example games: each is a complete, tested game definition and a template for your own.
 *
 * - {@linkcode ticTacToe}: turn-based, two players, no late joins.
 * - {@linkcode connectFour}: turn-based with a turn clock (forfeit on timeout).
 * - {@linkcode arena}: realtime, 2-8 players, 20 Hz ticks; the benchmark workload.
 * - {@linkcode secretCards}: hidden information through `view`.
 *
 * @example
 * ```ts
 * import { RoomManager } from "../rooms/mod.ts";
 * import { exampleGames } from "./mod.ts";
 * const manager = new RoomManager({ games: exampleGames });
 * console.log([...manager.games.keys()]);
 * manager.dispose();
 * ```
 *
 * @module
 */
import { arena } from "./arena.ts";
import { connectFour } from "./connect_four.ts";
import { secretCards } from "./secret_cards.ts";
import { ticTacToe } from "./tic_tac_toe.ts";

export {
  arena,
  ARENA_COINS,
  ARENA_PICKUP_RADIUS,
  ARENA_SIZE,
  ARENA_STEP,
  ARENA_WIN_SCORE,
  type ArenaPlayer,
  type ArenaState,
} from "./arena.ts";
export {
  COLUMNS,
  connectFour,
  type ConnectFourReason,
  type ConnectFourState,
  DEFAULT_TURN_MS,
  fourAt,
  ROWS,
} from "./connect_four.ts";
export {
  DEFAULT_HAND_SIZE,
  fullDeck,
  rankOf,
  secretCards,
  type SecretCardsState,
  type SecretCardsView,
  type SecretRound,
} from "./secret_cards.ts";
export { TIC_TAC_TOE_LINES, ticTacToe, type TicTacToeState, winningLine } from "./tic_tac_toe.ts";

/**
 * Every example game, for `new RoomManager({ games: exampleGames })`.
 *
 * @example
 * ```ts
 * import { exampleGames } from "./mod.ts";
 * console.log(exampleGames.map((g) => g.name));
 * // ["tic_tac_toe", "connect_four", "arena", "secret_cards"]
 * ```
 */
export const exampleGames = [ticTacToe, connectFour, arena, secretCards] as const;

/**
 * Tic-tac-toe: two players take turns marking a 3×3 board; three in a row wins, a full board
 * is a draw. Seat 0 (`p1`) moves first. No late joins: once a mark is placed the two seats are
 * fixed, and a player who leaves (or whose seat expires) forfeits.
 *
 * State: `board` holds the player id that marked each cell (row by row, 0-8) or null;
 * `next` is the player to move; `winner`, `line` (the winning cells) and `forfeit` (who gave
 * up) are set when the game ends.
 *
 * @module
 */
import { defineGame, t } from "../rooms/mod.ts";

/** The eight ways to get three in a row: rows, columns, diagonals. */
export const TIC_TAC_TOE_LINES: readonly (readonly [number, number, number])[] = [
  [0, 1, 2],
  [3, 4, 5],
  [6, 7, 8],
  [0, 3, 6],
  [1, 4, 7],
  [2, 5, 8],
  [0, 4, 8],
  [2, 4, 6],
];

/** The state of a tic-tac-toe game. */
export interface TicTacToeState {
  board: (string | null)[];
  next: string;
  winner: string | null;
  line: number[] | null;
  forfeit: string | null;
}

/**
 * The line a board has three of the same player on, or null.
 *
 * @example
 * ```ts
 * import { winningLine } from "./tic_tac_toe.ts";
 * console.log(winningLine(["p1", "p1", "p1", null, null, null, null, null, null])); // [0, 1, 2]
 * ```
 */
export function winningLine(board: readonly (string | null)[]): number[] | null {
  for (const [a, b, c] of TIC_TAC_TOE_LINES) {
    if (board[a] !== null && board[a] === board[b] && board[a] === board[c]) return [a, b, c];
  }
  return null;
}

const other = (player: string) => (player === "p1" ? "p2" : "p1");

function forfeit(state: TicTacToeState, player: string): void {
  // Before the first mark nobody has lost anything: the seat is simply free again.
  if (state.winner || state.board.every((cell) => cell === null)) return;
  state.winner = other(player);
  state.forfeit = player;
}

/**
 * The tic-tac-toe game definition.
 *
 * @example
 * ```ts
 * import { ManualClock, Room } from "../rooms/mod.ts";
 * import { ticTacToe } from "./tic_tac_toe.ts";
 * const room = new Room({ id: "t", game: ticTacToe, clock: new ManualClock() });
 * const quiet = { send: () => {}, close: () => {} };
 * const x = await room.join({ name: "x" }, quiet);
 * await room.join({ name: "o" }, quiet);
 * x.act(1, "place", { cell: 4 });
 * room.dispose();
 * ```
 */
export const ticTacToe = defineGame({
  name: "tic_tac_toe",
  players: { min: 2, max: 2 },
  lateJoin: false,
  setup: (): TicTacToeState => ({
    board: Array<string | null>(9).fill(null),
    next: "p1",
    winner: null,
    line: null,
    forfeit: null,
  }),
  actions: {
    place: {
      payload: t.object({ cell: t.int({ min: 0, max: 8 }) }),
      validate: (state, { cell }) =>
        state.board[cell] !== null ? `cell ${cell} is already marked` : undefined,
      apply(state, { cell }, ctx) {
        const player = ctx.player;
        state.board[cell] = player;
        const line = winningLine(state.board);
        if (line) {
          state.winner = player;
          state.line = line;
        } else {
          state.next = other(player);
        }
      },
    },
  },
  turn: (state) => state.next,
  outcome(state) {
    if (state.winner) {
      return {
        winners: [state.winner],
        reason: state.forfeit ? `${state.forfeit} forfeited` : "three in a row",
      };
    }
    if (state.board.every((cell) => cell !== null)) return { draw: true, reason: "board full" };
    return undefined;
  },
  onLeave: forfeit,
  onSeatExpired: forfeit,
});

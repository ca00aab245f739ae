/**
 * Connect four: two players drop discs into a 7-column, 6-row grid; four in a row
 * (horizontal, vertical or diagonal) wins, a full grid is a draw. Each turn has a clock
 * (`options.turnMs`, default 30 s): running out of time forfeits, and so does leaving or
 * letting the seat expire after the first move. Either player may `resign` at any time, also
 * while the other is to move (an `anyTurn` action).
 *
 * State: `board[row][column]` holds the player id of each disc or null, row 0 at the top;
 * `next` is the player to move; `moves` counts discs; `winner`, `line` (the winning
 * `[row, column]` cells) and `reason` are set when the game ends.
 *
 * @module
 */
import { defineGame, t } from "../rooms/mod.ts";

/** Rows of the grid. */
export const ROWS = 6;
/** Columns of the grid. */
export const COLUMNS = 7;
/** Default time per turn, ms. */
export const DEFAULT_TURN_MS = 30_000;

/** Why a connect four game ended with a winner. */
export type ConnectFourReason = "four in a row" | "timeout" | "forfeit" | "resigned";

/** The state of a connect four game. */
export interface ConnectFourState {
  board: (string | null)[][];
  next: string;
  moves: number;
  winner: string | null;
  line: [number, number][] | null;
  reason: ConnectFourReason | null;
}

const DIRECTIONS: readonly [number, number][] = [[0, 1], [1, 0], [1, 1], [1, -1]];

/**
 * The four-or-more cells through (`row`, `column`) held by the same player, or null.
 *
 * @example
 * ```ts
 * import { fourAt } from "./connect_four.ts";
 * const board = Array.from({ length: 6 }, () => Array<string | null>(7).fill(null));
 * for (let c = 0; c < 4; c++) board[5][c] = "p1";
 * console.log(fourAt(board, 5, 3)); // [[5, 0], [5, 1], [5, 2], [5, 3]]
 * ```
 */
export function fourAt(
  board: readonly (readonly (string | null)[])[],
  row: number,
  column: number,
): [number, number][] | null {
  const player = board[row][column];
  if (player === null) return null;
  for (const [dr, dc] of DIRECTIONS) {
    const cells: [number, number][] = [[row, column]];
    for (const sign of [-1, 1]) {
      let r = row + sign * dr;
      let c = column + sign * dc;
      while (r >= 0 && r < ROWS && c >= 0 && c < COLUMNS && board[r][c] === player) {
        if (sign < 0) cells.unshift([r, c]);
        else cells.push([r, c]);
        r += sign * dr;
        c += sign * dc;
      }
    }
    if (cells.length >= 4) return cells;
  }
  return null;
}

const other = (player: string) => (player === "p1" ? "p2" : "p1");

function forfeit(state: ConnectFourState, player: string): void {
  if (state.winner || state.moves === 0) return;
  state.winner = other(player);
  state.reason = "forfeit";
}

/**
 * The connect four game definition.
 *
 * @example
 * ```ts
 * import { ManualClock, RoomManager } from "../rooms/mod.ts";
 * import { connectFour } from "./connect_four.ts";
 * const manager = new RoomManager({ games: [connectFour], clock: new ManualClock() });
 * const room = manager.create("connect_four", { turnMs: 10_000 });
 * console.log(room.options); // { turnMs: 10000 }
 * manager.dispose();
 * ```
 */
export const connectFour = defineGame({
  name: "connect_four",
  players: { min: 2, max: 2 },
  lateJoin: false,
  options: t.object({ turnMs: t.optional(t.int({ min: 100, max: 3_600_000 })) }),
  setup: (): ConnectFourState => ({
    board: Array.from({ length: ROWS }, () => Array<string | null>(COLUMNS).fill(null)),
    next: "p1",
    moves: 0,
    winner: null,
    line: null,
    reason: null,
  }),
  actions: {
    drop: {
      payload: t.object({ column: t.int({ min: 0, max: COLUMNS - 1 }) }),
      validate: (state, { column }) =>
        state.board[0][column] !== null ? `column ${column} is full` : undefined,
      apply(state, { column }, ctx) {
        const player = ctx.player;
        let row = ROWS - 1;
        while (state.board[row][column] !== null) row--;
        state.board[row][column] = player;
        state.moves++;
        const line = fourAt(state.board, row, column);
        if (line) {
          state.winner = player;
          state.line = line;
          state.reason = "four in a row";
        } else {
          state.next = other(player);
        }
      },
    },
    resign: {
      payload: t.literal(null),
      anyTurn: true,
      apply(state, _payload, ctx) {
        state.winner = other(ctx.player);
        state.reason = "resigned";
      },
    },
  },
  turn: (state) => state.next,
  turnClock: {
    ms: (options) => options.turnMs ?? DEFAULT_TURN_MS,
    onTimeout(state) {
      state.winner = other(state.next);
      state.reason = "timeout";
    },
  },
  outcome(state) {
    if (state.winner) return { winners: [state.winner], reason: state.reason ?? undefined };
    if (state.moves === ROWS * COLUMNS) return { draw: true, reason: "board full" };
    return undefined;
  },
  onLeave: forfeit,
  onSeatExpired: forfeit,
});

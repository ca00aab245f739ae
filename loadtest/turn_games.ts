/**
 * What the turn-based bots know about the example games: the action to send, the legal moves
 * in a state, whose turn it is, and whether a `game_over` outcome agrees with the final board.
 * The same rules are repeated, in plain JavaScript, in `k6/lib.js`.
 *
 * @module
 */
import type { Outcome, Value } from "../protocol/mod.ts";

/** A turn-based game as the bots play it. */
export interface TurnGame {
  /** Registered game name. */
  name: string;
  /** The action every move uses. */
  action: string;
  /** True when `player` is to move in `state` (never once the game is decided). */
  isTurn(state: Value, player: string): boolean;
  /** Every legal payload for the player to move. */
  legalMoves(state: Value): Value[];
  /** Why `outcome` does not follow from the final `state`, or null when it does. */
  checkOutcome(state: Value, outcome: Outcome): string | null;
}

type Cell = string | null;

function field<T>(state: Value, key: string): T {
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new TypeError("state is not an object");
  }
  return (state as Record<string, unknown>)[key] as T;
}

/** The lines of `length` cells in a `rows × cols` grid stored row-major. */
function gridLines(rows: number, cols: number, length: number): number[][] {
  const lines: number[][] = [];
  const directions = [[0, 1], [1, 0], [1, 1], [1, -1]];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      for (const [dr, dc] of directions) {
        const endR = r + dr * (length - 1);
        const endC = c + dc * (length - 1);
        if (endR < 0 || endR >= rows || endC < 0 || endC >= cols) continue;
        lines.push(Array.from({ length }, (_, i) => (r + dr * i) * cols + (c + dc * i)));
      }
    }
  }
  return lines;
}

/** Marks that own a complete line. */
function lineOwners(cells: readonly Cell[], lines: readonly number[][]): Set<string> {
  const owners = new Set<string>();
  for (const line of lines) {
    const mark = cells[line[0]];
    if (mark && line.every((i) => cells[i] === mark)) owners.add(mark);
  }
  return owners;
}

/** Compares an outcome with the board: a winner needs a line, a draw needs a full board. */
function checkGrid(
  cells: readonly Cell[],
  lines: readonly number[][],
  outcome: Outcome,
): string | null {
  const owners = lineOwners(cells, lines);
  if (outcome.draw) {
    if (owners.size > 0) return `draw declared but ${[...owners].join(", ")} has a line`;
    if (cells.some((cell) => cell === null)) return "draw declared on a board that is not full";
    return null;
  }
  const winners = outcome.winners ?? [];
  if (winners.length !== 1) return `expected one winner, got ${JSON.stringify(winners)}`;
  if (!owners.has(winners[0])) return `winner ${winners[0]} has no line on the final board`;
  if (owners.size > 1) return `several players have a line: ${[...owners].join(", ")}`;
  return null;
}

/** True once the state names a winner (the games keep `next` on the winner). */
function decided(state: Value): boolean {
  return field<string | null>(state, "winner") != null;
}

const TIC_TAC_TOE_LINES = gridLines(3, 3, 3);

/**
 * Tic-tac-toe: `board` holds 9 cells (player id or null), `next` the player to move,
 * action `place {cell}`.
 *
 * @example
 * ```ts
 * import { ticTacToeRules } from "./turn_games.ts";
 * const state = { board: ["p1", "p1", "p1", "p2", "p2", null, null, null, null], next: "p1" };
 * console.log(ticTacToeRules.checkOutcome(state, { winners: ["p1"] })); // null
 * ```
 */
export const ticTacToeRules: TurnGame = {
  name: "tic_tac_toe",
  action: "place",
  isTurn: (state, player) => field<string>(state, "next") === player && !decided(state),
  legalMoves: (state) => {
    const board = field<Cell[]>(state, "board");
    const moves: Value[] = [];
    board.forEach((cell, i) => cell === null && moves.push({ cell: i }));
    return moves;
  },
  checkOutcome: (state, outcome) =>
    checkGrid(field<Cell[]>(state, "board"), TIC_TAC_TOE_LINES, outcome),
};

const CONNECT_FOUR_ROWS = 6;
const CONNECT_FOUR_COLS = 7;
const CONNECT_FOUR_LINES = gridLines(CONNECT_FOUR_ROWS, CONNECT_FOUR_COLS, 4);

/** Flattens the connect-four board to row-major cells, whatever nesting the game uses. */
function connectFourCells(state: Value): Cell[] {
  const board = field<Cell[] | Cell[][]>(state, "board");
  if (board.length === CONNECT_FOUR_ROWS * CONNECT_FOUR_COLS) return board as Cell[];
  return (board as Cell[][]).flat();
}

/**
 * Connect four: `board` of 6 rows × 7 columns (row 0 at the top), `next` the player to move,
 * action `drop {column}`.
 *
 * @example
 * ```ts
 * import { connectFourRules } from "./turn_games.ts";
 * const board = Array.from({ length: 6 }, () => Array(7).fill(null));
 * console.log(connectFourRules.legalMoves({ board, next: "p1" }).length); // 7
 * ```
 */
export const connectFourRules: TurnGame = {
  name: "connect_four",
  action: "drop",
  isTurn: (state, player) => field<string>(state, "next") === player && !decided(state),
  legalMoves: (state) => {
    const cells = connectFourCells(state);
    const moves: Value[] = [];
    for (let column = 0; column < CONNECT_FOUR_COLS; column++) {
      // A column is open while its top cell is empty.
      if (cells[column] === null) moves.push({ column });
    }
    return moves;
  },
  checkOutcome: (state, outcome) => checkGrid(connectFourCells(state), CONNECT_FOUR_LINES, outcome),
};

/** The turn-based games the bots can play, by name. */
export const TURN_GAMES: Readonly<Record<string, TurnGame>> = {
  tic_tac_toe: ticTacToeRules,
  connect_four: connectFourRules,
};

import { deepEqual, equal, ok } from "node:assert/strict";
import { type ActionContext, ManualClock, Random, Room } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import {
  COLUMNS,
  connectFour,
  type ConnectFourState,
  fourAt,
  ROWS,
} from "../games/connect_four.ts";

async function start(options: { turnMs?: number } = {}) {
  const clock = new ManualClock();
  const room = new Room({ id: "c", game: connectFour, clock, options });
  const members = [new TestMember(), new TestMember()];
  const seats = [await room.join({}, members[0]), await room.join({}, members[1])];
  const seqs = [1, 1];
  const drop = (column: number) => {
    const who = (room.state as ConnectFourState).next === "p1" ? 0 : 1;
    seats[who].act(seqs[who]++, "drop", { column });
  };
  return { clock, room, members, seats, drop };
}

async function play(columns: number[]) {
  const { room, members, drop } = await start();
  const outcomes: unknown[] = [];
  for (const column of columns) {
    drop(column);
    outcomes.push(room.outcome);
  }
  for (const m of members) {
    deepEqual(m.problems, []);
    deepEqual(m.rejects, []);
    deepEqual(m.state, room.state);
  }
  const state = room.state as ConnectFourState;
  room.dispose();
  return { outcomes, state };
}

const WINS: [string, number[], string, [number, number][]][] = [
  ["horizontal", [0, 0, 1, 1, 2, 2, 3], "p1", [[5, 0], [5, 1], [5, 2], [5, 3]]],
  ["vertical", [0, 1, 0, 1, 0, 1, 0], "p1", [[2, 0], [3, 0], [4, 0], [5, 0]]],
  ["diagonal rising", [0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3], "p1", [[2, 3], [3, 2], [4, 1], [5, 0]]],
  ["diagonal falling", [6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3], "p1", [[2, 3], [3, 4], [4, 5], [5, 6]]],
  ["horizontal for p2", [6, 0, 6, 1, 5, 2, 5, 3], "p2", [[5, 0], [5, 1], [5, 2], [5, 3]]],
];

for (const [name, columns, winner, line] of WINS) {
  Deno.test(`four in a row: ${name}`, async () => {
    const { outcomes, state } = await play(columns);
    deepEqual(outcomes.slice(0, -1), Array(columns.length - 1).fill(null));
    deepEqual(outcomes.at(-1), { winners: [winner], reason: "four in a row" });
    deepEqual(state.line, line);
  });
}

/** A legal move order reaching `target` (bottom row last in each column), by search. */
function orderFor(target: string[][]): number[] | null {
  const heights = Array(COLUMNS).fill(0);
  const moves: number[] = [];
  const search = (turn: number): boolean => {
    if (moves.length === ROWS * COLUMNS) return true;
    const player = turn % 2 === 0 ? "p1" : "p2";
    for (let c = 0; c < COLUMNS; c++) {
      if (heights[c] === ROWS || target[ROWS - 1 - heights[c]][c] !== player) continue;
      heights[c]++;
      moves.push(c);
      if (search(turn + 1)) return true;
      moves.pop();
      heights[c]--;
    }
    return false;
  };
  return search(0) ? moves : null;
}

Deno.test("a full board without four in a row is a draw", async () => {
  const pattern = ["p1", "p1", "p2", "p2", "p1", "p1", "p2"];
  const flip = (p: string) => (p === "p1" ? "p2" : "p1");
  const target = Array.from(
    { length: ROWS },
    (_, r) => pattern.map((p) => ((ROWS - 1 - r) % 2 === 0 ? p : flip(p))),
  );
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLUMNS; c++) equal(fourAt(target, r, c), null);
  }
  const order = orderFor(target);
  ok(order);
  const { outcomes, state } = await play(order);
  deepEqual(outcomes.slice(0, -1), Array(41).fill(null));
  deepEqual(outcomes.at(-1), { draw: true, reason: "board full" });
  deepEqual(state.board, target);
});

Deno.test("discs fall to the lowest free row; a full column is refused", async () => {
  const { room, members, drop } = await start();
  for (let i = 0; i < 6; i++) drop(2);
  const board = (room.state as ConnectFourState).board;
  deepEqual(board.map((row) => row[2]), ["p2", "p1", "p2", "p1", "p2", "p1"]);
  drop(2);
  deepEqual(members[0].rejects.map((r) => [r.code, r.message]), [[
    "invalid_action",
    "column 2 is full",
  ]]);
  drop(7);
  equal(members[0].rejects.at(-1)!.code, "bad_payload");
  room.dispose();
});

Deno.test("the turn clock forfeits a player who runs out of time (default 30 s)", async () => {
  const { room, clock, members, drop } = await start();
  drop(0);
  clock.advance(29_999);
  equal(room.outcome, null);
  clock.advance(1);
  deepEqual(room.outcome, { winners: ["p1"], reason: "timeout" });
  deepEqual(members[1].outcome, room.outcome);
  equal(clock.pending, 1, "only the retention timer is left");
  room.dispose();
});

Deno.test("the turn clock follows options.turnMs and does not run while waiting", async () => {
  const clock = new ManualClock();
  const room = new Room({ id: "c", game: connectFour, clock, options: { turnMs: 2_000 } });
  await room.join({}, new TestMember());
  clock.advance(10_000);
  equal(room.outcome, null, "one player: nobody's clock runs");
  await room.join({}, new TestMember());
  clock.advance(2_000);
  deepEqual(room.outcome, { winners: ["p2"], reason: "timeout" });
  room.dispose();
});

Deno.test("leaving after the first disc forfeits", async () => {
  const { room, seats, drop } = await start();
  drop(3);
  seats[0].leave();
  deepEqual(room.outcome, { winners: ["p2"], reason: "forfeit" });
  room.dispose();
});

type Cell = [number, number];

/** Every 4-cell window of the grid, by direction: 24 horizontal, 21 vertical, 12 + 12 diagonal. */
function windows(): { direction: string; cells: Cell[] }[] {
  const directions: [string, number, number][] = [
    ["horizontal", 0, 1],
    ["vertical", 1, 0],
    ["diagonal down-right", 1, 1],
    ["diagonal down-left", 1, -1],
  ];
  const found: { direction: string; cells: Cell[] }[] = [];
  for (const [direction, dr, dc] of directions) {
    for (let r = 0; r < ROWS; r++) {
      for (let c = 0; c < COLUMNS; c++) {
        const cells = [0, 1, 2, 3].map((i): Cell => [r + i * dr, c + i * dc]);
        if (cells.every(([row, col]) => row >= 0 && row < ROWS && col >= 0 && col < COLUMNS)) {
          found.push({ direction, cells });
        }
      }
    }
  }
  return found;
}

function contextFor(player: string): ActionContext<{ turnMs?: number }> {
  return {
    now: 1_700_000_000_000,
    player,
    players: [
      { id: "p1", name: "p1", seat: 0, presence: "connected" },
      { id: "p2", name: "p2", seat: 1, presence: "connected" },
    ],
    random: new Random("c4"),
    options: {},
    emit() {},
  };
}

Deno.test("every one of the 69 four-cell windows wins, for either player, whichever disc is last", () => {
  const all = windows();
  deepEqual(
    Object.entries(Object.groupBy(all, (w) => w.direction)).map(([d, ws]) => [d, ws!.length]),
    [
      ["horizontal", 24],
      ["vertical", 21],
      ["diagonal down-right", 12],
      ["diagonal down-left", 12],
    ],
  );
  equal(all.length, 69);
  const drop = connectFour.actions.drop;
  const failures: string[] = [];
  let cases = 0;
  for (const { direction, cells } of all) {
    for (const player of ["p1", "p2"]) {
      const filler = player === "p1" ? "p2" : "p1";
      // The last disc must land on its cell: in a vertical window only the top one can.
      const lasts = direction === "vertical"
        ? [cells.reduce((top, cell) => (cell[0] < top[0] ? cell : top))]
        : cells;
      for (const last of lasts) {
        cases++;
        const what = `${direction} ${JSON.stringify(cells)} for ${player}, last ${last}`;
        // The player's discs on the window, the other player's below them to hold them up.
        const board = Array.from({ length: ROWS }, () => Array<string | null>(COLUMNS).fill(null));
        for (const [r, c] of cells) board[r][c] = player;
        for (const [r, c] of cells) {
          for (let below = r + 1; below < ROWS; below++) board[below][c] ??= filler;
        }
        board[last[0]][last[1]] = null;
        const state: ConnectFourState = {
          board,
          next: player,
          moves: board.flat().filter((cell) => cell !== null).length,
          winner: null,
          line: null,
          reason: null,
        };
        const ctx = contextFor(player);
        if (connectFour.outcome!(state, ctx) !== undefined) {
          failures.push(`${what}: over before the last disc`);
          continue;
        }
        if (drop.validate!(state, { column: last[1] }, ctx) !== undefined) {
          failures.push(`${what}: the drop was refused`);
          continue;
        }
        const next = drop.apply(state, { column: last[1] }, ctx) ?? state;
        if (next.board[last[0]][last[1]] !== player) {
          failures.push(`${what}: the disc did not land on ${last}`);
          continue;
        }
        const outcome = connectFour.outcome!(next, ctx);
        if (
          JSON.stringify(outcome) !== JSON.stringify({ winners: [player], reason: "four in a row" })
        ) {
          failures.push(`${what}: outcome ${JSON.stringify(outcome)}`);
          continue;
        }
        const expected = [...cells].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        if (JSON.stringify(next.line) !== JSON.stringify(expected)) {
          failures.push(`${what}: line ${JSON.stringify(next.line)}`);
        }
      }
    }
  }
  equal(cases, 2 * (24 * 4 + 21 + 24 * 4));
  deepEqual(failures, []);
});

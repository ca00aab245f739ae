import { deepEqual, equal } from "node:assert/strict";
import { ManualClock, Room } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import {
  TIC_TAC_TOE_LINES,
  ticTacToe,
  type TicTacToeState,
  winningLine,
} from "../games/tic_tac_toe.ts";

async function play(cells: number[]) {
  const clock = new ManualClock();
  const room = new Room({ id: "t", game: ticTacToe, clock });
  const members = [new TestMember(), new TestMember()];
  const seats = [await room.join({}, members[0]), await room.join({}, members[1])];
  const outcomes: unknown[] = [];
  cells.forEach((cell, i) => {
    seats[i % 2].act(Math.floor(i / 2) + 1, "place", { cell });
    outcomes.push(room.outcome);
  });
  const state = room.state as TicTacToeState;
  for (const m of members) {
    deepEqual(m.problems, []);
    deepEqual(m.rejects, []);
    deepEqual(m.state, state);
  }
  room.dispose();
  return { state, outcomes, outcome: outcomes.at(-1) };
}

/** Three cells off `line` that hold no line themselves. */
function filler(line: readonly number[]): number[] {
  const free = [0, 1, 2, 3, 4, 5, 6, 7, 8].filter((c) => !line.includes(c));
  for (let a = 0; a < free.length; a++) {
    for (let b = a + 1; b < free.length; b++) {
      for (let c = b + 1; c < free.length; c++) {
        const board = Array<string | null>(9).fill(null);
        for (const cell of [free[a], free[b], free[c]]) board[cell] = "x";
        if (!winningLine(board)) return [free[a], free[b], free[c]];
      }
    }
  }
  throw new Error("no filler");
}

for (const line of TIC_TAC_TOE_LINES) {
  Deno.test(`p1 wins with line ${line}`, async () => {
    const other = filler(line);
    const { state, outcomes, outcome } = await play([
      line[0],
      other[0],
      line[1],
      other[1],
      line[2],
    ]);
    deepEqual(outcomes.slice(0, -1), [null, null, null, null]);
    deepEqual(outcome, { winners: ["p1"], reason: "three in a row" });
    deepEqual(state.line, [...line]);
    equal(state.winner, "p1");
  });

  Deno.test(`p2 wins with line ${line}`, async () => {
    const other = filler(line);
    const { outcome, state } = await play([
      other[0],
      line[0],
      other[1],
      line[1],
      other[2],
      line[2],
    ]);
    deepEqual(outcome, { winners: ["p2"], reason: "three in a row" });
    deepEqual(state.line, [...line]);
  });
}

Deno.test("a full board without a line is a draw", async () => {
  const { outcome, outcomes, state } = await play([0, 1, 2, 4, 3, 5, 7, 6, 8]);
  deepEqual(outcomes.slice(0, -1), Array(8).fill(null));
  deepEqual(outcome, { draw: true, reason: "board full" });
  equal(state.winner, null);
});

Deno.test("players alternate, p1 first, and marked cells are refused", async () => {
  const room = new Room({ id: "t", game: ticTacToe, clock: new ManualClock() });
  const members = [new TestMember(), new TestMember()];
  const seats = [await room.join({}, members[0]), await room.join({}, members[1])];
  seats[1].act(1, "place", { cell: 0 });
  seats[0].act(1, "place", { cell: 0 });
  seats[0].act(2, "place", { cell: 1 });
  seats[1].act(2, "place", { cell: 0 });
  seats[1].act(3, "place", { cell: 9 });
  deepEqual(members[1].rejects.map((r) => r.code), [
    "not_your_turn",
    "invalid_action",
    "bad_payload",
  ]);
  deepEqual(members[0].rejects.map((r) => r.code), ["not_your_turn"]);
  equal((room.state as TicTacToeState).next, "p2");
  room.dispose();
});

Deno.test("leaving after the first mark forfeits; leaving before frees the seat", async () => {
  const room = new Room({ id: "t", game: ticTacToe, clock: new ManualClock() });
  const seats = [await room.join({}, new TestMember()), await room.join({}, new TestMember())];
  seats[1].leave();
  equal(room.outcome, null);
  const again = await room.join({}, new TestMember());
  seats[0].act(1, "place", { cell: 4 });
  again.leave();
  deepEqual(room.outcome, { winners: ["p1"], reason: "p2 forfeited" });
  room.dispose();
});

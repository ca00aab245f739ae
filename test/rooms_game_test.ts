import { deepEqual, equal, throws } from "node:assert/strict";
import type { Value } from "../protocol/mod.ts";
import {
  type ActionsOf,
  checkOptions,
  defineGame,
  type OptionsOf,
  type StateOf,
  t,
  type ViewOf,
} from "../rooms/mod.ts";
import { arena, connectFour, secretCards, ticTacToe } from "../games/mod.ts";

const minimal = { name: "g", players: { min: 1, max: 2 }, setup: () => ({}), actions: {} };

Deno.test("defineGame fills in the defaults", () => {
  const game = defineGame({
    ...minimal,
    actions: { b: { apply() {} }, a: { apply() {} } },
  });
  equal(game.spectators, true);
  equal(game.lateJoin, true);
  equal(game.broadcast, "immediate");
  equal(game.durability, undefined);
  deepEqual(game.actionNames, ["b", "a"]);
  equal(arena.broadcast, "tick", "tick games broadcast per tick unless told otherwise");
  equal(ticTacToe.lateJoin, false);
  equal(defineGame({ ...minimal, durability: "log" }).durability, "log");
});

Deno.test("defineGame refuses definitions that cannot work, saying why", () => {
  throws(() => defineGame({ ...minimal, name: "Bad Name" }), /name must be/);
  throws(() => defineGame({ ...minimal, players: { min: 3, max: 2 } }), /1 <= min <= max/);
  throws(() => defineGame({ ...minimal, players: { min: 0, max: 2 } }), /1 <= min <= max/);
  throws(() => defineGame({ ...minimal, actions: { go: {} as never } }), /"go" needs an apply/);
  throws(
    () => defineGame({ ...minimal, actions: { "@timeout": { apply() {} } } }),
    /cannot start with "@"/,
  );
  throws(() => defineGame({ ...minimal, tick: { hz: 0, update() {} } }), /tick.hz/);
  throws(() => defineGame({ ...minimal, broadcast: "tick" }), /needs a tick/);
  throws(
    () => defineGame({ ...minimal, turnClock: { ms: -1, onTimeout() {} } }),
    /turnClock.ms must be a positive/,
  );
});

Deno.test("options: checked by the game's schema, or any plain object without one", () => {
  deepEqual(checkOptions(connectFour, undefined), {});
  deepEqual(checkOptions(connectFour, { turnMs: 500 }), { turnMs: 500 });
  throws(
    () => checkOptions(connectFour, { turnMs: "fast" }),
    /options.turnMs: expected an integer/,
  );
  const plain = defineGame(minimal);
  deepEqual(checkOptions(plain, { anything: [1] }), { anything: [1] });
  throws(() => checkOptions(plain, [1]), /options: expected an object/);
  throws(() => checkOptions(plain, { f: () => 1 }), /options\.f: a function is not data/);
});

Deno.test("types flow from the definition to StateOf, ViewOf, ActionsOf and OptionsOf", () => {
  const drop: ActionsOf<typeof connectFour>["drop"] = { column: 3 };
  // @ts-expect-error column must be a number
  const wrongDrop: ActionsOf<typeof connectFour>["drop"] = { column: "3" };
  const move: ActionsOf<typeof arena>["move"] = { dx: 0, dy: 1, seq: 2 };
  const hand: ViewOf<typeof secretCards>["hand"] = ["h07"];
  // @ts-expect-error the view has no hands of others
  const peek: ViewOf<typeof secretCards>["hands"] = null;
  const board: StateOf<typeof ticTacToe>["board"] = [null, "p1"];
  const options: OptionsOf<typeof connectFour> = { turnMs: 1000 };
  const viewIsState: ViewOf<typeof ticTacToe> = ticTacToe.setup({} as never);

  const free = defineGame({ ...minimal, actions: { anything: { apply() {} } } });
  const payload: ActionsOf<typeof free>["anything"] = { any: ["value"] } satisfies Value;
  const typed = defineGame({
    ...minimal,
    options: t.object({ size: t.int() }),
    setup: (ctx) => ({ size: ctx.options.size }),
    actions: {
      grow: {
        payload: t.object({ by: t.int() }),
        apply(state, { by }) {
          state.size += by;
        },
      },
    },
  });
  const size: StateOf<typeof typed>["size"] = 1;
  deepEqual(
    [drop, wrongDrop, move, hand, peek, board, options, viewIsState.next, payload, size].length,
    10,
  );
});

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
/** `defineGame` as plain JavaScript calls it: with definitions the types would refuse. */
const loose = defineGame as unknown as (config: Record<string, unknown>) => unknown;

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

Deno.test("defineGame refuses unknown fields and flags that are not booleans (plain JavaScript)", () => {
  throws(
    () => loose({ ...minimal, onjoin() {} }),
    /^TypeError: defineGame\("g"\): unknown field "onjoin"; a game's fields are name, players, .*onJoin/,
  );
  throws(() => loose({ ...minimal, lateJoin: "no" }), /lateJoin must be true or false, got "no"/);
  throws(
    () => loose({ ...minimal, spectators: 0 }),
    /spectators must be true or false, got number/,
  );
  // A game made from another carries the fields defineGame added: they are recomputed.
  const variant = defineGame({ ...ticTacToe, name: "tic_tac_toe_variant", lateJoin: true });
  deepEqual(variant.actionNames, ticTacToe.actionNames);
  equal(variant.lateJoin, true);
});

Deno.test("defineGame caps players.max at 1000: a room allocates every seat when created", () => {
  equal(defineGame({ ...minimal, players: { min: 1, max: 1000 } }).players.max, 1000);
  for (const max of [1001, 1e8, 2 ** 32]) {
    throws(
      () => defineGame({ ...minimal, players: { min: 1, max } }),
      /^TypeError: defineGame\("g"\): players must be \{ min, max \} with 1 <= min <= max <= 1000$/,
    );
  }
});

Deno.test("defineGame refuses a function field that is not a function, naming it", () => {
  const notFunction = { no: "a string" };
  for (const field of ["turn", "outcome", "view", "onJoin", "onLeave", "onDisconnect"]) {
    throws(
      () => loose({ ...minimal, [field]: notFunction }),
      new RegExp(`^TypeError: defineGame\\("g"\\): ${field} must be a function, got object$`),
    );
  }
  for (const field of ["onReconnect", "onSeatExpired"]) {
    throws(() => loose({ ...minimal, [field]: true }), new RegExp(`: ${field} must be a function`));
  }
  throws(
    () => loose({ ...minimal, actions: { go: { validate: "no", apply() {} } } }),
    /: action "go" validate must be a function, got string$/,
  );
  throws(
    () => loose({ ...minimal, tick: { hz: 10, update: 1 } }),
    /: tick.update must be a function, got number$/,
  );
  throws(() => loose({ ...minimal, tick: { hz: 10 } }), /: tick.update must be a function/);
  throws(
    () => loose({ ...minimal, turnClock: { ms: 1000, onTimeout: {} } }),
    /: turnClock.onTimeout must be a function, got object$/,
  );
  throws(() => loose({ ...minimal, turnClock: { ms: 1000 } }), /: turnClock.onTimeout must be/);
  for (const [anyTurn, got] of [["yes", '"yes"'], [1, "number"], [null, "object"]] as const) {
    throws(
      () => loose({ ...minimal, actions: { resign: { anyTurn, apply() {} } } }),
      new RegExp(`: action "resign" anyTurn must be true or false, got ${got}$`),
    );
  }
  defineGame({ ...minimal, actions: { resign: { anyTurn: true, apply() {} } } });
  // Absent is fine, whether left out or written as undefined or null.
  defineGame({ ...minimal, view: undefined, onJoin: undefined });
  loose({ ...minimal, outcome: null, actions: { go: { validate: null, apply() {} } } });
});

Deno.test("defineGame refuses a payload or options that is not a schema", () => {
  // A plain object of schemas instead of t.object(...) used to fail only at the first action.
  throws(
    () => loose({ ...minimal, actions: { place: { payload: { cell: t.int() }, apply() {} } } }),
    /^TypeError: defineGame\("g"\): action "place" payload must be a schema such as t\.object/,
  );
  throws(
    () => loose({ ...minimal, actions: { place: { payload: "int", apply() {} } } }),
    /action "place" payload must be a schema/,
  );
  throws(
    () => loose({ ...minimal, options: { size: t.int() } }),
    /^TypeError: defineGame\("g"\): options must be a schema such as t\.object/,
  );
  loose({ ...minimal, options: t.object({ size: t.int() }) });
  loose({ ...minimal, actions: { place: { payload: t.object({ cell: t.int() }), apply() {} } } });
});

Deno.test("defineGame refuses a broadcast or durability it does not know", () => {
  throws(
    () => loose({ ...minimal, durability: "Log" }),
    /^TypeError: defineGame\("g"\): durability must be "snapshot" or "log", got "Log"$/,
  );
  throws(
    () => loose({ ...minimal, broadcast: "always" }),
    /^TypeError: defineGame\("g"\): broadcast must be "immediate" or "tick", got "always"$/,
  );
  throws(
    () => loose({ ...minimal, tick: { hz: 10, update() {} }, broadcast: "Tick" }),
    /broadcast must be/,
  );
  equal(defineGame({ ...minimal, durability: "snapshot" }).durability, "snapshot");
  equal(defineGame({ ...minimal, broadcast: "immediate" }).broadcast, "immediate");
});

Deno.test("defineGame keeps a number turnClock.ms within what Deno's timers can wait", () => {
  const clock = (ms: number) => ({ ms, onTimeout() {} });
  equal(defineGame({ ...minimal, turnClock: clock(2 ** 31 - 1) }).turnClock?.ms, 2 ** 31 - 1);
  // Longer delays fire at once: a 30-day turn clock would forfeit every turn immediately.
  for (const ms of [2 ** 31, 30 * 24 * 3600_000, Infinity, NaN]) {
    throws(
      () => defineGame({ ...minimal, turnClock: clock(ms) }),
      /^TypeError: defineGame\("g"\): turnClock.ms must be a positive number of ms up to 2147483647 /,
    );
  }
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

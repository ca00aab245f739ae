/**
 * Game code with bugs: whatever a game returns or throws, its room reports it (`onError`),
 * refuses what it cannot apply with a typed `reject`, and never sends clients a frame they
 * cannot decode or a state the server does not hold.
 */
import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import {
  type AnyGame,
  defineGame,
  type JournalEntry,
  MAX_TIMER_MS,
  Room,
  type Schema,
  t,
} from "../rooms/mod.ts";
import { TestMember, testRoom } from "../rooms/testing.ts";

/** Ann alone in a room of `game`, after she sent `actions` (named, without payload). */
async function annPlays(game: AnyGame, actions: string[]) {
  const { room, reported: errors } = testRoom(game);
  const ann = new TestMember();
  const seat = await room.join({ name: "ann" }, ann);
  actions.forEach((name, i) => seat.act(i + 1, name, null));
  await room.idle();
  return { room, errors, ann, seat };
}

/** A one-player game whose single action `go` runs `apply`. */
function counter(name: string, extra: Record<string, unknown> = {}) {
  return defineGame(
    {
      name,
      players: { min: 1, max: 2 },
      setup: () => ({ n: 0 }),
      actions: { go: { apply: (state: { n: number }) => void state.n++ } },
      ...extra,
    } as Parameters<typeof defineGame>[0],
  );
}

Deno.test("an outcome is sent with only the fields the protocol knows", async () => {
  const game = counter("scored", {
    outcome: (s: { n: number }) => s.n >= 2 ? { winners: ["p1"], average: NaN } : undefined,
  });
  const { room, errors, ann } = await annPlays(game, ["go", "go"]);
  deepEqual(room.outcome, { winners: ["p1"] });
  deepEqual(ann.received("game_over").map((m) => m.outcome), [{ winners: ["p1"] }]);
  deepEqual(ann.state, { n: 2 }, "the clients saw the winning move");
  deepEqual(errors, []);
  room.dispose();
});

Deno.test("an outcome that is none of the protocol's shapes is reported, and play goes on", async () => {
  const game = counter("null_draw", {
    outcome: (s: { n: number }) => s.n >= 1 ? { winners: ["p1"], draw: null } : undefined,
  });
  const { room, errors, ann } = await annPlays(game, ["go", "go"]);
  equal(room.outcome, null);
  equal(room.status, "playing");
  deepEqual(ann.state, { n: 2 });
  match(errors[0], /null_draw\.outcome returned \{"winners":\["p1"\],"draw":null\}: expected/);
  room.dispose();
});

Deno.test("a turn function that returns nonsense is reported and means nobody's turn", async () => {
  const game = defineGame({
    name: "number_turn",
    players: { min: 2, max: 2 },
    setup: () => ({ current: 0 }),
    actions: { go: { apply: () => {} } },
    turn: ((s: { current: number }) => s.current) as unknown as () => string,
    turnClock: { ms: 1000, onTimeout: () => {} },
  });
  const { room, clock, reported: errors } = testRoom(game, { graceMs: 100, idleDisposeMs: 100 });
  const ann = new TestMember();
  const bob = new TestMember();
  const seat = await room.join({ name: "ann" }, ann);
  const bobSeat = await room.join({ name: "bob" }, bob);
  equal(bob.welcomes.length, 1, "the join that started the game went through");
  seat.act(1, "go", null);
  await room.idle();
  equal(ann.rejects[0]?.code, "not_your_turn");
  match(errors[0], /number_turn\.turn returned 0: expected a player id/);
  equal(room.snapshot().turnDeadline, null, "no turn clock runs for nobody's turn");
  // Both leave: the room is idle and goes, as any other.
  seat.leave();
  bobSeat.leave();
  clock.advance(1000);
  await room.idle();
  ok(room.disposed);
});

Deno.test("a payload check that throws, or an async validate, refuses the action as internal", async () => {
  const throwing: Schema<number> = {
    optional: false,
    description: "a cell",
    parse: (raw) => ({ ok: true, value: raw as number }),
    check: (raw): raw is number => (raw as { cell: number }).cell >= 0,
  };
  const game = defineGame({
    name: "faulty_checks",
    players: { min: 1, max: 1 },
    setup: () => ({ n: 0 }),
    actions: {
      place: { payload: throwing, apply: (s) => void s.n++ },
      // An author without types writes an async validate, which returns a promise.
      later: {
        payload: t.object({}),
        // deno-lint-ignore require-await
        validate: (async () => "never seen") as unknown as () => undefined,
        apply: (s) => void s.n++,
      },
    },
  });
  const { room, reported: errors } = testRoom(game);
  const ann = new TestMember();
  const seat = await room.join({ name: "ann" }, ann);
  seat.act(1, "place", null);
  seat.act(2, "later", {});
  seat.act(3, "place", { cell: 1 });
  await room.idle();
  deepEqual(ann.rejects.map((r) => [r.seq, r.code]), [[1, "internal"], [2, "internal"]]);
  deepEqual(room.state, { n: 1 }, "only the sound action was applied");
  equal(ann.ack, 3);
  equal(errors.length, 2);
  match(errors[1], /faulty_checks\.actions\.later\.validate returned a Promise: it must return/);
  room.dispose();
});

Deno.test("validate, turn, outcome and view can neither draw nor emit: a log replays the same", async () => {
  type Dice = { rolls: number[] };
  // Game code without types, as an author in plain JavaScript might write it.
  const sneaky = (ctx: unknown) =>
    ctx as { random: { int(n: number): number }; emit(t: string): void };
  const game = defineGame({
    name: "dice",
    players: { min: 1, max: 1 },
    setup: (): Dice => ({ rolls: [] }),
    actions: {
      roll: { apply: (s: Dice, _p: unknown, ctx) => void s.rolls.push(ctx.random.int(1_000_000)) },
      // A peek at the dice, and a hint with the refusal: neither may happen here.
      peek: { validate: (_s, _p, ctx) => void sneaky(ctx).random.int(6), apply: () => {} },
      hint: {
        validate: (_s, _p, ctx) => {
          sneaky(ctx).emit("hint");
          return "not now";
        },
        apply: () => {},
      },
    },
    // Checked after every step: a draw here happens more often live than in a replay.
    outcome: (_s: Dice, ctx) => sneaky(ctx).random.int(2) > 1 ? { draw: true } : undefined,
  });
  const journal: JournalEntry[] = [];
  const { room, reported: errors } = testRoom(game, {
    journal: { append: (entry) => void journal.push(entry) },
  });
  const ann = new TestMember();
  const seat = await room.join({ name: "ann" }, ann);
  const start = room.snapshot();
  seat.act(1, "roll", null);
  seat.act(2, "peek", null);
  seat.act(3, "hint", null);
  seat.act(4, "roll", null);
  await room.idle();
  deepEqual(ann.rejects.map((r) => [r.seq, r.code]), [[2, "internal"], [3, "internal"]]);
  const draws = /TypeError: ctx\.random is not for validate, turn, outcome and view: .* Draw in/;
  const emits = /TypeError: ctx\.emit is not for validate, turn, outcome and view/;
  // The peek's validate and each step's outcome check tried to draw, the hint's to emit.
  equal(errors.filter((e) => emits.test(e)).length, 1, errors.join("\n"));
  equal(errors.filter((e) => draws.test(e)).length, errors.length - 1, errors.join("\n"));
  ok(errors.length >= 4, errors.join("\n"));
  equal(room.status, "playing");
  deepEqual(ann.events, [], "no hint went out");
  // Replaying the log from before the actions gives the rolls the players saw.
  const replayed = Room.restore(game, start, { onError: () => {} }, journal);
  deepEqual(replayed.state, room.state);
  equal((room.state as Dice).rolls.length, 2);
  replayed.dispose();
  room.dispose();
});

Deno.test("a state or a view that is not data is reported and never reaches the clients", async () => {
  const asyncApply = counter("async_apply", {
    // deno-lint-ignore require-await
    actions: { go: { apply: async (s: { n: number }) => void s.n++ } },
  });
  const { room, errors, ann } = await annPlays(asyncApply, ["go", "go"]);
  deepEqual(room.state, { n: 2 }, "the state it changed in place stays");
  deepEqual(ann.state, { n: 2 });
  equal(errors.length, 2);
  match(errors[0], /async_apply: apply returned a Promise, which is not a state/);
  room.snapshot();
  room.dispose();

  const mapView = counter("map_view", {
    view: (s: { n: number }) => (s.n > 0 ? new Map([["n", s.n]]) : { n: s.n }),
  });
  const second = testRoom(mapView);
  const bob = new TestMember();
  const bobSeat = await second.room.join({ name: "bob" }, bob);
  bobSeat.act(1, "go", null);
  await second.room.idle();
  match(second.reported[0], /map_view\.view returned a Map for p1: return plain objects/);
  deepEqual(bob.state, { n: 0 }, "bob's mirror never showed an emptied state");
  equal(bob.received("error")[0]?.code, "internal", "he is told to resume instead");
  deepEqual(bob.problems, []);
  second.room.dispose();
});

Deno.test("a state too large for clients is refused with a reason, never sent", async () => {
  const cases: [string, () => unknown][] = [
    ["items", () => Array.from({ length: 1_100_000 }, () => 1)],
    ["bytes", () => Array.from({ length: 5 }, () => "x".repeat(1_000_000))],
  ];
  for (const [label, make] of cases) {
    const game = defineGame({
      name: "hoarder",
      players: { min: 1, max: 2 },
      setup: () => ({ pile: null as unknown }),
      actions: { grow: { apply: (s) => void (s.pile = make()) } },
    });
    const { room, errors, ann } = await annPlays(game, ["grow"]);
    deepEqual(ann.problems, [], `${label}: ann decoded every frame she got`);
    equal(ann.received("error")[0]?.code, "internal", `${label}: ann is told instead`);
    match(errors[0], /hoarder: a delta for this state is more than clients accept/);
    const late = new TestMember();
    const refused = await room.join({ spectator: true }, late).then(() => null, (e) => e);
    equal(refused?.code, "internal", `${label}: a newcomer's join is refused`);
    match(errors.at(-1)!, /hoarder: a welcome for this state is more than clients accept/);
    deepEqual(late.problems, []);
    room.dispose();
  }
});

Deno.test("a turn time timers cannot wait fails the room's creation, as a bad tick rate does", () => {
  const game = defineGame({
    name: "long_turns",
    players: { min: 1, max: 1 },
    options: t.object({ days: t.optional(t.int({ min: 1 })) }),
    setup: () => ({ n: 0 }),
    actions: { go: { apply: (s: { n: number }) => void s.n++ } },
    // Forgets that the option is optional: NaN when it is left out.
    turnClock: { ms: (o) => o.days! * 86_400_000, onTimeout: () => {} },
  });
  const bound = new RegExp(`: it must be a number of ms in \\(0, ${MAX_TIMER_MS}\\]`);
  for (const [options, gave] of [[{ days: 30 }, "2592000000"], [{}, "NaN"]] as const) {
    throws(
      () => testRoom(game, { options }),
      (error: Error) =>
        error instanceof TypeError &&
        error.message.startsWith(`long_turns.turnClock.ms gave ${gave}`) &&
        bound.test(error.message),
    );
  }
  const { room } = testRoom(game, { options: { days: 1 } });
  room.dispose();
});

Deno.test("what clients can read is sent, however large: big deltas, bytes as a state or view", async () => {
  // 1.5 MiB of ops with opcodes and key ids, which a plain CBOR reader would not take.
  const pusher = counter("pusher", {
    setup: () => ({ pile: [] as string[] }),
    actions: {
      go: {
        apply(s: { pile: string[] }) {
          for (let i = 0; i < 300_000; i++) s.pile.push("abcd");
        },
      },
    },
  });
  const big = await annPlays(pusher, ["go"]);
  deepEqual(big.errors, []);
  equal((big.ann.state as { pile: string[] }).pile.length, 300_000);
  big.room.dispose();

  const bytes = counter("bytes", {
    setup: () => new Uint8Array([0]),
    actions: { go: { apply: (s: Uint8Array) => new Uint8Array([s[0] + 1]) } },
    view: (s: Uint8Array) => s.slice(),
  });
  const small = await annPlays(bytes, ["go"]);
  deepEqual(small.errors, []);
  deepEqual(small.ann.state, new Uint8Array([1]));
  small.room.dispose();
});

Deno.test("an event larger than clients accept fails ctx.emit and is never sent", async () => {
  const shouter = counter("shouter", {
    actions: {
      go: {
        apply(
          s: { n: number },
          _payload: unknown,
          ctx: { emit(type: string, data: string): void },
        ) {
          s.n++;
          ctx.emit("speech", "x".repeat(2 ** 20 + 10));
        },
      },
    },
  });
  const { room, errors, ann } = await annPlays(shouter, ["go"]);
  match(errors[0], /ctx\.emit: event "speech" is more than clients accept/);
  deepEqual(ann.events.filter((e) => e.type === "speech"), []);
  deepEqual(ann.problems, []);
  deepEqual(ann.state, { n: 1 }, "the action counts as applied, as after any throw in apply");
  room.dispose();
});

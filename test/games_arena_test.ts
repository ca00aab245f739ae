import { deepEqual, equal, ok } from "node:assert/strict";
import { ManualClock, Random, Room, type Seat } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import {
  arena,
  ARENA_COINS,
  ARENA_PICKUP_RADIUS,
  ARENA_SIZE,
  ARENA_STEP,
  ARENA_WIN_SCORE,
  type ArenaState,
} from "../games/arena.ts";

async function start(players: number, seed = "arena") {
  const clock = new ManualClock();
  const room = new Room({ id: "a", game: arena, clock, seed });
  const members: TestMember[] = [];
  const seats: Seat[] = [];
  for (let i = 0; i < players; i++) {
    members.push(new TestMember());
    seats.push(await room.join({ name: `n${i + 1}` }, members[i]));
  }
  clock.advance(50);
  return { clock, room, members, seats, state: () => room.state as ArenaState };
}

function farFromCoins(state: ArenaState, x: number, y: number): boolean {
  return state.coins.every((c) =>
    Math.hypot(c.x - x, c.y - y) > ARENA_PICKUP_RADIUS + 2 * ARENA_STEP
  );
}

Deno.test("joining adds a player, leaving removes them; coins come from the seeded generator", async () => {
  const { room, state, seats, members } = await start(3);
  deepEqual(Object.keys(state().players), ["p1", "p2", "p3"]);
  equal(state().players.p2.name, "n2");
  equal(state().coins.length, ARENA_COINS);
  const again = await start(3);
  deepEqual(again.state().coins, state().coins, "same seed, same coins");
  seats[2].leave();
  deepEqual(Object.keys(state().players), ["p1", "p2"]);
  room.dispose();
  again.room.dispose();
  deepEqual(members.flatMap((m) => m.problems), []);
});

Deno.test("moves are bounded, clamped to the field, stored as float32 and echo lastSeq", async () => {
  const { room, clock, state, seats, members } = await start(2);
  const me = state().players.p1;
  me.x = 5;
  me.y = ARENA_SIZE - 3;
  seats[0].act(1, "move", { dx: -1, dy: 1, seq: 41 });
  equal(me.x, 0);
  equal(me.y, ARENA_SIZE);
  seats[0].act(2, "move", { dx: 0.3, dy: -0.7, seq: 42 });
  equal(me.x, Math.fround(0.3 * ARENA_STEP));
  equal(me.y, Math.fround(ARENA_SIZE - 0.7 * ARENA_STEP));
  equal(me.lastSeq, 42);
  seats[0].act(3, "move", { dx: 1.5, dy: 0, seq: 43 });
  seats[0].act(4, "move", { dx: 0, dy: Number.NaN, seq: 44 });
  seats[0].act(5, "move", { dx: 0, dy: 0, seq: -1 });
  deepEqual(members[0].rejects.map((r) => r.message), [
    "payload.dx: expected a number between -1 and 1, got 1.5",
    "payload.dy: expected a number between -1 and 1, got NaN",
    "payload.seq: expected an integer of at least 0, got -1",
  ]);
  clock.advance(50);
  deepEqual(members[1].state, JSON.parse(JSON.stringify(state())));
  room.dispose();
});

Deno.test("touching a coin scores, respawns it and emits a coin event; ten coins win", async () => {
  const { room, clock, state, members } = await start(2);
  const p1 = state().players.p1;
  const p2 = state().players.p2;
  p2.x = p2.y = -10_000; // out of the way (only the test can put it there)
  for (let score = 1; score <= ARENA_WIN_SCORE; score++) {
    const coin = { ...state().coins[0] };
    p1.x = coin.x + ARENA_PICKUP_RADIUS / 2;
    p1.y = coin.y;
    clock.advance(50);
    equal(p1.score, score);
    ok(state().coins[0].x !== coin.x || state().coins[0].y !== coin.y, "the coin moved");
    ok(
      Number.isInteger(state().coins[0].x) && state().coins[0].x >= 0 &&
        state().coins[0].x <= ARENA_SIZE,
    );
    deepEqual(members[1].events.at(-1)!.data, { player: "p1", score });
    if (score < ARENA_WIN_SCORE) equal(room.outcome, null);
  }
  deepEqual(room.outcome, { winners: ["p1"], reason: `${ARENA_WIN_SCORE} coins` });
  for (const m of members) {
    deepEqual(m.outcome, room.outcome);
    deepEqual(m.messages.slice(-3).map((x) => (x.kind === "event" ? x.type : x.kind)), [
      "delta",
      "coin",
      "game_over",
    ]);
  }
  equal(clock.pending, 1, "ticks stopped; the retention timer remains");
  room.dispose();
});

Deno.test("a player far from every coin scores nothing", async () => {
  const { room, clock, state } = await start(2);
  for (const id of ["p1", "p2"]) {
    const p = state().players[id];
    for (let x = 0; x <= ARENA_SIZE; x += 50) {
      if (farFromCoins(state(), x, 500)) {
        p.x = x;
        p.y = 500;
        break;
      }
    }
  }
  clock.advance(1_000);
  deepEqual([state().players.p1.score, state().players.p2.score], [0, 0]);
  room.dispose();
});

Deno.test("eight players fill the arena", async () => {
  const { room } = await start(8);
  equal(room.acceptsPlayers, false);
  equal(room.summary().players, 8);
  room.dispose();
});

Deno.test("random realtime play: one broadcast per busy tick, every view rebuilt exactly, float32 positions", async () => {
  const { room, clock, members, seats, state } = await start(6, "busy");
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  const r = new Random("moves");
  const seqs = seats.map(() => 1);
  for (let tick = 0; tick < 200 && !room.outcome; tick++) {
    const before = room.seq;
    let accepted = 0;
    for (let i = 0; i < seats.length; i++) {
      if (r.int(3) === 0) continue;
      const seq = seqs[i]++;
      seats[i].act(seq, "move", { dx: r.next() * 2 - 1, dy: r.next() * 2 - 1, seq });
      accepted++;
    }
    clock.advance(50);
    equal(room.seq, before + (accepted > 0 ? 1 : 0) || room.seq, "at most one broadcast per tick");
    ok(room.seq - before <= 1);
    for (const p of Object.values(state().players)) {
      equal(Math.fround(p.x), p.x);
      equal(Math.fround(p.y), p.y);
      ok(p.x >= 0 && p.x <= ARENA_SIZE && p.y >= 0 && p.y <= ARENA_SIZE);
    }
    const expected = JSON.parse(JSON.stringify(state()));
    for (const m of [...members, watcher]) {
      deepEqual(m.problems, []);
      equal(m.seq, room.seq);
      deepEqual(m.state, expected);
    }
    members.forEach((m, i) => equal(m.ack, seqs[i] - 1));
  }
  room.dispose();
});

Deno.test("the tickMs room option sets the tick and broadcast interval", async () => {
  const clock = new ManualClock();
  const room = new Room({ id: "fast", game: arena, clock, options: { tickMs: 16 } });
  const members = [new TestMember(), new TestMember()];
  const seats: Seat[] = [];
  for (const member of members) seats.push(await room.join({}, member));
  clock.advance(16);
  const seq = room.seq;
  seats[0].act(1, "move", { dx: 1, dy: 0, seq: 1 });
  clock.advance(15);
  equal(room.seq, seq, "not before the tick");
  clock.advance(1);
  equal(room.seq, seq + 1, "16 ms after the last tick");
  equal(members[0].received("delta").at(-1)!.dt, 16);
  room.dispose();
  for (const tickMs of [5, 2000, 16.5]) {
    let error: unknown;
    try {
      new Room({ id: "bad", game: arena, clock, options: { tickMs } });
    } catch (e) {
      error = e;
    }
    equal((error as { code?: string })?.code, "bad_options", `tickMs ${tickMs}`);
  }
});

Deno.test("ticks that change nothing are not reported as changes (nothing to save)", async () => {
  const clock = new ManualClock();
  const changes: string[] = [];
  const room = new Room({
    id: "quiet",
    game: arena,
    clock,
    seed: "far",
    onChange: (_room, change) => changes.push(change),
  });
  const seats: Seat[] = [];
  for (let i = 0; i < 2; i++) seats.push(await room.join({}, new TestMember()));
  clock.advance(50);
  changes.length = 0;
  clock.advance(1000);
  deepEqual(changes, [], "20 idle ticks");
  seats[0].act(1, "move", { dx: 0, dy: 0, seq: 1 });
  clock.advance(50);
  deepEqual(changes, ["action", "tick"], "a move, then the tick that broadcast it");
  room.dispose();
});

/**
 * What a restore brings back, and what stays stored while rooms run: turn clocks after a log
 * replay, tick effects in `log` mode, sequence ceilings across two crashes in a row, the
 * expiry of rooms that run on unchanged, large logged actions and garbled stored data.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { exampleGames } from "../games/mod.ts";
import { KvRoomStore } from "../persistence/mod.ts";
import { defineGame, ManualClock, t } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { durableProcess, type DurableSetup } from "./support/durable_process.ts";
import { relay } from "./support/test_games.ts";

/** Snapshots only when a test forces one (seat changes still save at once). */
function rarely(clock: ManualClock): DurableSetup {
  return { snapshotEveryActions: 1000, snapshotEveryMs: 600_000, now: () => clock.now() };
}

Deno.test("a log replay runs the turn clock on from the last replayed move, not the snapshot", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.now());
  const setup = { ...rarely(clock), durability: "log" as const };
  const first = await durableProcess(kv, setup, exampleGames, clock);
  const a = await first.manager.join(
    { mode: "create", game: "connect_four", name: "ann", options: { turnMs: 60_000 } },
    new TestMember(),
  );
  const b = await first.manager.join(
    { mode: "join", room: a.room.id, name: "bob" },
    new TestMember(),
  );
  await first.durable.idle();
  clock.advance(50_000);
  a.act(1, "drop", { column: 3 });
  await a.room.idle();
  const deadline = a.room.snapshot().turnDeadline!;
  equal(deadline, clock.now() + 60_000, "bob has a full minute");
  await first.crash();

  clock.advance(5_000);
  const second = await durableProcess(kv, setup, exampleGames, clock);
  const room = second.manager.get(a.room.id)!;
  equal(room.actionIndex, 1, "the logged move is back");
  equal(room.snapshot().turnDeadline, deadline, "bob's clock runs on from his deadline");
  await second.manager.join(
    { mode: "join", room: room.id, resume: { session: b.session, seq: 0 } },
    new TestMember(),
  );
  clock.advance(10_000);
  await room.idle();
  equal(room.outcome, null, "bob did not lose on time with 45 s left");
  await second.stop();
});

/** A `relay` game of two seated players on `kv`, stored, on a manual clock. */
async function relayGame(kv: Deno.Kv) {
  const clock = new ManualClock(Date.now());
  const first = await durableProcess(kv, rarely(clock), [relay], clock);
  const a = await first.manager.join({ mode: "create", game: "relay" }, new TestMember());
  const b = await first.manager.join({ mode: "join", room: a.room.id }, new TestMember());
  await first.durable.idle();
  return { clock, first, a, b };
}

Deno.test("a log replay of a turn timeout restarts the turn clock at the timeout", async () => {
  using kv = await Deno.openKv(":memory:");
  const { clock, first, a } = await relayGame(kv);
  clock.advance(60_000); // ann's turn times out: logged as `@timeout`
  await a.room.idle();
  equal((a.room.state as { next: string }).next, "p2");
  const deadline = a.room.snapshot().turnDeadline!;
  equal(deadline, clock.now() + 60_000);
  await first.crash();

  clock.advance(5_000);
  const second = await durableProcess(kv, rarely(clock), [relay], clock);
  const room = second.manager.get(a.room.id)!;
  equal(room.actionIndex, 1, "the timeout was replayed");
  equal(room.snapshot().turnDeadline, deadline);
  clock.advance(50_000);
  await room.idle();
  equal((room.state as { next: string }).next, "p2", "bob's turn did not time out early");
  await second.stop();
});

Deno.test("a log replay of an action taken out of turn keeps the running turn's deadline", async () => {
  using kv = await Deno.openKv(":memory:");
  const { clock, first, a, b } = await relayGame(kv);
  const deadline = a.room.snapshot().turnDeadline!;
  clock.advance(20_000);
  b.act(1, "chat", null); // p1's turn: p2 chats, p1's clock runs on
  await a.room.idle();
  equal(a.room.snapshot().turnDeadline, deadline);
  clock.advance(10_000);
  b.act(2, "take", null); // the turn changes hands: p2 gets a full turn
  await a.room.idle();
  const taken = a.room.snapshot().turnDeadline!;
  equal(taken, clock.now() + 60_000);
  clock.advance(10_000);
  a.act(1, "chat", null); // p2's turn: p1 chats
  await a.room.idle();
  await first.crash();

  const second = await durableProcess(kv, rarely(clock), [relay], clock);
  const room = second.manager.get(a.room.id)!;
  equal(room.actionIndex, 3, "the three logged actions were replayed");
  deepEqual(room.state, { next: "p2", passes: 0, chats: 2 });
  equal(room.snapshot().turnDeadline, taken, "p2's deadline, not moved by p1's chat");
  await second.stop();
});

/** Ticks count and draw from the room's generator; an action records what the ticks did. */
const counter = defineGame({
  name: "counter",
  players: { min: 1, max: 1 },
  durability: "log",
  setup: () => ({ ticks: 0, seen: -1, roll: -1 }),
  actions: {
    mark: {
      apply(state, _payload, ctx) {
        state.seen = state.ticks;
        state.roll = ctx.random.int(1_000_000);
      },
    },
  },
  tick: {
    hz: 10,
    update(state, _dt, ctx) {
      state.ticks++;
      ctx.random.next();
    },
  },
});

Deno.test("log mode keeps the effects of ticks run before a logged action", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.now());
  const first = await durableProcess(kv, rarely(clock), [counter], clock);
  const seat = await first.manager.join({ mode: "create", game: "counter" }, new TestMember());
  await first.durable.idle();
  clock.advance(300); // 3 ticks
  await seat.room.idle();
  seat.act(1, "mark", null);
  await seat.room.idle();
  clock.advance(200); // 2 more, then another action
  await seat.room.idle();
  seat.act(2, "mark", null);
  await seat.room.idle();
  const acknowledged = structuredClone(seat.room.state);
  deepEqual((acknowledged as { seen: number }).seen, 5);
  await first.crash();

  const second = await durableProcess(kv, rarely(clock), [counter], clock);
  const room = second.manager.get(seat.room.id)!;
  equal(room.actionIndex, 2);
  deepEqual(room.state, acknowledged, "ticks, the tick count each action saw, and its roll");
  await second.stop();
});

Deno.test("a restored room stores its new sequence ceiling before it goes live", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv);
  const a = await first.manager.join(
    { mode: "create", game: "tic_tac_toe", name: "ann" },
    new TestMember(),
  );
  const b = await first.manager.join(
    { mode: "join", room: a.room.id, name: "bob" },
    new TestMember(),
  );
  const id = a.room.id;
  await first.stop();

  // The second run's saves never land (a slow commit, then a crash): only what its restore
  // stored before the room went live counts.
  let blocked = false;
  let fail!: (error: Error) => void;
  const gate = new Promise<null>((_, reject) => fail = reject);
  gate.catch(() => {});
  const store = new KvRoomStore(kv, { fence: () => blocked ? gate : null });
  const second = await durableProcess(kv, {}, exampleGames, undefined, store);
  blocked = true;
  const bob = new TestMember();
  const sa = await second.manager.join(
    { mode: "join", room: id, resume: { session: a.session, seq: 0 } },
    new TestMember(),
  );
  const sb = await second.manager.join(
    { mode: "join", room: id, resume: { session: b.session, seq: 0 } },
    bob,
  );
  sa.act(1, "place", { cell: 0 });
  sb.act(1, "place", { cell: 4 });
  await sa.room.idle();
  const sent = bob.seq;
  second.manager.dispose("server_restart"); // crash

  const third = await durableProcess(kv);
  const room = third.manager.get(id)!;
  ok(room.seq > sent, `restored at seq ${room.seq}; clients already saw ${sent}`);
  fail(new Error("crashed"));
  await second.durable.close();
  await third.stop();
});

Deno.test("a live room that does not change has its stored expiry refreshed while it runs", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.now());
  const ttl = 60 * 60_000;
  const setup = { roomDataTtlMs: ttl, now: () => clock.now() };
  const store = new KvRoomStore(kv, { now: setup.now });
  const p = await durableProcess(kv, setup, exampleGames, clock, store);
  const a = await p.manager.join({ mode: "create", game: "tic_tac_toe" }, new TestMember());
  await p.manager.join({ mode: "join", room: a.room.id }, new TestMember());
  await p.durable.idle();

  clock.advance(ttl / 4); // both players think
  equal(p.durable.refreshExpiries(), 0, "three quarters of the TTL left: nothing to do");
  clock.advance(ttl / 2);
  equal(p.durable.refreshExpiries(), 1, "a quarter left: saved again");
  await p.durable.idle();
  equal((await store.readMeta(a.room.id))!.expiresAt, clock.now() + ttl);
  clock.advance(ttl / 2);
  deepEqual(await store.sweep(), [], "not expired");
  await p.stop();
});

Deno.test("a graceful stop leaves every live room with a fresh expiry", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.now());
  const setup = { roomDataTtlMs: 60 * 60_000, now: () => clock.now() };
  const first = await durableProcess(kv, setup, exampleGames, clock);
  const a = await first.manager.join(
    { mode: "create", game: "tic_tac_toe", name: "ann" },
    new TestMember(),
  );
  await first.manager.join({ mode: "join", room: a.room.id, name: "bob" }, new TestMember());
  a.act(1, "place", { cell: 4 });
  await a.room.idle();
  await first.durable.flush();
  // Bob thinks for two hours; no refresh timer runs on simulated time.
  clock.advance(2 * 60 * 60_000);
  ok(first.manager.get(a.room.id), "still live");
  await first.stop();

  const second = await durableProcess(kv, setup, exampleGames, clock);
  deepEqual(second.report.expired, [], "the room was live until the shutdown");
  deepEqual(second.report.restored, [a.room.id]);
  await second.stop();
});

/** Posts of any length, logged. */
const notes = defineGame({
  name: "notes",
  players: { min: 1, max: 1 },
  durability: "log",
  setup: () => ({ notes: [] as string[][] }),
  actions: {
    post: {
      payload: t.object({ lines: t.array(t.string()) }),
      apply(state, { lines }) {
        state.notes.push(lines);
      },
    },
  },
});

Deno.test("log mode logs an action larger than one KV value and replays it", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv, { snapshotEveryActions: 1000, snapshotEveryMs: 600_000 }, [
    notes,
  ]);
  const me = new TestMember();
  const seat = await first.manager.join({ mode: "create", game: "notes" }, me);
  await first.durable.idle();
  const lines = Array.from({ length: 9 }, (_, i) => String(i).repeat(8 * 1024));
  seat.act(1, "post", { lines });
  await seat.room.idle();
  equal(me.rejects[0]?.code, undefined, `refused: ${me.rejects[0]?.message}`);
  equal(seat.room.actionIndex, 1);
  await first.crash();

  const second = await durableProcess(kv, {}, [notes]);
  deepEqual(second.manager.get(seat.room.id)?.state, { notes: [lines] });
  await second.stop();
});

Deno.test("a garbled meta is reported by the restore, and the other rooms come back", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv);
  const a = await first.manager.join({ mode: "create", game: "tic_tac_toe" }, new TestMember());
  await first.stop();
  await kv.set(["arbiter", "meta", "junk"], null);
  await kv.set(["arbiter", "meta", "worse"], "not a meta");

  const second = await durableProcess(kv);
  deepEqual(second.report.restored, [a.room.id]);
  deepEqual(second.report.failed.map((f) => [f.room, f.code]).sort(), [
    ["junk", "snapshot_corrupt"],
    ["worse", "snapshot_corrupt"],
  ]);
  await second.stop();
});

Deno.test("a room whose state stops being data fails its save, not the shutdown", async () => {
  using kv = await Deno.openKv(":memory:");
  let now = Date.now();
  const p = await durableProcess(kv, { roomDataTtlMs: 60_000, now: () => now });
  const seat = await p.manager.join({ mode: "create", game: "tic_tac_toe" }, new TestMember());
  await p.durable.idle();
  // What game code that divides by zero leaves behind (written here directly).
  (seat.room.state as { board: unknown[] }).board[0] = NaN;
  now += 60_000; // its expiry is due: the shutdown saves it
  p.manager.dispose("server_restart");
  const report = await p.durable.flush();
  equal(report.failed, 1);
  equal(report.timedOut, false);
  await p.durable.close();
});

/** A store that refuses `refusals` snapshot writes the way a KV file locked too long does. */
class RefusingStore extends KvRoomStore {
  refusals = 0;
  override saveSnapshot(...args: Parameters<KvRoomStore["saveSnapshot"]>) {
    if (this.refusals <= 0) return super.saveSnapshot(...args);
    this.refusals--;
    return Promise.reject(new TypeError("database is locked"));
  }
}

Deno.test("a shutdown saves again a room whose save storage refused, until it lands or time is up", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new RefusingStore(kv);
  const p = await durableProcess(kv, { snapshotEveryMs: 600_000 }, exampleGames, undefined, store);
  const a = await p.manager.join({ mode: "create", game: "tic_tac_toe" }, new TestMember());
  await p.manager.join({ mode: "join", room: a.room.id }, new TestMember());
  await p.durable.idle();
  a.act(1, "place", { cell: 4 });
  await a.room.idle();
  store.refusals = 3;
  p.manager.dispose("server_restart");
  deepEqual(await p.durable.flush(5000), { saved: 1, failed: 0, timedOut: false });
  equal((await new KvRoomStore(kv).loadSnapshot(a.room.id))?.meta.seq, a.room.seq);

  await p.durable.close();

  // Storage that never answers again: the flush gives up at its deadline and says so.
  using kv2 = await Deno.openKv(":memory:");
  const never = new RefusingStore(kv2);
  const q = await durableProcess(kv2, {}, exampleGames, undefined, never);
  const b = await q.manager.join({ mode: "create", game: "tic_tac_toe" }, new TestMember());
  await q.manager.join({ mode: "join", room: b.room.id }, new TestMember());
  await q.durable.idle();
  const stored = b.room.seq;
  b.act(1, "place", { cell: 4 });
  await b.room.idle();
  never.refusals = Infinity;
  q.manager.dispose("server_restart");
  deepEqual(await q.durable.flush(300), { saved: 0, failed: 1, timedOut: true });
  equal((await new KvRoomStore(kv2).loadSnapshot(b.room.id))?.meta.seq, stored);
  ok(b.room.seq > stored);
  await q.durable.close();
});

import { deepEqual, equal, ok, rejects, throws } from "node:assert/strict";
import type { ArbiterError } from "../protocol/mod.ts";
import {
  type JournalEntry,
  ManualClock,
  RoomManager,
  type RoomManagerOptions,
  type RoomSummary,
} from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { exampleGames } from "../games/mod.ts";

function makeManager(extra: Partial<RoomManagerOptions> = {}) {
  const clock = new ManualClock();
  const manager = new RoomManager({ games: exampleGames, clock, seed: "test", ...extra });
  return { clock, manager };
}

const code = (expected: string) => (e: ArbiterError) => e.code === expected;

Deno.test("create, get, list and the games registry", () => {
  const { manager, clock } = makeManager();
  deepEqual([...manager.games.keys()], ["tic_tac_toe", "connect_four", "arena", "secret_cards"]);
  const a = manager.create("tic_tac_toe");
  const b = manager.create("connect_four", { turnMs: 5_000 }, { private: true });
  equal(manager.get(a.id), a);
  equal(manager.get(b.id), b);
  ok(/^[a-z2-9]{8}$/.test(a.id));
  // A private room's id is its invitation: twice as long, far beyond guessing.
  ok(/^[a-z2-9]{16}$/.test(b.id), b.id);
  deepEqual(manager.list({ publicOnly: true }), [{
    id: a.id,
    game: "tic_tac_toe",
    players: 0,
    maxPlayers: 2,
    spectators: 0,
    status: "waiting",
    open: true,
    private: false,
    seq: 0,
    createdAt: clock.now(),
  }]);
  equal(manager.list().length, 2);
  equal(manager.list({ game: "connect_four" })[0].id, b.id);
  equal(manager.list({ game: "connect_four" })[0].private, true);
  manager.dispose();
  equal(clock.pending, 0);
});

Deno.test("summary(id) and count() agree with list(), rooms of other instances included", () => {
  const remote = new Map<string, RoomSummary>();
  const { manager } = makeManager({ remoteRooms: () => remote });
  const a = manager.create("tic_tac_toe");
  const b = manager.create("connect_four", {}, { private: true });
  const elsewhere = { ...a.summary(), id: "remote01", game: "arena", private: true };
  // The directory may still list a room that has moved here: it counts once, as the live one.
  const moved = { ...b.summary(), players: 7 };
  for (const room of [elsewhere, moved]) remote.set(room.id, room);
  const listed = manager.list();
  deepEqual(listed.map((room) => room.id), [a.id, b.id, "remote01"]);
  for (const room of listed) deepEqual(manager.summary(room.id), room);
  equal(manager.summary(b.id)?.players, 0, "the live room, not the directory's copy");
  equal(manager.summary("nope"), undefined);
  equal(manager.summary("__proto__"), undefined);
  equal(manager.count(), listed.length);
  b.dispose();
  deepEqual(manager.summary(b.id), moved);
  equal(manager.count(), manager.list().length);
  manager.dispose();
  equal(manager.count(), manager.list().length);
});

Deno.test("list is oldest first across this instance's rooms and other instances'", () => {
  const remote = new Map<string, RoomSummary>();
  const { manager, clock } = makeManager({ remoteRooms: () => remote });
  clock.advance(1000);
  const a = manager.create("tic_tac_toe");
  clock.advance(1000);
  const b = manager.create("tic_tac_toe");
  // A room another instance created between the two, and one older than both.
  const between = { ...a.summary(), id: "remote01", createdAt: a.createdAt + 500 };
  const oldest = { ...a.summary(), id: "remote02", createdAt: 10 };
  for (const room of [between, oldest]) remote.set(room.id, room);
  deepEqual(manager.list().map((room) => room.id), ["remote02", a.id, "remote01", b.id]);
  manager.dispose();
});

Deno.test("create refuses unknown games, bad options and rooms past the limit", () => {
  const { manager } = makeManager({ maxRooms: 1 });
  throws(() => manager.create("chess"), code("game_not_found"));
  throws(
    () => manager.create("connect_four", { turnMs: 5 }),
    (e: ArbiterError) =>
      e.code === "bad_options" &&
      e.message === "options.turnMs: expected an integer between 100 and 3600000, got 5",
  );
  throws(() => manager.create("connect_four", { speed: 1 }), code("bad_options"));
  throws(
    () => manager.create("tic_tac_toe", { x: Infinity }),
    (e: ArbiterError) =>
      e.code === "bad_options" &&
      e.message.startsWith("options.x: Infinity is not a finite number; options must be JSON-like"),
  );
  manager.create("tic_tac_toe");
  throws(() => manager.create("tic_tac_toe"), code("too_many_rooms"));
  manager.dispose();
});

Deno.test("at the room limit, a new room takes the place of the room that finished first", async () => {
  const { manager, clock } = makeManager({ maxRooms: 3 });
  /** A connect-four room whose first player resigns: finished, kept for its retention. */
  const finishedRoom = async () => {
    const ann = new TestMember();
    const seat = await manager.join({ mode: "create", game: "connect_four" }, ann);
    await manager.join({ mode: "join", room: seat.room.id }, new TestMember());
    seat.act(1, "resign", null);
    equal(seat.room.status, "finished");
    return { room: seat.room, ann };
  };
  const first = await finishedRoom();
  clock.advance(10);
  const second = await finishedRoom();
  const waiting = manager.create("tic_tac_toe");
  // Full: the room that finished first goes, its members told why; the other one stays.
  const created = manager.create("tic_tac_toe");
  equal(manager.get(first.room.id), undefined);
  ok(first.room.disposed);
  equal(first.ann.closed?.reason, "room_closed");
  equal(manager.get(second.room.id), second.room);
  // Then the second; with no finished room left, the limit holds.
  manager.create("tic_tac_toe");
  equal(manager.get(second.room.id), undefined);
  throws(() => manager.create("tic_tac_toe"), code("too_many_rooms"));
  deepEqual(manager.list().map((room) => room.status), ["waiting", "waiting", "waiting"]);
  ok(manager.get(waiting.id) && manager.get(created.id));
  manager.dispose();
  equal(clock.pending, 0);
});

Deno.test("a finished room restored from a snapshot gives its place up too", async () => {
  const before = makeManager();
  const seat = await before.manager.join(
    { mode: "create", game: "connect_four" },
    new TestMember(),
  );
  await before.manager.join({ mode: "join", room: seat.room.id }, new TestMember());
  seat.act(1, "resign", null);
  const snapshot = seat.room.snapshot();
  before.manager.dispose("server_restart");
  const { manager } = makeManager({ maxRooms: 1 });
  const restored = manager.restore(snapshot);
  equal(restored.status, "finished");
  const created = manager.create("tic_tac_toe");
  ok(restored.disposed);
  deepEqual(manager.list().map((room) => room.id), [created.id]);
  manager.dispose();
});

Deno.test("join by id, create, spectate, and the errors of each", async () => {
  const { manager } = makeManager();
  const creator = new TestMember();
  const first = await manager.join({ mode: "create", game: "tic_tac_toe", name: "ann" }, creator);
  equal(first.player, "p1");
  const id = first.room.id;
  const second = await manager.join({ mode: "join", room: id, name: "bob" }, new TestMember());
  equal(second.player, "p2");
  const watcher = await manager.join({ mode: "join", room: id, spectator: true }, new TestMember());
  equal(watcher.player, null);
  await rejects(manager.join({ mode: "join", room: id }, new TestMember()), code("room_full"));
  await rejects(
    manager.join({ mode: "join", room: "nope" }, new TestMember()),
    code("room_not_found"),
  );
  await rejects(manager.join({ mode: "join", room: "" }, new TestMember()), {
    code: "room_not_found",
    message: 'No room "".',
  });
  // Fields that do not fit the mode are the client's mistake, not a missing room or game.
  await rejects(manager.join({ mode: "join" }, new TestMember()), {
    code: "bad_field",
    message: "A join (mode join) needs r: the id of the room.",
  });
  for (const mode of ["create", "join_or_create"] as const) {
    await rejects(manager.join({ mode }, new TestMember()), {
      code: "bad_field",
      message: `A ${mode} join needs g: the name of a game.`,
    });
    await rejects(
      manager.join({ mode, game: "tic_tac_toe", spectator: true }, new TestMember()),
      code("bad_field"),
    );
  }
  await rejects(
    manager.join({ mode: "create", game: "go" }, new TestMember()),
    code("game_not_found"),
  );
  await rejects(
    manager.join(
      { mode: "create", game: "secret_cards", options: { handSize: 0 } },
      new TestMember(),
    ),
    code("bad_options"),
  );
  manager.dispose();
});

Deno.test("a resume finds its room by token, with or without the room id", async () => {
  const { manager } = makeManager();
  const other = await manager.join({ mode: "create", game: "arena" }, new TestMember());
  const member = new TestMember();
  const seat = await manager.join({ mode: "create", game: "connect_four" }, member);
  seat.disconnect();
  const back = await manager.join(
    { mode: "join", resume: { session: seat.session, seq: member.seq } },
    new TestMember(),
  );
  equal(back.room, seat.room);
  equal(back.player, "p1");
  await rejects(
    manager.join(
      { mode: "join", room: other.room.id, resume: { session: seat.session, seq: 0 } },
      new TestMember(),
    ),
    code("bad_session"),
    "a token is bound to its room",
  );
  await rejects(
    manager.join({ mode: "join", resume: { session: "forged", seq: 0 } }, new TestMember()),
    code("bad_session"),
  );
  manager.dispose();
});

Deno.test("join_or_create fills open public rooms first and skips private, full and started ones", async () => {
  const { manager } = makeManager();
  manager.create("tic_tac_toe", {}, { private: true });
  const a = await manager.join({ mode: "join_or_create", game: "tic_tac_toe" }, new TestMember());
  const b = await manager.join({ mode: "join_or_create", game: "tic_tac_toe" }, new TestMember());
  equal(a.room, b.room);
  ok(!a.room.private);
  const c = await manager.join({ mode: "join_or_create", game: "tic_tac_toe" }, new TestMember());
  ok(c.room !== a.room);
  equal(manager.list({ game: "tic_tac_toe" }).length, 3);
  manager.dispose();
});

Deno.test("concurrent join_or_create calls fill rooms without creating duplicates", async () => {
  // A slow journal keeps room mailboxes busy, so joins really overlap.
  const releases: (() => void)[] = [];
  const { manager } = makeManager({
    journal: () => ({
      append: (_e: JournalEntry) => new Promise<void>((resolve) => releases.push(resolve)),
    }),
  });
  const starter = await manager.join({ mode: "join_or_create", game: "arena" }, new TestMember());
  const second = await manager.join({ mode: "join_or_create", game: "arena" }, new TestMember());
  starter.act(1, "move", { dx: 1, dy: 0, seq: 1 }); // the room's mailbox now waits on the journal
  second.act(1, "move", { dx: 1, dy: 0, seq: 1 });
  const joins = Array.from(
    { length: 37 },
    (_, i) =>
      manager.join({ mode: "join_or_create", game: "arena", name: `n${i}` }, new TestMember()),
  );
  for (let i = 0; i < 5 && releases.length > 0; i++) {
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  const seats = await Promise.all(joins);
  const rooms = manager.list({ game: "arena" });
  // 39 players in rooms of 8: 5 rooms, the first four full.
  deepEqual(rooms.map((r) => r.players), [8, 8, 8, 8, 7]);
  equal(new Set(seats.map((s) => `${s.room.id}/${s.player}`)).size, 37);
  while (releases.length > 0) releases.shift()!();
  manager.dispose();
});

Deno.test("idle rooms leave the manager; dispose closes everyone and refuses more", async () => {
  const disposed: string[] = [];
  const { manager, clock } = makeManager({
    idleDisposeMs: 1_000,
    onRoomDisposed: (r) => disposed.push(r.id),
  });
  const empty = manager.create("tic_tac_toe");
  const member = new TestMember();
  const seat = await manager.join({ mode: "create", game: "arena" }, member);
  clock.advance(1_000);
  equal(manager.get(empty.id), undefined);
  deepEqual(disposed, [empty.id]);
  equal(manager.size, 1);
  manager.dispose("server_restart");
  deepEqual(member.closed, { code: 1012, reason: "server_restart" });
  equal(member.received("error")[0].code, "server_restart");
  equal(seat.room.disposed, true);
  equal(manager.size, 0);
  equal(clock.pending, 0);
  // Stopped for a restart, it tells latecomers to come back (not that their room is gone).
  throws(() => manager.create("arena"), code("server_restart"));
  await rejects(
    manager.join({ mode: "create", game: "arena" }, new TestMember()),
    code("server_restart"),
  );
  const closed = makeManager().manager;
  closed.dispose();
  throws(() => closed.create("arena"), code("room_closed"));
});

Deno.test("a seed makes room ids and room randomness repeatable", () => {
  const a = makeManager({ seed: "same" }).manager;
  const b = makeManager({ seed: "same" }).manager;
  const ra = a.create("secret_cards");
  const rb = b.create("secret_cards");
  equal(ra.id, rb.id);
  deepEqual(ra.state, rb.state);
  a.dispose();
  b.dispose();
});

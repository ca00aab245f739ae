import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  type JournalEntry,
  ManualClock,
  Room,
  RoomManager,
  type RoomSnapshot,
} from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { connectFour, exampleGames, secretCards, ticTacToe } from "../games/mod.ts";

/** Ann creates a tic-tac-toe room and Bob joins it, in a manager on a manual clock. */
async function ticTacToeForTwo(seed: string) {
  const clock = new ManualClock();
  const manager = new RoomManager({ games: exampleGames, clock, seed });
  const ann = new TestMember();
  const bob = new TestMember();
  const a = await manager.join({ mode: "create", game: "tic_tac_toe", name: "ann" }, ann);
  const b = await manager.join({ mode: "join", room: a.room.id, name: "bob" }, bob);
  return { clock, manager, ann, bob, a, b };
}

/**
 * `member`, its connection gone but its mirror kept, resumes seat `session` in `room` of
 * `manager` from the sequence its mirror is at.
 */
function resume(manager: RoomManager, room: string, member: TestMember, session: string) {
  member.reopen();
  return manager.join({ mode: "join", room, resume: { session, seq: member.seq } }, member);
}

Deno.test("a snapshot is plain data, and a restored room continues its sequences", async () => {
  const { clock, manager, ann, a, b } = await ticTacToeForTwo("snap");
  a.act(1, "place", { cell: 0 });
  b.act(1, "place", { cell: 4 });
  clock.advance(1_234);
  const snapshot = a.room.snapshot();
  deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot, "JSON-safe");
  equal(snapshot.seq, a.room.seq);
  equal(snapshot.actionIndex, 2);
  equal(snapshot.started, true);
  deepEqual(snapshot.seats.map((s) => [s.player, s.name, s.presence, s.ack, s.lastSeq]), [
    ["p1", "ann", "connected", 1, 1],
    ["p2", "bob", "connected", 1, 1],
  ]);
  equal(snapshot.seats[0].session, a.session);
  manager.dispose("server_restart");

  // A new process: same games, same clock, the stored snapshot.
  const later = new RoomManager({ games: exampleGames, clock });
  const room = later.restore(snapshot);
  equal(room.id, snapshot.room);
  equal(room.seq, snapshot.seq);
  deepEqual(room.state, snapshot.state);
  deepEqual(room.players.map((p) => p.presence), ["disconnected", "disconnected"]);
  const back = await resume(later, room.id, ann, a.session);
  const welcome = ann.welcomes.at(-1)!;
  equal(welcome.replay, undefined, "rings are not kept: a full state");
  equal(welcome.seq, snapshot.seq);
  equal(welcome.ack, 1);
  const rejects = ann.rejects.length;
  back.act(1, "place", { cell: 1 });
  equal(ann.rejects.length, rejects, "seq 1 was applied before the restart: sent again, ignored");
  equal(room.seq, snapshot.seq, "client sequences continue too");
  back.act(2, "place", { cell: 1 });
  equal(room.seq, snapshot.seq + 1);
  equal(room.actionIndex, 3);
  deepEqual(ann.problems, []);
  later.dispose();
});

Deno.test("a restored room replays deltas only to seats it has welcomed itself", async () => {
  const { manager, ann, bob, a, b } = await ticTacToeForTwo("numbers");
  a.act(1, "place", { cell: 0 });
  const snapshot = a.room.snapshot();
  // The crashed run went on past its last save (whose sequence ceiling it could not raise).
  b.act(1, "place", { cell: 4 });
  equal(ann.seq, snapshot.seq + 1);
  manager.dispose("server_restart");

  const later = new RoomManager({ games: exampleGames, clock: new ManualClock() });
  const room = later.restore(snapshot);
  const bobBack = await resume(later, room.id, bob, b.session);
  // This run numbers its own broadcast as the lost one: same sequence, another board.
  bobBack.act(1, "place", { cell: 8 });
  equal(room.seq, ann.seq);
  const annBack = await resume(later, room.id, ann, a.session);
  equal(ann.welcomes.at(-1)!.replay, undefined, "numbers from an earlier run: the full state");
  deepEqual(ann.state, room.state);

  // Numbers this run sent her can be replayed.
  annBack.act(1, "place", { cell: 2 });
  annBack.disconnect();
  bobBack.act(2, "place", { cell: 5 });
  await resume(later, room.id, ann, a.session);
  equal(ann.welcomes.at(-1)!.replay, true);
  deepEqual(ann.state, room.state);
  deepEqual(ann.problems, []);
  deepEqual(bob.problems, []);
  later.dispose();
});

Deno.test("restored deadlines run on from the stored times", async () => {
  const clock = new ManualClock();
  const room = new Room({
    id: "c4",
    game: connectFour,
    clock,
    options: { turnMs: 10_000 },
    graceMs: 20_000,
  });
  const members = [new TestMember(), new TestMember()];
  const seats = [await room.join({}, members[0]), await room.join({}, members[1])];
  seats[0].act(1, "drop", { column: 0 });
  seats[0].disconnect();
  clock.advance(4_000);
  const snapshot = room.snapshot();
  equal(snapshot.turnDeadline, clock.now() + 6_000);
  equal(snapshot.seats[0].graceDeadline, clock.now() + 16_000);
  room.dispose();

  clock.advance(1_000); // the restart took a second
  const restored = Room.restore(connectFour, snapshot, { clock, graceMs: 20_000 });
  // A player resuming is told the stored deadline once (its welcome's), not a fresh turn.
  const bob = new TestMember();
  await restored.join({ resume: { session: seats[1].session, seq: members[1].seq } }, bob);
  clock.advance(0);
  const deadlines = bob.events.filter((e) => e.type === "turn_clock").map((e) => e.data);
  deepEqual(deadlines, [{ deadline: snapshot.turnDeadline }]);
  clock.advance(4_999);
  equal(restored.outcome, null);
  clock.advance(1);
  deepEqual(restored.outcome, { winners: ["p1"], reason: "timeout" }, "p2's clock ran out on time");
  restored.dispose();
  equal(clock.pending, 0);
});

Deno.test("a restored seat that was connected gets a grace window from the restart", () => {
  const clock = new ManualClock();
  const room = new Room({ id: "t", game: ticTacToe, clock });
  const snapshot: RoomSnapshot = room.snapshot();
  snapshot.seats.push({
    seat: 0,
    player: "p1",
    name: "ann",
    userId: null,
    presence: "connected",
    session: "tok",
    ack: 0,
    lastSeq: 0,
    graceDeadline: null,
  });
  room.dispose();
  const restored = Room.restore(ticTacToe, snapshot, { clock, graceMs: 3_000 });
  equal(restored.players[0].presence, "disconnected");
  clock.advance(3_000);
  equal(restored.players[0].presence, "left");
  restored.dispose();
});

Deno.test("journal entries after the snapshot are re-applied on restore", async () => {
  const clock = new ManualClock();
  const journal: JournalEntry[] = [];
  const room = new Room({
    id: "s",
    game: secretCards,
    clock,
    seed: "cards",
    journal: { append: (entry) => void journal.push(entry) },
  });
  const seats = [await room.join({}, new TestMember()), await room.join({}, new TestMember())];
  const snapshot = room.snapshot();
  const hands = (room.state as { hands: { p1: string[]; p2: string[] } }).hands;
  seats[0].act(1, "play", { card: hands.p1[0] });
  seats[1].act(1, "play", { card: hands.p2[0] });
  seats[0].act(2, "play", { card: hands.p1[0] });
  const expected = structuredClone(room.state);
  room.dispose();
  equal(journal.length, 3);

  const restored = Room.restore(secretCards, snapshot, { clock }, journal);
  deepEqual(restored.state, expected);
  equal(restored.actionIndex, 3);
  restored.dispose();
  throws(() => Room.restore(secretCards, snapshot, { clock }, journal.slice(1)), /gap/);
  throws(() => Room.restore(ticTacToe, snapshot, { clock }), /snapshot of secret_cards/);
});

Deno.test("a finished room is restored finished and still disposed on schedule", () => {
  const clock = new ManualClock();
  const room = new Room({ id: "t", game: ticTacToe, clock, finishedRetentionMs: 10_000 });
  const snapshot = room.snapshot();
  room.dispose();
  snapshot.outcome = { draw: true };
  snapshot.finishedAt = clock.now();
  clock.advance(4_000);
  const restored = Room.restore(ticTacToe, snapshot, { clock, finishedRetentionMs: 10_000 });
  equal(restored.status, "finished");
  clock.advance(5_999);
  equal(restored.disposed, false);
  clock.advance(1);
  ok(restored.disposed);
});

Deno.test("a seat's remembered refusals are in its snapshot, and a resume after a restart repeats them", async () => {
  const { clock, manager, a, b, bob } = await ticTacToeForTwo("refusals");
  a.act(1, "place", { cell: 0 });
  b.act(1, "place", { cell: 0 }); // taken: refused
  b.act(2, "place", { cell: 4 });
  equal(bob.rejects.length, 1, "bob was told; say the frame was lost with his connection");
  const snapshot = a.room.snapshot();
  deepEqual(snapshot.seats[1].rejects?.map((r) => [r.seq, r.code]), [[1, "invalid_action"]]);
  equal(snapshot.seats[0].rejects, undefined, "none: nothing stored");
  manager.dispose("server_restart");

  const later = new RoomManager({ games: exampleGames, clock });
  const room = later.restore(JSON.parse(JSON.stringify(snapshot)));
  const back = new TestMember();
  await later.join({ mode: "join", room: room.id, resume: { session: b.session, seq: 0 } }, back);
  const welcome = back.welcomes[0];
  equal(welcome.ack, 2);
  deepEqual(welcome.rejected?.map((r) => [r.seq, r.code]), [[1, "invalid_action"]]);
  later.dispose();
});

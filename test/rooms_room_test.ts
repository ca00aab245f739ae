import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { ArbiterError, CLOSE_CODES, ProtocolError, type Value } from "../protocol/mod.ts";
import {
  defineGame,
  type HeldInputHandler,
  type JournalEntry,
  ManualClock,
  Room,
  RoomManager,
  type Seat,
  t,
} from "../rooms/mod.ts";
import { TestMember, testRoom } from "../rooms/testing.ts";
import { arena, connectFour, ticTacToe } from "../games/mod.ts";
import { gauge, relay } from "./support/test_games.ts";

const counter = defineGame({
  name: "counter",
  players: { min: 2, max: 3 },
  setup: () => ({ total: 0, log: [] as string[] }),
  actions: {
    add: {
      payload: t.object({ by: t.int({ min: 1, max: 5 }) }),
      validate: (state, { by }) => state.total + by > 100 ? "that would pass 100" : undefined,
      apply(state, { by }, ctx) {
        state.total += by;
        state.log.push(ctx.player!);
      },
    },
    noop: { apply() {} },
    shout: {
      apply(_state, payload, ctx) {
        ctx.emit("shout", { from: ctx.player, payload: payload as Value });
        ctx.emit("psst", "for p1 only", ["p1"]);
      },
    },
    win: {
      apply(state) {
        state.total = 100;
      },
    },
  },
  outcome: (state) => state.total >= 100 ? { winners: ["p1"], reason: "reached 100" } : undefined,
  onJoin(state, player) {
    state.log.push(`+${player}`);
  },
});

async function seatPlayers(
  room: Room,
  n: number,
): Promise<{ members: TestMember[]; seats: Seat[] }> {
  const members: TestMember[] = [];
  const seats: Seat[] = [];
  for (let i = 0; i < n; i++) {
    const member = new TestMember();
    seats.push(await room.join({ name: `player ${i + 1}` }, member));
    members.push(member);
  }
  return { members, seats };
}

/** Every member's rebuilt state equals what the server says it may see, at the same seq. */
function assertInSync(room: Room, members: TestMember[]): void {
  for (const m of members) {
    deepEqual(m.problems, [], `problems of ${m.player}`);
    equal(m.seq, room.seq, `seq of ${m.player}`);
    deepEqual(m.state, JSON.parse(JSON.stringify(room.view(m.player))), `state of ${m.player}`);
  }
}

Deno.test("a join sends a welcome with the state, tables, player list and session", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  const welcome = members[1].welcomes[0];
  equal(welcome.player, "p2");
  equal(welcome.room, "r1");
  equal(welcome.game, "counter");
  equal(welcome.resumed, false);
  deepEqual(welcome.actions, ["add", "noop", "shout", "win"]);
  deepEqual(welcome.players.map((p) => [p.id, p.name, p.seat, p.presence]), [
    ["p1", "player 1", 0, "connected"],
    ["p2", "player 2", 1, "connected"],
  ]);
  equal(seats[1].session, welcome.session);
  ok(/^[A-Za-z0-9_-]{24}$/.test(welcome.session));
  assertInSync(room, members);
  deepEqual(members[0].events.map((e) => [e.type, e.player, e.data]), [
    ["player_joined", "p2", { name: "player 2", seat: 1 }],
  ]);
  room.dispose();
});

Deno.test("names lose control characters and are cut at 32 code units, never inside a character", async () => {
  const named = async (name: string) => {
    const { room } = testRoom(counter);
    const member = new TestMember();
    await room.join({ name }, member);
    room.dispose();
    return member.welcomes[0].players.at(-1)!.name;
  };
  equal(await named(" An\u0007n\n "), "Ann");
  // 31 letters and an emoji (two UTF-16 code units): the emoji does not fit, and goes whole.
  equal(await named(`${"a".repeat(31)}😀`), "a".repeat(31));
  equal(await named(`${"a".repeat(30)}😀`), `${"a".repeat(30)}😀`);
  // Invisible characters go too (bidi overrides, zero-width spaces, separators, a BOM, C1
  // controls), so one name cannot pass for another; emoji sequences keep their joiners.
  equal(await named("\u0085\u202eadmin\u200b\u2028\ufeff\u061c"), "admin");
  equal(await named("\u200b\u200e"), "p1");
  equal(await named("👩\u200d💻 ann"), "👩\u200d💻 ann");
  // ... but not between letters, where it only hides: "ad‍min" would pass for "admin".
  equal(await named("ad\u200dmin"), "admin");
  // The non-joiner stays where a script needs it (Persian), not in Latin text.
  equal(await named("می\u200cخواهم"), "می\u200cخواهم");
  equal(await named("ad\u200cmin"), "admin");
  // A subdivision flag keeps its tag characters; letters that draw nothing go.
  const england = "🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}";
  equal(await named(`${england} fan`), `${england} fan`);
  equal(await named("a\u{e0067}b"), "ab");
  equal(await named("\u3164\u2800"), "p1");
});

Deno.test("rejections are typed, go only to the sender and change neither state nor seq", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 1);
  seats[0].act(1, "add", { by: 1 });
  deepEqual(members[0].rejects.map((r) => r.code), ["waiting_for_players"]);
  const more = await seatPlayers(room, 1);
  const watcher = new TestMember();
  const spectator = await room.join({ spectator: true }, watcher);
  const all = [...members, ...more.members, watcher];
  const seq = room.seq;
  const state = structuredClone(room.state);
  const framesBefore = all.map((m) => m.frames.length);

  seats[0].act(2, "jump", null);
  seats[0].act(3, 99, null);
  seats[0].act(4, "add", { by: 9 });
  seats[0].act(5, "add", { by: "1" });
  seats[0].act(5, "add", { by: 1 });
  seats[0].act(6, "x".repeat(8000), null);
  spectator.act(1, "add", { by: 1 });
  room.view(null);

  deepEqual(members[0].rejects.slice(1).map((r) => [r.seq, r.code, r.message]), [
    [2, "unknown_action", 'counter has no action "jump"; known: add, noop, shout, win.'],
    [3, "unknown_action", "counter has no action 99; known: add, noop, shout, win."],
    [4, "bad_payload", "payload.by: expected an integer between 1 and 5, got 9"],
    [5, "bad_payload", 'payload.by: expected an integer between 1 and 5, got "1"'],
    [5, "out_of_order", "Client sequence 5 is not above the last one, 5."],
    // A long name is not echoed back in full.
    [
      6,
      "unknown_action",
      `counter has no action "${"x".repeat(64)}…"; known: add, noop, shout, win.`,
    ],
  ]);
  deepEqual(watcher.rejects.map((r) => r.code), ["not_a_player"]);
  equal(room.seq, seq);
  deepEqual(room.state, state);
  equal(more.members[0].frames.length, framesBefore[1]);

  // The game's own reason comes back as invalid_action.
  for (let i = 0; i < 20; i++) seats[0].act(10 + i, "add", { by: 5 });
  seats[0].act(40, "add", { by: 1 });
  deepEqual(members[0].rejects.at(-1)!.code, "game_over");
  room.dispose();
});

Deno.test("invalid_action carries the game's reason; not_your_turn follows turn()", async () => {
  const { room } = testRoom(ticTacToe);
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "place", { cell: 0 });
  deepEqual(members[1].rejects.map((r) => r.code), ["not_your_turn"]);
  seats[0].act(1, "place", { cell: 0 });
  seats[1].act(2, "place", { cell: 0 });
  deepEqual(members[1].rejects.at(-1), {
    kind: "reject",
    seq: 2,
    code: "invalid_action",
    message: "cell 0 is already marked",
  });
  room.dispose();
});

Deno.test("an action with seq 0 is out_of_order, on a fresh seat as after a resume", async () => {
  const { room } = testRoom(ticTacToe);
  const { members, seats } = await seatPlayers(room, 2);
  seats[0].act(0, "place", { cell: 0 });
  deepEqual(members[0].rejects.map((r) => [r.seq, r.code]), [[0, "out_of_order"]]);
  seats[0].act(1, "place", { cell: 0 });
  const ann = members[0];
  ann.reopen();
  const back = await room.join({ resume: { session: seats[0].session, seq: room.seq } }, ann);
  back.act(0, "place", { cell: 1 });
  deepEqual(ann.rejects.map((r) => [r.seq, r.code]), [[0, "out_of_order"], [0, "out_of_order"]]);
  room.dispose();
});

Deno.test("refusals a seat remembers for resumes keep their messages short", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  const key = "k".repeat(8000);
  seats[0].act(1, "add", { by: 1, [key]: 1 });
  const sent = members[0].rejects[0];
  equal(sent.code, "bad_payload");
  // The client's key is cut where the message names it, and what is remembered is bounded.
  ok(sent.message.length < 200, sent.message);
  ok(sent.message.startsWith(`payload["${"k".repeat(32)}…"]: expected no such key`), sent.message);
  room.dispose();

  // A game's own long reason reaches the client whole, and is remembered cut.
  const verbose = defineGame({
    name: "verbose",
    players: { min: 1, max: 1 },
    setup: () => ({}),
    actions: { say: { payload: t.string(), validate: (_state, text) => text, apply() {} } },
  });
  const { room: other } = testRoom(verbose);
  const { members: [ann], seats: [seat] } = await seatPlayers(other, 1);
  seat.act(1, "say", "r".repeat(5000));
  equal(ann.rejects[0].message, "r".repeat(5000));
  ann.reopen();
  await other.join({ resume: { session: seat.session, seq: 0 } }, ann);
  deepEqual(ann.welcomes.at(-1)!.rejected!.map((r) => [r.seq, r.message]), [
    [1, `${"r".repeat(200)}…`],
  ]);
  other.dispose();
});

Deno.test("a client that numbers from its last applied action again forgets the refusals of those numbers", async () => {
  const { room } = testRoom(ticTacToe);
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "place", { cell: 4 }); // out of turn: refused, and remembered
  // Bob's page reloads and resumes from its token: it numbers from his last applied action, 0.
  const bob = members[1];
  bob.reopen();
  const back = await room.join({ resume: { session: seats[1].session, seq: 0 } }, bob);
  deepEqual(bob.welcomes.at(-1)?.rejected?.map((r) => r.seq), [1]);
  seats[0].act(1, "place", { cell: 0 });
  back.act(1, "place", { cell: 4 }); // a new action 1: applied
  equal(bob.ack, 1);
  // His link drops before the acknowledgement arrives: the resume settles action 1 as applied.
  bob.reopen();
  await room.join({ resume: { session: seats[1].session, seq: 0 } }, bob);
  const welcome = bob.welcomes.at(-1)!;
  equal(welcome.ack, 1);
  equal(welcome.rejected, undefined, "no refusal of an older action 1");
  room.dispose();
});

Deno.test("refusals the transport made between two actions are remembered for resumes", async () => {
  const { room } = testRoom(counter);
  const { members: [ann], seats: [seat] } = await seatPlayers(room, 2);
  seat.act(2, "add", { by: 1 });
  const refused = (seq: number) => ({ seq, code: "rate_limited" as const, message: `no ${seq}` });
  // 1 and 2 are at or below the last action, 6 not before this one: only 3 and 5 count.
  seat.act(6, "add", { by: 1 }, [1, 2, 3, 5, 6].map(refused));
  equal(ann.ack, 6);
  deepEqual(ann.rejects, [], "the transport already sent its refusals");
  ann.reopen();
  await room.join({ resume: { session: seat.session, seq: 0 } }, ann);
  deepEqual(ann.welcomes.at(-1)!.rejected, [refused(3), refused(5)]);
  deepEqual(room.snapshot().seats[0]?.rejects, [refused(3), refused(5)]);
  room.dispose();
});

Deno.test("a transport refusal of a seq the seat refused before replaces the old refusal", async () => {
  const { room } = testRoom(counter);
  const { members: [ann], seats: [seat] } = await seatPlayers(room, 2);
  seat.act(1, "add", { by: 1 });
  seat.act(2, "add", { by: "two" }); // refused by the room, remembered
  // A client that numbers from its last applied action again (1): its new 2 is refused by
  // the transport, and its 3 carries that refusal.
  ann.reopen();
  const back = await room.join({ resume: { session: seat.session, seq: 0 } }, ann);
  const limited = { seq: 2, code: "rate_limited" as const, message: "slow down" };
  back.act(3, "add", { by: 1 }, [limited]);
  deepEqual(room.snapshot().seats[0]?.rejects, [limited]);
  room.dispose();
});

Deno.test("actions can be named by their index in the welcome's list", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, 0, { by: 3 });
  equal((room.state as { total: number }).total, 3);
  assertInSync(room, members);
  room.dispose();
});

Deno.test("every recipient sees gap-free sequences and the server's view under random play", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 3);
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  const all = [...members, watcher];
  const nextSeq = [1, 1, 1];
  let broadcasts = room.seq;
  for (let step = 0; step < 200 && !room.outcome; step++) {
    const who = step % 3;
    const roll = (step * 7919) % 10;
    const before = room.seq;
    if (roll < 6) seats[who].act(nextSeq[who]++, "add", { by: 1 + (step % 5) });
    else if (roll < 7) seats[who].act(nextSeq[who]++, "noop", null);
    else if (roll < 8) seats[who].act(nextSeq[who]++, "add", { by: 50 });
    else seats[who].act(nextSeq[who] - 1, "add", { by: 1 }); // out of order
    // The action that ends the game gets a second one after game_over, carrying its ack.
    const most = room.outcome ? 2 : 1;
    ok(
      room.seq >= before && room.seq <= before + most,
      "one broadcast per accepted action at most",
    );
    broadcasts = room.seq;
    assertInSync(room, all);
  }
  for (const m of all) {
    const seqs = m.received("delta").map((d) => d.seq);
    deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => m.welcomes[0].seq + 1 + i));
  }
  equal(broadcasts, room.seq);
  // Each player's acks add up to its highest accepted client sequence.
  for (let i = 0; i < 3; i++) {
    const accepted = members[i].received("delta").reduce((n, d) => n + d.ackDelta, 0);
    equal(members[i].ack, accepted);
  }
  room.dispose();
});

Deno.test("an accepted action that changes nothing is still acknowledged with an empty delta", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  const seq = room.seq;
  seats[0].act(7, "noop", null);
  equal(room.seq, seq + 1);
  const [mine, theirs] = members.map((m) => m.received("delta").at(-1)!);
  equal(mine.ackDelta, 7);
  equal(theirs.ackDelta, 0);
  equal(mine.ops.length, 0);
  deepEqual(members[0].ops.at(-1), []);
  equal(members[0].ack, 7);
  room.dispose();
});

Deno.test("custom events go after the delta, to everyone or only to the listed players", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  seats[1].act(1, "shout", "hi");
  const kinds = members[0].messages.slice(-3).map((m) => m.kind === "event" ? m.type : m.kind);
  deepEqual(kinds, ["delta", "shout", "psst"]);
  deepEqual(members[1].events.at(-1)!.data, { from: "p2", payload: "hi" });
  equal(members[1].events.some((e) => e.type === "psst"), false);
  equal(watcher.events.some((e) => e.type === "psst"), false);
  equal(watcher.events.some((e) => e.type === "shout"), true);
  room.dispose();
});

Deno.test("actions are applied one at a time, in arrival order, after the journal made them durable", async () => {
  const written: JournalEntry[] = [];
  const releases: (() => void)[] = [];
  const journal = {
    append(entry: JournalEntry) {
      written.push(entry);
      return new Promise<void>((resolve) => releases.push(resolve));
    },
  };
  const { room, clock } = testRoom(counter, { journal });
  const { members, seats } = await seatPlayers(room, 3);
  const seq = room.seq;
  const deltasBefore = members[0].received("delta").length;
  // Nine actions arrive "at once" from three players.
  for (let round = 1; round <= 3; round++) {
    for (let p = 0; p < 3; p++) seats[p].act(round, "add", { by: p + 1 });
  }
  equal(written.length, 1, "the second action waits for the first to be durable");
  equal(room.seq, seq, "nothing is broadcast before the append resolved");
  equal(members[0].received("delta").length, deltasBefore);
  clock.advance(5);
  while (releases.length > 0) {
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 0));
  }
  await room.idle();
  deepEqual(written.map((e) => [e.index, e.player, e.seq]), [
    [1, "p1", 1],
    [2, "p2", 1],
    [3, "p3", 1],
    [4, "p1", 2],
    [5, "p2", 2],
    [6, "p3", 2],
    [7, "p1", 3],
    [8, "p2", 3],
    [9, "p3", 3],
  ]);
  equal(written[0].time, 1_700_000_000_000);
  deepEqual(written[0].payload, { by: 1 });
  equal(room.actionIndex, 9);
  equal(room.seq, seq + 9);
  deepEqual((room.state as { log: string[] }).log.slice(3), [
    "p1",
    "p2",
    "p3",
    "p1",
    "p2",
    "p3",
    "p1",
    "p2",
    "p3",
  ]);
  assertInSync(room, members);
  room.dispose();
});

Deno.test("leave() resolves once the room processed it, after the actions submitted before it", async () => {
  let store: () => void = () => {};
  const { room } = testRoom(counter, {
    journal: { append: () => new Promise<void>((resolve) => store = resolve) },
  });
  const { members, seats } = await seatPlayers(room, 2);
  seats[0].act(1, "add", { by: 1 });
  let left = false;
  const leaving = Promise.resolve(seats[0].leave()).then(() => left = true);
  await new Promise((r) => setTimeout(r, 0));
  equal(left, false, "the action is still being stored");
  equal(members[0].ack, 0);
  store();
  await leaving;
  equal(members[0].ack, 1, "acknowledged before the leave went through");
  equal(room.players[0].presence, "left");
  room.dispose();
});

Deno.test("leave() in a game that broadcasts on its tick acknowledges the seat's last actions first", async () => {
  const { room } = testRoom(arena);
  const { members, seats } = await seatPlayers(room, 2);
  seats[0].act(1, "move", { dx: 1, dy: 0, seq: 1 });
  equal(members[0].ack, 0, "waits for the tick");
  await seats[0].leave();
  equal(members[0].ack, 1, "told before the seat went");
  assertInSync(room, members.slice(1));
  room.dispose();
});

Deno.test("a failing journal refuses the action with internal and changes nothing", async () => {
  const { room, errors } = testRoom(counter, {
    journal: { append: () => Promise.reject(new Error("disk full")) },
  });
  const { members, seats } = await seatPlayers(room, 2);
  const seq = room.seq;
  seats[0].act(1, "add", { by: 1 });
  await room.idle();
  await new Promise((r) => setTimeout(r, 0));
  deepEqual(members[0].rejects.map((r) => r.code), ["internal"]);
  equal(room.seq, seq);
  equal(room.actionIndex, 0);
  equal((errors[0] as Error).message, "disk full");
  room.dispose();
});

Deno.test("a turn timeout the journal refuses runs again a second later, clients hear the new deadline at once, and the stop when it ends the game", async () => {
  let failing = true;
  const { room, clock, errors } = testRoom(connectFour, {
    options: { turnMs: 10_000 },
    journal: {
      append: (entry: JournalEntry) =>
        failing && entry.player === null ? Promise.reject(new Error("disk full")) : undefined,
    },
  });
  const { members } = await seatPlayers(room, 2);
  const deadlines = () =>
    members[1].events.filter((e) => e.type === "turn_clock").map((e) =>
      (e.data as { deadline: number | null }).deadline
    );
  const first = deadlines().at(-1)!;
  clock.advance(10_000); // p1's time is up; the journal refuses the timeout
  await room.idle();
  await new Promise((r) => setTimeout(r, 0));
  equal((errors[0] as Error).message, "disk full");
  equal(room.outcome, null);
  equal(deadlines().at(-1), first + 1000, "told at once, not at the next broadcast");
  failing = false;
  clock.advance(1000);
  await room.idle();
  await new Promise((r) => setTimeout(r, 0));
  deepEqual(room.outcome, { reason: "timeout", winners: ["p2"] });
  equal(room.actionIndex, 1);
  // The game it ended stops the clock, and clients are told so.
  equal(room.snapshot().turnDeadline, null);
  equal(deadlines().at(-1), null);
  room.dispose();
});

Deno.test("an anyTurn action goes through out of turn and leaves the mover's clock running", async () => {
  const { room, clock } = testRoom(relay);
  const { members, seats } = await seatPlayers(room, 2);
  const deadline = room.snapshot().turnDeadline!;
  const clocks = () => members[1].events.filter((e) => e.type === "turn_clock").length;
  const clocksBefore = clocks();
  clock.advance(20_000);
  seats[1].act(1, "pass", null);
  seats[1].act(2, "chat", null);
  await room.idle();
  deepEqual(members[1].rejects.map((r) => [r.seq, r.code]), [[1, "not_your_turn"]]);
  equal(members[1].ack, 2, "the chat was applied");
  deepEqual(room.state, { next: "p1", passes: 0, chats: 1 });
  equal(room.snapshot().turnDeadline, deadline, "p1's clock was not restarted");
  equal(clocks(), clocksBefore, "no turn_clock event: nothing changed");
  // Taking the turn out of turn changes hands: the new mover gets a full turn.
  clock.advance(10_000);
  seats[1].act(3, "take", null);
  await room.idle();
  equal(room.snapshot().turnDeadline, clock.now() + 60_000);
  // p1 chats during p2's turn, which then times out on p2's deadline, not later.
  clock.advance(30_000);
  seats[0].act(1, "chat", null);
  clock.advance(29_999);
  await room.idle();
  equal((room.state as { next: string }).next, "p2");
  clock.advance(1);
  await room.idle();
  equal((room.state as { next: string }).next, "p1", "p2's turn timed out");
  room.dispose();
});

Deno.test("tick mode coalesces a tick's changes into one broadcast and stays quiet when idle", async () => {
  const { room, clock } = testRoom(arena);
  const { members, seats } = await seatPlayers(room, 2);
  clock.advance(50);
  assertInSync(room, members);
  const seq = room.seq;
  seats[0].act(1, "move", { dx: 1, dy: 0, seq: 1 });
  seats[0].act(2, "move", { dx: 1, dy: 0, seq: 2 });
  seats[1].act(1, "move", { dx: 0, dy: -1, seq: 1 });
  equal(room.seq, seq, "moves wait for the tick");
  clock.advance(50);
  equal(room.seq, seq + 1, "one broadcast for the whole tick");
  const [d0, d1] = members.map((m) => m.received("delta").at(-1)!);
  equal(d0.ackDelta, 2);
  equal(d1.ackDelta, 1);
  equal(d0.dt, 50);
  assertInSync(room, members);

  const frames = members.map((m) => m.frames.length);
  clock.advance(1000);
  equal(room.seq, seq + 1, "no change, no acks: no broadcast");
  deepEqual(members.map((m) => m.frames.length), frames);

  // An acknowledgement alone is worth a broadcast.
  const me = (room.state as { players: Record<string, { lastSeq: number }> }).players.p1;
  seats[0].act(3, "move", { dx: 0, dy: 0, seq: me.lastSeq });
  clock.advance(50);
  equal(room.seq, seq + 2);
  deepEqual(members[0].ops.at(-1), []);
  equal(members[0].received("delta").at(-1)!.ackDelta, 1);
  equal(members[0].received("delta").at(-1)!.dt, 1050);
  room.dispose();
});

/** A handler that, like a socket session, acts through `seat` once its held input comes back. */
function actingHandler(seat: Seat, order: string[]): HeldInputHandler {
  return {
    handleHeldInput(input, arrivedAt) {
      order.push(`${seat.player} ${input} @${arrivedAt}`);
      const seq = input as number;
      seat.act(seq, "move", { dx: 1, dy: 0, seq });
    },
  };
}

Deno.test("a room that broadcasts per tick holds inputs until the tick, then hands them back in arrival order just before it", async () => {
  const { room, clock } = testRoom(arena);
  const { members, seats } = await seatPlayers(room, 2);
  clock.advance(50);
  const seq = room.seq;
  const order: string[] = [];
  const [h1, h2] = seats.map((seat) => actingHandler(seat, order));
  ok(seats[0].hold!(h1, 1, 7));
  ok(seats[1].hold!(h2, 1, 8));
  ok(seats[0].hold!(h1, 2, 9));
  clock.advance(49);
  deepEqual(order, [], "held until the tick");
  clock.advance(1);
  deepEqual(order, ["p1 1 @7", "p2 1 @8", "p1 2 @9"]);
  equal(room.seq, seq + 1, "applied before the tick, they went out with it");
  deepEqual(members.map((m) => m.received("delta").at(-1)!.ackDelta), [2, 1]);
  assertInSync(room, members);

  // Anything else the room is given goes after what it holds: here a spectator's join.
  ok(seats[1].hold!(h2, 2, 60));
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  deepEqual(order.at(-1), "p2 2 @60");
  equal(members[1].ack, 1, "applied before the join, acknowledged at the next tick");
  clock.advance(50);
  equal(members[1].ack, 2);

  // A release before the tick (a socket closing) hands everything back at once.
  ok(seats[0].hold!(h1, 3, 101));
  seats[1].release!();
  deepEqual(order.at(-1), "p1 3 @101");
  room.dispose();
});

Deno.test("a room holds nothing unless it broadcasts per tick now, nor a spectator's; a dispose applies what it held", async () => {
  const order: string[] = [];
  const noop = { handleHeldInput: (input: unknown) => void order.push(String(input)) };
  // Turn-based: no ticks at all.
  const turns = testRoom(ticTacToe);
  const [ttt] = (await seatPlayers(turns.room, 2)).seats;
  equal(ttt.hold!(noop, "ttt", 0), false);
  turns.room.dispose();
  // Ticks, but every change goes out at once: holding would only delay it.
  const immediate = testRoom(defineGame({
    name: "immediate_ticker",
    players: { min: 1, max: 2 },
    broadcast: "immediate",
    setup: () => ({ n: 0 }),
    actions: { bump: { apply: (s) => void s.n++ } },
    tick: { hz: 20, update: () => {} },
  }));
  const [bumper] = (await seatPlayers(immediate.room, 1)).seats;
  equal(bumper.hold!(noop, "immediate", 0), false);
  immediate.room.dispose();
  // An arena ticks once two players are in, and holds until its ticks stop.
  const { room } = testRoom(arena);
  const [mover] = (await seatPlayers(room, 1)).seats;
  equal(mover.hold!(noop, "waiting", 0), false, "one player: the game has not started");
  await room.join({ name: "second" }, new TestMember());
  const watcher = await room.join({ spectator: true }, new TestMember());
  equal(watcher.hold!(noop, "spectator", 0), false, "a spectator's frames are not held");
  ok(mover.hold!(actingHandler(mover, order), 1, 0));
  // A restart's dispose: the held move is applied first, so the snapshot taken next has it.
  room.dispose("server_restart");
  deepEqual(order, ["p1 1 @0"]);
  const players = (room.state as { players: Record<string, { lastSeq: number }> }).players;
  equal(players.p1.lastSeq, 1);
  equal(mover.hold!(noop, "late", 0), false, "a disposed room holds nothing");
});

Deno.test("game over: the final delta, then game_over to everyone, then the winning move's ack; later actions refused; disposed after retention", async () => {
  const { room, clock } = testRoom(counter, { finishedRetentionMs: 5_000 });
  const { members, seats } = await seatPlayers(room, 2);
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  seats[1].act(1, "win", null);
  for (const m of [...members, watcher]) {
    const last = m.messages.slice(-3);
    deepEqual(last.map((x) => x.kind), ["delta", "game_over", "delta"]);
    deepEqual(m.outcome, { winners: ["p1"], reason: "reached 100" });
    // The ack comes after game_over, so a client's send of the move sees the outcome.
    const acks = last.map((x) => x.kind === "delta" ? x.ackDelta : null);
    deepEqual(acks, [0, null, m === members[1] ? 1 : 0]);
  }
  equal(room.status, "finished");
  seats[0].act(1, "add", { by: 1 });
  equal(members[0].rejects.at(-1)!.code, "game_over");
  // Still readable: a late spectator gets the final state and the outcome.
  const late = new TestMember();
  await room.join({ spectator: true }, late);
  deepEqual(late.welcomes[0].outcome, { winners: ["p1"], reason: "reached 100" });
  await rejects(
    room.join({ name: "x" }, new TestMember()),
    (e: ArbiterError) => e.code === "game_over",
  );
  clock.advance(4_999);
  equal(room.disposed, false);
  clock.advance(1);
  equal(room.disposed, true);
  deepEqual(members[0].closed, { code: 4005, reason: "room_closed" });
  equal(members[0].messages.at(-1)!.kind, "error");
  equal(clock.pending, 0);
});

Deno.test("a replaying resume across the end gets game_over where it was live: after the final state, before the ack", async () => {
  const { room } = testRoom(counter, { graceMs: 10_000 });
  const { members, seats } = await seatPlayers(room, 2);
  const away = members[1];
  const lastSeen = away.seq;
  seats[1].act(1, "win", null); // applied, but the link drops before the frames arrive
  seats[1].disconnect();
  away.reopen();
  const from = away.messages.length;
  await room.join({ resume: { session: seats[1].session, seq: lastSeen } }, away);
  const got = away.messages.slice(from);
  deepEqual(got.map((m) => m.kind), ["welcome", "delta", "game_over", "delta"]);
  const welcome = away.welcomes.at(-1)!;
  equal(welcome.replay, true);
  equal(welcome.outcome, undefined, "not before the final state");
  deepEqual(got.map((m) => m.kind === "delta" ? m.ackDelta : null), [null, 0, null, 1]);
  // A resume from after the end (the final state seen, game_over lost) gets it in the welcome.
  const seen = away.seq - 1;
  away.reopen();
  await room.join({ resume: { session: seats[1].session, seq: seen } }, away);
  deepEqual(away.welcomes.at(-1)!.outcome, { winners: ["p1"], reason: "reached 100" });
  room.dispose();
});

Deno.test("a dropped player keeps the seat for the grace window and resumes with a replay", async () => {
  const { room, clock } = testRoom(counter, { graceMs: 10_000 });
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "add", { by: 2 });
  seats[1].disconnect();
  deepEqual(members[0].events.at(-1), {
    kind: "event",
    type: "player_disconnected",
    player: "p2",
    data: { name: "player 2", seat: 1 },
  });
  equal(room.players[1].presence, "disconnected");
  equal(room.status, "playing");
  seats[1].act(2, "add", { by: 1 }); // ignored: that connection is gone
  for (let i = 1; i <= 3; i++) seats[0].act(i, "add", { by: 1 });
  clock.advance(9_000);

  const away = members[1];
  const lastSeen = away.seq;
  const framesBefore = away.frames.length;
  away.reopen();
  const back = await room.join({ resume: { session: seats[1].session, seq: lastSeen } }, away);
  const welcome = away.welcomes.at(-1)!;
  equal(welcome.replay, true);
  equal(welcome.resumed, true);
  equal(welcome.seq, lastSeen);
  equal(welcome.ack, 0, "the acknowledgement rides on the last replayed delta");
  equal(away.frames.length - framesBefore, 1 + 3, "the welcome and exactly the missed deltas");
  deepEqual(away.received("delta").slice(-3).map((d) => d.ackDelta), [0, 0, 1]);
  equal(away.ack, 1);
  assertInSync(room, members);
  equal(back.player, "p2");
  equal(room.players[1].presence, "connected");
  equal(members[0].events.at(-1)!.type, "player_reconnected");
  back.act(2, "add", { by: 1 });
  equal(away.rejects.length, 0);
  equal(away.ack, 2);
  // The grace timer was cancelled by the resume.
  clock.advance(60_000);
  equal(room.players[1].presence, "connected");
  room.dispose();
});

Deno.test("a resume older than the ring, or from seq 0, gets the full state", async () => {
  const { room } = testRoom(counter, { ringSize: 2 });
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].disconnect();
  const lastSeen = members[1].seq;
  for (let i = 1; i <= 5; i++) seats[0].act(i, "add", { by: 1 });
  members[1].reopen();
  const back = await room.join(
    { resume: { session: seats[1].session, seq: lastSeen } },
    members[1],
  );
  const welcome = members[1].welcomes.at(-1)!;
  equal(welcome.replay, undefined);
  equal(welcome.seq, room.seq);
  assertInSync(room, members);

  back.disconnect();
  members[1].reopen();
  await room.join({ resume: { session: seats[1].session, seq: 0 } }, members[1]);
  equal(members[1].welcomes.at(-1)!.replay, undefined);
  // And a resume at the current seq replays nothing.
  const again = await room.join(
    { resume: { session: seats[1].session, seq: room.seq } },
    new TestMember(),
  );
  equal(again.player, "p2");
  room.dispose();
});

Deno.test("the resume ring replays what it holds while it fills and after it wraps", async () => {
  const { room } = testRoom(counter, { ringSize: 3 });
  const { seats } = await seatPlayers(room, 2);
  let next = 1;
  /** Bob's resume from `since`: how many deltas were replayed (null: the full state instead). */
  const resumeFrom = async (since: number) => {
    const bob = new TestMember();
    await room.join({ resume: { session: seats[1].session, seq: since } }, bob);
    if (!bob.welcomes.at(-1)!.replay) return null;
    const seqs = bob.messages.flatMap((m) => m.kind === "delta" ? [m.seq] : []);
    deepEqual(seqs, Array.from({ length: room.seq - since }, (_, i) => since + 1 + i));
    return seqs.length;
  };
  seats[0].act(next++, "add", { by: 1 });
  equal(await resumeFrom(room.seq - 1), 1, "filling");
  for (let i = 0; i < 4; i++) seats[0].act(next++, "add", { by: 1 });
  for (const [missed, replayed] of [[1, 1], [2, 2], [3, 3], [4, null]] as const) {
    equal(await resumeFrom(room.seq - missed), replayed, `after the wrap, ${missed} missed`);
  }
  room.dispose();
});

Deno.test("a second socket resuming a seat replaces the first (4004 session_replaced)", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  const second = new TestMember();
  const fresh = await room.join(
    { resume: { session: seats[0].session, seq: members[0].seq } },
    second,
  );
  deepEqual(members[0].closed, { code: 4004, reason: "session_replaced" });
  deepEqual(members[0].messages.at(-1), {
    kind: "error",
    code: "session_replaced",
    message: "This seat was resumed from another connection.",
  });
  const frames = members[0].frames.length;
  seats[0].act(1, "add", { by: 1 }); // the old handle is dead
  seats[0].disconnect();
  equal(room.players[0].presence, "connected");
  fresh.act(1, "add", { by: 1 });
  equal(members[0].frames.length, frames);
  equal(second.ack, 1);
  equal(members[1].events.some((e) => e.type === "player_disconnected"), false);
  room.dispose();
});

Deno.test("wrong, left and expired session tokens are refused with bad_session", async () => {
  const { room, clock } = testRoom(counter, { graceMs: 1_000 });
  const { seats } = await seatPlayers(room, 3);
  const isBadSession = (e: ArbiterError) => e.code === "bad_session";
  await rejects(room.join({ resume: { session: "nope", seq: 0 } }, new TestMember()), isBadSession);
  seats[0].leave();
  await rejects(
    room.join({ resume: { session: seats[0].session, seq: 0 } }, new TestMember()),
    isBadSession,
  );
  seats[1].disconnect();
  clock.advance(1_000);
  equal(room.players[1].presence, "left");
  await rejects(
    room.join({ resume: { session: seats[1].session, seq: 0 } }, new TestMember()),
    isBadSession,
  );
  room.dispose();
});

Deno.test("a deliberate leave frees the seat at once and is told apart from a drop", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 3);
  seats[2].leave();
  deepEqual(members[0].events.at(-1)!.data, { name: "player 3", seat: 2, reason: "left" });
  equal(members[0].events.at(-1)!.type, "player_left");
  equal(room.players[2].presence, "left");
  equal(room.playerCount, 2);
  const newcomer = new TestMember();
  const seat = await room.join({ name: "newcomer" }, newcomer);
  equal(seat.player, "p3", "the seat keeps its id");
  equal(newcomer.welcomes[0].ack, 0);
  room.dispose();
});

Deno.test("an expired seat runs onSeatExpired (tic-tac-toe forfeits)", async () => {
  const { room, clock } = testRoom(ticTacToe, { graceMs: 30_000 });
  const { members, seats } = await seatPlayers(room, 2);
  seats[0].act(1, "place", { cell: 4 });
  seats[1].disconnect();
  clock.advance(29_999);
  equal(room.outcome, null);
  clock.advance(1);
  deepEqual(room.outcome, { winners: ["p1"], reason: "p2 forfeited" });
  deepEqual(members[0].events.at(-1)!.data, { name: "player 2", seat: 1, reason: "expired" });
  deepEqual(members[0].outcome, room.outcome);
  assertInSync(room, [members[0]]);
  room.dispose();
});

Deno.test("room_full, game_started and spectators_not_allowed", async () => {
  const { room } = testRoom(ticTacToe);
  await seatPlayers(room, 2);
  await rejects(room.join({}, new TestMember()), (e: ArbiterError) => e.code === "room_full");
  room.dispose();

  const closed = defineGame({
    name: "closed",
    players: { min: 1, max: 3 },
    lateJoin: false,
    setup: () => ({ n: 0 }),
    actions: { go: { apply: (state) => void state.n++ } },
  });
  const late = testRoom(closed).room;
  const { seats } = await seatPlayers(late, 2);
  equal(late.acceptsPlayers, true, "joins are fine until the first action");
  seats[0].act(1, "go", null);
  equal(late.acceptsPlayers, false);
  await rejects(late.join({}, new TestMember()), (e: ArbiterError) => e.code === "game_started");
  late.dispose();

  const hidden = defineGame({
    name: "hidden",
    players: { min: 1, max: 1 },
    spectators: false,
    setup: () => ({}),
    actions: {},
  });
  const other = testRoom(hidden).room;
  await rejects(
    other.join({ spectator: true }, new TestMember()),
    (e: ArbiterError) => e.code === "spectators_not_allowed",
  );
  other.dispose();
});

Deno.test("spectators see the spectator view and cannot act", async () => {
  const { room } = testRoom(counter);
  const { members, seats } = await seatPlayers(room, 2);
  const watcher = new TestMember();
  const seat = await room.join({ spectator: true, name: "eve" }, watcher);
  equal(seat.player, null);
  equal(seat.session, "");
  equal(watcher.welcomes[0].player, null);
  equal(room.spectatorCount, 1);
  seats[0].act(1, "add", { by: 4 });
  seat.act(1, "add", { by: 1 });
  deepEqual(watcher.rejects.map((r) => r.code), ["not_a_player"]);
  assertInSync(room, [...members, watcher]);
  seat.leave();
  equal(room.spectatorCount, 0);
  deepEqual(members[0].events.at(-1), {
    kind: "event",
    type: "spectator_left",
    data: { name: "eve" },
  });
  room.dispose();
});

Deno.test("a seat taken by a user is theirs: only they resume it, even without the token", async () => {
  const { room } = testRoom(counter);
  const ann = new TestMember();
  const seat = await room.join({ user: { userId: "u-ann", name: "Ann" } }, ann);
  equal(ann.welcomes[0].players[0].name, "Ann");
  await seatPlayers(room, 1);
  await rejects(
    room.join(
      { resume: { session: seat.session, seq: 0 }, user: { userId: "u-bob", name: "Bob" } },
      new TestMember(),
    ),
    (e: ArbiterError) => e.code === "bad_session",
  );
  await rejects(
    room.join({ resume: { session: seat.session, seq: 0 } }, new TestMember()),
    (e: ArbiterError) => e.code === "bad_session",
  );
  const laptop = new TestMember();
  const again = await room.join({ user: { userId: "u-ann", name: "Ann" } }, laptop);
  equal(again.player, "p1");
  equal(laptop.welcomes[0].resumed, true);
  deepEqual(ann.closed, { code: 4004, reason: "session_replaced" });
  room.dispose();
});

Deno.test("the turn clock times out the player to move (connect four forfeits)", async () => {
  const { room, clock } = testRoom(connectFour, { options: { turnMs: 10_000 } });
  const { members, seats } = await seatPlayers(room, 2);
  clock.advance(9_000);
  seats[0].act(1, "drop", { column: 3 }); // restarts the clock for p2
  clock.advance(9_999);
  equal(room.outcome, null);
  clock.advance(1);
  deepEqual(room.outcome, { winners: ["p1"], reason: "timeout" });
  for (const m of members) {
    // The clock stopped: clients that show a countdown are told so.
    deepEqual(m.messages.slice(-3).map((x) => x.kind === "event" ? x.data : x.kind), [
      "delta",
      { deadline: null },
      "game_over",
    ]);
  }
  assertInSync(room, members);
  equal(room.actionIndex, 2, "the timeout counts as a system action");
  room.dispose();
});

Deno.test("moves restart the turn clock without a timer each; the one timer re-arms for the rest", async () => {
  const { room, clock } = testRoom(connectFour, { options: { turnMs: 10_000 } });
  const { members, seats } = await seatPlayers(room, 2);
  const setTimer = clock.setTimer.bind(clock);
  let timersSet = 0;
  clock.setTimer = (callback, ms) => (timersSet++, setTimer(callback, ms));
  for (let i = 0; i < 6; i++) {
    clock.advance(1_000);
    seats[i % 2].act(Math.floor(i / 2) + 1, "drop", { column: i % 2 });
  }
  equal(timersSet, 0, "six moves, no timer set");
  const deadlines = members[0].events.filter((e) => e.type === "turn_clock").map((e) => e.data);
  deepEqual(deadlines.slice(-1), [{ deadline: clock.now() + 10_000 }], "each move is announced");
  clock.advance(9_999); // the first timer fired meanwhile and re-armed for the last deadline
  equal(timersSet, 1);
  equal(room.outcome, null);
  clock.advance(1);
  deepEqual(room.outcome, { winners: ["p2"], reason: "timeout" });
  room.dispose();
  equal(clock.pending, 0);
});

Deno.test("dispose stops every timer: ticks, turn clocks, grace windows, idle and retention", async () => {
  for (const game of [arena, connectFour, counter]) {
    const { room, clock } = testRoom(game);
    equal(clock.pending > 0, true, "idle countdown of an empty room");
    const { members, seats } = await seatPlayers(room, 2);
    await seatPlayers(room, 0);
    seats[1].disconnect();
    clock.advance(120);
    ok(clock.pending > 0);
    room.dispose();
    equal(clock.pending, 0, `${game.name} leaves no timer`);
    deepEqual(members[0].closed, { code: 4005, reason: "room_closed" });
    await rejects(room.join({}, new TestMember()), (e: ArbiterError) => e.code === "room_closed");
  }
});

Deno.test("rooms nobody is in are disposed after the idle timeout", async () => {
  const disposed: string[] = [];
  const { room, clock } = testRoom(counter, {
    idleDisposeMs: 1_000,
    graceMs: 5_000,
    onDispose: (r) => disposed.push(r.id),
  });
  clock.advance(900);
  const { seats } = await seatPlayers(room, 1);
  clock.advance(5_000);
  equal(room.disposed, false, "a member keeps it alive");
  seats[0].disconnect();
  clock.advance(4_000);
  equal(room.disposed, false, "a seat in its grace window keeps it alive");
  clock.advance(1_000 + 999);
  equal(room.disposed, false);
  clock.advance(1);
  equal(room.disposed, true);
  deepEqual(disposed, ["r1"]);
  equal(clock.pending, 0);
});

Deno.test("spectators alone do not keep a room: it goes after the idle timeout, and they are told", async () => {
  const { room, clock } = testRoom(counter, { idleDisposeMs: 1_000, graceMs: 5_000 });
  const { seats } = await seatPlayers(room, 2);
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  clock.advance(5_000);
  equal(room.disposed, false, "players keep it");
  for (const seat of seats) seat.leave();
  await room.idle();
  clock.advance(999);
  equal(room.disposed, false);
  clock.advance(1);
  await room.idle();
  equal(room.disposed, true);
  deepEqual(watcher.closed, { code: CLOSE_CODES.room_closed, reason: "room_closed" });
  equal(clock.pending, 0);
});

Deno.test("spectators per room are capped (maxSpectators): one more is room_full", async () => {
  const { room } = testRoom(counter, { maxSpectators: 2 });
  const watch = () => room.join({ spectator: true }, new TestMember());
  const first = await watch();
  await watch();
  await rejects(
    watch(),
    (e: ArbiterError) =>
      e.code === "room_full" && e.message === "Room r1 has 2 spectators, the most it takes.",
  );
  first.leave();
  await watch();
  equal(room.spectatorCount, 2);
  room.dispose();
});

Deno.test("a game that ends on its tick acks the actions of that tick after game_over", async () => {
  const race = defineGame({
    name: "race",
    players: { min: 2, max: 2 },
    broadcast: "tick",
    setup: () => ({ steps: 0, over: false }),
    actions: { step: { apply: (state) => void state.steps++ } },
    tick: { hz: 20, update: (state) => void (state.over = state.steps > 0) },
    outcome: (state) => state.over ? { winners: ["p1"], reason: "first step" } : undefined,
  });
  const { room, clock } = testRoom(race);
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "step", null);
  equal(members[1].ack, 0, "coalesced: acknowledged on the tick");
  clock.advance(50); // the tick ends the game
  for (const m of members) {
    deepEqual(m.messages.slice(-3).map((x) => x.kind), ["delta", "game_over", "delta"]);
  }
  deepEqual(
    members[1].messages.slice(-3).map((x) => x.kind === "delta" ? x.ackDelta : null),
    [0, null, 1],
  );
  room.dispose();
});

Deno.test("ticks pause while nobody is connected and resume when someone comes back", async () => {
  const dts: number[] = [];
  const ticker = defineGame({
    name: "ticker",
    players: { min: 2, max: 2 },
    setup: () => ({ ticks: 0 }),
    actions: {},
    tick: {
      hz: 20,
      update(state, dt) {
        state.ticks++;
        dts.push(dt);
      },
    },
  });
  const { room, clock } = testRoom(ticker, { graceMs: 60_000 });
  const { members, seats } = await seatPlayers(room, 2);
  const watcher = new TestMember();
  const spectator = await room.join({ spectator: true }, watcher);
  clock.advance(500);
  const running = room.ticksRun;
  equal(running, 10);
  for (const seat of seats) seat.disconnect();
  clock.advance(500);
  equal(room.ticksRun, running + 10, "a spectator still watches");
  spectator.leave();
  const paused = room.ticksRun;
  clock.advance(30_000);
  equal(room.ticksRun, paused, "nobody to see it: no ticks");
  // A player comes back: the game's time goes on from the resumption, not across the pause.
  members[0].reopen();
  await room.join({ resume: { session: seats[0].session, seq: room.seq } }, members[0]);
  dts.length = 0;
  clock.advance(100);
  equal(room.ticksRun, paused + 2, "ticking again");
  deepEqual(dts, [50, 50]);
  room.dispose();
});

Deno.test("hooks change the state like actions and are broadcast", async () => {
  const { room } = testRoom(counter);
  const { members } = await seatPlayers(room, 3);
  deepEqual((room.state as { log: string[] }).log, ["+p1", "+p2", "+p3"]);
  assertInSync(room, members);
});

Deno.test("game code that throws is reported and the room carries on", async () => {
  const flaky = defineGame({
    name: "flaky",
    players: { min: 1, max: 2 },
    setup: () => ({ n: 0 }),
    actions: {
      boom: {
        apply() {
          throw new Error("bug");
        },
      },
      bad: {
        validate() {
          throw new Error("validate bug");
        },
        apply() {},
      },
      inc: {
        apply(state) {
          state.n++;
        },
      },
    },
  });
  const { room, errors } = testRoom(flaky);
  const { members, seats } = await seatPlayers(room, 1);
  seats[0].act(1, "boom", null);
  seats[0].act(2, "bad", null);
  seats[0].act(3, "inc", null);
  deepEqual(errors.map((e) => (e as Error).message), ["bug", "validate bug"]);
  deepEqual(members[0].rejects.map((r) => r.code), ["internal"]);
  equal(members[0].ack, 3);
  assertInSync(room, members);
  room.dispose();
});

Deno.test("state that is not data fails at creation with the path", () => {
  const broken = defineGame({
    name: "broken",
    players: { min: 1, max: 1 },
    setup: () => ({ when: new Map() }),
    actions: {},
  });
  let message = "";
  try {
    testRoom(broken);
  } catch (e) {
    message = (e as Error).message;
  }
  ok(message.startsWith("state.when: a Map is not data"), message);
});

const race = defineGame({
  name: "race",
  players: { min: 1, max: 2 },
  // A common "nothing yet" value, which the protocol cannot carry.
  setup: () => ({ laps: [{ best: Infinity }] }),
  actions: {},
});

Deno.test("state holding NaN or an infinity fails at creation with the path, not at every join", async () => {
  throws(
    () => testRoom(race),
    /^TypeError: state\.laps\[0\]\.best: Infinity is not a finite number/,
  );
  // Through a manager: the game's bug is reported with its name, the client gets `internal`.
  const reported: [string, string][] = [];
  const manager = new RoomManager({
    games: [race],
    clock: new ManualClock(),
    onError: (error, room) => reported.push([room.game, (error as Error).message]),
  });
  for (const mode of ["create", "join_or_create"] as const) {
    await rejects(
      manager.join({ mode, game: "race" }, new TestMember()),
      (e) => e instanceof ArbiterError && !(e instanceof ProtocolError) && e.code === "internal",
    );
  }
  throws(() => manager.create("race"), (e) => e instanceof ArbiterError && e.code === "internal");
  equal(reported.length, 3);
  equal(reported[0][0], "race");
  match(reported[0][1], /state\.laps\[0\]\.best: Infinity/);
  equal(manager.size, 0, "no half-made room is left behind");
  manager.dispose();
});

Deno.test("a welcome that cannot be encoded is internal to the client, never a decoding code", async () => {
  // Stands in for any server-side encoding failure: a ProtocolError's code (bad_field) would
  // tell the client that its own frame was wrong.
  const garbled = defineGame({
    name: "garbled",
    players: { min: 1, max: 2 },
    setup: () => ({}),
    view: () => {
      throw new ProtocolError("bad_field", "not encodable");
    },
    actions: {},
  });
  const reported: string[] = [];
  const manager = new RoomManager({
    games: [garbled],
    clock: new ManualClock(),
    onError: (error, room) => reported.push(`${room.game}: ${(error as Error).message}`),
  });
  await rejects(
    manager.join({ mode: "join_or_create", game: "garbled" }, new TestMember()),
    (e) => e instanceof ArbiterError && !(e instanceof ProtocolError) && e.code === "internal",
  );
  deepEqual(reported, ["garbled: not encodable"]);
  manager.dispose();
});

Deno.test("an action that makes the state non-finite costs its audience a resume, not the room", async () => {
  const { room, errors } = testRoom(gauge);
  const { members, seats } = await seatPlayers(room, 2);
  seats[0].act(1, "spoil", null);
  match(String(errors[0]), /^TypeError: state\.level: NaN is not a finite number/);
  for (const member of members) {
    deepEqual(member.received("error").map((e) => e.code), ["internal"]);
    equal(member.closed?.code, 1011);
  }
  equal(room.disposed, false);
  deepEqual(room.players.map((p) => p.presence), ["disconnected", "disconnected"]);
  // Resuming works although the state is still broken (the welcome carries what was last
  // sent), and once the game mends its state, broadcasts flow again.
  const ann = members[0];
  ann.reopen();
  const back = await room.join({ resume: { session: seats[0].session, seq: ann.seq } }, ann);
  equal(ann.welcomes.at(-1)!.replay, undefined, "a full state: a broadcast went missing");
  equal(ann.closed, null);
  deepEqual(ann.state, { level: -1, samples: [] });
  back.act(2, "mend", null);
  equal(ann.ack, 2);
  assertInSync(room, [ann]);
  deepEqual(ann.state, { level: 1, samples: [1] });
  room.dispose();
});

/** What became of `promise` within `ms`: "resolved", "rejected <code>" or "pending". */
async function outcomeWithin(promise: Promise<unknown>, ms = 500): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => "resolved", (e) => `rejected ${(e as ArbiterError).code}`),
      new Promise<string>((resolve) => timer = setTimeout(() => resolve("pending"), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a join queued behind a journal write rejects with the dispose reason when the room is disposed", async () => {
  for (const reason of ["server_restart", "room_closed"] as const) {
    let release!: () => void;
    const journal = { append: () => new Promise<void>((resolve) => release = resolve) };
    const { room } = testRoom(ticTacToe, { journal });
    const { seats } = await seatPlayers(room, 2);
    seats[0].act(1, "place", { cell: 0 }); // the mailbox now waits for the journal
    const watcher = new TestMember();
    const queued = room.join({ name: "watcher", spectator: true }, watcher);
    room.dispose(reason);
    release();
    equal(await outcomeWithin(queued), `rejected ${reason}`);
    deepEqual(watcher.frames, [], "the queued join never ran");
  }
});

Deno.test("a room disposed under a queued join_or_create does not hold up the game's later ones", async () => {
  let release!: () => void;
  const manager = new RoomManager({
    games: [arena],
    clock: new ManualClock(),
    journal: () => ({ append: () => new Promise<void>((resolve) => release = resolve) }),
  });
  const join = () => manager.join({ mode: "join_or_create", game: "arena" }, new TestMember());
  const p1 = await join();
  await join();
  p1.act(1, "move", { dx: 1, dy: 0, seq: 1 }); // journal write in flight
  const queued = join(); // waits in the room's mailbox, and holds arena's join_or_create queue
  await new Promise((r) => setTimeout(r, 0));
  manager.get(p1.room.id)!.dispose("server_restart"); // e.g. the cluster lost the room's lease
  release();
  const later = join();
  deepEqual([await outcomeWithin(queued), await outcomeWithin(later)], [
    "rejected server_restart",
    "resolved",
  ]);
  manager.dispose();
});

Deno.test("onDisconnect runs on a drop and onReconnect on the resume; their changes reach everyone", async () => {
  const calls: string[] = [];
  const hooked = defineGame({
    name: "hooked",
    players: { min: 2, max: 3 },
    setup: () => ({ away: [] as string[], log: [] as string[] }),
    actions: { noop: { apply() {} } },
    onDisconnect(state, player, ctx) {
      calls.push(`disconnect ${player} as ${ctx.player}`);
      state.away.push(player);
      state.log.push(`-${player}`);
    },
    onReconnect(state, player, ctx) {
      calls.push(`reconnect ${player} as ${ctx.player}`);
      state.away = state.away.filter((p) => p !== player);
      state.log.push(`+${player}`);
    },
  });
  type Hooked = { away: string[]; log: string[] };
  const { room, clock, errors } = testRoom(hooked, { graceMs: 10_000 });
  const { members, seats } = await seatPlayers(room, 3);
  deepEqual(calls, [], "joining is neither");
  seats[0].act(1, "noop", null);
  ok(members[1].seq > 0, "a resume from here can be a replay");

  const seqBefore = room.seq;
  seats[1].disconnect();
  deepEqual(calls, ["disconnect p2 as p2"]);
  deepEqual((room.state as Hooked).away, ["p2"]);
  equal(room.seq, seqBefore + 1, "the hook's change is broadcast");
  deepEqual(members[0].ops.at(-1), [
    { op: "push", path: ["away"], values: ["p2"] },
    { op: "push", path: ["log"], values: ["-p2"] },
  ]);
  assertInSync(room, [members[0], members[2]]);

  // Play goes on meanwhile; then p2 resumes within the grace window.
  seats[0].act(2, "noop", null);
  clock.advance(5_000);
  const away = members[1];
  away.reopen();
  const back = await room.join({ resume: { session: seats[1].session, seq: away.seq } }, away);
  deepEqual(calls, ["disconnect p2 as p2", "reconnect p2 as p2"]);
  deepEqual(room.state, { away: [], log: ["-p2", "+p2"] });
  equal(away.welcomes.at(-1)!.replay, true, "a replaying resume, then the hook's delta");
  assertInSync(room, members);

  // A second socket taking over a connected seat is not a reconnect; a leave is not a drop.
  const laptop = new TestMember();
  await room.join({ resume: { session: back.session, seq: 0 } }, laptop);
  seats[2].leave();
  deepEqual(calls, ["disconnect p2 as p2", "reconnect p2 as p2"]);
  // Nor does an expired seat reconnect: p1 drops and stays away.
  seats[0].disconnect();
  clock.advance(10_000);
  deepEqual(calls, ["disconnect p2 as p2", "reconnect p2 as p2", "disconnect p1 as p1"]);
  deepEqual(errors, []);
  assertInSync(room, [laptop]);
  room.dispose();
});

/** Freezes a value and everything in it (what an immutable-state library hands out). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

Deno.test("an apply that returns a new (frozen) state instead of mutating works and diffs minimally", async () => {
  interface Tally {
    total: number;
    moves: { player: string; by: number }[];
    last: { player: string | null; at: number };
    bonus: Record<string, number>;
    joined: string[];
  }
  const immutable = defineGame({
    name: "immutable",
    players: { min: 2, max: 2 },
    setup: (): Tally =>
      deepFreeze({
        total: 0,
        moves: [],
        last: { player: null, at: 0 },
        bonus: {},
        joined: [],
      }),
    actions: {
      add: {
        payload: t.object({ by: t.int({ min: 1, max: 5 }) }),
        validate: (state, { by }) => state.total + by > 20 ? "too much" : undefined,
        apply: (state, { by }, ctx) =>
          deepFreeze({
            ...state,
            total: state.total + by,
            moves: [...state.moves, { player: ctx.player!, by }],
            last: { player: ctx.player, at: ctx.now },
          }),
      },
      bonus: {
        apply: (state, _payload, ctx) =>
          deepFreeze({ ...state, bonus: { ...state.bonus, [ctx.player!]: 1 } }),
      },
      unbonus: {
        apply: (state, _payload, ctx) => {
          const { [ctx.player!]: _gone, ...rest } = state.bonus;
          return deepFreeze({ ...state, bonus: rest });
        },
      },
      undo: {
        apply: (state) => deepFreeze({ ...state, moves: state.moves.slice(0, -1) }),
      },
      same: { apply: (state) => state },
    },
    onJoin: (state, player) => deepFreeze({ ...state, joined: [...state.joined, player] }),
    outcome: (state) => state.total >= 20 ? { winners: ["p1"], reason: "twenty" } : undefined,
  });
  const { room, clock, errors } = testRoom(immutable);
  const { members, seats } = await seatPlayers(room, 2);
  const watcher = new TestMember();
  await room.join({ spectator: true }, watcher);
  const all = [...members, watcher];
  deepEqual((room.state as Tally).joined, ["p1", "p2"]);
  ok(Object.isFrozen(room.state), "the room keeps the state the game returned");
  assertInSync(room, all);

  const before = room.state;
  clock.advance(10);
  seats[0].act(1, "add", { by: 3 });
  ok(room.state !== before, "the returned state replaced the old one");
  deepEqual(before, {
    total: 0,
    moves: [],
    last: { player: null, at: 0 },
    bonus: {},
    joined: ["p1", "p2"],
  }, "the old state is untouched");
  const at = (room.state as Tally).last.at;
  for (const m of all) {
    deepEqual(m.ops.at(-1), [
      { op: "set", path: ["total"], value: 3 },
      { op: "push", path: ["moves"], values: [{ player: "p1", by: 3 }] },
      { op: "set", path: ["last", "player"], value: "p1" },
      { op: "set", path: ["last", "at"], value: at },
    ]);
  }
  equal(members[0].ack, 1);
  assertInSync(room, all);

  seats[1].act(1, "bonus", null);
  deepEqual(members[0].ops.at(-1), [{ op: "set", path: ["bonus", "p2"], value: 1 }]);
  seats[1].act(2, "unbonus", null);
  deepEqual(members[0].ops.at(-1), [{ op: "delete", path: ["bonus", "p2"] }]);
  seats[0].act(2, "add", { by: 5 });
  seats[1].act(3, "undo", null);
  deepEqual(members[0].ops.at(-1), [{ op: "splice", path: ["moves"], index: 1, count: 1 }]);
  // Returning the same state is an accepted action with no change: an empty, acknowledged delta.
  const seq = room.seq;
  seats[1].act(4, "same", null);
  equal(room.seq, seq + 1);
  deepEqual(members[1].ops.at(-1), []);
  equal(members[1].ack, 4);
  // Validation and the outcome read the new states.
  seats[0].act(3, "add", { by: 5 });
  seats[0].act(4, "add", { by: 5 });
  seats[0].act(5, "add", { by: 5 });
  deepEqual(members[0].rejects.map((r) => [r.seq, r.code]), [[5, "invalid_action"]]);
  seats[0].act(6, "add", { by: 2 });
  deepEqual(room.outcome, { winners: ["p1"], reason: "twenty" });
  deepEqual(members[1].outcome, room.outcome);
  deepEqual(errors, [], "nothing tried to write into a frozen state");
  assertInSync(room, all);
  room.dispose();
});

Deno.test("tick mode: an event for a player goes to that seat's holder, not to whoever takes the seat before the tick", async () => {
  const whisper = defineGame({
    name: "whisper",
    players: { min: 1, max: 2 },
    broadcast: "tick",
    tick: { hz: 20, update() {} },
    setup: () => ({ said: 0 }),
    actions: {
      tell: {
        apply(state, _payload, ctx) {
          state.said++;
          ctx.emit("secret", "for p2's eyes", ["p2"]);
        },
      },
    },
  });
  const { room, clock } = testRoom(whisper);
  const { members, seats } = await seatPlayers(room, 2);
  clock.advance(50);
  seats[0].act(1, "tell", null);
  seats[1].leave();
  const newcomer = new TestMember();
  const taken = await room.join({ name: "newcomer" }, newcomer);
  equal(taken.player, "p2", "the newcomer holds the seat id the event named");
  clock.advance(50);
  equal(room.state && (room.state as { said: number }).said, 1);
  deepEqual(newcomer.events.filter((e) => e.type === "secret"), []);
  deepEqual(members[1].events.filter((e) => e.type === "secret"), [], "left before the tick");
  // Emitted while the newcomer holds the seat, it is theirs.
  seats[0].act(2, "tell", null);
  clock.advance(50);
  deepEqual(newcomer.events.filter((e) => e.type === "secret").map((e) => e.data), [
    "for p2's eyes",
  ]);
  room.dispose();
});

/** A game where only p1's view stops being data once someone sulks. */
const moody = defineGame({
  name: "moody",
  players: { min: 2, max: 2 },
  setup: () => ({ sulky: false, away: [] as string[] }),
  actions: {
    sulk: {
      apply(state) {
        state.sulky = true;
      },
    },
  },
  // Only p1's view stops being data.
  view: (state, viewer) => viewer === "p1" && state.sulky ? { ...state, mood: NaN } : state,
  onDisconnect(state, player) {
    state.away.push(player);
  },
});

Deno.test("players whose view could not be sent are announced as disconnected and run onDisconnect", async () => {
  const { room, errors } = testRoom(moody);
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "sulk", null);
  await room.idle();
  match(String(errors[0]), /mood: NaN is not a finite number/);
  equal(members[0].closed?.code, 1011);
  equal(members[1].closed, null);
  deepEqual(
    members[1].events.filter((e) => e.type === "player_disconnected").map((e) => e.player),
    ["p1"],
  );
  deepEqual(members[1].state, { sulky: true, away: ["p1"] }, "onDisconnect ran and was sent");
  deepEqual(room.players.map((p) => p.presence), ["disconnected", "connected"]);
  room.dispose();
});

Deno.test("a player dropped by the room and back before that was told is announced away, then back", async () => {
  // The journal holds the breaking action up while p1's resume is queued behind it.
  let commit!: () => void;
  const { room } = testRoom(moody, {
    journal: { append: () => new Promise<void>((resolve) => commit = resolve) },
  });
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "sulk", null);
  const ann = members[0];
  ann.reopen();
  const back = room.join({ resume: { session: seats[0].session, seq: ann.seq } }, ann);
  commit();
  await back;
  await room.idle();
  const presence = members[1].events
    .filter((e) => e.player === "p1" && e.type.startsWith("player_"))
    .map((e) => e.type);
  // Away, back, and (p1's view being still broken, the resume's broadcast drops it again) away:
  // never back before away.
  deepEqual(presence.slice(0, 2), ["player_disconnected", "player_reconnected"]);
  ok(presence.every((type, i) => type === (i % 2 ? "player_reconnected" : "player_disconnected")));
  const drops = presence.filter((type) => type === "player_disconnected").length;
  deepEqual(
    (room.state as { away: string[] }).away,
    Array(drops).fill("p1"),
    "onDisconnect per drop",
  );
  room.dispose();
});

Deno.test("a resume that replaced a live connection and failed leaves its player announced away", async () => {
  const nested = (depth: number): unknown => depth === 0 ? 1 : { a: nested(depth - 1) };
  // A state that deltas can carry but no welcome can hold (nested deeper than 64 within it).
  const deep = defineGame({
    name: "deep",
    players: { min: 2, max: 2 },
    setup: () => ({ tower: null as unknown, away: [] as string[] }),
    actions: { build: { apply: (state) => void (state.tower = nested(63)) } },
    onDisconnect: (state, player) => void state.away.push(player),
  });
  const { room } = testRoom(deep);
  const { members, seats } = await seatPlayers(room, 2);
  seats[1].act(1, "build", null);
  await room.idle();
  const closeCode = (member: TestMember) => member.closed?.code;
  equal(closeCode(members[0]), undefined, "ann's live connection got the delta");
  const failed = await room.join(
    { resume: { session: seats[0].session, seq: 0 } },
    new TestMember(),
  )
    .then(() => null, (e) => e);
  ok(failed instanceof ProtocolError, "the welcome could not be encoded");
  await room.idle();
  equal(closeCode(members[0]), CLOSE_CODES.session_replaced);
  deepEqual(room.players.map((p) => p.presence), ["disconnected", "connected"]);
  deepEqual(
    members[1].events.filter((e) => e.type === "player_disconnected").map((e) => e.player),
    ["p1"],
  );
  deepEqual((room.state as { away: string[] }).away, ["p1"], "onDisconnect ran");
  room.dispose();
});

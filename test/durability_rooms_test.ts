/**
 * Durable rooms without sockets: when snapshots are written, what the action log holds, how
 * rooms come back (sequences, seats, log replay), expiry, large states and format versions.
 */
import { deepEqual, equal, ok, rejects } from "node:assert/strict";
import { connect } from "../client/mod.ts";
import { exampleGames, ticTacToe } from "../games/mod.ts";
import { DurableRooms, encodeSnapshot, KvRoomStore, SEQ_MARGIN } from "../persistence/mod.ts";
import { defineGame, type RoomManager, type RoomSnapshot } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { ListenError, loadConfig, silentLogger, startServer } from "../server/mod.ts";
import { closedPort, waitFor } from "./support/test_server.ts";
import { durableProcess } from "./support/durable_process.ts";

async function ticTacToeGame(manager: RoomManager) {
  const ann = new TestMember();
  const bob = new TestMember();
  const a = await manager.join({ mode: "create", game: "tic_tac_toe", name: "ann" }, ann);
  const b = await manager.join({ mode: "join", room: a.room.id, name: "bob" }, bob);
  return { a, b, ann, bob, room: a.room };
}

async function storedSeq(kv: Deno.Kv, room: string): Promise<number | undefined> {
  return (await new KvRoomStore(kv).loadSnapshot(room))?.meta.seq;
}

Deno.test("snapshot mode saves on seat changes, every N actions and at game over", async () => {
  using kv = await Deno.openKv(":memory:");
  const p = await durableProcess(kv, { snapshotEveryActions: 2, snapshotEveryMs: 60_000 });
  const { a, b, room } = await ticTacToeGame(p.manager);
  await waitFor(() => p.durable.saves >= 1, "the join was saved");
  await p.durable.flush();
  const afterJoins = await storedSeq(kv, room.id);
  equal(afterJoins, room.seq, "joins are saved at once: resume tokens survive a restart");

  a.act(1, "place", { cell: 0 });
  await room.idle();
  await p.durable.idle();
  equal(await storedSeq(kv, room.id), afterJoins, "one action is below N = 2: not saved yet");
  b.act(1, "place", { cell: 3 });
  await room.idle();
  await p.durable.idle();
  equal(await storedSeq(kv, room.id), room.seq, "the second action reached N");

  a.act(2, "place", { cell: 1 });
  b.act(2, "place", { cell: 4 });
  a.act(3, "place", { cell: 2 });
  await room.idle();
  ok(room.outcome, "ann won");
  await p.durable.idle();
  const loaded = await new KvRoomStore(kv).loadSnapshot(room.id);
  equal(loaded?.meta.status, "finished");
  equal(loaded?.meta.seq, room.seq, "the end of the game is saved at once");
  await p.stop();
});

Deno.test("snapshot mode saves a changed room within T ms", async () => {
  using kv = await Deno.openKv(":memory:");
  const p = await durableProcess(kv, { snapshotEveryActions: 1000, snapshotEveryMs: 50 });
  const { a, room } = await ticTacToeGame(p.manager);
  await p.durable.flush();
  const saves = p.durable.saves;
  a.act(1, "place", { cell: 0 });
  await room.idle();
  await waitFor(() => p.durable.saves > saves, "a timed save");
  await p.durable.flush();
  equal(await storedSeq(kv, room.id), room.seq);
  await p.stop();
});

Deno.test("a crash in snapshot mode restores the last snapshot, seq above all sent", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv, { snapshotEveryActions: 1000, snapshotEveryMs: 60_000 });
  const { a, b, room, bob } = await ticTacToeGame(first.manager);
  await first.durable.idle();
  const savedState = structuredClone(room.state);
  a.act(1, "place", { cell: 0 });
  b.act(1, "place", { cell: 4 });
  await room.idle();
  const sentSeq = room.seq;
  await first.crash();

  const second = await durableProcess(kv);
  deepEqual(second.report.restored, [room.id]);
  const again = second.manager.get(room.id)!;
  deepEqual(again.state, savedState, "the unsaved actions are gone: clients resync");
  ok(again.seq > sentSeq, `restored seq ${again.seq} is above every seq sent (${sentSeq})`);
  // Bob resumes with his token and the last seq he saw: he gets the full state.
  const member = new TestMember();
  const seat = await second.manager.join({
    mode: "join",
    room: room.id,
    resume: { session: b.session, seq: bob.seq },
  }, member);
  equal(seat.player, "p2");
  const welcome = member.welcomes[0];
  equal(welcome.resumed, true);
  ok(!welcome.replay && welcome.state !== null, "a restart always resyncs with the full state");
  deepEqual(member.state, savedState);
  await second.stop();
});

Deno.test("a crash in log mode loses no acknowledged action", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv, {
    durability: "log",
    snapshotEveryActions: 1000,
    snapshotEveryMs: 60_000,
  });
  const { a, b, room } = await ticTacToeGame(first.manager);
  a.act(1, "place", { cell: 0 });
  b.act(1, "place", { cell: 4 });
  a.act(2, "place", { cell: 8 });
  await room.idle();
  equal(room.actionIndex, 3);
  const acknowledged = structuredClone(room.state);
  const stored = await new KvRoomStore(kv).readLog(room.id, 0);
  deepEqual(stored.map((e) => [e.index, e.player, e.action, e.seq]), [
    [1, "p1", "place", 1],
    [2, "p2", "place", 1],
    [3, "p1", "place", 2],
  ]);
  await first.crash();

  const second = await durableProcess(kv, { durability: "log" });
  const again = second.manager.get(room.id)!;
  deepEqual(again.state, acknowledged, "every acknowledged action is back");
  equal(again.actionIndex, 3);
  // Play continues: client sequences carry on from where they were.
  const member = new TestMember();
  const seat = await second.manager.join({
    mode: "join",
    room: room.id,
    resume: { session: b.session, seq: 0 },
  }, member);
  seat.act(2, "place", { cell: 2 });
  await again.idle();
  equal(again.actionIndex, 4);
  await second.durable.idle();
  // The first save after the restore folded the replayed log into a snapshot.
  deepEqual((await new KvRoomStore(kv).readLog(room.id, 0)).map((e) => e.index), [4]);
  await second.stop();
});

Deno.test("an action is acknowledged only after its log entry is stored", async () => {
  using kv = await Deno.openKv(":memory:");
  const p = await durableProcess(kv, { durability: "log" });
  const { a, room, ann } = await ticTacToeGame(p.manager);
  const store = new KvRoomStore(kv);
  // When the ack reaches Ann, the entry must already be in KV.
  let loggedAtAck: number | null = null;
  const send = ann.send.bind(ann);
  ann.send = (frame) => {
    send(frame);
    if (loggedAtAck === null && ann.ack === 1) {
      loggedAtAck = -1;
      store.readLog(room.id, 0).then((entries) => loggedAtAck = entries.length);
    }
  };
  a.act(1, "place", { cell: 0 });
  await room.idle();
  await waitFor(() => loggedAtAck !== null && loggedAtAck >= 0, "the log read");
  equal(loggedAtAck, 1);
  await p.stop();
});

Deno.test("a graceful stop saves every room; the restart resumes sessions and deadlines", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv, { snapshotEveryActions: 1000, snapshotEveryMs: 60_000 });
  const ann = new TestMember();
  const c4 = await first.manager.join({
    mode: "create",
    game: "connect_four",
    name: "ann",
    options: { turnMs: 60_000 },
  }, ann);
  const bob = new TestMember();
  const b = await first.manager.join({ mode: "join", room: c4.room.id, name: "bob" }, bob);
  c4.act(1, "drop", { column: 3 });
  await c4.room.idle();
  const before = c4.room.snapshot();
  await first.stop();

  const second = await durableProcess(kv);
  const room = second.manager.get(c4.room.id)!;
  deepEqual(room.state, before.state);
  equal(room.snapshot().turnDeadline, before.turnDeadline, "the turn clock runs on");
  // A wrong token and a forged one (Ann's, its last character changed) are refused; the right
  // one resumes Bob's seat.
  const forged = c4.session.slice(0, -1) + (c4.session.endsWith("x") ? "y" : "x");
  for (const session of ["not-a-token", forged]) {
    const err = await second.manager.join({
      mode: "join",
      room: room.id,
      resume: { session, seq: 0 },
    }, new TestMember()).then(() => null, (e) => e);
    equal(err?.code, "bad_session");
  }
  const seat = await second.manager.join({
    mode: "join",
    room: room.id,
    resume: { session: b.session, seq: bob.seq },
  }, new TestMember());
  equal(seat.player, "p2");
  await second.stop();
});

Deno.test("a refusal after the last snapshot is saved, so a resume after a restart settles it", async () => {
  using kv = await Deno.openKv(":memory:");
  const setup = { snapshotEveryActions: 1000, snapshotEveryMs: 60_000 };
  const first = await durableProcess(kv, setup);
  const ann = new TestMember();
  const bob = new TestMember();
  const a = await first.manager.join({ mode: "create", game: "connect_four", name: "ann" }, ann);
  const b = await first.manager.join({ mode: "join", room: a.room.id, name: "bob" }, bob);
  await first.durable.idle();
  // Bob plays out of turn; say the reject is lost with his connection.
  b.act(1, "drop", { column: 0 });
  await a.room.idle();
  equal(bob.rejects[0]?.code, "not_your_turn");
  await first.stop();

  const second = await durableProcess(kv, setup);
  const bob2 = new TestMember();
  await second.manager.join(
    { mode: "join", room: a.room.id, resume: { session: b.session, seq: 0 } },
    bob2,
  );
  deepEqual(
    bob2.welcomes.at(-1)?.rejected?.map((r) => [r.seq, r.code]),
    [[1, "not_your_turn"]],
    "the welcome settles the action as refused, so the client does not send it again",
  );
  await second.stop();
});

Deno.test("log mode refuses an action whose seat could not be stored, instead of logging it", async () => {
  class FailingSaves extends KvRoomStore {
    failures = 0;
    override saveSnapshot(...args: Parameters<KvRoomStore["saveSnapshot"]>) {
      if (this.failures-- > 0) return Promise.reject(new TypeError("KV unavailable"));
      return super.saveSnapshot(...args);
    }
  }
  using kv = await Deno.openKv(":memory:");
  const store = new FailingSaves(kv);
  const setup = { durability: "log" as const, snapshotEveryActions: 1000, snapshotEveryMs: 5000 };
  const first = await durableProcess(kv, setup, exampleGames, undefined, store);
  const ann = new TestMember();
  const a = await first.manager.join({ mode: "create", game: "tic_tac_toe", name: "ann" }, ann);
  await first.durable.idle();
  // Bob's seat is stored by his join's save: say that fails, and its retry is 10 s away.
  store.failures = 1;
  const bob = new TestMember();
  const b = await first.manager.join({ mode: "join", room: a.room.id, name: "bob" }, bob);
  await first.durable.idle();
  equal(first.durable.saveFailures, 1);
  // The next action stores the seats first; while that fails too, it is refused, not logged.
  store.failures = 1;
  a.act(1, "place", { cell: 0 });
  await a.room.idle();
  equal(ann.rejects.at(-1)?.code, "internal");
  // Storage is back: the seats are stored, then the actions logged.
  a.act(2, "place", { cell: 0 });
  await a.room.idle();
  b.act(1, "place", { cell: 4 });
  await a.room.idle();
  equal(bob.ack, 1, "bob's move is acknowledged");
  await first.crash();

  const second = await durableProcess(kv, setup);
  const room = second.manager.get(a.room.id)!;
  equal(room.actionIndex, 2, "both acknowledged moves are replayed, the refused one is not");
  const seat = await second.manager.join(
    { mode: "join", room: room.id, resume: { session: b.session, seq: 1 } },
    new TestMember(),
  );
  equal(seat.player, "p2");
  await second.stop();
});

Deno.test("finished rooms' data is deleted when the room closes, or swept at its expiry", async () => {
  using kv = await Deno.openKv(":memory:");
  const p = await durableProcess(kv);
  const { a, b, room } = await ticTacToeGame(p.manager);
  for (
    const [seat, seq, cell] of [[a, 1, 0], [b, 1, 3], [a, 2, 1], [b, 2, 4], [a, 3, 2]] as const
  ) {
    seat.act(seq, "place", { cell });
  }
  await room.idle();
  await p.durable.flush();
  const meta = (await new KvRoomStore(kv).loadSnapshot(room.id))!.meta;
  equal(meta.status, "finished");
  ok(meta.expiresAt <= Date.now() + 60_000, "finished data expires after the retention");
  room.dispose();
  await p.durable.flush();
  equal(await new KvRoomStore(kv).loadSnapshot(room.id), null);
  await p.stop();

  // A room orphaned by a crash is swept by its stored expiry, whatever KV's expireIn did.
  let now = Date.now();
  const orphan = await durableProcess(kv, { roomDataTtlMs: 1000, now: () => now });
  const left = await ticTacToeGame(orphan.manager);
  await orphan.crash();
  now += 2000;
  const later = await durableProcess(kv, { now: () => now });
  deepEqual(later.report.expired, [left.room.id]);
  deepEqual(later.report.restored, []);
  await later.stop();
});

Deno.test("a 1 MiB state round-trips through chunked snapshots", async () => {
  const big = defineGame({
    name: "big",
    players: { min: 1, max: 1 },
    setup: () => ({ blobs: [] as string[] }),
    actions: {
      grow: {
        apply(state, payload: { text: string }) {
          for (let i = 0; i < 128; i++) state.blobs.push(`${i}:${payload.text}`);
        },
      },
    },
  });
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv, {}, [big]);
  const seat = await first.manager.join({ mode: "create", game: "big" }, new TestMember());
  seat.act(1, "grow", { text: "x".repeat(8 * 1024) });
  await seat.room.idle();
  const state = structuredClone(seat.room.state);
  ok(encodeSnapshot(seat.room.snapshot()).length > 1 << 20, "the snapshot is over 1 MiB");
  await first.stop();
  const second = await durableProcess(kv, {}, [big]);
  deepEqual(second.manager.get(seat.room.id)!.state, state);
  await second.stop();
});

Deno.test("snapshots from a newer release are reported and left in storage", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = await durableProcess(kv);
  const { room } = await ticTacToeGame(first.manager);
  await first.stop();
  // Rewrite the stored snapshot as a future format version.
  const store = new KvRoomStore(kv);
  const loaded = (await store.loadSnapshot(room.id))!;
  const future = { ...room.snapshot(), version: 99 } as unknown as RoomSnapshot;
  await store.saveSnapshot({ ...loaded.meta }, encodeSnapshot(future));

  const second = await durableProcess(kv);
  deepEqual(second.report.restored, []);
  equal(second.report.failed[0]?.code, "snapshot_version");
  ok(await store.loadSnapshot(room.id), "the data is kept for a release that can read it");
  await second.stop();
});

Deno.test("each snapshot stores a sequence ceiling SEQ_MARGIN above its seq", async () => {
  using kv = await Deno.openKv(":memory:");
  const p = await durableProcess(kv, { snapshotEveryActions: 1000, snapshotEveryMs: 60_000 });
  const { room } = await ticTacToeGame(p.manager);
  await p.durable.flush();
  const meta = (await new KvRoomStore(kv).loadSnapshot(room.id))!.meta;
  equal(meta.seqCeiling, meta.seq + SEQ_MARGIN);
  await p.stop();
});

Deno.test("the game's own durability wins over the server's", () => {
  const durable = new DurableRooms({ store: new KvRoomStore({} as Deno.Kv), durability: "log" });
  equal(durable.durabilityOf(ticTacToe), "log");
  equal(durable.durabilityOf({ ...ticTacToe, durability: "snapshot" }), "snapshot");
});

Deno.test("a second server on a busy port fails before it touches the stored rooms", async () => {
  const kv = await Deno.openKv(":memory:");
  const config = loadConfig({ PORT: "0" });
  const first = await startServer({ config, games: exampleGames, kv, log: silentLogger });
  try {
    const ann = await connect(first.wsUrl, { reconnect: false }).create("tic_tac_toe");
    await first.durable.flush(5000);
    const stored = async () => {
      const out: string[] = [];
      for await (const entry of kv.list({ prefix: [] })) {
        out.push(`${JSON.stringify(entry.key)} ${entry.versionstamp}`);
      }
      return out;
    };
    const before = await stored();
    ok(before.length > 0, "the room is stored");
    await rejects(
      startServer({
        config: { ...config, port: first.port },
        games: exampleGames,
        kv,
        log: silentLogger,
      }),
      (error) => error instanceof ListenError && error.cause instanceof Deno.errors.AddrInUse,
    );
    deepEqual(await stored(), before, "nothing was restored, rewritten or deleted");
    ann.leave();
  } finally {
    await first.shutdown();
    kv.close();
  }
});

Deno.test("a restore that fails lets go of the port and reports the storage's error", async () => {
  const kv = await Deno.openKv(":memory:");
  // Reads of the stored rooms fail, as with storage that is down.
  const broken = new Proxy(kv, {
    get(target, key) {
      if (key === "list") {
        return () => ({
          [Symbol.asyncIterator]: () => ({
            next: () => Promise.reject(new Error("storage is down")),
          }),
        });
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const port = closedPort();
  const config = loadConfig({ PORT: String(port) });
  await rejects(
    startServer({ config, games: exampleGames, kv: broken, log: silentLogger }),
    /storage is down/,
  );
  // The port is free again: a server with working storage starts on it.
  const server = await startServer({ config, games: exampleGames, kv, log: silentLogger });
  equal(server.port, port);
  await server.shutdown();
  kv.close();
});

/**
 * Room leases and the fence in one process (one Deno KV, several "instances"): exclusive
 * claims, hand-over, an owner that is deposed or cannot renew gives the room up at once, and
 * a deposed owner cannot write the room's log or snapshot anymore, nor its directory entry.
 * Plus the mail the relay runs on: order, messages far above KV's 64 KiB value limit, and KV
 * failures that lose nothing.
 */
import assert from "node:assert/strict";
import {
  ClusterKeys,
  Directory,
  type DirectoryEntry,
  KvMail,
  Leases,
  type LostReason,
  type Mail,
} from "../cluster/mod.ts";
import { ticTacToe } from "../games/mod.ts";
import { KvRoomStore, PersistenceError } from "../persistence/mod.ts";
import { RoomManager } from "../rooms/mod.ts";
import { waitFor } from "./support/test_server.ts";

const keys = new ClusterKeys();

function leases(
  kv: Deno.Kv,
  instance: string,
  options: {
    ttlMs?: number;
    skewMs?: number;
    lost?: [string, LostReason][];
    lostAt?: number[];
  } = {},
): Leases {
  return new Leases({
    kv,
    keys,
    instance,
    ttlMs: options.ttlMs ?? 10_000,
    // A clock ahead of the others sees their leases expire early: a takeover without waiting.
    now: () => Date.now() + (options.skewMs ?? 0),
    onLost: (room, reason) => {
      options.lost?.push([room, reason]);
      options.lostAt?.push(Date.now());
    },
  });
}

Deno.test("leases: one holder at a time; release hands the room over", async () => {
  const kv = await Deno.openKv(":memory:");
  const a = leases(kv, "a");
  const b = leases(kv, "b");
  assert.deepEqual(await a.claim("r1"), { ok: true, epoch: 1 });
  const refused = await b.claim("r1");
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.holder?.instance, "a");
  assert.ok(a.holds("r1") && !b.holds("r1"));
  // A fresh claim (a new room id) fails for an id anyone ever claimed.
  assert.equal((await b.claim("r1", { fresh: true })).ok, false);
  await a.release("r1");
  assert.ok(!a.holds("r1"));
  assert.deepEqual(await b.claim("r1"), { ok: true, epoch: 2 });
  kv.close();
});

Deno.test("leases: a deposed owner notices at its next renewal and gives the room up", async () => {
  const kv = await Deno.openKv(":memory:");
  const lost: [string, LostReason][] = [];
  const a = leases(kv, "a", { ttlMs: 600, lost });
  await a.claim("r1");
  a.start();
  try {
    // b's clock runs a second ahead: a's lease looks expired to it, so it takes the room.
    const b = leases(kv, "b", { ttlMs: 600, skewMs: 1000 });
    assert.equal((await b.claim("r1")).ok, true);
    await waitFor(() => lost.length > 0, "a gives the room up", 5000);
    assert.deepEqual(lost, [["r1", "taken"]]);
    assert.ok(!a.holds("r1"));
  } finally {
    await a.stop();
    kv.close();
  }
});

Deno.test("leases: an owner that cannot renew stops before its lease runs out", async () => {
  const kv = await Deno.openKv(":memory:");
  let down = false;
  // KV goes away for this instance only: every commit fails.
  const flaky = new Proxy(kv, {
    get(target, prop) {
      if (prop !== "atomic") return Reflect.get(target, prop).bind(target);
      return () => {
        const atomic = target.atomic();
        const commit = atomic.commit.bind(atomic);
        atomic.commit = () => down ? Promise.reject(new Error("KV unreachable")) : commit();
        return atomic;
      };
    },
  });
  const lost: [string, LostReason][] = [];
  const lostAt: number[] = [];
  // A long lease: the check below needs the watchdog to run within its margin (600 ms).
  const a = leases(flaky, "a", { ttlMs: 3000, lost, lostAt });
  await a.claim("r1");
  a.start();
  try {
    const stored = (await a.read("r1"))!;
    down = true;
    await waitFor(() => lost.length > 0, "a gives the room up", 5000);
    assert.deepEqual(lost, [["r1", "expired"]]);
    // It stopped while the stored lease still held: nobody else could have started yet.
    const renewed = (await a.read("r1"))!;
    assert.ok(lostAt[0] < renewed.expiresAt, "stopped before the stored expiry");
    assert.ok(renewed.expiresAt >= stored.expiresAt);
  } finally {
    await a.stop();
    kv.close();
  }
});

Deno.test("fence: a deposed owner can no longer write the room's log or snapshot", async () => {
  const kv = await Deno.openKv(":memory:");
  const a = leases(kv, "a", { ttlMs: 500 });
  const b = leases(kv, "b", { ttlMs: 500, skewMs: 1000 });
  const storeA = new KvRoomStore(kv, { fence: (room) => a.fence(room) });
  const storeB = new KvRoomStore(kv, { fence: (room) => b.fence(room) });
  const entry = (index: number) => ({ index, time: 0, player: "p1", action: "x", payload: null });
  const meta = {
    room: "r1",
    game: "g",
    seq: 1,
    actionIndex: 1,
    seqCeiling: 100,
    status: "playing",
    expiresAt: Date.now() + 60_000,
  };
  await a.claim("r1");
  await storeA.appendLog("r1", entry(1), Date.now() + 60_000);
  await storeA.saveSnapshot(meta, new Uint8Array([1]));
  // b takes the room over (a does not know yet).
  assert.equal((await b.claim("r1")).ok, true);
  await assert.rejects(storeA.appendLog("r1", entry(2), Date.now() + 60_000), PersistenceError);
  await assert.rejects(storeA.saveSnapshot(meta, new Uint8Array([2])), PersistenceError);
  await assert.rejects(storeA.deleteRoom("r1"), PersistenceError);
  // The new owner writes on from what is stored.
  await storeB.appendLog("r1", entry(2), Date.now() + 60_000);
  assert.deepEqual((await storeB.readLog("r1", 0)).map((e) => e.index), [1, 2]);
  assert.deepEqual((await storeB.loadSnapshot("r1"))?.bytes, new Uint8Array([1]));
  kv.close();
});

/** A mailbox of `instance` polling every 10 ms; it reads only once started. */
function mailbox(
  kv: Deno.Kv,
  instance: string,
  options: { onMail?: (mail: Mail) => void; onError?: (error: unknown) => void } = {},
): KvMail {
  const { onMail = () => {}, onError } = options;
  return new KvMail({ kv, keys, instance, pollMs: 10, onMail: (_, mail) => onMail(mail), onError });
}

Deno.test("directory: a deposed owner's late write neither hides nor overwrites the room", async () => {
  const kv = await Deno.openKv(":memory:");
  const manager = new RoomManager({ games: [ticTacToe] });
  const a = leases(kv, "a", { ttlMs: 500 });
  const b = leases(kv, "b", { ttlMs: 500, skewMs: 1000 });
  const directory = new Directory({
    kv,
    keys,
    instance: "a",
    refreshMs: 1000,
    fence: (room) => a.fence(room),
  });
  try {
    const room = manager.create("tic_tac_toe");
    assert.equal((await a.claim(room.id)).ok, true);
    directory.publish(room);
    await directory.idle();
    const entry = async () => (await kv.get<DirectoryEntry>(keys.room(room.id))).value;
    assert.equal((await entry())?.owner, "a");
    // B takes the room over (A's lease looks expired to B) and lists it as its own...
    assert.equal((await b.claim(room.id)).ok, true);
    const listedByB = { ...(await entry())!, owner: "b" };
    await kv.set(keys.room(room.id), listedByB);
    // ...before A, which has not noticed yet, writes what it last saw: a change, then the end.
    directory.publish(room);
    await directory.idle();
    room.dispose("server_restart");
    directory.publish(room);
    await directory.idle();
    assert.deepEqual(await entry(), listedByB);
  } finally {
    manager.dispose();
    kv.close();
  }
});

Deno.test("mail: messages arrive in order, whole, however large", async () => {
  const kv = await Deno.openKv(":memory:");
  const got: unknown[] = [];
  const a = mailbox(kv, "a");
  const b = new KvMail({
    kv,
    keys,
    instance: "b",
    pollMs: 10,
    onMail: (source, mail) => got.push([source, mail.n, (mail.bytes as Uint8Array).length]),
  });
  b.start();
  try {
    const big = new Uint8Array(300 * 1024).map((_, i) => i % 251);
    a.send("b", { n: 1, bytes: new Uint8Array(3) });
    a.send("b", { n: 2, bytes: big });
    await a.flushed();
    a.send("b", { n: 3, bytes: new Uint8Array(0) });
    await a.flushed();
    await waitFor(() => got.length === 3, "three messages", 5000);
    assert.deepEqual(got, [["a", 1, 3], ["a", 2, big.length], ["a", 3, 0]]);
    // Read mail is deleted.
    await b.check();
    const left = [];
    for await (const entry of kv.list({ prefix: keys.mail("b") })) left.push(entry.key);
    assert.deepEqual(left, []);
  } finally {
    await b.stop();
    await a.stop();
    kv.close();
  }
});

/**
 * `kv` with storage failures (not SQLite's "database is locked", which is retried at once):
 * the commits numbered in `failCommits` (1 = the first) and the first `failLists` listings.
 */
function flakyKv(kv: Deno.Kv, faults: KvFaults): Deno.Kv {
  let commits = 0;
  let lists = faults.failLists ?? 0;
  const unavailable = () => new Error("KV unavailable (a test fault)");
  return new Proxy(kv, {
    get(target, property) {
      if (property === "atomic") {
        return () => {
          const atomic = target.atomic();
          const commit = atomic.commit.bind(atomic);
          atomic.commit = () =>
            faults.failCommits?.includes(++commits) ? Promise.reject(unavailable()) : commit();
          return atomic;
        };
      }
      if (property === "list" && lists > 0) {
        lists--;
        return () => ({
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(unavailable()) }),
        });
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** KV failures for {@linkcode flakyKv}. */
interface KvFaults {
  failCommits?: number[];
  failLists?: number;
}

/**
 * Sender "a" and receiver "b" (not started) on one in-memory KV, each through its own faults;
 * `got` is what b received, `errors` what either reported. Disposing stops both, closes KV.
 */
async function mailPair(faults: { a?: KvFaults; b?: KvFaults } = {}) {
  const kv = await Deno.openKv(":memory:");
  const got: Mail[] = [];
  const errors: unknown[] = [];
  const through = (f?: KvFaults) => f ? flakyKv(kv, f) : kv;
  const onError = (error: unknown) => void errors.push(error);
  const a = mailbox(through(faults.a), "a", { onError });
  const b = mailbox(through(faults.b), "b", { onMail: (mail) => got.push(mail), onError });
  return {
    kv,
    a,
    b,
    got,
    errors,
    async [Symbol.asyncDispose]() {
      await b.stop();
      await a.stop();
      kv.close();
    },
  };
}

Deno.test("mail: a commit that fails is written again, in order, and nothing is lost", async () => {
  // Commit 2 is the first half of the large message, commit 4 its second half.
  await using mail = await mailPair({ a: { failCommits: [2, 4] } });
  const { a, b } = mail;
  b.start();
  const big = new Uint8Array(700 * 1024).map((_, i) => i % 251);
  a.send("b", { n: 1, bytes: new Uint8Array(3) });
  await a.flushed();
  a.send("b", { n: 2, bytes: big });
  a.send("b", { n: 3, bytes: new Uint8Array(5) });
  await a.flushed();
  a.send("b", { n: 4, bytes: new Uint8Array(0) });
  await a.flushed();
  await waitFor(() => mail.got.length === 4, "four messages", 5000);
  assert.deepEqual(
    mail.got.map((m) => [m.n, (m.bytes as Uint8Array).length]),
    [[1, 3], [2, big.length], [3, 5], [4, 0]],
  );
  assert.equal(mail.errors.length, 2, "each failed commit is reported");
});

Deno.test("mail: a failed read of the mailbox is read again at the next poll", async () => {
  await using mail = await mailPair({ b: { failLists: 1 } });
  mail.a.send("b", { n: 1 });
  await mail.a.flushed();
  mail.b.start();
  // Nothing else is sent: only the poll can bring the message in.
  await waitFor(() => mail.got.length === 1, "the message", 3000);
  assert.deepEqual(mail.got, [{ n: 1 }]);
  assert.equal(mail.errors.length, 1);
});

Deno.test("mail: a sender whose KV keeps failing still stops, and says what it dropped", async () => {
  await using mail = await mailPair({
    a: { failCommits: Array.from({ length: 100 }, (_, i) => i + 1) },
  });
  mail.a.send("b", { n: 1 });
  await waitFor(() => mail.errors.length >= 2, "two failed tries", 3000);
  await mail.a.stop();
  const left = [];
  for await (const entry of mail.kv.list({ prefix: keys.mail("b") })) left.push(entry.key);
  assert.deepEqual(left, []);
  assert.ok(mail.errors.length >= 3, "the last try at stop is reported too");
});

Deno.test("mail: what a stopping sender drops leaves a gap, so the mail after it still arrives", async () => {
  const failCommits: number[] = [];
  await using mail = await mailPair({ a: { failCommits } });
  const { a, b } = mail;
  // A 700 KB message takes two commits: the first lands, the second fails, and so does the
  // last try that stop() makes; what was queued meanwhile and what comes later is written.
  failCommits.push(2, 3);
  a.send("b", { big: "x".repeat(700_000) });
  await new Promise((resolve) => setTimeout(resolve, 20));
  a.send("b", { small: 1 });
  await a.stop();
  a.send("b", { later: 2 });
  await a.flushed();
  await b.check();
  assert.deepEqual(mail.got, [{ small: 1 }, { later: 2 }]);
});

import assert from "node:assert/strict";
import {
  KvRoomStore,
  openKv,
  PersistenceError,
  SNAPSHOT_FORMAT_VERSION,
} from "../persistence/mod.ts";

function meta(room: string, expiresAt: number) {
  return {
    room,
    game: "arena",
    seq: 7,
    actionIndex: 5,
    seqCeiling: 1007,
    status: "playing",
    expiresAt,
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

Deno.test("a 1 MiB snapshot round-trips through chunks and replaces the previous one", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  const first = randomBytes(1 << 20, 1);
  const saved = await store.saveSnapshot(meta("big", Date.now() + 60_000), first);
  assert.ok(saved.chunks > 16, "1 MiB needs many 60 KiB chunks");
  assert.deepEqual((await store.loadSnapshot("big"))?.bytes, first);

  const second = randomBytes(300_000, 2);
  await store.saveSnapshot(meta("big", Date.now() + 60_000), second);
  const loaded = await store.loadSnapshot("big");
  assert.notEqual(loaded?.meta.generation, saved.generation, "a new generation");
  assert.deepEqual(loaded?.bytes, second);
  // The first generation's chunks are gone.
  let chunks = 0;
  for await (const _ of kv.list({ prefix: ["arbiter", "rooms", "big", "chunk"] })) chunks++;
  assert.equal(chunks, loaded?.meta.chunks);
});

Deno.test("a save after another store wrote the room starts from what is stored", async () => {
  using kv = await Deno.openKv(":memory:");
  const mine = new KvRoomStore(kv);
  const other = new KvRoomStore(kv);
  await mine.saveSnapshot(meta("r", Date.now() + 60_000), randomBytes(100_000, 1));
  // Another writer (e.g. this room's next owner) replaced it: what `mine` remembers is stale.
  const replaced = await other.saveSnapshot(
    meta("r", Date.now() + 60_000),
    randomBytes(200_000, 2),
  );
  const third = randomBytes(70_000, 3);
  const saved = await mine.saveSnapshot(meta("r", Date.now() + 60_000), third);
  assert.notEqual(saved.generation, replaced.generation);
  assert.deepEqual((await other.loadSnapshot("r"))?.bytes, third);
  let chunks = 0;
  for await (const _ of kv.list({ prefix: ["arbiter", "rooms", "r", "chunk"] })) chunks++;
  assert.equal(chunks, saved.chunks, "no chunks of older generations are left");
});

Deno.test("a snapshot from a newer format version is refused with a typed error", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  await store.saveSnapshot(meta("r", Date.now() + 60_000), new Uint8Array([1]));
  const key = ["arbiter", "meta", "r"];
  const stored = (await kv.get<Record<string, unknown>>(key)).value!;
  await kv.set(key, { ...stored, version: SNAPSHOT_FORMAT_VERSION + 1 });
  await assert.rejects(
    () => store.loadSnapshot("r"),
    (e) => e instanceof PersistenceError && e.code === "snapshot_version",
  );
});

/** The `index`th move of p1, as the room would log it. */
function logEntry(index: number) {
  return {
    index,
    time: 1000 + index,
    player: "p1",
    action: "move",
    payload: { dx: 1 },
    seq: index,
  };
}

Deno.test("the action log appends in order and refuses a second writer of the same index", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  const expires = Date.now() + 60_000;
  for (let i = 1; i <= 5; i++) await store.appendLog("r", logEntry(i), expires);
  await assert.rejects(
    () => store.appendLog("r", logEntry(3), expires),
    (e) => e instanceof PersistenceError && e.code === "log_conflict",
  );
  // A second store on the same KV (another owner) cannot append behind the first one's back.
  const other = new KvRoomStore(kv);
  await other.appendLog("r", logEntry(6), expires);
  await assert.rejects(
    () => store.appendLog("r", logEntry(6), expires),
    (e) => e instanceof PersistenceError && e.code === "log_conflict",
  );
  assert.deepEqual((await store.readLog("r", 2)).map((e) => e.index), [3, 4, 5, 6]);
  await store.trimLog("r", 4);
  assert.deepEqual((await store.readLog("r", 0)).map((e) => e.index), [5, 6]);
});

Deno.test("sweep deletes rooms by their stored expiry time, sparing live ones", async () => {
  using kv = await Deno.openKv(":memory:");
  let now = 1_000_000;
  const store = new KvRoomStore(kv, { now: () => now });
  await store.saveSnapshot(meta("old", now + 1000), new Uint8Array(10));
  await store.saveSnapshot(meta("busy", now + 1000), new Uint8Array(10));
  await store.saveSnapshot(meta("live", now + 100_000), new Uint8Array(10));
  await store.appendLog("old", {
    index: 1,
    time: now,
    player: "p1",
    action: "a",
    payload: null,
    seq: 1,
  }, now + 1000);
  now += 5000;
  // KV's own expireIn has not fired yet (it is a lower bound); the stored time decides.
  assert.deepEqual(await store.sweep((room) => room === "busy"), ["old"]);
  assert.deepEqual((await store.listRooms()).map((m) => m.room).sort(), ["busy", "live"]);
  let leftovers = 0;
  for await (const _ of kv.list({ prefix: ["arbiter", "rooms", "old"] })) leftovers++;
  assert.equal(leftovers, 0);
  assert.equal(await store.loadSnapshot("old"), null);
});

Deno.test("openKv makes the folder of a KV file, and none for a KV server's URL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kv = await openKv(`${dir}/nested/rooms.kv`);
    kv.close();
    assert.ok((await Deno.stat(`${dir}/nested/rooms.kv`)).isFile);
    // Opening a remote KV fails here (no server, no token); what matters is that no folder
    // named after the URL ("http:/127.0.0.1:9") appears in the working directory.
    await openKv("http://127.0.0.1:9").then((remote) => remote.close(), () => {});
    await assert.rejects(Deno.stat("http:"), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const KiB = 1024;

type Commit = () => Promise<Deno.KvCommitResult | Deno.KvCommitError>;

/** `kv` with every atomic operation's `commit` passed through `wrap`. */
function wrappingCommits(kv: Deno.Kv, wrap: (commit: Commit) => Commit): Deno.Kv {
  return new Proxy(kv, {
    get(target, property) {
      if (property === "atomic") {
        return () => {
          const atomic = target.atomic();
          atomic.commit = wrap(atomic.commit.bind(atomic));
          return atomic;
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** `kv`, but every commit after the first `commits` fails, as if the process had died. */
function dyingAfter(kv: Deno.Kv, commits: number): Deno.Kv {
  let count = 0;
  return wrappingCommits(
    kv,
    (commit) => () => ++count > commits ? Promise.reject(new Error("process killed")) : commit(),
  );
}

async function keysUnder(kv: Deno.Kv, ...prefix: Deno.KvKeyPart[]): Promise<Deno.KvKey[]> {
  const keys: Deno.KvKey[] = [];
  for await (const entry of kv.list({ prefix: ["arbiter", ...prefix] })) keys.push(entry.key);
  return keys;
}

Deno.test("an append whose answer is lost counts as logged if it landed, and can be retried if not", async () => {
  using kv = await Deno.openKv(":memory:");
  const expires = Date.now() + 60_000;
  let fault: "none" | "lost answer" | "not sent" = "none";
  const store = new KvRoomStore(
    wrappingCommits(kv, (commit) => async () => {
      if (fault === "not sent") throw new Error("connection reset");
      const result = await commit();
      if (fault === "lost answer") throw new Error("connection reset");
      return result;
    }),
  );
  await store.appendLog("r", logEntry(1), expires);
  fault = "lost answer";
  await store.appendLog("r", logEntry(2), expires); // landed: logged, as a restore would find it
  fault = "not sent";
  await assert.rejects(() => store.appendLog("r", logEntry(3), expires), /connection reset/);
  fault = "none";
  await store.appendLog("r", logEntry(3), expires); // the room's retry of the same index
  await store.appendLog("r", logEntry(4), expires);
  assert.deepEqual((await store.readLog("r", 0)).map((e) => e.index), [1, 2, 3, 4]);
});

Deno.test("a save cut short after a chunk commit leaves nothing that breaks a later snapshot", async () => {
  using kv = await Deno.openKv(":memory:");
  await new KvRoomStore(kv).saveSnapshot(
    meta("r1", Date.now() + 60_000),
    randomBytes(100 * KiB, 1),
  );
  // The process dies between a chunk commit and the meta switch of a large save.
  const dying = new KvRoomStore(dyingAfter(kv, 1));
  await assert.rejects(
    dying.saveSnapshot(meta("r1", Date.now() + 60_000), randomBytes(800 * KiB, 2)),
  );
  const restarted = new KvRoomStore(kv);
  const loaded = await restarted.loadSnapshot("r1");
  assert.deepEqual(loaded?.bytes, randomBytes(100 * KiB, 1));
  // Its chunks are left (the cleanup died with it) but marked loose...
  assert.equal((await keysUnder(kv, "rooms", "r1", "loose")).length, 1);
  // ...and the restored room's next save deletes them, after its restore raised the sequence
  // ceiling (as `DurableRooms.restoreRoom` does before the room goes live).
  await restarted.raiseSeqCeiling(loaded!, 10_000);
  const again = randomBytes(100 * KiB, 3);
  const saved = await restarted.saveSnapshot(meta("r1", Date.now() + 60_000), again);
  assert.deepEqual((await new KvRoomStore(kv).loadSnapshot("r1"))?.bytes, again);
  assert.equal((await keysUnder(kv, "rooms", "r1", "chunk")).length, saved.chunks);
  assert.deepEqual(await keysUnder(kv, "rooms", "r1", "loose"), []);
});

Deno.test("an owner that lost its fence writes none of its chunks over the new owner's snapshot", async () => {
  using kv = await Deno.openKv(":memory:");
  const ownerKey = ["owner", "r1"];
  const a = await kv.set(ownerKey, "A");
  const storeA = new KvRoomStore(kv, {
    fence: () => ({ key: ownerKey, versionstamp: a.versionstamp }),
  });
  await storeA.saveSnapshot(meta("r1", Date.now() + 60_000), randomBytes(700 * KiB, 1));
  // B takes the room over and saves it; A has not noticed and saves once more.
  const b = await kv.set(ownerKey, "B");
  const storeB = new KvRoomStore(kv, {
    fence: () => ({ key: ownerKey, versionstamp: b.versionstamp }),
  });
  const state = randomBytes(800 * KiB, 2);
  await storeB.saveSnapshot(meta("r1", Date.now() + 60_000), state);
  await assert.rejects(
    storeA.saveSnapshot(meta("r1", Date.now() + 60_000), randomBytes(800 * KiB, 3)),
    PersistenceError,
  );
  assert.deepEqual((await new KvRoomStore(kv).loadSnapshot("r1"))?.bytes, state);
  const chunks = await keysUnder(kv, "rooms", "r1", "chunk");
  assert.equal(chunks.length, (await storeB.readMeta("r1"))?.chunks, "A left no chunks behind");
});

Deno.test("a load reads exactly the meta's chunks and refuses corrupt data with a typed error", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  const bytes = randomBytes(150 * KiB, 1);
  const saved = await store.saveSnapshot(meta("r1", Date.now() + 60_000), bytes);
  const chunk = (i: number) => ["arbiter", "rooms", "r1", "chunk", saved.generation, i];
  // A stray chunk past the last one is not read.
  await kv.set(chunk(saved.chunks), new Uint8Array(10));
  assert.deepEqual((await store.loadSnapshot("r1"))?.bytes, bytes);

  const corrupt = { name: "PersistenceError", code: "snapshot_corrupt" };
  await kv.set(chunk(1), "not bytes");
  await assert.rejects(store.loadSnapshot("r1"), corrupt);
  await kv.delete(chunk(1));
  await assert.rejects(store.loadSnapshot("r1"), corrupt);
  await kv.set(chunk(1), new Uint8Array(10));
  await assert.rejects(store.loadSnapshot("r1"), corrupt);
  await kv.set(["arbiter", "meta", "r1"], null);
  await assert.rejects(store.loadSnapshot("r1"), corrupt);
  await kv.set(["arbiter", "meta", "r1"], { ...saved, bytes: 2 ** 52 });
  await assert.rejects(store.loadSnapshot("r1"), corrupt);
});

Deno.test("sweep and listRooms pass over a garbled meta", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  await store.saveSnapshot(meta("old", 1), new Uint8Array([1]));
  await kv.set(["arbiter", "meta", "junk"], null);
  await kv.set(["arbiter", "meta", "worse"], 42);
  const garbled: string[] = [];
  const rooms = await store.listRooms((room, error) => {
    assert.equal(error.code, "snapshot_corrupt");
    garbled.push(room);
  });
  assert.deepEqual(rooms.map((m) => m.room), ["old"]);
  assert.deepEqual(garbled, ["junk", "worse"]);
  assert.deepEqual(await store.sweep(), ["old"]);
  assert.equal(await store.readMeta("junk"), null);
});

Deno.test("a logged action larger than a KV value is stored in parts, read back and trimmed", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  const payload = { lines: Array.from({ length: 9 }, (_, i) => String(i).repeat(8 * KiB)) };
  const big = { index: 1, seq: 1, time: 5, player: "p1", action: "post", payload };
  const small = { index: 2, seq: 2, time: 6, player: "p1", action: "post", payload: { lines: [] } };
  await store.appendLog("r1", big, Date.now() + 60_000);
  await store.appendLog("r1", small, Date.now() + 60_000);
  assert.deepEqual(await new KvRoomStore(kv).readLog("r1", 0), [big, small]);
  assert.equal((await keysUnder(kv, "rooms", "r1", "logpart")).length, 2);
  await store.trimLog("r1", 1);
  assert.deepEqual(await store.readLog("r1", 0), [small]);
  assert.deepEqual(await keysUnder(kv, "rooms", "r1", "logpart"), []);
  // Past what one commit holds: a typed refusal, not KV's error.
  const huge = { ...small, index: 3, payload: { lines: Array(100).fill("x".repeat(8 * KiB)) } };
  await assert.rejects(store.appendLog("r1", huge, Date.now() + 60_000), {
    name: "PersistenceError",
    code: "log_entry_too_large",
  });
});

Deno.test("an append after KV expired an idle room's log head goes on from the known index", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  await store.appendLog("r1", logEntry(1), Date.now() + 60_000);
  await kv.delete(["arbiter", "rooms", "r1", "head"]); // what KV's own expiry does
  await store.appendLog("r1", logEntry(2), Date.now() + 60_000);
  assert.deepEqual((await store.readLog("r1", 0)).map((e) => e.index), [1, 2]);
});

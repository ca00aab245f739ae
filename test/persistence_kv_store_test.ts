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
  assert.equal(loaded?.meta.generation, 2);
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
  await other.saveSnapshot(meta("r", Date.now() + 60_000), randomBytes(200_000, 2));
  const third = randomBytes(70_000, 3);
  const saved = await mine.saveSnapshot(meta("r", Date.now() + 60_000), third);
  assert.equal(saved.generation, 3);
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

Deno.test("the action log appends in order and refuses a second writer of the same index", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvRoomStore(kv);
  const expires = Date.now() + 60_000;
  const entry = (index: number) => ({
    index,
    time: 1000 + index,
    player: "p1",
    action: "move",
    payload: { dx: 1 },
    seq: index,
  });
  for (let i = 1; i <= 5; i++) await store.appendLog("r", entry(i), expires);
  await assert.rejects(
    () => store.appendLog("r", entry(3), expires),
    (e) => e instanceof PersistenceError && e.code === "log_conflict",
  );
  // A second store on the same KV (another owner) cannot append behind the first one's back.
  const other = new KvRoomStore(kv);
  await other.appendLog("r", entry(6), expires);
  await assert.rejects(
    () => store.appendLog("r", entry(6), expires),
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

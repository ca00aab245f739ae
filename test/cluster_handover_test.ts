/**
 * Clustering, in-process: two servers on one KV file (polling relays, as separate processes
 * would). A server stopped gracefully hands its rooms over at once (it releases their leases
 * after saving them) instead of after the lease time; a scan deletes what rooms whose data is
 * gone and instances long dead left behind; an owner whose room was claimed by another instance
 * stops it at once, and the room goes on elsewhere with every acknowledged move.
 */
import assert from "node:assert/strict";
import { type ClientOptions, connect } from "../client/mod.ts";
import { ClusterKeys, type LeaseRecord } from "../cluster/mod.ts";
import type { ticTacToe } from "../games/mod.ts";
import { openRaw } from "./support/raw_socket.ts";
import { startTestServer, waitFor } from "./support/test_server.ts";

const keys = new ClusterKeys();

type TestServer = Awaited<ReturnType<typeof startTestServer>>;

/**
 * Runs `body` with two servers on one fresh KV file (and a handle of its own on that file),
 * then closes all three and deletes the file, whatever `body` did (closing twice is harmless).
 */
async function withTwoServers(
  prefix: string,
  more: Record<string, string>,
  body: (cluster: { a: TestServer; b: TestServer; kv: Deno.Kv }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const env = {
    ARBITER_CLUSTER: "kv",
    ARBITER_KV_PATH: `${dir}/arbiter.kv`,
    // Long leases: a room that moves within the test moved because it was released.
    ARBITER_LEASE_MS: "60000",
    ARBITER_CLUSTER_POLL_MS: "10",
    GRACE_MS: "60000",
    ...more,
  };
  const a = await startTestServer(env);
  const b = await startTestServer(env);
  const kv = await Deno.openKv(`${dir}/arbiter.kv`);
  try {
    await body({ a, b, kv });
  } finally {
    kv.close();
    await a.close();
    await b.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Ann creates a tic-tac-toe room on `url` and Bob joins it; both reconnect quickly. */
async function twoPlayers(url: string, options: ClientOptions = {}) {
  const all = { pingIntervalMs: 0, reconnect: { baseMs: 50, maxMs: 200 }, ...options };
  const ann = await connect(url, { ...all, name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await connect(url, { ...all, name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  return { ann, bob };
}

type Player = Awaited<ReturnType<typeof twoPlayers>>["ann"];

/** Waits until both players are connected again and each got a full state on resuming. */
async function bothResumed(ann: Player, bob: Player, what: string): Promise<void> {
  await waitFor(
    () =>
      ann.status === "connected" && bob.status === "connected" &&
      ann.resumes.full + bob.resumes.full >= 2,
    what,
    20_000,
  );
}

Deno.test("cluster: a graceful stop hands the rooms over at once", async () => {
  await withTwoServers("arbiter-handover-", {}, async ({ a, b, kv }) => {
    let aAlive = true;
    // Sockets go to A while it runs, then to B: what a load balancer would do.
    const Routed = class extends WebSocket {
      constructor(_url: string, protocols?: string | string[]) {
        super(aAlive ? a.server.wsUrl : b.server.wsUrl, protocols);
      }
    };
    const { ann, bob } = await twoPlayers(a.server.wsUrl, { WebSocket: Routed });
    try {
      await ann.send("place", { cell: 4 });
      const before = (await kv.get<LeaseRecord>(keys.lease(ann.roomId))).value!;
      assert.equal(before.instance, a.server.cluster!.instance);

      aAlive = false;
      const stoppedAt = Date.now();
      await a.close();
      const released = (await kv.get<LeaseRecord>(keys.lease(ann.roomId))).value!;
      assert.equal(released.expiresAt, 0, "the lease was released, not left to expire");
      await bothResumed(ann, bob, "both resumed on B");
      assert.ok(Date.now() - stoppedAt < 60_000, "well within the lease time");
      assert.equal(
        (await kv.get<LeaseRecord>(keys.lease(ann.roomId))).value?.instance,
        b.server.cluster!.instance,
      );
      assert.equal(ann.state.board[4], "p1", "the saved move is there");
      await bob.send("place", { cell: 0 });
      assert.deepEqual(ann.state, bob.state);
    } finally {
      ann.leave();
      bob.leave();
    }
  });
});

Deno.test("cluster: a scan deletes what vanished rooms and dead instances left", async () => {
  await withTwoServers("arbiter-scan-", {}, async ({ a, b, kv }) => {
    const long = Date.now() - 3_600_000;
    // A room whose owner died and whose data expired meanwhile; an instance dead for an hour.
    await kv.atomic()
      .set(keys.lease("ghost"), { instance: "dead", epoch: 1, expiresAt: long })
      .set(keys.owner("ghost"), { instance: "dead", epoch: 1 })
      .set(keys.room("ghost"), { id: "ghost", game: "tic_tac_toe", owner: "dead" })
      .set(keys.instance("dead"), { id: "dead", startedAt: long, expiresAt: long })
      .sum(keys.bell("dead"), 3n)
      .commit();
    // Mail sent to an instance after it stopped (and deleted its heartbeat and bell), and to
    // the live ones.
    await kv.atomic()
      .sum(keys.bell("stopped"), 1n)
      .sum(keys.bell(a.server.cluster!.instance), 1n)
      .sum(keys.bell(b.server.cluster!.instance), 1n)
      .commit();
    // A room another instance runs: its lease is live, it has no data yet (just created).
    await kv.set(keys.lease("fresh"), { instance: "b", epoch: 1, expiresAt: Date.now() + 60_000 });
    await a.server.cluster!.scan();
    const left = async (key: Deno.KvKey) => (await kv.get(key)).versionstamp !== null;
    assert.equal(await left(keys.lease("ghost")), false);
    assert.equal(await left(keys.owner("ghost")), false);
    assert.equal(await left(keys.room("ghost")), false);
    assert.equal(await left(keys.instance("dead")), false);
    assert.equal(await left(keys.bell("dead")), false);
    assert.equal(await left(keys.bell("stopped")), false);
    for (const live of [a, b]) {
      assert.equal(await left(keys.bell(live.server.cluster!.instance)), true, "live bells stay");
    }
    assert.equal(await left(keys.lease("fresh")), true, "a live lease stays");
    assert.equal(
      await left(keys.instance(b.server.cluster!.instance)),
      true,
      "live instances stay",
    );
  });
});

Deno.test("cluster: an owner that lost its lease stops the room at once", async () => {
  const short = { ARBITER_LEASE_MS: "1000", ARBITER_DURABILITY: "log" };
  await withTwoServers("arbiter-deposed-", short, async ({ a, kv }) => {
    const { ann, bob } = await twoPlayers(a.server.wsUrl);
    try {
      await ann.send("place", { cell: 4 });
      await bob.send("place", { cell: 0 });
      // Another instance takes the room over (as one whose clock ran ahead would), then goes
      // silent: its lease runs out a second later.
      await kv.atomic()
        .set(keys.owner(ann.roomId), { instance: "intruder", epoch: 99 })
        .set(keys.lease(ann.roomId), {
          instance: "intruder",
          epoch: 99,
          expiresAt: Date.now() + 1000,
        })
        .commit();
      // A notices at its next renewal and stops the room: its players are sent to resume.
      await waitFor(() => ann.status !== "connected", "A stopped the room", 5000);
      assert.equal(a.server.manager.get(ann.roomId), undefined);
      // Once the intruder's lease ran out, a server adopts the room from KV; play goes on.
      await bothResumed(ann, bob, "both resumed");
      assert.equal(ann.state.board[4], "p1");
      assert.equal(ann.state.board[0], "p2");
      await ann.send("place", { cell: 8 });
      assert.deepEqual(bob.state, ann.state);
    } finally {
      ann.leave();
      bob.leave();
    }
  });
});

Deno.test("cluster: two creates with one join key at once make one room (the second waits for the first's lease)", async () => {
  await withTwoServers("arbiter-keyed-create-", {}, async ({ a }) => {
    const key = "keyed-create-0123456789";
    using first = await openRaw(a.server.wsUrl);
    using second = await openRaw(a.server.wsUrl);
    const [one, two] = await Promise.all(
      [first, second].map((raw) => raw.join({ mode: "create", game: "tic_tac_toe", key })),
    );
    assert.equal(two.room, one.room);
    assert.equal(two.player, one.player);
    assert.equal(a.server.manager.size, 1);
    first.abort();
    second.abort();
  });
});

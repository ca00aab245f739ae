/**
 * Clustering in one process: three Arbiter servers in Workers (as `deno serve --parallel`
 * runs them) share one Deno KV file. Players of one room connect to different Workers and
 * play through the relay; concurrent claims of a lease have exactly one winner; killing the
 * Worker that runs a room moves the room to another, and the players resume by themselves.
 */
import assert from "node:assert/strict";
import { type ArbiterClient, connect } from "../client/mod.ts";
import { ClusterKeys, type LeaseRecord } from "../cluster/mod.ts";
import type { arena, connectFour, ticTacToe } from "../games/mod.ts";
import { type ClusterWorker, routedWebSocket, startWorkers } from "./support/cluster_workers.ts";
import { TestNetwork } from "./support/test_network.ts";
import { waitFor } from "./support/test_server.ts";
import { lostTransportRefusal, TWO_ACTIONS_A_SECOND } from "./support/transport_refusals.ts";

const keys = new ClusterKeys();

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function cluster(env: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "arbiter-cluster-" });
  const path = `${dir}/arbiter.kv`;
  const workers = await startWorkers(3, {
    ARBITER_CLUSTER: "kv",
    ARBITER_KV_PATH: path,
    ARBITER_LEASE_MS: "2000",
    GRACE_MS: "60000",
    ...env,
  });
  const kv = await Deno.openKv(path);
  const rooms: { leave(): void }[] = [];
  return {
    workers,
    kv,
    /** A client whose sockets go to the first live Worker of `preference`. */
    client(name: string, preference: number[]): ArbiterClient {
      const client = connect(workers[preference[0]].wsUrl, {
        name,
        pingIntervalMs: 0,
        reconnect: { baseMs: 50, maxMs: 300 },
        WebSocket: routedWebSocket(workers, preference),
      });
      return client;
    },
    /** Leaves `room` at the end of the test (its client would reconnect forever). */
    track<R extends { leave(): void }>(room: R): R {
      rooms.push(room);
      return room;
    },
    async lease(room: string): Promise<LeaseRecord | null> {
      return (await kv.get<LeaseRecord>(keys.lease(room))).value;
    },
    async [Symbol.asyncDispose]() {
      for (const room of rooms) room.leave();
      kv.close();
      await Promise.all(workers.map((w: ClusterWorker) => w.stop().catch(() => w.kill())));
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("cluster: players on different workers play a full game through the relay", async () => {
  await using c = await cluster();
  const [w0, w1] = c.workers;
  const ann = c.track(await c.client("ann", [0]).create<typeof ticTacToe>("tic_tac_toe"));
  const bobClient = c.client("bob", [1]);
  // The listing of another worker shows the room (the directory, within a refresh).
  let listed = false;
  await waitUntil(async () => {
    const rooms = await (await fetch(`http://127.0.0.1:${w1.port}/api/rooms`)).json();
    return listed = rooms.some((room: { id: string }) => room.id === ann.roomId);
  });
  assert.ok(listed, "worker 1 lists the room of worker 0");
  // Bob's socket is on another worker: join-or-create finds Ann's room in the directory.
  const bob = c.track(await bobClient.joinOrCreate<typeof ticTacToe>("tic_tac_toe"));
  assert.equal(bob.roomId, ann.roomId);
  assert.equal((await c.lease(ann.roomId))?.instance, w0.instance);
  assert.deepEqual(await w1.rooms(), [], "the room does not run on bob's worker");

  // p1 takes the top row; bob's moves go through the relay and come back as deltas.
  const moves: [typeof ann, number][] = [[ann, 0], [bob, 3], [ann, 1], [bob, 4], [ann, 2]];
  for (const [player, cell] of moves) await player.send("place", { cell });
  await waitFor(() => ann.outcome !== null && bob.outcome !== null, "both see the end");
  assert.deepEqual(bob.outcome?.winners, ["p1"]);
  assert.deepEqual(bob.state, ann.state);
  assert.equal(bob.player, "p2");
  // A refusal travels back to the relayed player too.
  await assert.rejects(bob.send("place", { cell: 5 }), { code: "game_over" });

  // Bob's worker dies: the owner sees its heartbeat stop, and Bob's seat waits for a resume.
  w1.kill();
  await waitFor(
    () => ann.players.find((p) => p.id === "p2")?.presence === "disconnected",
    "ann sees bob disconnected",
    10_000,
  );
});

Deno.test("cluster: a relayed player's send() then leave() resolves once the owner applied it", async () => {
  // The ack comes from the owner through the relay, which keeps the connection until the owner
  // closed it for the leave (log mode: the owner acknowledges once the action is stored).
  await using c = await cluster({ ARBITER_DURABILITY: "log" });
  const ann = c.track(await c.client("ann", [0]).create<typeof ticTacToe>("tic_tac_toe"));
  const bob = await c.client("bob", [1]).join<typeof ticTacToe>(ann.roomId);
  assert.deepEqual(await c.workers[1].rooms(), [], "the room does not run on bob's worker");
  await ann.send("place", { cell: 0 });
  await waitFor(() => bob.state.board[0] === "p1", "bob sees ann's move");
  const applied = bob.send("place", { cell: 4 });
  bob.leave();
  await applied;
  await waitFor(() => ann.state.board[4] === "p2", "ann sees bob's last move");
});

Deno.test("cluster: a relayed player's action refused at its worker settles as refused after a resume", async () => {
  await using c = await cluster(TWO_ACTIONS_A_SECOND);
  const ann = c.track(await c.client("ann", [0]).create<typeof arena>("arena"));
  // Bob's sockets go to worker 1, which relays his actions to the room's owner, worker 0.
  const network = new TestNetwork();
  const bob = c.track(
    await connect(c.workers[1].wsUrl, {
      name: "bob",
      pingIntervalMs: 0,
      reconnect: { baseMs: 50, maxMs: 300 },
      WebSocket: network.WebSocket,
      paceActions: false,
    }).join<typeof arena>(ann.roomId),
  );
  assert.deepEqual(await c.workers[1].rooms(), [], "the room does not run on bob's worker");
  await lostTransportRefusal(ann, bob, network);
});

Deno.test("cluster: concurrent claims of a lease produce exactly one owner", async () => {
  await using c = await cluster();
  const rooms = Array.from({ length: 20 }, (_, i) => `race${i}`);
  const at = Date.now() + 200;
  const results = await Promise.all(c.workers.map((w) => w.claim(rooms, at)));
  for (let i = 0; i < rooms.length; i++) {
    const winners = c.workers.filter((_, w) => results[w][i]);
    assert.equal(winners.length, 1, `room ${rooms[i]}: ${winners.length} owners`);
    assert.equal((await c.lease(rooms[i]))?.instance, winners[0].instance);
  }
});

Deno.test("cluster: killing the owner's worker moves the room; players resume", async () => {
  await using c = await cluster({ ARBITER_DURABILITY: "log" });
  const [w0] = c.workers;
  type C4 = typeof connectFour;
  // Ann plays on worker 0, which runs the room; Bob through worker 1.
  const ann = c.track(
    await c.client("ann", [0, 2]).create<C4>("connect_four", { turnMs: 600_000 }),
  );
  const bob = c.track(await c.client("bob", [1]).join<C4>(ann.roomId));
  const columns = [0, 1, 0, 1, 0, 1, 0];
  const play = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      await (i % 2 === 0 ? ann : bob).send("drop", { column: columns[i] });
    }
  };
  await play(0, 4);
  const resumes = () =>
    ann.resumes.full + ann.resumes.replayed + bob.resumes.full + bob.resumes.replayed;
  assert.equal(resumes(), 0);
  assert.equal((await c.lease(ann.roomId))?.instance, w0.instance);

  w0.kill();
  // Worker 0's lease runs out; a worker adopts the room from KV; both clients resume.
  await waitFor(
    () => ann.status === "connected" && bob.status === "connected" && resumes() >= 2,
    "both players resumed",
    20_000,
  );
  const lease = await c.lease(ann.roomId);
  assert.notEqual(lease?.instance, w0.instance);
  const running = await Promise.all(c.workers.slice(1).map((w) => w.rooms()));
  assert.equal(running.flat().filter((id) => id === ann.roomId).length, 1, "one owner");
  // Every acknowledged move survived (log durability), and the game goes on to its end.
  const discs = (room: typeof ann) => room.state.board.flat().filter((x) => x !== null).length;
  assert.equal(discs(ann), 4);
  assert.equal(discs(bob), 4);
  await play(4, 7);
  await waitFor(() => ann.outcome !== null && bob.outcome !== null, "both see the end");
  assert.deepEqual(ann.outcome?.winners, ["p1"]);
  assert.deepEqual(bob.state, ann.state);
});

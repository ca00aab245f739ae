/**
 * Durability end to end: the server runs as its own OS process with a file-backed Deno KV;
 * two players play over real WebSockets with the client library; the server is killed
 * (SIGKILL) or stopped (SIGTERM, SIGINT: close code 1012 on the wire) and started again on the
 * same port and file; the clients reconnect and resume by themselves and finish the game.
 */
import assert from "node:assert/strict";
import { type ArbiterClient, connect, type Room } from "../client/mod.ts";
import type { connectFour } from "../games/mod.ts";
import { type ServerProcess, spawnServer } from "./support/server_process.ts";
import { TestNetwork } from "./support/test_network.ts";
import { waitFor } from "./support/test_server.ts";

type C4 = Room<typeof connectFour>;

/** p1 plays column 0, p2 column 1: p1 has four in column 0 on move 7. */
const MOVES = [0, 1, 0, 1, 0, 1, 0];

async function setup(env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "arbiter-durability-" });
  const base = { ARBITER_KV_PATH: `${dir}/arbiter.kv`, GRACE_MS: "60000", ...env };
  const first = await spawnServer({ ...base, PORT: "0" });
  const clientOptions = {
    pingIntervalMs: 0,
    reconnect: { baseMs: 50, maxMs: 250 },
  } as const;
  // Each client's sockets go through a network that records how they closed.
  const networks = { ann: new TestNetwork(), bob: new TestNetwork() };
  const clients: ArbiterClient[] = [
    connect(first.wsUrl, { ...clientOptions, name: "ann", WebSocket: networks.ann.WebSocket }),
    connect(first.wsUrl, { ...clientOptions, name: "bob", WebSocket: networks.bob.WebSocket }),
  ];
  const ann = await clients[0].create<typeof connectFour>("connect_four", { turnMs: 600_000 });
  const bob = await clients[1].join<typeof connectFour>(ann.roomId);
  let server: ServerProcess = first;
  return {
    ann,
    bob,
    networks,
    get server() {
      return server;
    },
    /** Starts the server again on the same port and KV file. */
    async restart(): Promise<ServerProcess> {
      server = await spawnServer({ ...base, PORT: String(first.port) });
      return server;
    },
    async cleanup() {
      ann.leave();
      bob.leave();
      try {
        server.kill("SIGKILL");
      } catch {
        // already gone
      }
      await server.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function play(ann: C4, bob: C4, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    await (i % 2 === 0 ? ann : bob).send("drop", { column: MOVES[i] });
  }
}

function discs(room: C4): number {
  return room.state.board.flat().filter((cell) => cell !== null).length;
}

async function bothResumed(ann: C4, bob: C4, resumesBefore: number): Promise<void> {
  await waitFor(
    () =>
      ann.status === "connected" && bob.status === "connected" &&
      ann.resumes.full + ann.resumes.replayed + bob.resumes.full + bob.resumes.replayed >=
        resumesBefore + 2,
    "both clients resumed",
    30_000,
  );
}

async function finish(ann: C4, bob: C4, from: number): Promise<void> {
  await play(ann, bob, from, MOVES.length);
  await waitFor(() => ann.outcome !== null && bob.outcome !== null, "game over", 10_000);
  assert.deepEqual(ann.outcome?.winners, ["p1"]);
  assert.deepEqual(bob.outcome?.winners, ["p1"]);
  assert.deepEqual(ann.state, bob.state);
}

const slow = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "log mode: SIGKILL mid-game loses no acknowledged action; clients resume and finish",
  ...slow,
  fn: async () => {
    const t = await setup({ ARBITER_DURABILITY: "log", SNAPSHOT_EVERY_ACTIONS: "1000" });
    try {
      const { ann, bob } = t;
      await play(ann, bob, 0, 5);
      const acknowledged = structuredClone(ann.state);
      assert.equal(discs(ann), 5);
      const seqBefore = Math.max(ann.seq, bob.seq);
      t.server.kill("SIGKILL");
      await t.server.status;
      await waitFor(() => ann.status !== "connected" && bob.status !== "connected", "dropped");
      const restarted = await t.restart();
      assert.ok(restarted.lines.some((line) => line.includes('"msg":"room restored"')));
      await bothResumed(ann, bob, 0);
      assert.deepEqual(ann.state, acknowledged, "all 5 acknowledged moves survived the crash");
      assert.deepEqual(bob.state, acknowledged);
      assert.ok(ann.seq > seqBefore, "the room sequence continued upwards");
      assert.equal(ann.player, "p1");
      assert.equal(bob.player, "p2");
      await finish(ann, bob, 5);
    } finally {
      await t.cleanup();
    }
  },
});

Deno.test({
  name: "snapshot mode: SIGKILL mid-game resyncs the clients to the last snapshot",
  ...slow,
  fn: async () => {
    const t = await setup({ SNAPSHOT_EVERY_ACTIONS: "3", SNAPSHOT_EVERY_MS: "600000" });
    try {
      const { ann, bob } = t;
      // Saves count actions since the last save started: let the joins' saves land first so
      // that the third move is the one that triggers a save, then let that save land.
      const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
      await settle();
      await play(ann, bob, 0, 3);
      await settle();
      const saved = structuredClone(ann.state);
      await play(ann, bob, 3, 5);
      assert.equal(discs(ann), 5);
      t.server.kill("SIGKILL");
      await t.server.status;
      await t.restart();
      await bothResumed(ann, bob, 0);
      assert.deepEqual(
        ann.state,
        saved,
        `back to the snapshot after move 3, not ${discs(ann)} discs`,
      );
      assert.deepEqual(bob.state, saved);
      assert.equal(ann.resumes.full, 1, "the resume was a full-state resync");
      // Play resumes from the snapshot: moves 4 to 7 again.
      await finish(ann, bob, 3);
    } finally {
      await t.cleanup();
    }
  },
});

// Deno Deploy stops an instance with SIGINT; other hosts (and `docker stop`) send SIGTERM.
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test({
    name: `graceful shutdown: ${signal} saves every room, closes with 1012, and clients resume`,
    ...slow,
    fn: async () => {
      const t = await setup({ SNAPSHOT_EVERY_ACTIONS: "1000", SNAPSHOT_EVERY_MS: "600000" });
      try {
        const { ann, bob, networks } = t;
        await play(ann, bob, 0, 4);
        const before = structuredClone(ann.state);
        const statuses: string[] = [];
        ann.onStatus((status) => statuses.push(status));
        assert.deepEqual([networks.ann.closes, networks.bob.closes], [[], []]);
        const stopping = t.server;
        stopping.kill(signal);
        const status = await stopping.status;
        assert.equal(status.code, 0, stopping.lines.join("\n"));
        // The close code on the wire, as each client's socket saw it (the first close since
        // the game began; failed reconnects to the stopped server follow it).
        await waitFor(
          () => networks.ann.closes.length > 0 && networks.bob.closes.length > 0,
          "both sockets closed",
          10_000,
        );
        for (const [who, network] of Object.entries(networks)) {
          const first = network.closes[0];
          assert.equal(first.code, 1012, `${who}'s close: ${JSON.stringify(network.closes)}`);
          assert.equal(first.reason, "server_restart", who);
        }
        assert.ok(
          statuses.includes("reconnecting"),
          `1012 makes the client reconnect: ${statuses}`,
        );
        const saved = stopping.lines.map((line) => JSON.parse(line)).find((l) =>
          l.msg === "rooms saved"
        );
        assert.equal(saved?.timedOut, false);
        assert.ok(saved?.saved >= 1, "the room was saved at shutdown");
        await t.restart();
        await bothResumed(ann, bob, 0);
        assert.deepEqual(ann.state, before, "nothing was lost");
        assert.deepEqual(bob.state, before);
        await finish(ann, bob, 4);
      } finally {
        await t.cleanup();
      }
    },
  });
}

/**
 * How the client settles actions and its connection across drops, over real WebSockets: a
 * refusal lost with the connection still rejects, an action applied before a drop still
 * resolves (also in a game that acknowledges on its tick), `send()` resolves only once
 * `room.state` shows the action, queued actions go out before anything a listener sends, a
 * silent (half-open) link is noticed, and `ping()`, `onGameOver`, `leave()`, `resume()` and
 * spectators behave while the connection is away. A payload that cannot be encoded fails its
 * `send()` alone, and a refusal is reported once, not again at every resume.
 */
import assert from "node:assert/strict";
import { ArbiterError, connect } from "../client/mod.ts";
import type { arena, connectFour, ticTacToe } from "../games/mod.ts";
import type { Room } from "../rooms/mod.ts";
import { encodeServerMessage } from "../protocol/mod.ts";
import { clientTest, FakeServer, welcome } from "./support/fake_server.ts";
import { TestNetwork } from "./support/test_network.ts";
import { closedPort, startTestServer, waitFor } from "./support/test_server.ts";

type Board = { board: (string | null)[] };

/** Resolves with how `promise` settled, or "pending" after `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => timer = setTimeout(resolve, ms, "pending"));
  try {
    return await Promise.race([
      promise.then(() => "resolved", (e: { code?: string }) => `rejected ${e.code}`),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `player`'s seat in `room` is free (left, or taken over), within `ms`. */
async function seatGivenUp(room: Room, player: string, ms: number): Promise<void> {
  const presence = () => room.snapshot().seats.find((s) => s.player === player)?.presence;
  // Not merely "not disconnected": the server may not have seen the drop yet ("connected").
  await waitFor(
    () => (presence() ?? "left") === "left",
    () => `seat given up (it is ${presence()})`,
    ms,
  );
  await sleep(100); // the farewell socket's closing handshake
}

async function ticTacToePair(t: Awaited<ReturnType<typeof startTestServer>>, net?: TestNetwork) {
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({
    name: "bob",
    WebSocket: net?.WebSocket,
    reconnect: { baseMs: 20, maxMs: 50 },
  }).join<typeof ticTacToe>(ann.roomId);
  await ann.send("place", { cell: 0 });
  await waitFor(() => bob.seq === ann.seq, "bob caught up");
  return { ann, bob, room: t.server.manager.get(ann.roomId)! };
}

Deno.test("settle: a refusal lost with the connection still rejects after the resume", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const net = new TestNetwork();
  const { ann, bob, room } = await ticTacToePair(t, net);
  const refused: string[] = [];
  bob.onReject((e) => refused.push(e.code));
  try {
    // In flight when the connection drops: the reject of the bad move, the delta of the good one.
    net.swallow(0x12);
    net.swallow(0x11);
    const bad = bob.send("place", { cell: 0 }); // taken: invalid_action
    const good = bob.send("place", { cell: 4 });
    await waitFor(() => (room.state as Board).board[4] === "p2", "server applied the good move");
    await waitFor(() => net.swallowed === 2, "both frames lost");
    bob.dropConnection();
    assert.equal(await settledWithin(bad, 3000), "rejected invalid_action");
    assert.equal(await settledWithin(good, 3000), "resolved");
    assert.deepEqual(refused, ["invalid_action"]);
  } finally {
    ann.leave();
    bob.leave();
  }
});

Deno.test("settle: send() resolves only once room.state shows the action, across a replay resume", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const net = new TestNetwork();
  const { ann, bob, room } = await ticTacToePair(t, net);
  try {
    net.swallow(0x11); // the delta acknowledging bob's move is lost, then the connection drops
    let cellWhenResolved: unknown = "unresolved";
    const sent = bob.send("place", { cell: 4 }).then(() => {
      cellWhenResolved = (bob.state as Board).board[4];
    });
    await waitFor(() => (room.state as Board).board[4] === "p2", "server applied");
    await waitFor(() => net.swallowed === 1, "delta lost");
    bob.dropConnection();
    await sent;
    assert.equal(bob.resumes.replayed, 1, "the resume replayed the missed delta");
    assert.equal(cellWhenResolved, "p2");
  } finally {
    ann.leave();
    bob.leave();
  }
});

Deno.test("settle: a tick game's action applied just before a drop resolves, not out_of_order", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const options = { pingIntervalMs: 0, reconnect: { baseMs: 20, maxMs: 50 } } as const;
  // Slow ticks: a wide window between an action and the broadcast that acknowledges it.
  const ann = await t.client({ name: "ann", ...options }).create<typeof arena>("arena", {
    tickMs: 1000,
  });
  const bob = await t.client({ name: "bob", ...options }).join<typeof arena>(ann.roomId);
  const refused: string[] = [];
  ann.onReject((e) => refused.push(e.code));
  try {
    const room = t.server.manager.get(ann.roomId)!;
    const x = () => (room.state as { players: Record<string, { x: number }> }).players.p1.x;
    const seq = ann.seq;
    await waitFor(() => ann.seq > seq, "a tick (the next is a second away)", 3000);
    const before = x();
    const sent = ann.send("move", { dx: 1, dy: 0, seq: 1 });
    await waitFor(() => x() !== before, "server applied the move");
    const applied = x();
    ann.dropConnection();
    assert.equal(await settledWithin(sent, 4000), "resolved");
    assert.deepEqual(refused, []);
    assert.equal(x(), applied, "applied once, not again when sent again after the resume");
  } finally {
    ann.leave();
    bob.leave();
  }
});

Deno.test("settle: actions queued while away go out before one sent from onStatus('connected')", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const net = new TestNetwork();
  const { ann, bob } = await ticTacToePair(t, net);
  const refused: string[] = [];
  bob.onReject((e) => refused.push(e.code));
  try {
    net.offline = true;
    bob.dropConnection();
    await waitFor(() => bob.status !== "connected", "bob away");
    const queued = bob.send("place", { cell: 4 });
    let later: Promise<void> | undefined;
    const off = bob.onStatus((status) => {
      if (status !== "connected") return;
      off();
      later = bob.send("place", { cell: 5 });
    });
    net.offline = false;
    await queued;
    assert.equal((bob.state as Board).board[4], "p2");
    await waitFor(() => later !== undefined, "the listener sent");
    // Ann has not moved: Bob's second move is out of turn, and says so.
    assert.equal(await settledWithin(later!, 3000), "rejected not_your_turn");
    assert.deepEqual(refused, ["not_your_turn"]);
  } finally {
    ann.leave();
    bob.leave();
  }
});

/** Forwards TCP until frozen; then keeps every connection open and forwards nothing. */
class HalfOpenProxy {
  frozen = false;
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #conns: Deno.Conn[] = [];
  readonly #done: Promise<void>;
  constructor(target: number) {
    this.#done = this.#accept(target);
  }
  get url(): string {
    return `ws://127.0.0.1:${(this.#listener.addr as Deno.NetAddr).port}/ws`;
  }
  async #accept(target: number) {
    const pipes: Promise<void>[] = [];
    try {
      for await (const client of this.#listener) {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: target });
        this.#conns.push(client, server);
        pipes.push(this.#pipe(client, server), this.#pipe(server, client));
      }
    } catch {
      // Closed.
    }
    await Promise.all(pipes);
  }
  async #pipe(from: Deno.Conn, to: Deno.Conn) {
    const buffer = new Uint8Array(65536);
    try {
      for (let n = await from.read(buffer); n !== null; n = await from.read(buffer)) {
        if (!this.frozen) await to.write(buffer.subarray(0, n));
      }
    } catch {
      // Closed.
    }
  }
  async close() {
    this.#listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    await this.#done;
  }
}

Deno.test("settle: a half-open link is noticed after three silent pings and resumed", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const proxy = new HalfOpenProxy(t.server.port);
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await connect(proxy.url, {
    name: "bob",
    pingIntervalMs: 100,
    reconnect: { baseMs: 20, maxMs: 50 },
  }).join<typeof ticTacToe>(ann.roomId);
  try {
    await ann.send("place", { cell: 0 });
    await waitFor(() => bob.seq === ann.seq, "bob caught up");
    proxy.frozen = true; // no FIN, no close: just silence
    const sent = bob.send("place", { cell: 4 });
    await waitFor(() => bob.status !== "connected", "bob noticed the silence", 3000);
    proxy.frozen = false;
    assert.equal(await settledWithin(sent, 3000), "resolved");
    assert.equal((bob.state as Board).board[4], "p2");
  } finally {
    ann.leave();
    bob.leave();
    await proxy.close();
  }
});

Deno.test("settle: ping() resolves NaN when closed or away, instead of hanging", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann", pingIntervalMs: 0, reconnect: { baseMs: 100 } })
    .create("tic_tac_toe");
  assert.ok(Number.isFinite(await ann.ping()));
  ann.dropConnection();
  assert.ok(Number.isNaN(await ann.ping()), "while the socket is closing");
  await waitFor(() => ann.status === "reconnecting", "away");
  assert.ok(Number.isNaN(await ann.ping()), "while reconnecting");
  await waitFor(() => ann.status === "connected", "resumed");
  assert.ok(Number.isFinite(await ann.ping()));
  ann.leave();
  assert.ok(Number.isNaN(await ann.ping()), "once closed");
});

Deno.test("settle: onGameOver added after the game ended fires once (spectator, stored-token resume)", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  for (const [room, cell] of [[ann, 0], [bob, 3], [ann, 1], [bob, 4], [ann, 2]] as const) {
    await room.send("place", { cell });
  }
  await waitFor(() => bob.outcome !== null, "game over");
  const eve = await t.client({ name: "eve" }).spectate(ann.roomId);
  const bobAgain = await t.client({ name: "bob" }).resume(ann.roomId, bob.session);
  const seen: string[] = [];
  eve.onGameOver(() => seen.push("eve"));
  bobAgain.onGameOver(() => seen.push("bob"));
  const off = bobAgain.onGameOver(() => seen.push("unsubscribed"));
  off();
  await sleep(50);
  try {
    assert.deepEqual(seen.sort(), ["bob", "eve"]);
  } finally {
    for (const room of [ann, bob, eve, bobAgain]) room.leave();
  }
});

Deno.test("settle: leave() right after send() settles what was sent from the server's answer", async () => {
  for (const durability of ["snapshot", "log"]) {
    await using t = await startTestServer({ GRACE_MS: "30000", ARBITER_DURABILITY: durability });
    const pair = async () => {
      const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
      const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
      return { ann, bob, room: t.server.manager.get(ann.roomId)! };
    };
    // Applied, then the leave: the send resolves (it used to reject with not_joined).
    const first = await pair();
    const applied = first.ann.send("place", { cell: 4 });
    first.ann.leave();
    assert.equal(await settledWithin(applied, 5000), "resolved", durability);
    assert.equal((first.room.state as Board).board[4], "p1");
    // The leaver's own mirror shows it too (the deltas before the close still apply).
    assert.equal(first.ann.state.board[4], "p1", durability);
    first.bob.leave();
    // Refused, then the leave: the refusal's own code.
    const second = await pair();
    const refused = second.bob.send("place", { cell: 4 });
    second.bob.leave();
    const got = await settledWithin(refused, 5000);
    assert.equal(got, "rejected not_your_turn", `${durability}: ${got}`);
    second.ann.leave();
    // An action that ends the game, then the leave: the outcome is known when it resolves.
    const ann = await t.client({ name: "ann" }).create<typeof connectFour>("connect_four");
    const bob = await t.client({ name: "bob" }).join<typeof connectFour>(ann.roomId);
    const resigned = ann.send("resign");
    ann.leave();
    assert.equal(await settledWithin(resigned, 5000), "resolved", durability);
    assert.deepEqual(ann.outcome?.winners, [bob.player], durability);
    assert.equal(ann.state.reason, "resigned", durability);
    bob.leave();
  }
});

Deno.test("settle: leave() while reconnecting gives the seat up at once", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create("tic_tac_toe");
  const bob = await t.client({ name: "bob", reconnect: { baseMs: 3000, maxMs: 3000 } })
    .join(ann.roomId);
  try {
    bob.dropConnection();
    await waitFor(() => bob.status === "reconnecting", "bob reconnecting");
    bob.leave();
    await seatGivenUp(t.server.manager.get(ann.roomId)!, "p2", 2000);
  } finally {
    ann.leave();
  }
});

Deno.test("settle: resume() of a stored token gives up within firstJoinMs when no server answers", async () => {
  const port = closedPort();
  const client = connect(`ws://127.0.0.1:${port}/ws`, {
    pingIntervalMs: 0,
    reconnect: { baseMs: 20, maxMs: 50, firstJoinMs: 300 },
  });
  assert.equal(
    await settledWithin(client.resume("room1", "stored-token"), 3000),
    "rejected unreachable",
  );
});

Deno.test("settle: a spectator reconnects after a drop, also once firstJoinMs has passed", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  const eve = await t.client({
    name: "eve",
    reconnect: { baseMs: 20, maxMs: 50, firstJoinMs: 200 },
  }).spectate<typeof ticTacToe>(ann.roomId);
  try {
    await sleep(400); // watching for longer than firstJoinMs
    const statuses: string[] = [];
    eve.onStatus((status) => statuses.push(status));
    eve.dropConnection();
    await waitFor(() => statuses.includes("connected") || eve.status === "closed", "settled");
    assert.deepEqual(statuses, ["reconnecting", "connected"], eve.lastError?.message);
    await ann.send("place", { cell: 4 });
    await waitFor(() => eve.seq === ann.seq, "the spectator follows the game again");
  } finally {
    eve.leave();
    ann.leave();
    bob.leave();
  }
});

clientTest(
  "settle: a send() whose payload cannot be encoded rejects at once and never blocks a resume",
  async () => {
    await using t = await startTestServer({ GRACE_MS: "30000" });
    const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
    const bob = await t.client({ name: "bob", reconnect: { baseMs: 100, maxMs: 100 } })
      .join<typeof ticTacToe>(ann.roomId);
    try {
      // Connected: rejected, and not left pending for the next resume to send again.
      const deep: Record<string, unknown> = {};
      let at = deep;
      for (let i = 0; i < 70; i++) at = (at.x = {}) as Record<string, unknown>;
      for (const payload of [{ cell: NaN }, { cell: new Date() }, deep]) {
        const sent = bob.send("place", payload as unknown as { cell: number });
        assert.match(await settledWithin(sent, 1000), /^rejected bad_field/);
      }
      assert.equal(bob.pendingActions, 0);
      bob.dropConnection();
      await waitFor(() => bob.status === "reconnecting", "bob away");
      // Away: rejected at once too, not queued.
      assert.equal(await settledWithin(bob.send("place", { cell: NaN }), 50), "rejected bad_field");
      await waitFor(() => bob.status === "connected", "resumed");
      await ann.send("place", { cell: 0 });
      // No client seq was used up: the next move goes through as usual.
      assert.equal(await settledWithin(bob.send("place", { cell: 4 }), 2000), "resolved");
    } finally {
      ann.leave();
      bob.leave();
    }
  },
);

Deno.test("settle: a refusal is reported to onReject once, not again at every resume", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob", reconnect: { baseMs: 20, maxMs: 50 } })
    .join<typeof ticTacToe>(ann.roomId);
  const refused: string[] = [];
  bob.onReject((e) => refused.push(e.code));
  try {
    assert.equal(
      await settledWithin(bob.send("place", { cell: 4 }), 2000),
      "rejected not_your_turn",
    );
    for (let i = 0; i < 2; i++) {
      bob.dropConnection();
      await waitFor(() => bob.status !== "connected", "away");
      await waitFor(() => bob.status === "connected", "back");
    }
    assert.equal(bob.resumes.replayed + bob.resumes.full, 2);
    assert.deepEqual(refused, ["not_your_turn"]);
  } finally {
    ann.leave();
    bob.leave();
  }
});

Deno.test("settle: leave() while the resume's join waits for an async token still gives the seat up", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create("tic_tac_toe");
  let slow = false;
  const bob = await t.client({
    name: "bob",
    token: async () => {
      if (slow) await sleep(300);
      return "tok";
    },
    reconnect: { baseMs: 20, maxMs: 20 },
  }).join(ann.roomId);
  try {
    slow = true;
    bob.dropConnection();
    await waitFor(() => bob.status === "reconnecting", "away");
    // The next socket opens, then waits for the token before it sends its join.
    await sleep(150);
    bob.leave();
    await seatGivenUp(t.server.manager.get(ann.roomId)!, "p2", 3000);
  } finally {
    ann.leave();
  }
});

Deno.test("settle: leave() from onStatus('connected') during a resume starts no ping interval", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({
    name: "bob",
    pingIntervalMs: 1000,
    reconnect: { baseMs: 20, maxMs: 50 },
  }).join<typeof ticTacToe>(ann.roomId);
  bob.dropConnection();
  await waitFor(() => bob.status === "reconnecting", "away");
  bob.onStatus((status) => {
    if (status === "connected") bob.leave();
  });
  await waitFor(() => bob.status === "closed", "closed");
  ann.leave();
  // The sockets' closing handshakes; then the test's sanitizer fails on a leftover interval.
  await sleep(100);
});

Deno.test({
  name: "settle: ping() rejects with heartbeat_timeout when no pong comes (a ping over the budget)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A server that answers the join and never a ping, as one does to pings over its rate limit.
    await using server = new FakeServer(async (conn) => {
      await conn.next();
      conn.send(welcome());
    });
    const room = await connect(server.url, { pingIntervalMs: 0 }).joinOrCreate("g");
    try {
      const error = await room.ping(100).then(() => null, (e) => e);
      assert.ok(error instanceof ArbiterError, `${error}`);
      assert.equal(error.code, "heartbeat_timeout");
      assert.equal(room.status, "connected");
    } finally {
      room.leave();
    }
  },
});

clientTest(
  "settle: a delta the leaving client cannot read still settles the actions it acknowledges",
  async () => {
    await using server = new FakeServer(async (conn) => {
      await conn.next(); // the join
      conn.send(welcome());
      const seen = [await conn.next(), await conn.next(), await conn.next()].map((m) => m.kind);
      assert.deepEqual(seen, ["action", "action", "leave"]);
      const delta = (seq: number, ops: number[]) =>
        encodeServerMessage({ kind: "delta", seq, dt: 1, ackDelta: 1, ops: new Uint8Array(ops) });
      conn.send(delta(2, [0xff])); // ops no client can apply
      conn.send(delta(3, []));
      conn.socket.close(1000, "left");
    });
    const room = await connect(server.url, { pingIntervalMs: 0 }).joinOrCreate("g");
    const first = room.send("go");
    const second = room.send("go");
    room.leave();
    assert.equal(await settledWithin(first, 2000), "resolved");
    assert.equal(await settledWithin(second, 2000), "resolved");
    assert.deepEqual(room.state, { n: 0 });
  },
);

Deno.test("settle: the client paces its actions by the welcome's limits: a burst or a backlog is applied, not refused", async () => {
  await using t = await startTestServer({
    ACTION_RATE: "100",
    ACTION_BURST: "10",
    GRACE_MS: "30000",
  });
  const ann = await t.client({ name: "ann" }).create<typeof arena>("arena");
  const bob = await t.client({ name: "bob", reconnect: { baseMs: 50, maxMs: 50 } })
    .join<typeof arena>(ann.roomId);
  try {
    // Six times the burst at once, live.
    const sent = Array.from({ length: 60 }, (_, i) => bob.send("move", { dx: 1, dy: 0, seq: i }));
    // And as many queued while reconnecting, all going out once back.
    bob.dropConnection();
    await waitFor(() => bob.status !== "connected", "bob away");
    sent.push(
      ...Array.from({ length: 60 }, (_, i) => bob.send("move", { dx: 0, dy: 1, seq: 60 + i })),
    );
    const settled = await Promise.all(sent.map((action) => settledWithin(action, 10_000)));
    assert.deepEqual([...new Set(settled)], ["resolved"]);
    assert.equal(t.server.metrics.actionsRejected.get("rate_limited") ?? 0, 0);
  } finally {
    ann.leave();
    bob.leave();
  }
});

Deno.test("settle: leave() sends what the pacer still holds; frequent pings do not crowd actions out", async () => {
  await using t = await startTestServer({
    ACTION_RATE: "100",
    ACTION_BURST: "20",
    GRACE_MS: "30000",
  });
  const ann = await t.client({ name: "ann", pingIntervalMs: 50 }).create<typeof arena>("arena");
  const bob = await t.client({ name: "bob" }).join<typeof arena>(ann.roomId);
  try {
    // A ping every 50 ms is a fifth of the budget, more than the pacer's margin.
    const moves = Array.from({ length: 200 }, (_, i) => ann.send("move", { dx: 1, dy: 0, seq: i }));
    assert.deepEqual([...new Set(await Promise.all(moves.map((m) => settledWithin(m, 10_000))))], [
      "resolved",
    ]);
    assert.equal(t.server.metrics.actionsRejected.get("rate_limited") ?? 0, 0);
    // The server's burst (20) at once, then the leave: the pacer held half of them back.
    const last = Array.from({ length: 20 }, (_, i) => bob.send("move", { dx: 0, dy: 1, seq: i }));
    bob.leave();
    const settled = await Promise.all(last.map((m) => settledWithin(m, 5000)));
    assert.deepEqual([...new Set(settled)], ["resolved"]);
  } finally {
    ann.leave();
    bob.leave();
  }
});

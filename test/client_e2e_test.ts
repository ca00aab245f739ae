/**
 * The client library over real WebSockets: a lost delta makes it resume instead of applying
 * out of order; actions sent while reconnecting are queued (or rejected at once when asked),
 * never lost; pings measure round-trip time and clock offset; an abrupt loss of the TCP
 * connection (no close frame) is resumed with the missed delta replayed; frames it cannot read
 * and joins it cannot encode fail with typed errors, never escape its socket handlers.
 */
import assert from "node:assert/strict";
import {
  ArbiterError,
  type ClientOptions,
  connect,
  ProtocolError,
  type Room,
} from "../client/mod.ts";
import type { ticTacToe } from "../games/mod.ts";
import {
  encodeServerMessage,
  FRAME_KINDS,
  type JoinMessage,
  REMEMBERED_REFUSALS,
} from "../protocol/mod.ts";
import { defineGame } from "../rooms/mod.ts";
import { clientTest, FakeServer, welcome } from "./support/fake_server.ts";
import { TcpProxy } from "./support/tcp_proxy.ts";
import { TestNetwork } from "./support/test_network.ts";
import {
  closedPort,
  startTestServer,
  type TestServer,
  waitFor,
  waitForSameState,
} from "./support/test_server.ts";

type Ttt = Room<typeof ticTacToe>;

/** Fast retries, so that a resume follows a drop quickly even on a loaded machine. */
const RECONNECT = { reconnect: { baseMs: 20, maxMs: 100 } } as const;

/**
 * Ann (direct) creates a tic-tac-toe room; Bob joins with `options` (e.g. a test network).
 * Both leave when `rooms` is disposed, also when the test fails half-way.
 */
async function pair(
  t: TestServer,
  rooms: DisposableStack,
  bobOptions: ClientOptions,
): Promise<{ ann: Ttt; bob: Ttt }> {
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  rooms.defer(() => ann.leave());
  const bob = await t.client({ name: "bob", ...RECONNECT, ...bobOptions })
    .join<typeof ticTacToe>(ann.roomId);
  rooms.defer(() => bob.leave());
  await identical(ann, bob);
  return { ann, bob };
}

/** Waits until Bob is connected and has exactly Ann's state at Ann's sequence. */
async function identical(ann: Ttt, bob: Ttt): Promise<void> {
  await waitForSameState(ann, bob);
  assert.deepEqual(bob.state, ann.state);
  assert.equal(bob.seq, ann.seq);
}

/** Rejects if `promise` does not settle within `ms` (so a lost action fails, not hangs). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What `promise` did by the time already-queued callbacks ran: settled, or still pending. */
async function settledNow<T>(promise: Promise<T>): Promise<
  { settled: "resolved"; value: T } | { settled: "rejected"; error: unknown } | {
    settled: "pending";
  }
> {
  const pending = new Promise<{ settled: "pending" }>((resolve) =>
    setTimeout(() => resolve({ settled: "pending" }), 0)
  );
  return await Promise.race([
    promise.then(
      (value) => ({ settled: "resolved" as const, value }),
      (error) => ({ settled: "rejected" as const, error }),
    ),
    pending,
  ]);
}

/** Takes Bob off the network and waits until his client noticed. */
async function takeOffline(bob: Ttt, network: TestNetwork): Promise<void> {
  network.offline = true;
  bob.dropConnection();
  await waitFor(() => bob.status === "reconnecting" || bob.status === "offline", "bob away");
}

Deno.test("client: a swallowed delta is a gap: the client resumes instead of applying out of order", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  using rooms = new DisposableStack();
  const network = new TestNetwork();
  const { ann, bob } = await pair(t, rooms, { WebSocket: network.WebSocket });
  // One move first: a client still at sequence 0 would be sent the full state anyway.
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  await identical(ann, bob);
  const seen: Ttt["state"][] = [];
  bob.onState((state) => seen.push(structuredClone(state)));

  // Ann's mark at 8 never reaches Bob.
  network.swallow(FRAME_KINDS.delta);
  const seqBefore = bob.seq;
  await ann.send("place", { cell: 8 });
  await waitFor(() => network.swallowed === 1, "ann's delta swallowed");
  assert.equal(bob.seq, seqBefore, "bob did not see ann's move");
  assert.equal(bob.state.board[8], null);

  // Bob moves: the delta acknowledging it is one past the one he lost.
  await within(bob.send("place", { cell: 2 }), 15_000, "bob's move acknowledged");
  await identical(ann, bob);
  assert.equal(bob.state.board[8], "p1");
  assert.equal(bob.state.board[2], "p2");
  assert.deepEqual(bob.resumes, { replayed: 1, full: 0 }, "the gap was filled by a replay");
  // Never a state with Bob's new mark but without Ann's earlier one.
  for (const state of seen) {
    assert.ok(
      !(state.board[2] === "p2" && state.board[8] === null),
      `applied out of order: ${JSON.stringify(state.board)}`,
    );
  }
  // Play goes on from the same state on both sides.
  await ann.send("place", { cell: 6 });
  await identical(ann, bob);
});

Deno.test("client: more refusals lost with the link than the server remembers still reject, none resolves", async () => {
  // Room for a burst of all of them at once.
  await using t = await startTestServer({
    GRACE_MS: "30000",
    ACTION_RATE: "500",
    ACTION_BURST: "500",
  });
  using rooms = new DisposableStack();
  const network = new TestNetwork();
  const { ann, bob } = await pair(t, rooms, { WebSocket: network.WebSocket });
  const refused = () => t.server.metrics.actionsRejected.get("not_your_turn") ?? 0;
  const count = REMEMBERED_REFUSALS + 4;
  const codes: string[] = [];
  bob.onReject((error) => codes.push(error.code));
  // Bob's link stops delivering: his moves out of turn are refused, the refusals lost; then
  // Ann moves and Bob's next move is one the server would apply.
  network.deaf = true;
  const settle = (sent: Promise<void>) =>
    sent.then(() => "applied", (error: ArbiterError) => error.code);
  const sends = Array.from({ length: count }, () => settle(bob.send("place", { cell: 0 })));
  await waitFor(() => refused() >= REMEMBERED_REFUSALS, "bob's moves refused");
  await ann.send("place", { cell: 0 });
  sends.push(settle(bob.send("place", { cell: 4 })));
  // The client keeps no more unsettled actions on the wire than the server remembers refusals.
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(refused(), REMEMBERED_REFUSALS);
  network.deaf = false;
  bob.dropConnection(); // the welcome repeats the refusals; the held actions go out after them
  const outcomes = await within(Promise.all(sends), 15_000, "every send to settle");
  // The held ones reach the server on Bob's turn: cell 0 is Ann's by then.
  assert.deepEqual(outcomes, [
    ...Array(REMEMBERED_REFUSALS).fill("not_your_turn"),
    ...Array(count - REMEMBERED_REFUSALS).fill("invalid_action"),
    "applied",
  ]);
  assert.equal(codes.length, count);
  await identical(ann, bob);
  assert.equal(bob.state.board[4], "p2");
});

Deno.test("client: an onReject listener that leaves during a resume's refusals leaves the room closed", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  using rooms = new DisposableStack();
  const network = new TestNetwork();
  const { bob } = await pair(t, rooms, { WebSocket: network.WebSocket });
  const refused = () => t.server.metrics.actionsRejected.get("not_your_turn") ?? 0;
  network.deaf = true;
  const sent = bob.send("place", { cell: 4 }).then(() => "applied", (e: ArbiterError) => e.code);
  await waitFor(() => refused() === 1, "the refusal (lost)");
  const statuses: string[] = [];
  bob.onStatus((status) => statuses.push(status));
  bob.onReject(() => bob.leave());
  network.deaf = false;
  bob.dropConnection(); // the welcome repeats the refusal; the listener leaves
  assert.equal(await within(sent, 10_000, "the refusal"), "not_your_turn");
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(bob.status, "closed");
  assert.deepEqual(statuses.slice(-1), ["closed"]);
  assert.ok(!statuses.slice(statuses.indexOf("closed")).includes("connected"), `${statuses}`);
});

Deno.test("client: listRooms asks beside the endpoint (a trailing slash too) and counts the page without a total", async () => {
  const paths: string[] = [];
  await using stub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    paths.push(url.pathname + url.search);
    // An older server, or a proxy that drops the header.
    return Response.json([{ id: "a" }, { id: "b" }]);
  });
  const base = `ws://127.0.0.1:${stub.addr.port}`;
  for (const endpoint of [`${base}/ws`, `${base}/ws/`]) {
    const list = await connect(endpoint).listRooms({ open: true });
    assert.deepEqual([list.rooms.length, list.total], [2, 2]);
  }
  assert.deepEqual(paths, ["/api/rooms?open=true", "/api/rooms?open=true"]);
});

Deno.test("client: actions sent while reconnecting are queued, sent after the resume and resolve", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  using rooms = new DisposableStack();
  const network = new TestNetwork();
  const { ann, bob } = await pair(t, rooms, { WebSocket: network.WebSocket });
  await ann.send("place", { cell: 0 });
  await identical(ann, bob);
  const room = t.server.manager.get(ann.roomId)!;

  await takeOffline(bob, network);
  const sent = bob.send("place", { cell: 4 });
  assert.equal((await settledNow(sent)).settled, "pending", "queued, not failed");
  assert.equal(bob.pendingActions, 1);
  // Give the client a few failed attempts meanwhile: the action waits for the resume.
  await waitFor(() => network.closes.length >= 3, "a few failed reconnects", 15_000);
  assert.equal((room.state as Ttt["state"]).board[4], null, "nothing reached the server yet");
  assert.equal(bob.pendingActions, 1);

  network.offline = false;
  await within(sent, 15_000, "the queued action resolved after the resume");
  assert.equal(bob.pendingActions, 0);
  assert.equal(bob.state.board[4], "p2");
  await identical(ann, bob);
  assert.equal(ann.state.board[4], "p2", "ann saw the queued move");
  assert.equal(bob.resumes.replayed + bob.resumes.full, 1);
});

Deno.test('client: with whileReconnecting "reject" actions fail at once with a typed error', async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  using rooms = new DisposableStack();
  const network = new TestNetwork();
  const { ann, bob } = await pair(t, rooms, {
    WebSocket: network.WebSocket,
    whileReconnecting: "reject",
  });
  await ann.send("place", { cell: 0 });
  await identical(ann, bob);

  // Straight after a drop the socket is closing and its close event has not fired yet.
  network.offline = true;
  bob.dropConnection();
  assert.equal(bob.status, "connected");
  const early = await settledNow(bob.send("place", { cell: 4 }));
  assert.equal(early.settled, "rejected", "a closing socket counts as gone");
  await takeOffline(bob, network);
  const result = await settledNow(bob.send("place", { cell: 4 }));
  assert.equal(result.settled, "rejected", "rejected at once, not left pending");
  const error = result.settled === "rejected" ? result.error : null;
  assert.ok(error instanceof ArbiterError, `a typed ArbiterError, got ${error}`);
  assert.equal(error.code, "not_joined");
  assert.equal(bob.pendingActions, 0, "nothing kept to be sent later");

  network.offline = false;
  await identical(ann, bob);
  // The refused action was not sent after the resume either: it is Bob's turn, cell 4 is free.
  assert.equal(ann.state.board[4], null);
  assert.equal(ann.state.next, "p2");
  await within(bob.send("place", { cell: 5 }), 15_000, "bob's move once connected again");
  await identical(ann, bob);
  assert.equal(ann.state.board[4], null);
  assert.equal(ann.state.board[5], "p2");
});

Deno.test("client: pings measure a finite round-trip time and a small clock offset", async () => {
  await using t = await startTestServer();
  const network = new TestNetwork();
  const room = await t.client({ pingIntervalMs: 50, WebSocket: network.WebSocket })
    .create<typeof ticTacToe>("tic_tac_toe");
  using _leave = { [Symbol.dispose]: () => room.leave() };
  // Several pongs: the client keeps pinging on its interval, not only once after the welcome.
  await waitFor(
    () => network.received(FRAME_KINDS.pong) >= 3 && Number.isFinite(room.rtt),
    "three pongs",
    15_000,
  );
  assert.ok(room.rtt >= 0, `rtt ${room.rtt}`);
  assert.ok(Math.abs(room.clockOffset) < 1000, `clock offset ${room.clockOffset} ms on loopback`);
  assert.ok(Math.abs(room.serverNow() - Date.now()) < 1000);
  // An explicit ping answers with the same measure.
  const rtt = await within(room.ping(), 15_000, "ping");
  assert.ok(Number.isFinite(rtt) && rtt >= 0, `ping() ${rtt}`);
});

Deno.test("client: an abrupt connection loss (no close frame) is resumed and the missed delta replayed", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  await using proxy = new TcpProxy({ port: t.server.port });
  const network = new TestNetwork();
  using rooms = new DisposableStack();
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  rooms.defer(() => ann.leave());
  const bob = await connect(proxy.wsUrl, {
    name: "bob",
    pingIntervalMs: 0,
    ...RECONNECT,
    WebSocket: network.WebSocket,
  }).join<typeof ticTacToe>(ann.roomId);
  rooms.defer(() => bob.leave());
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  await identical(ann, bob);

  // The connection dies in the network: neither side sent a close frame.
  proxy.offline = true;
  proxy.cut();
  await waitFor(() => bob.status !== "connected", "bob noticed the loss");
  await waitFor(
    () => ann.players.find((p) => p.id === "p2")?.presence === "disconnected",
    "the server noticed the loss and held bob's seat",
    15_000,
  );
  // No close frame reached the client (Deno reports code 0 for that, browsers 1006).
  assert.equal(network.closes[0].wasClean, false, JSON.stringify(network.closes));
  assert.ok([0, 1006].includes(network.closes[0].code), JSON.stringify(network.closes));
  const seqAway = bob.seq;

  // Ann moves while Bob is away.
  await ann.send("place", { cell: 8 });
  assert.equal(bob.seq, seqAway);
  assert.equal(bob.state.board[8], null);

  proxy.offline = false;
  await identical(ann, bob);
  assert.equal(bob.state.board[8], "p1");
  assert.deepEqual(bob.resumes, { replayed: 1, full: 0 }, "the missed delta was replayed");
  assert.equal(ann.players.find((p) => p.id === "p2")?.presence, "connected");
  // And the game goes on.
  await within(bob.send("place", { cell: 2 }), 15_000, "bob's move after the resume");
  await identical(ann, bob);
});

Deno.test("client: the winning send resolves with the outcome set; onGameOver fires once, also on a resume into the finished game", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  using rooms = new DisposableStack();
  const { ann, bob } = await pair(t, rooms, {});
  const endings: unknown[] = [];
  bob.onGameOver((outcome) => endings.push(outcome));
  for (const [room, cell] of [[ann, 0], [bob, 3], [ann, 1], [bob, 4], [ann, 2]] as const) {
    await room.send("place", { cell });
  }
  // The winning move's send resolves with the outcome known: its ack follows game_over.
  assert.deepEqual(ann.outcome, { winners: ["p1"], reason: ann.outcome?.reason });
  assert.equal(ann.state.board[2], "p1");
  await waitFor(() => endings.length === 1, "bob told the game is over");
  const [outcome] = endings;
  assert.deepEqual((outcome as { winners?: string[] }).winners, ["p1"]);
  for (const fullState of [false, true]) {
    const resumes = bob.resumes.replayed + bob.resumes.full;
    bob.dropConnection(fullState);
    await waitFor(
      () => bob.status === "connected" && bob.resumes.replayed + bob.resumes.full > resumes,
      "bob resumed",
    );
  }
  assert.deepEqual(bob.outcome, outcome);
  assert.equal(endings.length, 1, "announced once, not again per resume");
});

Deno.test("client: a resume that replays the end of the game applies the final state before onGameOver", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  await using proxy = new TcpProxy({ port: t.server.port });
  using rooms = new DisposableStack();
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  rooms.defer(() => ann.leave());
  const bob = await connect(proxy.wsUrl, { name: "bob", pingIntervalMs: 0, ...RECONNECT })
    .join<typeof ticTacToe>(ann.roomId);
  rooms.defer(() => bob.leave());
  for (const [room, cell] of [[ann, 0], [bob, 3], [ann, 1], [bob, 4]] as const) {
    await room.send("place", { cell });
  }
  await identical(ann, bob);
  const boardsAtEnd: (string | null)[][] = [];
  bob.onGameOver(() => boardsAtEnd.push([...bob.state.board]));
  // Bob is away while Ann wins; he comes back with a replay of what he missed.
  proxy.offline = true;
  proxy.cut();
  await waitFor(() => bob.status !== "connected", "bob noticed the loss");
  await ann.send("place", { cell: 2 });
  proxy.offline = false;
  await waitFor(() => boardsAtEnd.length === 1, "bob told the game is over", 15_000);
  assert.deepEqual(bob.resumes, { replayed: 1, full: 0 });
  assert.equal(boardsAtEnd[0][2], "p1", "the winning move is on the board onGameOver shows");
  await identical(ann, bob);
});

Deno.test("client: a first join that reaches no server rejects with unreachable, not hangs", async () => {
  await using t = await startTestServer();
  const down = closedPort();
  const cases: [string, ClientOptions][] = [
    [`ws://127.0.0.1:${down}/ws`, { reconnect: { baseMs: 10, maxMs: 20, firstJoinMs: 300 } }],
    [`ws://127.0.0.1:${down}/ws`, { reconnect: false }],
    // The server answers, but not with a WebSocket: the path is wrong.
    [new URL("/not-the-socket", t.server.url).href.replace("http", "ws"), { reconnect: false }],
  ];
  for (const [url, options] of cases) {
    const joining = connect(url, options).joinOrCreate("tic_tac_toe");
    const error = await within(joining.then(() => null, (e) => e), 10_000, `join via ${url}`);
    assert.ok(error instanceof ArbiterError, `a typed error for ${url}, got ${error}`);
    assert.equal(error.code, "unreachable", error.message);
    assert.match(error.message, new RegExp(url.replace(/[.?]/g, "\\$&")));
    if (options.reconnect) assert.match(error.message, /after ([3-9]|\d\d+) attempts/);
  }
});

Deno.test("client: a first join waits for a server that comes up within firstJoinMs (a restart)", async () => {
  const port = closedPort();
  const statuses: string[] = [];
  const joining = connect(`ws://127.0.0.1:${port}/ws`, { name: "ann", pingIntervalMs: 0 })
    .joinOrCreate("tic_tac_toe");
  // Nobody listens for the first attempts (a second: more than three of them); then the
  // server starts on that port.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await using t = await startTestServer({ PORT: String(port) });
  const ann = await within(joining, 10_000, "the join once the server is up");
  ann.onStatus((status) => statuses.push(status));
  assert.equal(ann.status, "connected");
  assert.equal(t.server.manager.list()[0].players, 1);
  ann.leave();
  assert.deepEqual(statuses, ["closed"]);
});

Deno.test("client: a URL no WebSocket can be opened to fails at once, not after firstJoinMs of retries", async () => {
  assert.throws(
    () => connect("ftp://127.0.0.1/ws"),
    /starts with ws:\/\/, wss:\/\/, http:\/\/ or https:\/\//,
  );
  // The WebSocket constructor itself refusing (here an injected one, as a browser does for a
  // blocked port) is final too.
  class RefusingSocket {
    constructor() {
      throw new DOMException("port 25 is blocked", "SecurityError");
    }
  }
  const started = Date.now();
  const joining = connect("ws://127.0.0.1:25/ws", {
    WebSocket: RefusingSocket as unknown as typeof WebSocket,
    reconnect: { firstJoinMs: 60_000 },
  }).joinOrCreate("tic_tac_toe");
  const error = await within(joining.then(() => null, (e) => e), 10_000, "the refused join");
  assert.ok(error instanceof ArbiterError, `a typed error, got ${error}`);
  assert.equal(error.code, "unreachable");
  assert.match(error.message, /ws:\/\/127\.0\.0\.1:25\/ws.*port 25 is blocked/);
  assert.ok(Date.now() - started < 30_000, "not retried for firstJoinMs");
});

Deno.test("client: connections that break right after their welcome back off instead of reconnecting at once, forever", async () => {
  // Every broadcast of this room fails (its state stays NaN), and each resume triggers one.
  const stuck = defineGame({
    name: "stuck",
    players: { min: 1, max: 2 },
    setup: () => ({ level: 0 }),
    actions: {
      spoil: {
        apply(state) {
          state.level = Number.NaN;
        },
      },
    },
  });
  await using t = await startTestServer({}, { games: [stuck] });
  const ann = await t.client({ reconnect: { baseMs: 50, maxMs: 400 } }).create("stuck");
  const statuses: string[] = [];
  ann.onStatus((status) => statuses.push(status));
  void ann.send("spoil", null).catch(() => {});
  const resumes = () => ann.resumes.full + ann.resumes.replayed;
  await waitFor(() => resumes() >= 2, "two resumes");
  const from = resumes();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  // Reset after every welcome, the delay stayed at 25-50 ms: 20 or more resumes in 1.5 s.
  // Growing, it is 50-100, 100-200, 200-400, then 200-400 ms: at most 7.
  const more = resumes() - from;
  assert.ok(more >= 1 && more <= 7, `${more} resumes in 1.5 s`);
  await waitFor(() => statuses.includes("offline"), "offline after three quick breaks");
  ann.leave();
});

// The fake server's sockets close after the test's end.
clientTest(
  "client: a welcome the client cannot read fails a first join at once with its ProtocolError",
  async () => {
    // A welcome whose key table is over the decoder's cap (its constructor throws).
    await using server = new FakeServer(async (conn) => {
      await conn.next();
      conn.send(welcome({ keys: Array.from({ length: 1025 }, (_, i) => `k${i}`), state: {} }));
    });
    const options = { pingIntervalMs: 0, reconnect: { baseMs: 20, firstJoinMs: 5000 } };
    const started = Date.now();
    const error = await within(
      connect(server.url, options).joinOrCreate("g").then(() => null, (e) => e),
      3000,
      "the join to fail",
    );
    assert.ok(error instanceof ProtocolError, `${error}`);
    assert.equal(error.code, "bad_delta");
    assert.match(error.message, /1025 keys/);
    // Once: not retried for firstJoinMs (the same welcome would come again).
    assert.equal(server.conns.length, 1);
    // A real server's welcome over the client's own limits, resuming a stored token too.
    await using t = await startTestServer({ GRACE_MS: "30000" });
    const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
    const small = { limits: { maxFrameBytes: 64 }, reconnect: { baseMs: 20, firstJoinMs: 5000 } };
    for (
      const joining of [
        t.client({ name: "bob", ...small }).join(ann.roomId),
        t.client({ name: "ann", ...small }).resume(ann.roomId, ann.session),
      ]
    ) {
      const e = await within(joining.then(() => null, (e) => e), 3000, "the join to fail");
      assert.ok(e instanceof ProtocolError, `${e}`);
      assert.equal(e.code, "frame_too_large");
    }
    assert.ok(Date.now() - started < 4000, "no retries for firstJoinMs");
    ann.leave();
  },
);

clientTest(
  "client: a connection that never brings a welcome fails its attempt (joinTimeoutMs, firstJoinMs)",
  async () => {
    // A server that upgrades and never answers a join; a TCP listener that never answers at all.
    await using silent = new FakeServer(() => {});
    using blackHole = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    void (async () => {
      for await (const conn of blackHole) held.push(conn);
    })().catch(() => {});
    const holeUrl = `ws://127.0.0.1:${(blackHole.addr as Deno.NetAddr).port}/ws`;
    try {
      for (
        const [url, stage] of [
          [silent.url, /the socket opened, but the server did not answer the join/],
          [holeUrl, /the socket did not open/],
        ] as const
      ) {
        const started = Date.now();
        const joining = connect(url, { pingIntervalMs: 0, reconnect: { firstJoinMs: 600 } })
          .joinOrCreate("g");
        const error = await within(joining.then(() => null, (e) => e), 5000, `join via ${url}`);
        assert.ok(error instanceof ArbiterError, `${error}`);
        assert.equal(error.code, "unreachable");
        assert.match(error.message, stage);
        assert.ok(Date.now() - started < 3000, "given up at firstJoinMs, not when TCP gives up");
      }

      // After a welcome: each attempt into the silence fails after joinTimeoutMs, the client
      // goes offline and gives up (maxAttempts), and the waiting send settles.
      await using server = new FakeServer(async (conn) => {
        await conn.next();
        if (conn.index === 0) conn.send(welcome());
      });
      const room = await connect(server.url, {
        pingIntervalMs: 0,
        joinTimeoutMs: 150,
        reconnect: { baseMs: 10, maxMs: 20, maxAttempts: 4, offlineAfter: 2 },
      }).joinOrCreate("g");
      const statuses: string[] = [];
      room.onStatus((status) => statuses.push(status));
      room.dropConnection();
      const sent = room.send("move", 1).then(() => null, (e) => e);
      const error = await within(sent, 5000, "the queued send to settle");
      assert.equal(error?.code, "unreachable");
      assert.match(error.message, /Gave up reconnecting after 4 attempts .*No welcome .* 150 ms/);
      assert.deepEqual(statuses, ["reconnecting", "offline", "closed"]);
      assert.equal(server.conns.length, 5);
    } finally {
      for (const conn of held) conn.close();
    }
  },
);

clientTest(
  "client: a gap that a replay does not get past is resynced with the full state",
  async () => {
    const gap = encodeServerMessage({
      kind: "delta",
      seq: 3,
      dt: 0,
      ackDelta: 0,
      ops: new Uint8Array(),
    });
    await using server = new FakeServer(async (conn) => {
      const join = (await conn.next()) as JoinMessage;
      if (join.resume?.seq === 0) {
        conn.send(welcome({ seq: 5, resumed: true, state: { n: 5 } }));
        return;
      }
      // A replay that skips seq 2, every time.
      conn.send(conn.index === 0 ? welcome() : welcome({ replay: true, resumed: true }));
      conn.send(gap);
    });
    const room = await connect(server.url, {
      pingIntervalMs: 0,
      reconnect: { baseMs: 10, maxMs: 20 },
    }).joinOrCreate("g");
    await waitFor(() => room.seq === 5, "the full state");
    assert.deepEqual(room.state, { n: 5 });
    const resumes = server.conns.slice(1).map((c) => (c.messages[0] as JoinMessage).resume?.seq);
    assert.deepEqual(resumes, [1, 0], "one replay from seq 1, then the full state");
    assert.deepEqual(room.resumes, { replayed: 1, full: 1 });
    room.leave();
  },
);

clientTest(
  "client: after a welcome, an unreadable frame resyncs, and the give-up error says why",
  async () => {
    await using server = new FakeServer(async (conn) => {
      await conn.next();
      if (conn.index === 0) {
        conn.send(welcome());
        conn.send(new Uint8Array([0x7f])); // no such frame kind: the client resyncs
      } else {
        // Every resume's welcome is over the decoder's key cap.
        conn.send(welcome({ keys: Array.from({ length: 1025 }, (_, i) => `k${i}`) }));
      }
    });
    const room = await connect(server.url, {
      pingIntervalMs: 0,
      reconnect: { baseMs: 10, maxMs: 20, maxAttempts: 3 },
    }).joinOrCreate("g");
    await waitFor(() => room.status === "closed", "the client to give up");
    const error = room.lastError!;
    assert.equal(error.code, "unreachable");
    assert.match(error.message, /Gave up reconnecting after 3 attempts.*bad_delta: 1025 keys/);
    assert.ok(error.cause instanceof ProtocolError && error.cause.code === "bad_delta");
    assert.equal(server.conns.length, 4);
    // The resumes asked for the full state (seq 0): the mirror was in doubt.
    const resume = (server.conns[1].messages[0] as JoinMessage).resume;
    assert.deepEqual(resume, { session: "sess", seq: 0 });
  },
);

clientTest(
  "client: join options, a name or a token that cannot be encoded reject at once with bad_field",
  async () => {
    await using server = new FakeServer(() => {});
    const options = { pingIntervalMs: 0, reconnect: { firstJoinMs: 5000 } };
    const client = connect(server.url, options);
    const failures = [
      client.create("g", { size: NaN }),
      client.joinOrCreate("g", { when: new Date() as unknown as number }),
      connect(server.url, { ...options, name: 42 as unknown as string }).join("r1"),
      connect(server.url, { ...options, token: 7 as unknown as string }).join("r1"),
    ];
    for (const joining of failures) {
      const error = await within(joining.then(() => null, (e) => e), 1000, "the join to fail");
      assert.ok(error instanceof ArbiterError, `${error}`);
      assert.equal(error.code, "bad_field", error.message);
    }
    assert.equal(server.conns.length, 0, "no socket opened for a join that cannot be sent");
    // A token function's result is known only once fetched: it fails then, also at once.
    const fetched = connect(server.url, { ...options, token: () => 7 as unknown as string })
      .join("r1");
    const error = await within(fetched.then(() => null, (e) => e), 1000, "the join to fail");
    assert.equal(error?.code, "bad_field");
  },
);

Deno.test({
  name:
    "client: a first join answered with server_restart is retried within firstJoinMs, same join key",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using server = new FakeServer(async (conn) => {
      await conn.next();
      if (conn.index === 0) {
        conn.send(encodeServerMessage({
          kind: "error",
          code: "server_restart",
          message: "The server is restarting; retry shortly.",
        }));
        conn.socket.close(1012, "server_restart");
      } else {
        conn.send(welcome());
      }
    });
    const room = await within(
      connect(server.url, { pingIntervalMs: 0, reconnect: { baseMs: 20, firstJoinMs: 3000 } })
        .joinOrCreate("g"),
      3000,
      "the retried join",
    );
    assert.equal(room.status, "connected");
    const [first, second] = server.conns.map((c) => c.messages[0] as JoinMessage);
    assert.ok(first.key && first.key === second.key, "the retry is recognizable as the same join");
    room.leave();
    // Without retries the error is the caller's at once.
    await using refusing = new FakeServer(async (conn) => {
      await conn.next();
      conn.send(encodeServerMessage({ kind: "error", code: "server_restart", message: "bye" }));
      conn.socket.close(1012, "server_restart");
    });
    const error = await within(
      connect(refusing.url, { pingIntervalMs: 0, reconnect: false }).joinOrCreate("g")
        .then(() => null, (e) => e),
      3000,
      "the refused join",
    );
    assert.equal(error?.code, "server_restart");
  },
});

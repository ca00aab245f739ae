/**
 * Abuse suite, limits: every bound the edge enforces, hit over real sockets by a raw client
 * (frame size, text frames, action and ping floods, the per-IP cap, the room cap, seats per
 * room, the join timeout, the heartbeat), each ending with the documented code and a server
 * that still serves a tic-tac-toe game.
 */
import assert from "node:assert/strict";
import { ArbiterError, connect } from "../client/mod.ts";
import {
  encodeClientMessage,
  type JoinMessage,
  PROTOCOL_VERSION,
  type RejectMessage,
} from "../protocol/mod.ts";
import type { connectFour } from "../games/mod.ts";
import { loadConfig } from "../server/mod.ts";
import { startAbuseServer } from "./support/abuse_harness.ts";
import { spawnServer } from "./support/server_process.ts";
import { OPCODES, openRaw, type RawSocket, rawUpgrade } from "./support/raw_socket.ts";
import { startTestServer, waitFor } from "./support/test_server.ts";
import { chat } from "./support/test_games.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function actionFrames(from: number, count: number) {
  return Array.from({ length: count }, (_, i) => ({
    opcode: OPCODES.binary,
    payload: encodeClientMessage({
      kind: "action",
      seq: from + i,
      name: "place",
      payload: { cell: 0 },
    }).slice(),
  }));
}

function rejects(socket: RawSocket): RejectMessage[] {
  return socket.messages.filter((m): m is RejectMessage => m.kind === "reject");
}

function errorCodes(close: { errors: { code: string }[] }): string[] {
  return close.errors.map((e) => e.code);
}

Deno.test("limits: frames above MAX_FRAME_BYTES get frame_too_large and 1009, up to 10 MiB and fragmented", async () => {
  await using s = await startAbuseServer();
  await s.bystander();
  const url = s.t.server.wsUrl;
  const max = loadConfig({}).maxFrameBytes;
  assert.equal(max, 16 * 1024);

  // Exactly at the limit the frame is read (and refused for what it holds, not its size).
  {
    using raw = await openRaw(url);
    const frame = new Uint8Array(max);
    frame[0] = 0x03; // a ping of time 0 followed by trailing bytes
    await raw.sendBinary(frame);
    const close = await raw.closedWithin(5000);
    assert.equal(close.code, 1002);
    assert.deepEqual(errorCodes(close), ["trailing_bytes"]);
  }
  for (const size of [max + 1, 10 * 1024 * 1024]) {
    using raw = await openRaw(url);
    await raw.sendBinary(new Uint8Array(size).fill(0x03));
    const close = await raw.closedWithin(5000);
    assert.equal(close.code, 1009, `${size} bytes`);
    assert.deepEqual(errorCodes(close), ["frame_too_large"]);
  }
  // Deno reassembles a fragmented message before the server sees it: 20 fragments of 1 MiB
  // still end in frame_too_large once complete.
  {
    using raw = await openRaw(url);
    const chunk = new Uint8Array(1024 * 1024);
    await raw.sendFrame(OPCODES.binary, chunk, { fin: false });
    for (let i = 0; i < 19; i++) {
      await raw.sendFrame(OPCODES.continuation, chunk, { fin: i === 18 });
    }
    const close = await raw.closedWithin(5000);
    assert.equal(close.code, 1009);
    assert.deepEqual(errorCodes(close), ["frame_too_large"]);
  }
  // A single frame declaring 64 MiB or more is refused by Deno's WebSocket layer itself: the
  // TCP connection is dropped at once, before any payload is buffered.
  {
    using raw = await openRaw(url);
    await raw.sendFrame(OPCODES.binary, new Uint8Array(8), { declaredLength: 100 * 1024 * 1024 });
    const close = await raw.closedWithin(5000);
    assert.equal(close.code, 1006);
    assert.deepEqual(close.errors, []);
  }
  await s.finish();
});

Deno.test("limits: a text frame gets text_frame and 1003", async () => {
  await using s = await startAbuseServer();
  using raw = await openRaw(s.t.server.wsUrl);
  await raw.join({ mode: "create", game: "tic_tac_toe" });
  await raw.sendText(JSON.stringify({ kind: "action", name: "place", payload: { cell: 4 } }));
  const close = await raw.closedWithin(5000);
  assert.equal(close.code, 1003);
  assert.deepEqual(errorCodes(close), ["text_frame"]);
  await s.finish();
});

Deno.test("limits: actions over the rate get reject rate_limited; a sustained flood closes 1008", async () => {
  await using s = await startAbuseServer({
    ACTION_RATE: "1",
    ACTION_BURST: "10",
    ABUSE_LIMIT: "50",
  });
  // Each bystander has its own budget: one action per second stays within it.
  await s.bystander({ intervalMs: 1000 });
  using raw = await openRaw(s.t.server.wsUrl);
  await raw.join({ mode: "create", game: "tic_tac_toe" });
  // 30 actions in one TCP write: the burst of 10 passes the limiter (the room then refuses
  // them itself, a second player is missing), the rest are rate_limited.
  await raw.sendFrames(actionFrames(1, 30));
  await waitFor(() => rejects(raw).length === 30, "30 rejects");
  const limited = rejects(raw).filter((r) => r.code === "rate_limited");
  const reachedRoom = rejects(raw).filter((r) => r.code === "waiting_for_players");
  assert.ok(limited.length >= 18 && limited.length <= 20, `${limited.length} rate_limited`);
  assert.equal(limited.length + reachedRoom.length, 30);
  assert.match(limited[0].message, /1 actions\/s \(bursts of 10\)/);
  assert.equal(raw.close, null, "a burst alone does not close the connection");
  assert.ok((s.t.server.metrics.actionsRejected.get("rate_limited") ?? 0) >= 18);

  // Keep going, one action after another: ABUSE_LIMIT refusals in a row end the connection.
  let seq = 31;
  while (raw.close === null && seq < 200) {
    const from = raw.messages.length;
    await raw.sendFrames(actionFrames(seq++, 1));
    await raw.next((m) => m.kind === "reject" || m.kind === "error", 5000, from).catch(() => {});
  }
  const close = await raw.closedWithin(5000);
  assert.equal(close.code, 1008);
  assert.deepEqual(errorCodes(close), ["policy_violation"]);
  assert.ok(seq - 31 <= 50, `closed after ${seq - 31} more`);

  // The budget applies before a join too: a flood of actions from a connection that never
  // joined gets `not_joined` for the burst, `rate_limited` after it, then the close.
  using stranger = await openRaw(s.t.server.wsUrl);
  await stranger.sendFrames(actionFrames(1, 200));
  const strangerClose = await stranger.closedWithin(5000);
  assert.deepEqual(errorCodes(strangerClose), ["policy_violation"]);
  assert.ok(strangerClose.code === 1008 || strangerClose.code === 1006, `${strangerClose.code}`);
  const codes = rejects(stranger).map((r) => r.code);
  assert.deepEqual(codes.slice(0, 10), Array(10).fill("not_joined"));
  assert.ok(codes.length >= 10 + 49 && codes.slice(10).every((c) => c === "rate_limited"));
  await s.finish();
});

Deno.test("limits: pings share the action budget; a ping flood gets no extra pongs and closes 1008", async () => {
  await using s = await startAbuseServer({
    ACTION_RATE: "5",
    ACTION_BURST: "10",
    ABUSE_LIMIT: "50",
  });
  await s.bystander({ intervalMs: 500 });
  using raw = await openRaw(s.t.server.wsUrl);
  const ping = encodeClientMessage({ kind: "ping", time: 1 }).slice();
  await raw.sendFrames(
    Array.from({ length: 1000 }, () => ({ opcode: OPCODES.binary, payload: ping })),
  );
  const close = await raw.closedWithin(5000);
  // The error frame always arrives; the close frame does only if the peer stops sending after
  // it: Deno drops a connection that keeps sending data after the server's close frame.
  assert.deepEqual(errorCodes(close), ["policy_violation"]);
  assert.ok(close.code === 1008 || close.code === 1006, `close ${close.code}`);
  const pongs = raw.messages.filter((m) => m.kind === "pong").length;
  assert.ok(pongs >= 10 && pongs <= 12, `${pongs} pongs for 1000 pings`);
  await s.finish();
});

Deno.test("limits: MAX_CONNECTIONS_PER_IP refuses the upgrade with HTTP 429 JSON", async () => {
  await using s = await startAbuseServer({ MAX_CONNECTIONS_PER_IP: "4" });
  const url = s.t.server.wsUrl;
  const open = await Promise.all(Array.from({ length: 4 }, () => openRaw(url)));
  const refused = await rawUpgrade(url);
  assert.equal(refused.ok, false);
  if (refused.ok) return;
  assert.equal(refused.refused.status, 429);
  assert.match(refused.refused.headers.get("content-type") ?? "", /application\/json/);
  const body = JSON.parse(refused.refused.body);
  assert.equal(body.code, "too_many_connections");
  assert.match(body.message, /At most 4 sockets/);

  // A closed connection frees its slot.
  await open[0].sendClose(1000);
  await open[0].closedWithin(5000);
  let again = await rawUpgrade(url);
  for (let i = 0; i < 100 && !again.ok; i++) {
    await delay(20);
    again = await rawUpgrade(url);
  }
  assert.equal(again.ok, true, "a slot came free");
  if (again.ok) open.push(again.socket);
  for (const socket of open) socket.abort();
  await waitFor(() => s.t.server.metrics.connections === 0, "all closed");
  await s.finish();
});

Deno.test("limits: MAX_CONNECTIONS_PER_IP bounds plain HTTP connections too, upgraded sockets aside", async () => {
  // Twice the socket cap: 4 plain connections.
  await using s = await startAbuseServer({ MAX_CONNECTIONS_PER_IP: "2" });
  const port = Number(new URL(s.t.server.url).port);
  const dial = () => Deno.connect({ hostname: "127.0.0.1", port });
  const readAll = async (conn: Deno.Conn): Promise<string | null> => {
    const buffer = new Uint8Array(4096);
    const timer = setTimeout(() => conn.close(), 5000);
    try {
      const n = await conn.read(buffer);
      return n === null ? null : new TextDecoder().decode(buffer.subarray(0, n));
    } finally {
      clearTimeout(timer);
    }
  };
  // A full set of WebSockets: once upgraded they count against the socket cap only.
  const sockets = await Promise.all(Array.from({ length: 2 }, () => openRaw(s.t.server.wsUrl)));
  const held = [await dial(), await dial(), await dial(), await dial()];
  // One more plain connection from this address is closed before it can send a byte.
  const extra = await dial();
  assert.equal(await readAll(extra), null, "closed at once");
  extra.close();
  // Those under the cap are served.
  await held[0].write(new TextEncoder().encode("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  assert.match((await readAll(held[0])) ?? "", /^HTTP\/1\.1 200/);
  // A closed one frees its slot.
  held.pop()!.close();
  let answer: Response | null = null;
  for (let i = 0; i < 100 && !answer; i++) {
    answer = await fetch(new URL("/health", s.t.server.url)).catch(() => null);
    if (!answer) await delay(20);
  }
  assert.equal(answer?.status, 200, "a slot came free");
  await answer?.body?.cancel();
  for (const conn of held) conn.close();
  for (const socket of sockets) socket.abort();
  await waitFor(() => s.t.server.metrics.connections === 0, "all closed");
  await s.finish();
});

Deno.test("limits: parallel upgrades waiting on an async authenticate cannot overshoot the per-IP cap", async () => {
  const authenticate = async (request: Request) => {
    await delay(50);
    return { userId: request.headers.get("x-user") ?? crypto.randomUUID(), name: "n" };
  };
  await using s = await startAbuseServer({ MAX_CONNECTIONS_PER_IP: "4" }, { authenticate });
  // Eight at once: twice the cap, as many as may be connected from one address before upgrading.
  const results = await Promise.all(
    Array.from(
      { length: 8 },
      (_, i) => rawUpgrade(s.t.server.wsUrl, { headers: { "x-user": `u${i}` } }),
    ),
  );
  const opened = results.filter((r) => r.ok);
  const statuses = results.flatMap((r) => r.ok ? [] : [r.refused.status]);
  assert.equal(opened.length, 4);
  assert.deepEqual(statuses, Array(4).fill(429));
  for (const r of results) if (r.ok) r.socket.abort();
  await s.finish();
});

Deno.test("limits: MAX_ROOMS gives too_many_rooms (4000 / HTTP 503) and a full room gives room_full", async () => {
  await using s = await startAbuseServer({ MAX_ROOMS: "3" });
  const url = s.t.server.wsUrl;
  const ann = await s.t.client({ name: "ann", reconnect: false }).create("tic_tac_toe");
  const bob = await s.t.client({ name: "bob", reconnect: false }).join(ann.roomId);
  {
    using carl = await openRaw(url);
    await assert.rejects(carl.join({ mode: "join", room: ann.roomId }), /room_full/);
    assert.equal((await carl.closedWithin(5000)).code, 4000);
  }
  const more = [
    await s.t.client({ reconnect: false }).create("connect_four"),
    await s.t.client({ reconnect: false }).create("arena"),
  ];
  assert.equal(s.t.server.manager.size, 3);
  {
    using dave = await openRaw(url);
    await assert.rejects(dave.join({ mode: "create", game: "tic_tac_toe" }), /too_many_rooms/);
    const close = await dave.closedWithin(5000);
    assert.equal(close.code, 4000);
    assert.deepEqual(errorCodes(close), ["too_many_rooms"]);
  }
  await assert.rejects(
    s.t.client({ reconnect: false }).joinOrCreate("secret_cards"),
    (e) => e instanceof ArbiterError && e.code === "too_many_rooms",
  );
  const response = await fetch(new URL("/api/rooms", s.t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "tic_tac_toe" }),
  });
  assert.equal(response.status, 503);
  assert.equal((await response.json()).code, "too_many_rooms");
  assert.equal(s.t.server.manager.size, 3, "refused creations leave no room behind");
  for (const room of [ann, bob, ...more]) room.leave();
  // Empty rooms go after IDLE_ROOM_MS; then games can be created again.
  await waitFor(() => s.t.server.manager.size === 0, "rooms disposed");
  await s.finish();
});

Deno.test("limits: at MAX_ROOMS a finished game's room makes way for a new one (over real sockets)", async () => {
  // Retention far longer than the test: the finished room goes because a game needs its place.
  await using s = await startAbuseServer({ MAX_ROOMS: "2", FINISHED_RETENTION_MS: "600000" });
  const ann = await s.t.client({ name: "ann", reconnect: false }).create<typeof connectFour>(
    "connect_four",
  );
  const bob = await s.t.client({ name: "bob", reconnect: false }).join<typeof connectFour>(
    ann.roomId,
  );
  await ann.send("resign");
  assert.deepEqual(ann.outcome, { winners: ["p2"], reason: "resigned" });
  const other = await s.t.client({ reconnect: false }).create("tic_tac_toe");
  // Full with one finished room: the next game takes its place, and its players hear why.
  const carl = await s.t.client({ name: "carl", reconnect: false }).create("tic_tac_toe");
  await waitFor(() => ann.status === "closed" && bob.status === "closed", "finished room closed");
  assert.equal(ann.lastError?.code, "room_closed");
  assert.deepEqual(
    s.t.server.manager.list().map((room) => room.id).sort(),
    [other.roomId, carl.roomId].sort(),
  );
  // No finished room left to close: the limit holds.
  await assert.rejects(
    s.t.client({ reconnect: false }).create("arena"),
    (e) => e instanceof ArbiterError && e.code === "too_many_rooms",
  );
  for (const room of [other, carl]) room.leave();
  await waitFor(() => s.t.server.manager.size === 0, "rooms disposed");
  // Its closing game's room is kept for the long retention set above.
  await s.finish({ roomsDrain: false });
});

Deno.test("limits: a player join to a finished game gives game_over and 4000; watching it still works", async () => {
  await using s = await startAbuseServer();
  const ann = await s.t.client({ name: "ann", reconnect: false }).create("tic_tac_toe");
  const bob = await s.t.client({ name: "bob", reconnect: false }).join(ann.roomId);
  // Ann takes the top row.
  for (const [room, cell] of [[ann, 0], [bob, 3], [ann, 1], [bob, 4], [ann, 2]] as const) {
    await room.send("place", { cell });
  }
  await waitFor(() => bob.outcome !== null, "bob sees the game end");
  {
    using carl = await openRaw(s.t.server.wsUrl);
    await assert.rejects(carl.join({ mode: "join", room: ann.roomId }), /game_over/);
    const close = await carl.closedWithin(5000);
    assert.equal(close.code, 4000);
    assert.deepEqual(errorCodes(close), ["game_over"]);
  }
  const watcher = await s.t.client({ reconnect: false }).spectate(ann.roomId);
  assert.deepEqual(watcher.outcome, ann.outcome);
  for (const room of [ann, bob, watcher]) room.leave();
  await s.finish();
});

Deno.test("limits: a socket that never joins is closed after JOIN_TIMEOUT_MS with 4001, pings or not", async () => {
  assert.equal(loadConfig({}).joinTimeoutMs, 10_000);
  await using s = await startAbuseServer({ JOIN_TIMEOUT_MS: "300" });
  using quiet = await openRaw(s.t.server.wsUrl);
  using pinging = await openRaw(s.t.server.wsUrl);
  const started = performance.now();
  const timer = setInterval(() => void pinging.send({ kind: "ping", time: 1 }), 50);
  try {
    for (const raw of [quiet, pinging]) {
      const close = await raw.closedWithin(5000);
      assert.equal(close.code, 4001);
      assert.deepEqual(errorCodes(close), ["join_timeout"]);
    }
  } finally {
    clearInterval(timer);
  }
  assert.ok(performance.now() - started >= 250, "not before the timeout");
  assert.ok(pinging.messages.some((m) => m.kind === "pong"), "pings were answered meanwhile");
  await s.finish();
});

Deno.test("limits: a peer that stops answering pings is dropped by the heartbeat; its seat waits for a resume", async () => {
  await using s = await startAbuseServer({ HEARTBEAT_S: "1", GRACE_MS: "10000" });
  const url = s.t.server.wsUrl;
  const started = performance.now();
  const ann = await s.t.client({ name: "ann", reconnect: false }).create("tic_tac_toe");
  using dead = await openRaw(url, { autoPong: false });
  const welcome = await dead.join({ mode: "join", room: ann.roomId, name: "bob" });
  assert.equal(welcome.player, "p2");
  // A silent peer that does answer pings is not dropped.
  using alive = await openRaw(url);
  await alive.join({ mode: "join", room: ann.roomId, spectator: true });
  // A peer stuck half-way through a frame (10 MiB announced, 1 KiB sent) cannot answer pings
  // either: the heartbeat bounds how long a partial frame is buffered.
  using stuck = await openRaw(url);
  await stuck.sendFrame(OPCODES.binary, new Uint8Array(1024), { declaredLength: 10 << 20 });

  const close = await dead.closedWithin(4000);
  assert.equal(close.code, 1001);
  assert.equal(close.reason, "No response from ping frame.");
  assert.ok(dead.pingsReceived >= 1);
  assert.equal((await stuck.closedWithin(4000)).code, 1001);
  await waitFor(
    () => ann.players.find((p) => p.id === "p2")?.presence === "disconnected",
    "p2 shown as disconnected",
  );
  assert.ok(s.logs.some((l) => l.msg === "heartbeat timeout"));
  // Well past two heartbeat periods, the live connections are still there.
  await delay(Math.max(0, 2500 - (performance.now() - started)));
  assert.equal(alive.close, null);
  assert.equal(ann.status, "connected");

  using back = await openRaw(url);
  const resumed = await back.join({
    mode: "join",
    room: ann.roomId,
    resume: { session: welcome.session, seq: welcome.seq },
  });
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.player, "p2");
  await waitFor(
    () => ann.players.find((p) => p.id === "p2")?.presence === "connected",
    "p2 back",
  );
  const from = back.messages.length;
  await ann.send("place", { cell: 4 });
  await back.next((m) => m.kind === "delta", 5000, from);
  ann.leave();
  back.abort();
  alive.abort();
  // p2's seat waits out its grace window (10 s) in the first room; not worth waiting for.
  await s.finish({ roomsDrain: false });
  // Deno's heartbeat re-arms its timer when a ping it sent races the socket's end (and keeps it
  // when a read fails); that timer fires, finding the socket closed, half a heartbeat later. Let
  // it, so the test's timer check does not count it (it failed CI once).
  await delay(1000);
});

Deno.test("limits: malformed upgrade requests get 400 JSON, not a logged server error", async () => {
  await using s = await startAbuseServer();
  const noKey = await rawUpgrade(s.t.server.wsUrl, { omitKey: true });
  assert.equal(noKey.ok, false);
  if (!noKey.ok) {
    assert.equal(noKey.refused.status, 400);
    assert.equal(JSON.parse(noKey.refused.body).code, "bad_request");
  }
  const plain = await fetch(new URL("/ws", s.t.server.url));
  assert.equal(plain.status, 400);
  assert.equal((await plain.json()).code, "bad_request");
  await s.finish();
});

Deno.test({
  name:
    "limits: idle TCP connections are closed after JOIN_TIMEOUT_MS and running out of descriptors stops nothing",
  // The child process and its pipes outlive single test steps by design.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = await spawnServer(
      { PORT: "0", ARBITER_KV_PATH: ":memory:", JOIN_TIMEOUT_MS: "2000" },
      { maxOpenFiles: 96 },
    );
    const held: Deno.Conn[] = [];
    try {
      // More connections than the server has descriptors left, none of them sending a byte.
      for (let i = 0; i < 110; i++) {
        held.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      }
      // Accepting failed for lack of descriptors, and the server kept trying.
      const accept = () => server.lines.some((line) => line.includes("accept failed"));
      await waitFor(accept, "an accept error logged");
      assert.match(server.lines.find((line) => line.includes("accept failed"))!, /open files/i);
      // The silent ones are closed by the server (a read sees the end), which frees descriptors:
      // it serves again while every one of those connections is still open on this side.
      const ended = await Promise.all(held.slice(0, 5).map((conn) => conn.read(new Uint8Array(1))));
      assert.deepEqual(ended, [null, null, null, null, null]);
      const health = await fetch(`http://127.0.0.1:${server.port}/health`);
      assert.equal((await health.json()).status, "ok");
      const ann = await connect(server.wsUrl, { reconnect: false }).create("tic_tac_toe");
      // A keep-alive connection that went quiet after one request is closed the same way.
      const kept = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      held.push(kept);
      await kept.write(new TextEncoder().encode("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
      const answer: string[] = [];
      const buffer = new Uint8Array(4096);
      const reading = (async () => {
        for (let n; (n = await kept.read(buffer)) !== null;) {
          answer.push(new TextDecoder().decode(buffer.subarray(0, n)));
        }
      })();
      const timer = setTimeout(() => kept.close(), 10_000);
      await reading.finally(() => clearTimeout(timer));
      assert.match(answer.join(""), /^HTTP\/1\.1 200/);
      // A request whose body never finishes arriving is dropped the same way.
      const dripping = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      held.push(dripping);
      await dripping.write(new TextEncoder().encode(
        "POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
          'Content-Length: 100\r\n\r\n{"game":',
      ));
      const dripTimer = setTimeout(() => dripping.close(), 10_000);
      const dropped = await dripping.read(new Uint8Array(1)).finally(() => clearTimeout(dripTimer));
      assert.equal(dropped, null, "the server closed the connection of the unfinished body");
      assert.ok(ann.status === "connected", "the WebSocket, idle as well, stays open");
      ann.leave();
    } finally {
      for (const conn of held) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      server.kill("SIGKILL");
      await server.status;
    }
  },
});

Deno.test("limits: a join string over the decoder's 8 KiB is bad_field naming the field and the limit", async () => {
  await using s = await startAbuseServer();
  const flood = "x".repeat(10_000);
  const cases: [fields: Record<string, unknown>, message: string][] = [
    [
      { mode: "create", game: "tic_tac_toe", name: flood },
      "join.name (n) must be a string of at most 8192 bytes (UTF-8), not 10000",
    ],
    [
      { mode: "join", room: flood },
      "join.room (r) must be a string of at most 8192 bytes (UTF-8), not 10000",
    ],
    [
      { mode: "create", game: flood },
      "join.game (g) must be a string of at most 8192 bytes (UTF-8), not 10000",
    ],
    [
      { mode: "create", game: "tic_tac_toe", token: flood },
      "join.token (t) must be a string of at most 8192 bytes (UTF-8), not 10000",
    ],
    [
      { mode: "join", room: "r1", resume: { session: flood, seq: 1 } },
      "join.resume (s) must be free of strings over 8192 bytes (UTF-8); one has 10000",
    ],
    [
      { mode: "create", game: "tic_tac_toe", options: { note: flood } },
      "join.options (o) must be free of strings over 8192 bytes (UTF-8); one has 10000",
    ],
    // Characters outside ASCII count in UTF-8 bytes: 3000 × 3.
    [
      { mode: "create", game: "tic_tac_toe", name: "€".repeat(3000) },
      "join.name (n) must be a string of at most 8192 bytes (UTF-8), not 9000",
    ],
  ];
  for (const [fields, message] of cases) {
    using raw = await openRaw(s.t.server.wsUrl);
    await raw.sendBinary(
      encodeClientMessage({ kind: "join", version: PROTOCOL_VERSION, ...fields } as JoinMessage)
        .slice(),
    );
    const close = await raw.closedWithin(5000);
    assert.deepEqual(close.errors.map((e) => [e.code, e.message]), [["bad_field", message]]);
    assert.equal(close.code, 1002);
  }
  // The reference client gets the same, as the rejection of its join.
  await assert.rejects(
    s.t.client({ name: flood, reconnect: false }).create("tic_tac_toe"),
    (error) =>
      error instanceof ArbiterError && error.code === "bad_field" &&
      error.message === "join.name (n) must be a string of at most 8192 bytes (UTF-8), not 10000",
  );
  // Within the limit, a long name is taken (and cut for display, as before).
  const long = await s.t.client({ name: "y".repeat(8192), reconnect: false }).create("tic_tac_toe");
  assert.equal(long.players[0].name, "y".repeat(32));
  long.leave();
  await s.finish();
});

Deno.test("limits: an action too large to read costs only itself: its send() rejects, the connection stays", async () => {
  await using t = await startTestServer({}, { games: [chat] });
  const room = await t.client().create<typeof chat>("chat", { name: "ann" });
  try {
    await room.send("say", { text: "hello" });
    // Over the 8 KiB string limit, then over the 16 KiB frame limit.
    await assert.rejects(
      room.send("say", { text: "x".repeat(10_000) }),
      (error) =>
        error instanceof ArbiterError && error.code === "bad_payload" &&
        /string of 10\d{3} bytes exceeds 8192/.test(error.message),
    );
    await assert.rejects(
      room.send("say", { text: "x".repeat(20_000) }),
      (error) =>
        error instanceof ArbiterError && error.code === "frame_too_large" &&
        /frames are limited to 16384/.test(error.message),
    );
    await room.send("say", { text: "still here" });
    assert.equal(room.status, "connected");
    assert.deepEqual(room.state?.lines, ["hello", "still here"]);
  } finally {
    room.leave();
  }
});

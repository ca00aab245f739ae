/**
 * Resuming over real WebSockets: a client that missed a few deltas gets exactly those from
 * the ring; one too far behind gets the full state; wrong, expired and other rooms' tokens
 * are refused with `bad_session`; a stored token takes a seat back after a page reload, and its
 * actions are numbered above the seat's applied and refused ones.
 */
import assert from "node:assert/strict";
import { ArbiterError, connect, type Room } from "../client/mod.ts";
import type { arena, ticTacToe } from "../games/mod.ts";
import type { ActionMessage, JoinMessage } from "../protocol/mod.ts";
import { FakeServer, welcome } from "./support/fake_server.ts";
import { TestNetwork } from "./support/test_network.ts";
import { startTestServer, waitFor, waitForSameState } from "./support/test_server.ts";
import { lostTransportRefusal, TWO_ACTIONS_A_SECOND } from "./support/transport_refusals.ts";

type Arena = Room<typeof arena>;

async function arenaPair(
  t: Awaited<ReturnType<typeof startTestServer>>,
  network: TestNetwork,
  bobOptions: { paceActions?: boolean } = {},
) {
  const ann = await t.client({ name: "ann" }).create<typeof arena>("arena");
  const bob = await t.client({
    name: "bob",
    WebSocket: network.WebSocket,
    reconnect: { baseMs: 20, maxMs: 40 },
    ...bobOptions,
  }).join<typeof arena>(ann.roomId);
  return { ann, bob };
}

/** Ann makes `n` moves, each acknowledged (so each is its own broadcast) before the next. */
async function annMoves(ann: Arena, n: number, from: number): Promise<number> {
  for (let i = 0; i < n; i++) {
    await ann.send("move", { dx: i % 2 === 0 ? 1 : -1, dy: 0, seq: from + i });
  }
  return from + n;
}

/** Takes Bob offline, runs `whileAway`, brings him back with the byte count at zero. */
async function away(
  bob: Arena,
  network: TestNetwork,
  whileAway: () => Promise<unknown>,
  options: { fullState?: boolean } = {},
): Promise<void> {
  network.offline = true;
  bob.dropConnection(options.fullState);
  await waitFor(() => bob.status !== "connected", "bob dropped");
  await whileAway();
  network.bytes = 0;
  network.offline = false;
}

Deno.test("resume: an action refused over the rate limit settles as refused when its refusal was lost", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000", ...TWO_ACTIONS_A_SECOND });
  const network = new TestNetwork();
  const { ann, bob } = await arenaPair(t, network, { paceActions: false });
  try {
    await lostTransportRefusal(ann, bob, network);
  } finally {
    ann.leave();
    bob.leave();
  }
});

Deno.test("resume: missed deltas are replayed from the ring; too many → full state", async () => {
  await using t = await startTestServer({ RESUME_RING: "16", GRACE_MS: "30000" });
  const network = new TestNetwork();
  const { ann, bob } = await arenaPair(t, network);
  let moveSeq = await annMoves(ann, 3, 1);
  await waitForSameState(ann, bob);

  // Five missed broadcasts: replayed, nothing else.
  let before = ann.seq;
  await away(bob, network, async () => {
    moveSeq = await annMoves(ann, 5, moveSeq);
  });
  const missed = ann.seq - before;
  assert.ok(missed >= 5, `bob missed ${missed} deltas`);
  await waitForSameState(ann, bob);
  assert.deepEqual(bob.resumes, { replayed: 1, full: 0 });
  const replayBytes = network.bytes;

  // The same five as a full-state resync (what a client that distrusts its mirror gets).
  before = ann.seq;
  await away(bob, network, async () => {
    moveSeq = await annMoves(ann, 5, moveSeq);
  }, { fullState: true });
  await waitForSameState(ann, bob);
  assert.deepEqual(bob.resumes, { replayed: 1, full: 1 });
  const fullBytes = network.bytes;
  if (Deno.env.get("PRINT_RESUME_BYTES")) console.log({ missed, replayBytes, fullBytes });
  assert.ok(
    replayBytes < fullBytes,
    `replaying ${missed} deltas (${replayBytes} B) costs less than the full state (${fullBytes} B)`,
  );

  // Further behind than the ring (16 broadcasts) holds: the server sends the full state.
  await away(bob, network, async () => {
    moveSeq = await annMoves(ann, 24, moveSeq);
  });
  await waitForSameState(ann, bob);
  assert.deepEqual(bob.resumes, { replayed: 1, full: 2 });
  ann.leave();
  bob.leave();
});

Deno.test("resume: wrong, expired and other rooms' tokens are refused with bad_session", async () => {
  await using t = await startTestServer({ GRACE_MS: "300" });
  const client = t.client({ reconnect: false });
  const ann = await client.create<typeof ticTacToe>("tic_tac_toe");
  const bob = await client.join<typeof ticTacToe>(ann.roomId);
  const other = await client.create<typeof ticTacToe>("tic_tac_toe");
  const refused = (p: Promise<unknown>) =>
    p.then(() => "accepted", (e) => (e instanceof ArbiterError ? e.code : String(e)));

  assert.equal(await refused(client.resume(ann.roomId, "not-a-real-token")), "bad_session");
  assert.equal(
    await refused(
      client.resume(ann.roomId, ann.session.replace(/.$/, (c) => c === "a" ? "b" : "a")),
    ),
    "bad_session",
  );
  // Ann's token names her seat in her room only.
  assert.equal(await refused(client.resume(other.roomId, ann.session)), "bad_session");
  // Bob drops and his grace window (300 ms) runs out: his token is dead.
  const bobSession = bob.session;
  bob.dropConnection();
  await waitFor(
    () =>
      ann.players.find((p) => p.id === "p2")?.presence !== "disconnected" &&
      ann.players.find((p) => p.id === "p2")?.presence !== "connected",
    "bob's seat expired",
    10_000,
  );
  assert.equal(await refused(client.resume(ann.roomId, bobSession)), "bad_session");
  // Nothing was attached to anyone's seat by the refused attempts.
  assert.equal(ann.status, "connected");
  assert.equal(t.server.manager.get(ann.roomId)!.playerCount, 1);
  ann.leave();
  other.leave();
});

Deno.test("resume: a stored token takes the seat back after a page reload and play goes on", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  await ann.send("place", { cell: 1 });
  // The page reloads: a brand-new client with only the room id and the token.
  const reloaded = await t.client({ name: "bob" }).resume<typeof ticTacToe>(
    ann.roomId,
    bob.session,
  );
  assert.equal(reloaded.player, "p2");
  assert.deepEqual(reloaded.state, ann.state);
  await waitFor(() => bob.status === "closed", "the old tab was replaced");
  assert.equal(bob.lastError?.code, "session_replaced");
  // Its first action is accepted: client sequences continue above the old tab's.
  await reloaded.send("place", { cell: 2 });
  assert.deepEqual(ann.state.board.filter((c) => c !== null).length, 4);
  ann.leave();
  reloaded.leave();
});

Deno.test({
  name: "resume: a stored-token resume numbers actions above the welcome's ack and every refusal",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The seat applied actions up to 3 and refused 5 (both before the reload). An older server
    // keeps listing the refusal of 5 even after a new action 5 was applied.
    const rejected = [{ seq: 5, code: "not_your_turn" as const, message: "wait" }];
    const sent: number[] = [];
    const joins: JoinMessage[] = [];
    await using server = new FakeServer(async (conn) => {
      joins.push((await conn.next()) as JoinMessage);
      const ack = sent.at(-1) ?? 3;
      conn.send(welcome({ session: "stored", resumed: true, ack, rejected }));
      if (conn.index > 0) return;
      const action = (await conn.next()) as ActionMessage;
      sent.push(action.seq);
      conn.socket.close(4100, "the acknowledging delta is lost with the connection");
    });
    const room = await connect(server.url, {
      pingIntervalMs: 0,
      reconnect: { baseMs: 10, maxMs: 20 },
    }).resume("r1", "stored");
    const refused: string[] = [];
    room.onReject((e) => refused.push(e.code));
    try {
      const outcome = await room.send("go", null).then(() => "resolved", (e) => e.code);
      assert.deepEqual(sent, [6], "above ack 3 and refusal 5");
      assert.equal(outcome, "resolved", "applied (ack 6), not settled as the old refusal of 5");
      assert.deepEqual(refused, []);
      assert.deepEqual(joins.map((j) => j.resume?.session), ["stored", "stored"]);
    } finally {
      room.leave();
    }
  },
});

Deno.test({
  name: "resume: actions waiting for a resume are renamed when the new welcome lists others",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The server restarts with a new release of the game, whose list has an action in front.
    const resent: ActionMessage[] = [];
    await using server = new FakeServer(async (conn) => {
      await conn.next(); // join
      if (conn.index === 0) {
        conn.send(welcome({ actions: ["place", "resign"] }));
        await conn.next(); // the action, never answered
        conn.socket.close(1012, "server_restart");
      } else {
        conn.send(welcome({ actions: ["chat", "place", "resign"], resumed: true }));
        resent.push((await conn.next()) as ActionMessage);
      }
    });
    const room = await connect(server.url, { pingIntervalMs: 0, reconnect: { baseMs: 10 } })
      .joinOrCreate("g");
    try {
      void room.send("resign" as never, null as never).catch(() => {});
      await waitFor(() => resent.length > 0, "the resend");
      assert.equal(resent[0].name, 2, "resign's index in the new list");
    } finally {
      room.leave();
    }
  },
});

Deno.test("resume: after a stored-token resume, an applied action lost with a drop resolves, not as the old refusal", async () => {
  await using t = await startTestServer({ GRACE_MS: "30000" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  const room = t.server.manager.get(ann.roomId)!;
  // Bob's action 1 is refused (not his turn): the seat remembers it, and its ack stays 0.
  const early = await bob.send("place", { cell: 4 }).then(() => "resolved", (e) => e.code);
  assert.equal(early, "not_your_turn");
  // The page reloads: the new client learns that refusal from its welcome.
  const network = new TestNetwork();
  const reloaded = await connect(t.server.wsUrl, {
    name: "bob",
    pingIntervalMs: 0,
    WebSocket: network.WebSocket,
    reconnect: { baseMs: 20, maxMs: 50 },
  }).resume<typeof ticTacToe>(ann.roomId, bob.session);
  const refused: string[] = [];
  reloaded.onReject((e) => refused.push(e.code));
  try {
    await ann.send("place", { cell: 0 });
    await waitFor(() => reloaded.seq === ann.seq, "caught up");
    // A legal move, applied; the delta acknowledging it is lost with the connection, so the
    // next welcome settles it, and that welcome lists the old refusal of action 1 again.
    network.swallow(0x11);
    const move = reloaded.send("place", { cell: 4 });
    await waitFor(() => (room.state as { board: unknown[] }).board[4] === "p2", "applied");
    await waitFor(() => network.swallowed === 1, "the acknowledging delta lost");
    reloaded.dropConnection();
    assert.equal(await move.then(() => "resolved", (e) => `rejected ${e.code}`), "resolved");
    assert.equal(reloaded.state.board[4], "p2");
    assert.deepEqual(refused, [], "the old tab's refusal is not this client's");
  } finally {
    ann.leave();
    bob.leave();
    reloaded.leave();
  }
});

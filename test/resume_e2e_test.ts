/**
 * Resuming over real WebSockets: a client that missed a few deltas gets exactly those from
 * the ring; one too far behind gets the full state; wrong, expired and other rooms' tokens
 * are refused with `bad_session`; a stored token takes a seat back after a page reload.
 */
import assert from "node:assert/strict";
import { ArbiterError, type Room } from "../client/mod.ts";
import type { arena, ticTacToe } from "../games/mod.ts";
import { TestNetwork } from "./support/test_network.ts";
import { startTestServer, waitFor, waitForSameState } from "./support/test_server.ts";

type Arena = Room<typeof arena>;

async function arenaPair(t: Awaited<ReturnType<typeof startTestServer>>, network: TestNetwork) {
  const ann = await t.client({ name: "ann" }).create<typeof arena>("arena");
  const bob = await t.client({
    name: "bob",
    WebSocket: network.WebSocket,
    reconnect: { baseMs: 20, maxMs: 40 },
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

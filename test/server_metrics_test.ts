/**
 * The metrics the sessions record from the frames they send, over real sockets: deltas,
 * accepted actions with their latency, refused actions by code, full-state resyncs; as
 * `GET /metrics` and `GET /api/stats` show them.
 */
import assert from "node:assert/strict";
import type { ServerMessage } from "../protocol/mod.ts";
import { openRaw, type RawSocket } from "./support/raw_socket.ts";
import { startTestServer } from "./support/test_server.ts";

/** The value of one sample line (`name` or `name{labels}`) of a Prometheus text page. */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

/** Sends an action and waits for the delta acknowledging it or the reject naming it. */
async function act(socket: RawSocket, seq: number, cell: number): Promise<ServerMessage> {
  const from = socket.messages.length;
  await socket.send({ kind: "action", seq, name: "place", payload: { cell } });
  return await socket.next(
    (m) => (m.kind === "delta" && m.ackDelta > 0) || (m.kind === "reject" && m.seq === seq),
    5000,
    from,
  );
}

Deno.test("metrics: deltas, accepted and refused actions, latency and resyncs after a short game", async () => {
  await using t = await startTestServer({ GRACE_MS: "10000" });
  const url = t.server.wsUrl;
  const ann = await openRaw(url);
  const annWelcome = await ann.join({ mode: "create", game: "tic_tac_toe", name: "ann" });
  const bob = await openRaw(url);
  const bobWelcome = await bob.join({ mode: "join", room: annWelcome.room, name: "bob" });

  assert.equal((await act(ann, 1, 0)).kind, "delta");
  // Ann again: not her turn.
  const refused = await act(ann, 2, 1);
  assert.equal(refused.kind === "reject" && refused.code, "not_your_turn");
  assert.equal((await act(bob, 1, 4)).kind, "delta");
  assert.equal((await act(ann, 3, 1)).kind, "delta");
  // An action before joining is refused by the session itself.
  const stranger = await openRaw(url);
  await stranger.send({ kind: "action", seq: 1, name: "place", payload: { cell: 2 } });
  await stranger.next((m) => m.kind === "reject");

  // Bob drops and comes back twice: first replaying what he missed (no resync), then asking
  // for the whole state (sequence 0: a resync).
  const seqs = bob.messages.flatMap((m) => m.kind === "delta" ? [m.seq] : []);
  const lastSeq = seqs.at(-1) ?? bobWelcome.seq;
  bob.abort();
  const back = await openRaw(url);
  const replayed = await back.join({
    mode: "join",
    room: annWelcome.room,
    resume: { session: bobWelcome.session, seq: lastSeq },
  });
  assert.equal(replayed.replay, true);
  back.abort();
  const again = await openRaw(url);
  const full = await again.join({
    mode: "join",
    room: annWelcome.room,
    resume: { session: bobWelcome.session, seq: 0 },
  });
  assert.notEqual(full.replay, true);

  const text = await (await fetch(`${t.server.url}metrics`)).text();
  assert.equal(sample(text, "arbiter_actions_accepted_total"), 3);
  assert.equal(sample(text, "arbiter_action_seconds_count"), 3);
  assert.ok(sample(text, "arbiter_action_seconds_sum") > 0, "action latency sum");
  assert.equal(sample(text, 'arbiter_actions_rejected_total{code="not_your_turn"}'), 1);
  assert.equal(sample(text, 'arbiter_actions_rejected_total{code="not_joined"}'), 1);
  // Three acknowledged moves, each a broadcast to both players, plus the replayed ones.
  assert.ok(sample(text, "arbiter_deltas_sent_total") >= 6, "deltas sent");
  assert.equal(sample(text, "arbiter_resyncs_total"), 1);
  assert.equal(sample(text, "arbiter_resumes_total"), 2);

  const stats = await (await fetch(`${t.server.url}api/stats`)).json();
  assert.equal(stats.actionsAccepted, 3);
  assert.equal(stats.latency.action.count, 3);
  assert.ok(stats.latency.action.p50 > 0);
  assert.deepEqual(stats.actionsRejected, { not_your_turn: 1, not_joined: 1 });
  assert.equal(stats.resyncs, 1);
  assert.ok(stats.deltasSent >= 6);

  for (const socket of [ann, stranger, again]) socket.abort();
});

Deno.test("stats: the dashboard shows no part of a private room's id, its invitation", async () => {
  await using t = await startTestServer();
  const created = await fetch(`${t.server.url}api/rooms`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "tic_tac_toe", private: true }),
  });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  assert.equal(typeof id, "string");
  const second = await fetch(`${t.server.url}api/rooms`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "tic_tac_toe", private: true }),
  });
  assert.equal(second.status, 201);
  await second.body?.cancel();
  const ids = async () => {
    const { rooms } = await (await fetch(`${t.server.url}api/stats`)).json();
    return rooms.map((room: { id: string; private: boolean }) => [room.id, room.private]).sort();
  };
  // Each keeps its own stand-in from one poll to the next, so the dashboard tells them apart.
  const expected = [["private-1", true], ["private-2", true]];
  assert.deepEqual(await ids(), expected);
  assert.deepEqual(await ids(), expected);
});

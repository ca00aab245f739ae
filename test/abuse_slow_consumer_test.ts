/**
 * Abuse suite, slow consumers: a client that stops reading must cost the server a bounded
 * send buffer, lose its connection (close 4003) while keeping its seat for a resume, and must
 * not slow the other players of its room down.
 */
import assert from "node:assert/strict";
import { encodeClientMessage } from "../protocol/mod.ts";
import { type firehose, median, startAbuseServer } from "./support/abuse_harness.ts";
import { OPCODES, openRaw } from "./support/raw_socket.ts";
import { waitFor } from "./support/test_server.ts";

Deno.test("slow consumer: a client that stops reading is dropped with 4003, keeps its seat, and does not slow the others", async () => {
  await using s = await startAbuseServer({
    MAX_BUFFERED_BYTES: String(512 * 1024),
    ACTION_RATE: "100000",
    ACTION_BURST: "100000",
    GRACE_MS: "20000",
  });
  const { metrics } = s.t.server;
  const ann = await s.t.client({ name: "ann", reconnect: false }).create<typeof firehose>(
    "firehose",
  );
  const bob = await s.t.client({ name: "bob", reconnect: false }).join<typeof firehose>(
    ann.roomId,
  );
  using carl = await openRaw(s.t.server.wsUrl);
  const welcome = await carl.join({ mode: "join", room: ann.roomId, name: "carl" });
  assert.equal(welcome.player, "p3");

  let n = 0;
  const shout = async () => {
    const player = n % 2 === 0 ? ann : bob;
    const started = performance.now();
    await player.send("shout", { n: ++n });
    return performance.now() - started;
  };

  // Baseline: everybody reads. Each action sends 32 KiB to each of the three.
  for (let i = 0; i < 20; i++) await shout(); // warm-up
  const baseline: number[] = [];
  for (let i = 0; i < 80; i++) baseline.push(await shout());

  // Carl stops reading. His kernel buffers (a few MiB on loopback) fill first, then the
  // server's send buffer passes MAX_BUFFERED_BYTES and he is dropped.
  carl.pauseReading();
  const stalled: number[] = [];
  while (metrics.slowConsumers === 0 && stalled.length < 1000) stalled.push(await shout());
  assert.equal(metrics.slowConsumers, 1, `dropped after ${stalled.length} broadcasts`);
  const afterDrop: number[] = [];
  for (let i = 0; i < 40; i++) afterDrop.push(await shout());

  const numbers = {
    baselineMedianMs: median(baseline),
    stalledMedianMs: median(stalled),
    // The last broadcasts before the drop: the kernel buffers were full by then, so these
    // queued in the server's own send buffer.
    lastBeforeDropMedianMs: median(stalled.slice(-16)),
    afterDropMedianMs: median(afterDrop),
    broadcastsUntilDrop: stalled.length,
  };
  console.log("slow consumer: others' action latency", JSON.stringify(numbers));
  // Generous margins: the machine is shared and noisy; a stalled reader that held its room
  // back would add whole seconds, not milliseconds.
  const bound = Math.max(numbers.baselineMedianMs * 3, numbers.baselineMedianMs + 10);
  assert.ok(numbers.stalledMedianMs <= bound, JSON.stringify(numbers));
  assert.ok(numbers.lastBeforeDropMedianMs <= bound, JSON.stringify(numbers));
  assert.ok(numbers.afterDropMedianMs <= bound, JSON.stringify(numbers));

  // The seat waits for a resume; the others see carl as disconnected.
  await waitFor(
    () => ann.players.find((p) => p.id === "p3")?.presence === "disconnected",
    "p3 disconnected",
  );
  assert.equal(s.t.server.manager.get(ann.roomId)?.summary().players, 3);
  assert.ok(s.logs.some((l) => l.msg === "slow consumer dropped"));

  // Reading again, carl finds the backlog and then the close frame: 4003.
  carl.resumeReading();
  const close = await carl.closedWithin(10_000);
  assert.equal(close.code, 4003);
  assert.equal(close.reason, "slow_consumer");

  // He resumes his seat from a new connection and gets the current state.
  using back = await openRaw(s.t.server.wsUrl);
  const resumed = await back.join({
    mode: "join",
    room: ann.roomId,
    resume: { session: welcome.session, seq: 0 },
  });
  assert.equal(resumed.resumed, true);
  assert.equal(resumed.player, "p3");
  assert.equal((resumed.state as { n: number }).n, n);
  await waitFor(
    () => ann.players.find((p) => p.id === "p3")?.presence === "connected",
    "p3 back",
  );
  ann.leave();
  bob.leave();
  await back.send({ kind: "leave" });
  assert.equal((await back.closedWithin(5000)).code, 1000);
  await s.finish();
});

Deno.test("slow consumer: a peer that floods requests and never reads the replies is dropped too", async () => {
  await using s = await startAbuseServer({
    MAX_BUFFERED_BYTES: String(64 * 1024),
    JOIN_TIMEOUT_MS: "30000",
  });
  const { metrics } = s.t.server;
  using raw = await openRaw(s.t.server.wsUrl);
  raw.pauseReading();
  // Actions before a join are refused with a `reject` each (about 60 bytes): without the
  // send-buffer bound on every reply, the server would queue them forever.
  const action = encodeClientMessage({ kind: "action", seq: 1, name: "x", payload: null }).slice();
  const batch = Array.from({ length: 2000 }, () => ({ opcode: OPCODES.binary, payload: action }));
  for (let i = 0; i < 100 && metrics.slowConsumers === 0; i++) await raw.sendFrames(batch);
  await waitFor(() => metrics.slowConsumers === 1, "the flooder dropped as a slow consumer");
  await waitFor(() => metrics.connections === 0, "its session closed");
  assert.ok(
    (metrics.bytesOut as number) < 16 * 1024 * 1024,
    `the server stopped sending: ${metrics.bytesOut} bytes`,
  );
  raw.resumeReading();
  const close = await raw.closedWithin(10_000);
  assert.ok(close.code === 4003 || close.code === 1006, `close ${close.code}`);
  assert.ok(raw.messages.every((m) => m.kind === "reject" && m.code === "not_joined"));
  await s.finish();
});

/**
 * A room that broadcasts per tick applies what arrived between two ticks together, just before
 * the next tick (rooms/room.ts, `Seat.hold`), over real WebSockets: when actions apply, that
 * pings do not wait, that a close does not lose what was held, and that a flood is still
 * refused as it arrives.
 */
import assert from "node:assert/strict";
import type { ArbiterError, Room } from "../client/mod.ts";
import { encodeClientMessage } from "../protocol/mod.ts";
import { openRaw } from "./support/raw_socket.ts";
import { stopwatch } from "./support/test_games.ts";
import { startTestServer, type TestServer, waitFor } from "./support/test_server.ts";
import type { Env } from "../server/mod.ts";

type Stopwatch = Room<typeof stopwatch>;

/** A server with the stopwatch game, and a raw socket that created a room ticking every `tickMs`. */
async function rawStopwatch(tickMs: number, env: Env = {}) {
  const t: TestServer = await startTestServer(env, { games: [stopwatch] });
  const raw = await openRaw(t.server.wsUrl);
  const welcome = await raw.join({ mode: "create", game: "stopwatch", options: { tickMs } });
  const room = t.server.manager.get(welcome.room)!;
  return {
    t,
    raw,
    welcome,
    room,
    /** Laps the room applied so far. */
    laps: () => (room.state as { laps: number }).laps,
    async [Symbol.asyncDispose]() {
      raw.abort();
      await t.close();
    },
  };
}

/** An action frame: a `lap` numbered `seq` (a `payload` makes it as large as wanted). */
function lapFrame(seq: number, payload: string | null = null) {
  return { opcode: 2, payload: encodeClientMessage({ kind: "action", seq, name: "lap", payload }) };
}

/** Resolves at the room's next state change (a tick: `tickedAt` changes every tick). */
function nextTick(room: Stopwatch): Promise<void> {
  const before = room.state.tickedAt;
  return new Promise((resolve) => {
    const off = room.onState((state) => {
      if (state.tickedAt !== before) {
        off();
        resolve();
      }
    });
  });
}

Deno.test("tick inputs: an action is applied just before the next tick, not on arrival", async () => {
  await using t = await startTestServer({}, { games: [stopwatch] });
  const room = await t.client({ pingIntervalMs: 0 }).create<typeof stopwatch>("stopwatch", {
    tickMs: 1000,
  });
  // Just after a tick, so the next one is up to a second away when the action arrives.
  await nextTick(room);
  const lastTick = room.state.tickedAt;
  await room.send("lap");
  const { actedAt, tickedAt, laps } = room.state;
  assert.equal(laps, 1);
  assert.ok(tickedAt > lastTick, "applied by the tick after");
  // Without holding it would be applied on arrival, about a period before that tick.
  assert.ok(
    tickedAt - actedAt < 300,
    `applied ${tickedAt - actedAt} ms before the tick that sent it: held until then`,
  );
  room.leave();
});

Deno.test("tick inputs: a ping is answered at once, after the session's held actions, which its token does not overtake", async () => {
  // Two tokens, refilled at 10 a second: in arrival order, both actions take one, and the ping
  // 150 ms later one refilled. A ping taken before them would leave the second none. The first
  // tick is up to 5 s away.
  await using s = await rawStopwatch(5000, { ACTION_RATE: "10", ACTION_BURST: "2" });
  const from = s.raw.messages.length;
  await s.raw.sendFrames([lapFrame(1), lapFrame(2)]);
  await new Promise((resolve) => setTimeout(resolve, 150));
  await s.raw.send({ kind: "ping", time: 1 });
  await s.raw.next((m) => m.kind === "pong", 2000, from);
  assert.equal(s.laps(), 2, "the actions before the ping went first");
  assert.deepEqual(s.raw.messages.slice(from).filter((m) => m.kind === "reject"), []);
});

Deno.test("tick inputs: a refusal comes with the tick too, among actions applied in order", async () => {
  await using t = await startTestServer({}, { games: [stopwatch] });
  const room = await t.client({ pingIntervalMs: 0 }).create<typeof stopwatch>("stopwatch", {
    tickMs: 1000,
  });
  await nextTick(room);
  const sentAt = performance.now();
  let refusedAfter = -1;
  const refused = room.send("stall").catch((e: ArbiterError) => {
    refusedAfter = performance.now() - sentAt;
    return e.code;
  });
  await Promise.all([room.send("lap"), room.send("lap")]);
  assert.equal(await refused, "invalid_action");
  // Ticks keep to their schedule: after a late one the next comes sooner, but not this soon.
  assert.ok(refusedAfter >= 300, `refused ${refusedAfter} ms after it was sent: at the tick`);
  assert.equal(room.state.laps, 2);
  room.leave();
});

Deno.test("tick inputs: actions held for the tick still count when the socket closes before it", async () => {
  await using s = await rawStopwatch(1000);
  // After the first tick's delta, the next tick is a second away: the close comes well before.
  await s.raw.next((m) => m.kind === "delta");
  await s.raw.sendFrames([lapFrame(1), lapFrame(2)]);
  await s.raw.sendClose(1000, "gone");
  await s.raw.closedWithin(5000);

  using again = await openRaw(s.t.server.wsUrl);
  const { room, session, seq } = s.welcome;
  const resumed = await again.join({ mode: "join", room, resume: { session, seq } });
  assert.equal(
    resumed.ack,
    2,
    "both actions were applied, though the socket closed before the tick",
  );
  assert.equal(s.laps(), 2);
});

Deno.test("tick inputs: a flood over the burst is refused as it arrives, not a tick later", async () => {
  // The first tick is up to 5 s away.
  await using s = await rawStopwatch(5000, { ACTION_RATE: "10", ACTION_BURST: "3" });
  // Seven actions in one write, seconds before the next tick. A session holds at most a burst
  // (3): the fourth hands the first three back (they take the three tokens) and is held, and
  // so on; the seventh hands back the fourth, which is over the rate: refused then, not at the
  // tick.
  const from = s.raw.messages.length;
  await s.raw.sendFrames([1, 2, 3, 4, 5, 6, 7].map((seq) => lapFrame(seq)));
  const reject = await s.raw.next((m) => m.kind === "reject", 2000, from);
  assert.equal(reject.kind === "reject" && reject.code, "rate_limited");
  assert.equal(reject.kind === "reject" && reject.seq, 4);
});

Deno.test("tick inputs: a frame too large to hold is handled at once, after the frames before it", async () => {
  await using s = await rawStopwatch(5000, { MAX_FRAME_BYTES: "2048" });
  const from = s.raw.messages.length;
  await s.raw.sendFrames([lapFrame(1), lapFrame(2, "x".repeat(3000))]);
  // Seconds before the first tick: the large frame did not wait for it.
  const reject = await s.raw.next((m) => m.kind === "reject", 2000, from);
  assert.equal(reject.kind === "reject" && reject.code, "frame_too_large");
  assert.equal(reject.kind === "reject" && reject.seq, 2);
  assert.equal(s.laps(), 1, "the lap before it was applied first");
});

Deno.test("tick inputs: a leave is handled at once, after the frames before it", async () => {
  await using s = await rawStopwatch(5000);
  // A second player keeps the room open once the first has left.
  using second = await openRaw(s.t.server.wsUrl);
  await second.join({ mode: "join", room: s.welcome.room });
  await s.raw.sendFrames([
    lapFrame(1),
    { opcode: 2, payload: encodeClientMessage({ kind: "leave" }) },
  ]);
  // The first tick is seconds away: the leave did not wait for it.
  const close = await s.raw.closedWithin(2000);
  assert.equal(close.code, 1000);
  assert.equal(s.laps(), 1, "the lap before the leave was applied");
});

Deno.test("tick inputs: a text frame closes the connection after the refusals of the frames before it", async () => {
  await using s = await rawStopwatch(5000);
  const from = s.raw.messages.length;
  await s.raw.send({ kind: "action", seq: 1, name: "stall", payload: null });
  await s.raw.sendText("hello");
  await s.raw.closedWithin(2000);
  const told = s.raw.messages.slice(from).map((m) =>
    m.kind === "reject" || m.kind === "error" ? `${m.kind} ${m.code}` : m.kind
  );
  assert.deepEqual(told, ["reject invalid_action", "error text_frame"]);
});

Deno.test("tick inputs: a room stopped for a restart applies what it held first", async () => {
  await using s = await rawStopwatch(5000);
  const { metrics } = s.t.server;
  const framesBefore = metrics.framesIn;
  await s.raw.sendFrames([lapFrame(1), lapFrame(2)]);
  // Both read by the server: held, seconds before the tick.
  await waitFor(() => metrics.framesIn >= framesBefore + 2, "the two actions read");
  const from = s.raw.messages.length;
  assert.equal(s.laps(), 0, "held until the tick");
  s.room.dispose("server_restart");
  assert.equal(s.laps(), 2, "applied before the room stopped");
  const error = await s.raw.next((m) => m.kind === "error", 2000, from);
  assert.equal(error.kind === "error" && error.code, "server_restart");
});

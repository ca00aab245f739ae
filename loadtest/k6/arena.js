/**
 * k6: the arena workload. `ROOMS` rooms are created in `setup()`; virtual users are seated
 * `PLAYERS` to a room by VU number and each sends `move {dx, dy, seq}` `RATE` times a second
 * (interval jittered ±50 %). `action_latency` runs from a move's send to the delta whose
 * cumulative ack covers it.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8000 -e ROOMS=25 -e RATE=20 -e DURATION=30s loadtest/k6/arena.js
 *
 * Every session ends when the full load does (the end of `DURATION`, after `RAMP` with
 * `ramping-vus`), then waits 2 s for its last acks; a session the server ends first counts in
 * `unexpected_disconnects` and its unacknowledged moves in `lost_acks`.
 *
 * Settings (`-e NAME=value`): BASE_URL, ROOMS (10), PLAYERS (8), RATE (20), DURATION (30s),
 * EXECUTOR (constant-vus | ramping-vus), RAMP (10s), RAMP_DOWN (5s), TICK_MS (room tick, ms;
 * default the game's), P99_MS (threshold, 100), JOIN_TIMEOUT_MS (10000).
 */
import exec from "k6/execution";
import http from "k6/http";
import { WebSocket } from "k6/experimental/websockets";
import { Counter, Trend } from "k6/metrics";
import { decodeServerMessage, encodeClientMessage, PROTOCOL_VERSION } from "./codec_bundle.js";
import {
  Acks,
  BASE_URL,
  closeTags,
  env,
  JOIN_TIMEOUT_MS,
  num,
  openSocket,
  scenario,
  timeline,
  toBuffer,
} from "./lib.js";

const ROOMS = num("ROOMS", 10);
const PLAYERS = num("PLAYERS", 8);
const RATE = num("RATE", 20);
const DURATION = env("DURATION", "30s");
const TICK_MS = num("TICK_MS", 0);

const actionLatency = new Trend("action_latency", true);
const joinLatency = new Trend("join_latency", true);
const deltasReceived = new Counter("deltas_received");
const actionsSent = new Counter("actions_sent");
const actionsAcked = new Counter("actions_acked");
const rejects = new Counter("rejects");
const connectionFailures = new Counter("connection_failures");
const failedJoins = new Counter("failed_joins");
const lostAcks = new Counter("lost_acks");
const disconnects = new Counter("unexpected_disconnects");

/** Time to wait for the last moves' acks once a session stops moving, ms. */
const DRAIN_MS = 2000;
/** Shorter sessions are not started: they would measure next to nothing. */
const MIN_SESSION_MS = 1000;

export const options = {
  scenarios: { arena: scenario(ROOMS * PLAYERS, DURATION) },
  thresholds: {
    action_latency: [`p(99)<${num("P99_MS", 100)}`],
    failed_joins: ["count==0"],
    connection_failures: ["count==0"],
    lost_acks: ["count==0"],
    unexpected_disconnects: ["count==0"],
  },
  setupTimeout: "120s",
};

/** Creates the rooms; VUs find theirs by number. */
export function setup() {
  const rooms = [];
  for (let i = 0; i < ROOMS; i++) {
    const response = http.post(
      `${BASE_URL}/api/rooms`,
      JSON.stringify({ game: "arena", options: TICK_MS > 0 ? { tickMs: TICK_MS } : {} }),
      { headers: { "content-type": "application/json" } },
    );
    if (response.status !== 201) {
      throw new Error(`POST /api/rooms: ${response.status} ${response.body}`);
    }
    rooms.push(response.json("id"));
  }
  return { rooms };
}

/**
 * One player: join, move until the full load ends, wait for the last acks, leave. Whatever
 * ends the session counts it: the drain (`lost_acks`), the server closing first
 * (`unexpected_disconnects` and `lost_acks`), a join refused or unanswered (`failed_joins`),
 * a socket that never opened (`connection_failures`).
 */
export default function (data) {
  const room = data.rooms[Math.floor((__VU - 1) / PLAYERS) % data.rooms.length];
  // Sessions end at the same instant whenever they started (a VU started early in a ramp, or
  // rejoining after a drop), so none outlives the hold: k6 cuts off an iteration still running
  // after gracefulRampDown or gracefulStop, and its handlers, with the count, never run.
  const { holdEnd, end } = timeline(exec.scenario.startTime, DURATION);
  if (holdEnd - Date.now() < MIN_SESSION_MS) {
    // Idle out the scenario rather than spin through empty iterations.
    setTimeout(() => {}, Math.max(0, end - Date.now()));
    return;
  }
  const acks = new Acks();
  const ws = openSocket(WebSocket);
  const opened = Date.now();
  let joined = false;
  // The join was answered, refused or given up on: counted once.
  let settled = false;
  // The session's losses are counted (by the drain, or by the close that came first).
  let finished = false;
  // The code of the server's `error` frame, which comes just before it closes the socket.
  let serverError = null;
  let moveName = "move";
  let sendTimer = null;
  let endTimer = null;
  let drainTimer = null;

  const stopTimers = () => {
    clearTimeout(joinTimer);
    clearTimeout(sendTimer);
    clearTimeout(endTimer);
    clearTimeout(drainTimer);
  };

  const joinTimer = setTimeout(() => {
    if (settled) return;
    settled = true;
    finished = true;
    failedJoins.add(1, { code: "join_timeout" });
    stopTimers();
    ws.close();
  }, JOIN_TIMEOUT_MS);

  const finish = () => {
    if (finished) return;
    finished = true;
    stopTimers();
    lostAcks.add(acks.outstanding());
    try {
      ws.send(toBuffer(encodeClientMessage({ kind: "leave" })));
    } catch (_) {
      // Closed already.
    }
    ws.close();
  };

  const sendMove = () => {
    const seq = acks.send(Date.now());
    const payload = {
      dx: Math.round(Math.random() * 8 - 4) / 4,
      dy: Math.round(Math.random() * 8 - 4) / 4,
      seq,
    };
    ws.send(toBuffer(encodeClientMessage({ kind: "action", seq, name: moveName, payload })));
    actionsSent.add(1);
    sendTimer = setTimeout(sendMove, (1000 / RATE) * (0.5 + Math.random()));
  };

  ws.onopen = () => {
    ws.send(toBuffer(encodeClientMessage({
      kind: "join",
      version: PROTOCOL_VERSION,
      mode: "join",
      room,
      name: `k6-${__VU}`,
    })));
  };

  ws.onmessage = (event) => {
    const msg = decodeServerMessage(new Uint8Array(event.data));
    const now = Date.now();
    if (msg.kind === "delta") {
      deltasReceived.add(1);
      if (msg.ackDelta > 0) {
        acks.ackTo(acks.acked + msg.ackDelta, now, (ms) => {
          actionLatency.add(ms);
          actionsAcked.add(1);
        });
      }
    } else if (msg.kind === "welcome" && !settled) {
      joined = true;
      settled = true;
      clearTimeout(joinTimer);
      joinLatency.add(now - opened);
      acks.reset(msg.ack);
      const index = msg.actions.indexOf("move");
      if (index >= 0) moveName = index;
      if (RATE > 0) sendTimer = setTimeout(sendMove, (1000 / RATE) * Math.random());
      endTimer = setTimeout(() => {
        clearTimeout(sendTimer);
        // Give the last moves time to be acknowledged before counting them lost.
        drainTimer = setTimeout(finish, DRAIN_MS);
      }, Math.max(0, holdEnd - now));
    } else if (msg.kind === "reject") {
      rejects.add(1, { code: msg.code });
      acks.reject(msg.seq);
    } else if (msg.kind === "error") {
      if (joined) {
        serverError = msg.code;
      } else if (!settled) {
        settled = true;
        finished = true;
        clearTimeout(joinTimer);
        failedJoins.add(1, { code: msg.code });
      }
    }
  };

  ws.onerror = () => {
    // After the join, k6 reports a close with an unusual code here too: onclose counts it.
    if (settled) return;
    settled = true;
    finished = true;
    clearTimeout(joinTimer);
    connectionFailures.add(1);
  };

  ws.onclose = (event) => {
    stopTimers();
    if (!settled) {
      settled = true;
      finished = true;
      failedJoins.add(1, { code: "closed_before_welcome" });
    } else if (joined && !finished) {
      // The server (or the network) ended the session: its moves in flight are lost.
      finished = true;
      lostAcks.add(acks.outstanding());
      disconnects.add(1, closeTags(event, serverError));
    }
  };
}

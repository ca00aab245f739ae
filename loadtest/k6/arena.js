/**
 * k6: the arena workload. `ROOMS` rooms are created in `setup()`; virtual users are seated
 * `PLAYERS` to a room by VU number and each sends `move {dx, dy, seq}` `RATE` times a second
 * (interval jittered ±50 %). `action_latency` runs from a move's send to the delta whose
 * cumulative ack covers it.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8000 -e ROOMS=25 -e RATE=20 -e DURATION=30s loadtest/k6/arena.js
 *
 * Settings (`-e NAME=value`): BASE_URL, ROOMS (10), PLAYERS (8), RATE (20), DURATION (30s),
 * EXECUTOR (constant-vus | ramping-vus), RAMP (10s), TICK_MS (room tick, ms; default the
 * game's), P99_MS (threshold, 100).
 */
import http from "k6/http";
import { WebSocket } from "k6/experimental/websockets";
import { Counter, Trend } from "k6/metrics";
import { decodeServerMessage, encodeClientMessage, PROTOCOL_VERSION } from "./codec_bundle.js";
import { Acks, BASE_URL, env, num, openSocket, scenario, seconds, toBuffer } from "./lib.js";

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

export const options = {
  scenarios: { arena: scenario(ROOMS * PLAYERS, DURATION) },
  thresholds: {
    action_latency: [`p(99)<${num("P99_MS", 100)}`],
    failed_joins: ["count==0"],
    connection_failures: ["count==0"],
    lost_acks: ["count==0"],
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

/** One player: join, move until the session ends, wait for the last acks, leave. */
export default function (data) {
  const room = data.rooms[Math.floor((__VU - 1) / PLAYERS) % data.rooms.length];
  // A session lasts the scenario (the next iteration, if any, rejoins the same seat's room).
  const sessionMs = seconds(DURATION) * 1000;
  const acks = new Acks();
  const ws = openSocket(WebSocket);
  const opened = Date.now();
  let joined = false;
  let moveName = "move";
  let sendTimer = null;
  let endTimer = null;
  let drainTimer = null;

  const finish = () => {
    clearTimeout(sendTimer);
    clearTimeout(endTimer);
    clearTimeout(drainTimer);
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
    } else if (msg.kind === "welcome") {
      joined = true;
      joinLatency.add(now - opened);
      acks.reset(msg.ack);
      const index = msg.actions.indexOf("move");
      if (index >= 0) moveName = index;
      if (RATE > 0) sendTimer = setTimeout(sendMove, (1000 / RATE) * Math.random());
      endTimer = setTimeout(() => {
        clearTimeout(sendTimer);
        // Give the last moves time to be acknowledged before counting them lost.
        drainTimer = setTimeout(finish, 2000);
      }, sessionMs);
    } else if (msg.kind === "reject") {
      rejects.add(1, { code: msg.code });
      acks.reject(msg.seq);
    } else if (msg.kind === "error" && !joined) {
      failedJoins.add(1, { code: msg.code });
    }
  };

  ws.onerror = () => {
    if (!joined) connectionFailures.add(1);
  };

  ws.onclose = () => {
    clearTimeout(sendTimer);
    clearTimeout(endTimer);
    clearTimeout(drainTimer);
  };
}

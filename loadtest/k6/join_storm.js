/**
 * k6: a storm of joins and leaves. Each virtual user loops: connect, `join_or_create` a room
 * of `GAME`, stay `HOLD_MIN_MS`–`HOLD_MAX_MS`, leave, close. With the default `ramping-vus`
 * executor the join rate ramps up over `RAMP`, holds for `DURATION` and ramps down.
 * `join_latency` runs from opening the socket to the `welcome`. A join refused, unanswered
 * within `JOIN_TIMEOUT_MS` or closed before its welcome counts in `failed_joins`; a session the
 * server closes before it leaves, in `unexpected_disconnects`.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8000 -e VUS=100 -e DURATION=30s loadtest/k6/join_storm.js
 *
 * Settings: BASE_URL, VUS (50), DURATION (30s), RAMP (10s), EXECUTOR (ramping-vus |
 * constant-vus), GAME (arena), HOLD_MIN_MS (500), HOLD_MAX_MS (2000), JOIN_P99_MS (500),
 * JOIN_TIMEOUT_MS (10000).
 * Mind the server's MAX_CONNECTIONS_PER_IP (default 256) when raising VUS.
 */
import { WebSocket } from "k6/experimental/websockets";
import { Counter, Trend } from "k6/metrics";
import { decodeServerMessage, encodeClientMessage, PROTOCOL_VERSION } from "./codec_bundle.js";
import {
  closeTags,
  env,
  JOIN_TIMEOUT_MS,
  num,
  openSocket,
  scenario,
  toBuffer,
} from "./lib.js";

const GAME = env("GAME", "arena");
const HOLD_MIN_MS = num("HOLD_MIN_MS", 500);
const HOLD_MAX_MS = num("HOLD_MAX_MS", 2000);

const joinLatency = new Trend("join_latency", true);
const joins = new Counter("joins");
const leaves = new Counter("leaves");
const connectionFailures = new Counter("connection_failures");
const failedJoins = new Counter("failed_joins");
const disconnects = new Counter("unexpected_disconnects");

export const options = {
  scenarios: { join_storm: scenario(num("VUS", 50), env("DURATION", "30s"), "ramping-vus") },
  thresholds: {
    join_latency: [`p(99)<${num("JOIN_P99_MS", 500)}`],
    failed_joins: ["count==0"],
    connection_failures: ["count==0"],
    unexpected_disconnects: ["count==0"],
  },
};

/** One session: join, hold, leave. */
export default function () {
  const ws = openSocket(WebSocket);
  const opened = Date.now();
  let joined = false;
  // The join was answered, refused or given up on: counted once.
  let settled = false;
  let left = false;
  // The code of the server's `error` frame, which comes just before it closes the socket.
  let serverError = null;
  let holdTimer = null;
  let closeTimer = null;
  const joinTimer = setTimeout(() => {
    if (settled) return;
    settled = true;
    failedJoins.add(1, { code: "join_timeout" });
    ws.close();
  }, JOIN_TIMEOUT_MS);

  ws.onopen = () => {
    ws.send(toBuffer(encodeClientMessage({
      kind: "join",
      version: PROTOCOL_VERSION,
      mode: "join_or_create",
      game: GAME,
      name: `k6-${__VU}`,
    })));
  };

  ws.onmessage = (event) => {
    const msg = decodeServerMessage(new Uint8Array(event.data));
    if (msg.kind === "welcome" && !settled) {
      joined = true;
      settled = true;
      clearTimeout(joinTimer);
      joins.add(1);
      joinLatency.add(Date.now() - opened);
      holdTimer = setTimeout(() => {
        left = true;
        ws.send(toBuffer(encodeClientMessage({ kind: "leave" })));
        // The server closes after a leave; close from our side too in case it does not.
        closeTimer = setTimeout(() => ws.close(), 1000);
      }, HOLD_MIN_MS + Math.random() * (HOLD_MAX_MS - HOLD_MIN_MS));
    } else if (msg.kind === "error") {
      if (joined) {
        serverError = msg.code;
      } else if (!settled) {
        settled = true;
        clearTimeout(joinTimer);
        failedJoins.add(1, { code: msg.code });
      }
    }
  };

  ws.onerror = () => {
    // After the join, k6 reports a close with an unusual code here too: onclose counts it.
    if (settled) return;
    settled = true;
    clearTimeout(joinTimer);
    connectionFailures.add(1);
  };

  ws.onclose = (event) => {
    clearTimeout(joinTimer);
    clearTimeout(holdTimer);
    clearTimeout(closeTimer);
    if (!settled) {
      settled = true;
      failedJoins.add(1, { code: "closed_before_welcome" });
    } else if (left) {
      leaves.add(1);
    } else if (joined) {
      disconnects.add(1, closeTags(event, serverError));
    }
  };
}

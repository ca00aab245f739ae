/**
 * k6: turn-based games. Each virtual user plays one complete game per iteration with two
 * sockets (one creates the room, the other joins it), random legal moves, and a state mirror
 * per player built from the deltas (`DeltaDecoder` + `applyOps`). Every `game_over` is checked
 * against the final board (a winner has a line, a draw is a full board) and the two mirrors
 * must agree; any mismatch counts in `games_invalid` (threshold: zero). A game cut short counts
 * in `games_aborted`, and by its cause: a socket the server closed mid-game in
 * `unexpected_disconnects`, a join refused or unanswered in `failed_joins`.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8000 -e GAMES=tic_tac_toe,connect_four -e VUS=50 loadtest/k6/turns.js
 *
 * Settings: BASE_URL, VUS (games at a time, 20), DURATION (30s), GAMES (tic_tac_toe,connect_four),
 * EXECUTOR (constant-vus | ramping-vus), P99_MS (100), JOIN_TIMEOUT_MS (10000), GAME_TIMEOUT_MS
 * (12000).
 */
import { WebSocket } from "k6/experimental/websockets";
import { Counter, Trend } from "k6/metrics";
import {
  applyOps,
  decodeServerMessage,
  DeltaDecoder,
  encodeClientMessage,
  PROTOCOL_VERSION,
} from "./codec_bundle.js";
import {
  Acks,
  closeTags,
  env,
  GRACEFUL_STOP_MS,
  JOIN_TIMEOUT_MS,
  num,
  openSocket,
  scenario,
  toBuffer,
  TURN_GAMES,
} from "./lib.js";

const VUS = num("VUS", 20);
const GAMES = env("GAMES", "tic_tac_toe,connect_four").split(",").map((g) => g.trim()).filter(
  Boolean,
);
for (const game of GAMES) if (!TURN_GAMES[game]) throw new Error(`no bot rules for game ${game}`);
/**
 * How long one game (joins included) may last before it counts in `games_aborted{reason=timeout}`.
 * Games between these bots take well under a second; the bound stays below k6's graceful stop,
 * so that a game stuck when the run ends is still counted instead of cut off unreported.
 */
const GAME_TIMEOUT_MS = num("GAME_TIMEOUT_MS", 12000);
/** How long a finished game waits for the ack of its last move before counting it lost, ms. */
const ACK_AFTER_END_MS = 2000;
if (!(GAME_TIMEOUT_MS > 0 && GAME_TIMEOUT_MS <= GRACEFUL_STOP_MS - 2000)) {
  throw new Error(
    `GAME_TIMEOUT_MS must be from 1 to ${GRACEFUL_STOP_MS - 2000} (k6's graceful stop, ` +
      `${GRACEFUL_STOP_MS} ms, less 2 s to report), got ${GAME_TIMEOUT_MS}`,
  );
}

const actionLatency = new Trend("action_latency", true);
const joinLatency = new Trend("join_latency", true);
const gameDuration = new Trend("game_duration", true);
const deltasReceived = new Counter("deltas_received");
const rejects = new Counter("rejects");
const connectionFailures = new Counter("connection_failures");
const failedJoins = new Counter("failed_joins");
const gamesFinished = new Counter("games_finished");
const gamesInvalid = new Counter("games_invalid");
const gamesAborted = new Counter("games_aborted");
const lostAcks = new Counter("lost_acks");
const disconnects = new Counter("unexpected_disconnects");

export const options = {
  scenarios: { turns: scenario(VUS, env("DURATION", "30s")) },
  thresholds: {
    action_latency: [`p(99)<${num("P99_MS", 100)}`],
    failed_joins: ["count==0"],
    connection_failures: ["count==0"],
    games_invalid: ["count==0"],
    games_aborted: ["count==0"],
    lost_acks: ["count==0"],
    unexpected_disconnects: ["count==0"],
  },
};

/** One game between two bots of this VU. */
export default function () {
  const rules = TURN_GAMES[GAMES[(__ITER + __VU) % GAMES.length]];
  const started = Date.now();
  let over = false;
  const bots = [];

  const end = (problem) => {
    if (over) return;
    over = true;
    clearTimeout(watchdog);
    clearTimeout(settling);
    if (problem) gamesAborted.add(1, { reason: problem });
    for (const bot of bots) {
      clearTimeout(bot.joinTimer);
      lostAcks.add(bot.acks.outstanding());
      try {
        bot.ws.send(toBuffer(encodeClientMessage({ kind: "leave" })));
      } catch (_) {
        // Closed already.
      }
      bot.ws.close();
    }
  };
  // A game that never ends is reported, not waited on forever.
  const watchdog = setTimeout(() => end("timeout"), GAME_TIMEOUT_MS);

  // The winning move's ack comes right after game_over; one that never comes is lost.
  let settling = null;
  const checkOver = () => {
    if (over || bots.length < 2 || !bots[0].outcome || !bots[1].outcome) return;
    if (bots[0].acks.outstanding() + bots[1].acks.outstanding() > 0) {
      if (settling === null) settling = setTimeout(settled, ACK_AFTER_END_MS);
      return;
    }
    settled();
  };
  const settled = () => {
    if (over) return;
    gamesFinished.add(1, { game: rules.name });
    gameDuration.add(Date.now() - started, { game: rules.name });
    const [a, b] = bots;
    const problem = rules.checkOutcome(a.state, a.outcome) ||
      (JSON.stringify(a.state) !== JSON.stringify(b.state) ? "mirrors differ" : null) ||
      (JSON.stringify(a.outcome) !== JSON.stringify(b.outcome) ? "outcomes differ" : null);
    if (problem) {
      gamesInvalid.add(1, { game: rules.name });
      console.error(`invalid ${rules.name}: ${problem}`);
    }
    end(null);
  };

  const startBot = (join) => {
    const bot = {
      ws: openSocket(WebSocket),
      acks: new Acks(),
      player: null,
      room: null,
      state: null,
      decoder: null,
      outcome: null,
      actionName: rules.action,
      inFlight: false,
      ready: false,
      // The code of the server's `error` frame, which comes just before it closes the socket.
      serverError: null,
      joinTimer: null,
    };
    bots.push(bot);
    const opened = Date.now();
    // Unanswered, a join would hold the game until the watchdog, past k6's gracefulStop.
    bot.joinTimer = setTimeout(() => {
      if (bot.player || over) return;
      failedJoins.add(1, { code: "join_timeout" });
      end("join failed");
    }, JOIN_TIMEOUT_MS);

    bot.move = () => {
      if (!bot.ready || bot.outcome || bot.inFlight || over) return;
      if (!rules.isTurn(bot.state, bot.player)) return;
      const moves = rules.legalMoves(bot.state);
      if (moves.length === 0) return;
      bot.inFlight = true;
      const seq = bot.acks.send(Date.now());
      const payload = moves[Math.floor(Math.random() * moves.length)];
      bot.ws.send(
        toBuffer(encodeClientMessage({ kind: "action", seq, name: bot.actionName, payload })),
      );
    };

    bot.ws.onopen = () => {
      const message = {
        kind: "join",
        version: PROTOCOL_VERSION,
        mode: join.mode,
        name: `k6-${__VU}`,
      };
      if (join.mode === "join") message.room = join.room;
      else message.game = rules.name;
      bot.ws.send(toBuffer(encodeClientMessage(message)));
    };

    bot.ws.onmessage = (event) => {
      const msg = decodeServerMessage(new Uint8Array(event.data));
      const now = Date.now();
      if (msg.kind === "delta") {
        deltasReceived.add(1);
        bot.state = applyOps(bot.state, bot.decoder.decode(msg.ops));
        if (msg.ackDelta > 0) {
          bot.acks.ackTo(bot.acks.acked + msg.ackDelta, now, (ms) => actionLatency.add(ms));
          bot.inFlight = false;
        }
        if (bot.outcome) checkOver();
        else bot.move();
      } else if (msg.kind === "welcome" && !over) {
        // (Too late, after the join timer gave up, it would start a second bot for nothing.)
        clearTimeout(bot.joinTimer);
        joinLatency.add(now - opened);
        bot.player = msg.player;
        bot.room = msg.room;
        bot.state = msg.state;
        bot.decoder = new DeltaDecoder(msg.keys, msg.refs);
        bot.acks.reset(msg.ack);
        const index = msg.actions.indexOf(rules.action);
        if (index >= 0) bot.actionName = index;
        if (join.mode === "create") {
          startBot({ mode: "join", room: msg.room });
        } else {
          for (const b of bots) b.ready = true;
          for (const b of bots) b.move();
        }
      } else if (msg.kind === "reject") {
        rejects.add(1, { code: msg.code });
        bot.acks.reject(msg.seq);
        bot.inFlight = false;
        bot.move();
      } else if (msg.kind === "game_over") {
        bot.outcome = msg.outcome;
        checkOver();
      } else if (msg.kind === "event" && msg.type === "player_joined") {
        bot.move();
      } else if (msg.kind === "error") {
        if (bot.player) {
          bot.serverError = msg.code;
        } else if (!over) {
          failedJoins.add(1, { code: msg.code });
          end("join failed");
        }
      }
    };

    bot.ws.onerror = () => {
      // After the join, k6 reports a close with an unusual code here too: onclose counts it.
      if (!bot.player && !over) {
        connectionFailures.add(1);
        end("connection failed");
      }
    };

    bot.ws.onclose = (event) => {
      clearTimeout(bot.joinTimer);
      if (over) return;
      if (!bot.player) {
        failedJoins.add(1, { code: "closed_before_welcome" });
        end("join failed");
      } else {
        disconnects.add(1, closeTags(event, bot.serverError));
        end("closed mid-game");
      }
    };
  };

  startBot({ mode: "create" });
}

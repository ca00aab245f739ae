/**
 * The k6 scripts (`loadtest/k6/*.js`) run end to end against a real server under a small k6
 * stand-in (`support/k6_runtime.ts`, which needs `curl` for `k6/http`): they join, play,
 * count, and lose nothing; and what goes wrong (a server that drops everyone, joins nobody
 * answers) shows in the counters their thresholds watch. k6 itself is not needed.
 */
import assert from "node:assert/strict";
import { runLoad } from "../loadtest/generator.ts";
import { spawnServer } from "../loadtest/server_process.ts";
import { hasCurl, type K6Run, runK6Script } from "./support/k6_runtime.ts";
import { startSilentServer } from "./support/silent_server.ts";
import type { RoomSummary } from "../protocol/mod.ts";

const count = (run: K6Run, name: string) => run.metrics[name]?.count ?? 0;
const total = (run: K6Run, name: string) => run.metrics[name]?.sum ?? 0;

/**
 * Resolves once `rooms` arena rooms on the server are full (`players` each) and have broadcast
 * a tick since: their bots are sending moves. A fixed wait was not enough on a loaded machine,
 * where starting the load generator's worker took longer than the wait.
 */
async function movesFlowing(httpUrl: string, rooms: number, players: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  const seqWhenFull = new Map<string, number>();
  let seen: RoomSummary[] = [];
  while (Date.now() < deadline) {
    seen = await (await fetch(`${httpUrl}/api/rooms?game=arena`)).json();
    const full = seen.filter((room) => room.players === players);
    for (const room of full) if (!seqWhenFull.has(room.id)) seqWhenFull.set(room.id, room.seq);
    if (full.filter((room) => room.seq > seqWhenFull.get(room.id)!).length >= rooms) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${rooms} full arena rooms with moves within 30 s: ${JSON.stringify(seen)}`);
}

Deno.test({
  name: "k6 scripts play arena, turns and join storm against Arbiter without losses",
  ignore: !hasCurl(),
  fn: async () => {
    const server = await spawnServer({ kind: "arbiter" });
    try {
      const base = { BASE_URL: server.httpUrl, EXECUTOR: "constant-vus" };
      const [arena, turns, storm] = await Promise.all([
        // Sessions last DURATION, then 2 s for the last acks.
        runK6Script(
          "arena.js",
          { ...base, ROOMS: "1", PLAYERS: "4", RATE: "20", DURATION: "2s" },
          4,
          1500,
        ),
        runK6Script("turns.js", { ...base, VUS: "2", DURATION: "3s" }, 2, 3000),
        runK6Script(
          "join_storm.js",
          { ...base, VUS: "3", DURATION: "2s", HOLD_MIN_MS: "100", HOLD_MAX_MS: "300" },
          3,
          2000,
        ),
      ]);

      const context = (run: K6Run) => JSON.stringify(run);
      assert.deepEqual(arena.errors, [], context(arena));
      assert.equal(total(arena, "failed_joins"), 0, context(arena));
      assert.equal(total(arena, "connection_failures"), 0, context(arena));
      assert.equal(total(arena, "lost_acks"), 0, context(arena));
      assert.equal(total(arena, "unexpected_disconnects"), 0, context(arena));
      assert.equal(count(arena, "join_latency"), 4, context(arena));
      assert.ok(count(arena, "action_latency") > 50, context(arena));
      assert.equal(
        total(arena, "actions_acked"),
        total(arena, "actions_sent") - total(arena, "rejects"),
      );
      assert.ok(total(arena, "deltas_received") > 0);

      assert.deepEqual(turns.errors, [], context(turns));
      assert.ok(total(turns, "games_finished") >= 2, context(turns));
      assert.equal(total(turns, "games_invalid"), 0, context(turns));
      assert.equal(total(turns, "games_aborted"), 0, context(turns));
      assert.equal(total(turns, "failed_joins"), 0, context(turns));
      assert.equal(total(turns, "lost_acks"), 0, context(turns));
      assert.equal(total(turns, "unexpected_disconnects"), 0, context(turns));

      assert.deepEqual(storm.errors, [], context(storm));
      assert.ok(total(storm, "joins") >= 3, context(storm));
      assert.equal(total(storm, "failed_joins"), 0, context(storm));
      assert.equal(total(storm, "connection_failures"), 0, context(storm));
      assert.equal(total(storm, "unexpected_disconnects"), 0, context(storm));
      assert.equal(total(storm, "leaves"), total(storm, "joins"), context(storm));
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "k6 arena and the load generator both count a server that drops every player mid-session",
  ignore: !hasCurl(),
  fn: async () => {
    // A separate process: the stand-in's setup() blocks this thread on curl.
    const server = await spawnServer({ kind: "arbiter" });
    let killed = false;
    try {
      // Acks ride on the tick delta: with 1 s ticks about 20 moves per bot are in flight.
      const k6Run = runK6Script(
        "arena.js",
        {
          BASE_URL: server.httpUrl,
          EXECUTOR: "constant-vus",
          ROOMS: "1",
          PLAYERS: "4",
          RATE: "20",
          DURATION: "8s",
          TICK_MS: "1000",
        },
        4,
        1500,
      );
      const denoRun = runLoad({
        url: server.wsUrl,
        scenario: "arena",
        rooms: 1,
        players: 4,
        rate: 20,
        tickMs: 1000,
        warmup: 0.5,
        duration: 8,
        drain: 1,
        quiet: true,
      }, { progress: null });
      // Mid-session (both rooms full and moving; with 1 s ticks a tick has just acknowledged
      // what came before, so moves sent since are in flight), the server crashes: every socket
      // drops (1006).
      await movesFlowing(server.httpUrl, 2, 4);
      await new Promise((resolve) => setTimeout(resolve, 300));
      Deno.kill(server.pid, "SIGKILL");
      killed = true;
      const [k6, deno] = await Promise.all([k6Run, denoRun]);

      const context = JSON.stringify(k6);
      const unanswered = total(k6, "actions_sent") - total(k6, "actions_acked") -
        total(k6, "rejects");
      assert.ok(unanswered > 0, `no move was in flight at the crash: ${context}`);
      assert.equal(total(k6, "lost_acks"), unanswered, context);
      assert.equal(total(k6, "unexpected_disconnects"), 4, context);
      // No close frame: no code to tag with.
      assert.equal(k6.metrics.unexpected_disconnects.tags["code=unknown"], 4, context);
      assert.deepEqual(k6.errors, [], context);

      // The generator's names: `disconnects` is k6's unexpected_disconnects.
      const c = deno.counters;
      const denoContext = JSON.stringify({ counters: c, codes: deno.codes });
      assert.ok(c.actions_sent - c.actions_acked - c.rejects > 0, denoContext);
      assert.equal(c.lost_acks, c.actions_sent - c.actions_acked - c.rejects, denoContext);
      assert.equal(c.disconnects, 4, denoContext);
      assert.equal(deno.codes.closed_1006, 4, denoContext);
      assert.ok(deno.failures.includes("4 unexpected disconnects"), denoContext);
    } finally {
      if (!killed) await server.stop();
      else await server.stop().catch(() => {});
    }
  },
});

Deno.test({
  name: "k6 arena and join storm tag the disconnects of a server restart with its codes",
  ignore: !hasCurl(),
  fn: async () => {
    const server = await spawnServer({ kind: "arbiter" });
    let stopped = false;
    try {
      const base = { BASE_URL: server.httpUrl, EXECUTOR: "constant-vus", DURATION: "4s" };
      const runs = Promise.all([
        runK6Script("arena.js", { ...base, ROOMS: "1", PLAYERS: "2", TICK_MS: "1000" }, 2, 1500),
        runK6Script(
          "join_storm.js",
          { ...base, VUS: "2", HOLD_MIN_MS: "4000", HOLD_MAX_MS: "4000" },
          2,
          1500,
        ),
      ]);
      // A graceful stop: every room sends `error` server_restart and closes with 1012.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await server.stop();
      stopped = true;
      const [arena, storm] = await runs;
      for (const run of [arena, storm]) {
        const context = JSON.stringify(run);
        assert.deepEqual(run.errors, [], context);
        assert.equal(total(run, "unexpected_disconnects"), 2, context);
        const tags = run.metrics.unexpected_disconnects.tags;
        assert.equal(tags["code=1012"], 2, context);
        assert.equal(tags["error=server_restart"], 2, context);
      }
      assert.equal(
        total(arena, "lost_acks"),
        total(arena, "actions_sent") - total(arena, "actions_acked") - total(arena, "rejects"),
      );
    } finally {
      if (!stopped) await server.stop();
    }
  },
});

Deno.test({
  name: "k6 scripts count joins nobody answers, and sockets closed before their welcome",
  ignore: !hasCurl(),
  fn: async () => {
    // The arena's setup() still needs a real server to create its rooms.
    const server = await spawnServer({ kind: "arbiter" });
    await using silent = startSilentServer("never");
    await using closing = startSilentServer("close");
    try {
      const run = (script: string, wsUrl: string, env: Record<string, string>) =>
        runK6Script(
          script,
          {
            BASE_URL: server.httpUrl,
            WS_URL: wsUrl,
            JOIN_TIMEOUT_MS: "300",
            DURATION: "3s",
            ...env,
          },
          2,
          800,
          // Without a join timer an iteration would wait for ever: fail fast instead.
          5000,
        );
      const arena = { ROOMS: "1", PLAYERS: "2", EXECUTOR: "constant-vus" };
      const turns = { VUS: "2", EXECUTOR: "constant-vus" };
      const storm = { VUS: "2", EXECUTOR: "constant-vus" };
      const noTimer = { JOIN_TIMEOUT_MS: "600000" };
      const runs = await Promise.all([
        run("arena.js", silent.wsUrl, arena),
        run("turns.js", silent.wsUrl, turns),
        run("join_storm.js", silent.wsUrl, storm),
        // No join timer can end these: only the close may, however late it comes (a loaded
        // machine must not turn a close into a timeout).
        run("arena.js", closing.wsUrl, { ...arena, ...noTimer }),
        run("turns.js", closing.wsUrl, { ...turns, ...noTimer }),
        run("join_storm.js", closing.wsUrl, { ...storm, ...noTimer }),
      ]);
      const codes = ["join_timeout", "join_timeout", "join_timeout"].concat(
        ["closed_before_welcome", "closed_before_welcome", "closed_before_welcome"],
      );
      runs.forEach((k6, i) => {
        const context = `${["arena", "turns", "join_storm"][i % 3]} (${codes[i]}): ${
          JSON.stringify(k6)
        }`;
        assert.deepEqual(k6.errors, [], context);
        // Every iteration (at least one per VU) is one failed join, of the expected kind.
        assert.ok(k6.iterations >= 2, context);
        assert.equal(total(k6, "failed_joins"), k6.iterations, context);
        assert.equal(k6.metrics.failed_joins.tags[`code=${codes[i]}`], k6.iterations, context);
        assert.equal(total(k6, "connection_failures"), 0, context);
        assert.equal(total(k6, "unexpected_disconnects"), 0, context);
      });
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "k6 turns counts a game that hangs before k6's graceful stop could cut it off",
  fn: async () => {
    // Joins nobody answers and no join timer: only the game's own bound can end the game.
    await using silent = startSilentServer("never");
    const env = {
      BASE_URL: silent.httpUrl,
      WS_URL: silent.wsUrl,
      JOIN_TIMEOUT_MS: "600000",
      VUS: "2",
      EXECUTOR: "constant-vus",
    };
    const k6 = await runK6Script("turns.js", { ...env, GAME_TIMEOUT_MS: "400" }, 2, 600, 5000);
    const context = JSON.stringify(k6);
    assert.deepEqual(k6.errors, [], context);
    assert.ok(k6.iterations >= 2, context);
    assert.equal(k6.metrics.games_aborted?.tags["reason=timeout"], k6.iterations, context);
    assert.equal(total(k6, "failed_joins"), 0, context);
    // A bound k6 would cut off first (gracefulStop 15 s, 2 s kept to report) is refused.
    await assert.rejects(
      runK6Script("turns.js", { ...env, GAME_TIMEOUT_MS: "13001" }, 1, 100),
      /GAME_TIMEOUT_MS must be from 1 to 13000 \(k6's graceful stop, 15000 ms/,
    );
  },
});

Deno.test({
  name: "k6 arena with ramping-vus ends every session at the end of the hold",
  ignore: !hasCurl(),
  fn: async () => {
    const server = await spawnServer({ kind: "arbiter" });
    try {
      // The stand-in starts every VU at once and, like k6 before the ramp down, starts a new
      // iteration whenever one ends before the stages do (RAMP + DURATION + RAMP_DOWN = 5 s).
      // A session lasting DURATION from its own start would end at 1 s + 2 s of drain, and a
      // second one would start that, in k6, the ramp down cuts off uncounted.
      const started = Date.now();
      const run = await runK6Script(
        "arena.js",
        {
          BASE_URL: server.httpUrl,
          EXECUTOR: "ramping-vus",
          RAMP: "3s",
          DURATION: "1s",
          RAMP_DOWN: "1s",
          ROOMS: "1",
          PLAYERS: "2",
          RATE: "20",
        },
        2,
        5000,
      );
      const elapsed = Date.now() - started;
      const context = JSON.stringify(run);
      assert.deepEqual(run.errors, [], context);
      assert.equal(run.iterations, 2, context);
      assert.equal(count(run, "join_latency"), 2, context);
      assert.equal(total(run, "lost_acks"), 0, context);
      assert.equal(total(run, "unexpected_disconnects"), 0, context);
      // Moves went on through the ramp and the hold (4 s at 20/s per VU), then 2 s of drain.
      assert.ok(total(run, "actions_sent") > 2 * 20 * 3, context);
      assert.ok(elapsed >= 6000 && elapsed < 9000, `took ${elapsed} ms`);
    } finally {
      await server.stop();
    }
  },
});

/**
 * A few seconds of each load scenario against real server subprocesses: no failed join, no
 * lost acknowledgement (every action sent is acknowledged or rejected by the end of the drain),
 * no sequence gap, correct state mirrors and game outcomes. Speed is not checked here (that is
 * `deno task bench`); only that nothing is lost.
 */
import assert from "node:assert/strict";
import { type LoadResult, runLoad } from "../loadtest/generator.ts";
import { spawnServer } from "../loadtest/server_process.ts";
import { startSilentServer } from "./support/silent_server.ts";

const SHORT = { warmup: 0.5, duration: 1.5, drain: 2, quiet: true, joinTimeoutMs: 5000 };

function assertClean(result: LoadResult, what: string): void {
  const c = result.counters;
  const context = `${what}: ${JSON.stringify({ counters: c, codes: result.codes })}`;
  assert.equal(c.failed_joins, 0, `failed joins in ${context}`);
  assert.equal(c.connection_failures, 0, `connection failures in ${context}`);
  assert.equal(c.lost_acks, 0, `lost acks in ${context}`);
  assert.equal(c.seq_gaps, 0, `sequence gaps in ${context}`);
  assert.equal(c.decode_errors, 0, `decode errors in ${context}`);
  assert.equal(c.mirror_mismatches, 0, `mirror mismatches in ${context}`);
  assert.equal(c.disconnects, 0, `unexpected disconnects in ${context}`);
  assert.deepEqual(result.failures, [], context);
}

Deno.test("load scenarios against Arbiter lose no join and no ack", async () => {
  const server = await spawnServer({ kind: "arbiter" });
  try {
    const url = server.wsUrl;
    const hooks = { progress: null };
    // The three scenarios share the server at once: shorter, and a little rougher on it.
    const [arena, turns, storm] = await Promise.all([
      runLoad(
        { ...SHORT, url, scenario: "arena", rooms: 3, players: 8, rate: 20, decode: true },
        hooks,
      ),
      runLoad({ ...SHORT, url, scenario: "turns", rooms: 4 }, hooks),
      runLoad({ ...SHORT, url, scenario: "join_storm", rate: 30, holdMs: [200, 600] }, hooks),
    ]);

    assertClean(arena, "arena");
    assert.equal(arena.counters.joined, 24);
    assert.ok(arena.counters.actions_sent > 100, `arena sent ${arena.counters.actions_sent}`);
    assert.equal(
      arena.counters.actions_acked + arena.counters.rejects,
      arena.counters.actions_sent,
    );
    assert.ok(arena.latency.count > 0 && arena.counters.deltas_measured > 0);

    assertClean(turns, "turns");
    assert.ok(turns.counters.games_finished > 0, "no turn-based game finished");
    assert.equal(turns.counters.games_invalid, 0);
    assert.equal(turns.counters.games_finished, turns.counters.games_started);

    assertClean(storm, "join_storm");
    assert.ok(storm.counters.joined > 5, `join storm joined ${storm.counters.joined}`);
    assert.equal(storm.counters.leaves, storm.counters.joined);
  } finally {
    await server.stop();
  }
});

Deno.test("arena load against the baseline relay loses no ack", async () => {
  const result = await runLoad(
    { ...SHORT, scenario: "arena", target: "baseline", rooms: 2, players: 8, rate: 20 },
    { progress: null },
  );
  assertClean(result, "baseline arena");
  assert.equal(result.counters.joined, 16);
  assert.equal(result.counters.actions_acked, result.counters.actions_sent);
});

Deno.test("a --url server that accepts and never answers fails the run, never hangs it", async () => {
  // A hung server: connections are accepted and never answered.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const started = Date.now();
    const outcome = await Promise.race([
      runLoad(
        {
          ...SHORT,
          url: `ws://127.0.0.1:${listener.addr.port}/ws`,
          scenario: "arena",
          rooms: 2,
          players: 1,
          joinTimeoutMs: 300,
        },
        { progress: null },
      ).then(() => "finished", (error: Error) => error),
      new Promise((resolve) =>
        timer = setTimeout(() => resolve("still running after 10 s"), 10_000)
      ),
    ]);
    assert.ok(outcome instanceof Error, String(outcome));
    assert.match(
      outcome.message,
      /^POST http:\/\/127\.0\.0\.1:\d+\/api\/rooms got no answer within 300 ms$/,
    );
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  } finally {
    clearTimeout(timer);
    listener.close();
    for (const conn of held) conn.close();
    await accepting.catch(() => {});
  }
});

Deno.test("joins nobody answers, or closed before their welcome, are failed joins in every scenario", async () => {
  await using silent = startSilentServer("never");
  await using closing = startSilentServer("close");
  const hooks = { progress: null };
  // The join timeout also bounds the arena's `POST /api/rooms`, which six runs at once on a
  // loaded machine took more than 300 ms to get answered.
  const run = (url: string, scenario: "arena" | "turns" | "join_storm") =>
    runLoad(
      { ...SHORT, url, scenario, rooms: 1, players: 2, rate: 10, joinTimeoutMs: 1500 },
      hooks,
    );
  const runs = await Promise.all([
    run(silent.wsUrl, "arena"),
    run(silent.wsUrl, "turns"),
    run(silent.wsUrl, "join_storm"),
    run(closing.wsUrl, "arena"),
    run(closing.wsUrl, "turns"),
    run(closing.wsUrl, "join_storm"),
  ]);
  runs.forEach((result, i) => {
    const code = i < 3 ? "join_timeout" : "closed_before_welcome_1001";
    const c = result.counters;
    const context = `${result.scenario} (${code}): ${
      JSON.stringify({ counters: c, codes: result.codes })
    }`;
    assert.ok(c.clients > 0, context);
    assert.equal(c.joined, 0, context);
    // A game whose first player cannot join never starts its second.
    const joins = result.scenario === "turns" ? c.games_started : c.clients;
    assert.equal(c.failed_joins, joins, context);
    assert.equal(result.codes[code], joins, context);
    assert.equal(c.connection_failures + c.disconnects + c.leaves, 0, context);
    assert.ok(result.failures.includes(`${c.failed_joins} failed joins`), context);
  });
});

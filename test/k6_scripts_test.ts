/**
 * The k6 scripts (`loadtest/k6/*.js`) run end to end against a real server under a small k6
 * stand-in (`support/k6_runtime.ts`, which needs `curl` for `k6/http`): they join, play,
 * count, and lose nothing. k6 itself is not needed.
 */
import assert from "node:assert/strict";
import { spawnServer } from "../loadtest/server_process.ts";
import { hasCurl, type K6Run, runK6Script } from "./support/k6_runtime.ts";

const count = (run: K6Run, name: string) => run.metrics[name]?.count ?? 0;
const total = (run: K6Run, name: string) => run.metrics[name]?.sum ?? 0;

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

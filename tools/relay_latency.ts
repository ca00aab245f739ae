/**
 * Measures what the cluster relay adds to an action's round trip: `deno task bench:relay`.
 *
 * Two players share a tic-tac-toe room run by instance A. Ann's socket is on A; Bob's is on
 * instance B, so his actions and their acknowledging deltas travel through Deno KV mail. Each
 * `send()` is timed until the delta that acknowledges it is applied (the client's round
 * trip). Measured with one server and no cluster (the reference), then with instances as
 * Workers of one process (`kv.watch` wakes the receiver, as on Deno Deploy) and as separate
 * processes sharing a KV file (no `kv.watch` across processes: the receiver polls every
 * `ARBITER_CLUSTER_POLL_MS`, 25 ms by default).
 * Prints a markdown table for docs/PERFORMANCE.md.
 *
 * @module
 */
import { connect, type Room } from "../client/mod.ts";
import type { ticTacToe } from "../games/mod.ts";
import { startWorkers } from "../test/support/cluster_workers.ts";
import { spawnServer } from "../test/support/server_process.ts";

/** Games per setup (each gives 3 same-instance and 2 relayed samples). */
const GAMES = Number(Deno.args[0] ?? 100);

/** Round trips of one setup, ms. */
export interface Samples {
  local: number[];
  relayed: number[];
}

/**
 * Plays `games` games between a player on `ownerUrl` and one on `relayUrl`, timing each move.
 *
 * @example
 * ```ts ignore
 * const samples = await measure("ws://127.0.0.1:8000/ws", "ws://127.0.0.1:8001/ws", 10);
 * ```
 */
export async function measure(ownerUrl: string, relayUrl: string, games: number): Promise<Samples> {
  const samples: Samples = { local: [], relayed: [] };
  const options = { pingIntervalMs: 0, reconnect: false } as const;
  for (let g = 0; g < games; g++) {
    const ann = await connect(ownerUrl, options).create<typeof ticTacToe>("tic_tac_toe");
    const bob = await connect(relayUrl, options).join<typeof ticTacToe>(ann.roomId);
    const moves: [Room<typeof ticTacToe>, number, number[]][] = [
      [ann, 0, samples.local],
      [bob, 3, samples.relayed],
      [ann, 1, samples.local],
      [bob, 4, samples.relayed],
      [ann, 2, samples.local],
    ];
    for (const [player, cell, into] of moves) {
      const started = performance.now();
      await player.send("place", { cell });
      // The first games warm up the JIT and the KV files.
      if (g >= 3) into.push(performance.now() - started);
    }
    ann.leave();
    bob.leave();
  }
  return samples;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function row(setup: string, path: string, values: number[]): string {
  const f = (ms: number) => ms.toFixed(1);
  return `| ${setup} | ${path} | ${values.length} | ${f(percentile(values, 50))} | ${
    f(percentile(values, 90))
  } | ${f(percentile(values, 99))} |`;
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "arbiter-relay-latency-" });
  const lines = [
    "| instances | player | moves | p50 ms | p90 ms | p99 ms |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  try {
    // The reference: one server, no cluster, both players on it.
    const alone = await spawnServer({ PORT: "0", ARBITER_KV_PATH: `${dir}/alone.kv` });
    try {
      const single = await measure(alone.wsUrl, alone.wsUrl, GAMES);
      lines.push(row("1 process, no cluster", "both", [...single.local, ...single.relayed]));
    } finally {
      alone.kill("SIGTERM");
      await alone.status;
    }

    const env = { ARBITER_CLUSTER: "kv" };
    const workers = await startWorkers(2, { ...env, ARBITER_KV_PATH: `${dir}/workers.kv` });
    const inWorkers = await measure(workers[0].wsUrl, workers[1].wsUrl, GAMES);
    await Promise.all(workers.map((w) => w.stop()));
    lines.push(row("2 Workers, one process (kv.watch)", "same instance", inWorkers.local));
    lines.push(row("2 Workers, one process (kv.watch)", "relayed", inWorkers.relayed));

    const processEnv = { ...env, PORT: "0", ARBITER_KV_PATH: `${dir}/processes.kv` };
    const a = await spawnServer(processEnv);
    const b = await spawnServer(processEnv);
    try {
      const inProcesses = await measure(a.wsUrl, b.wsUrl, GAMES);
      const poll = Deno.env.get("ARBITER_CLUSTER_POLL_MS") ?? "25";
      const setup = `2 processes, one KV file (polls every ${poll} ms)`;
      lines.push(row(setup, "same instance", inProcesses.local));
      lines.push(row(setup, "relayed", inProcesses.relayed));
    } finally {
      a.kill("SIGTERM");
      b.kill("SIGTERM");
      await Promise.all([a.status, b.status]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log(lines.join("\n"));
}

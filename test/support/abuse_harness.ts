/**
 * Shared pieces of the abuse suite (`test/abuse_*_test.ts`): a server whose log lines are
 * captured, a watch on unhandled rejections, test-only games, a bystander room that keeps
 * playing while a test abuses the server, and the closing checks every abuse test ends with
 * (the bystanders were served throughout, a well-behaved game still completes, nothing was
 * logged as an error, and the server's bookkeeping is back to zero).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ClientOptions } from "../../client/mod.ts";
import { exampleGames } from "../../games/mod.ts";
import type { ticTacToe } from "../../games/mod.ts";
import { defineGame, t } from "../../rooms/mod.ts";
import { createLogger, type Env, type Logger } from "../../server/mod.ts";
import {
  startTestServer,
  type TestServer,
  type TestServerOptions,
  waitFor,
} from "./test_server.ts";

/** One parsed log line of the server. */
export interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** A test server plus what it logged and which promise rejections nobody handled. */
export interface AbuseServer extends AsyncDisposable {
  t: TestServer;
  /** Every log line, in order (level debug and up). */
  logs: LogLine[];
  /** Unhandled promise rejections and uncaught errors seen while the server ran. */
  unhandled: unknown[];
  /** Log lines at level error. */
  errors(): LogLine[];
  /**
   * Starts a {@linkcode Bystander}: a room of two well-behaved players that keeps playing
   * until {@linkcode AbuseServer.finish} (or its own `stop`) checks it was served throughout.
   */
  bystander(options?: BystanderOptions): Promise<Bystander>;
  /** The closing checks; see {@linkcode finish}. */
  finish(options?: FinishOptions): Promise<void>;
}

/** Options of {@linkcode AbuseServer.finish}. */
export interface FinishOptions {
  /** Error log lines expected by the test (matched by `msg`), not counted as failures. */
  expectedErrors?: string[];
  /** Skip the tic-tac-toe game (for servers that refuse ordinary clients). */
  skipGame?: boolean;
  /** Wait for every room to be disposed (default true; the test env keeps rooms briefly). */
  roomsDrain?: boolean;
  /** Client options of the two players (e.g. their tokens on a server with a secret). */
  players?: [ClientOptions, ClientOptions];
}

/**
 * Starts a test server with a capturing logger and a watch on unhandled rejections. Rooms are
 * short-lived unless `env` says otherwise (grace 500 ms, idle and finished rooms 100 ms), so
 * {@linkcode AbuseServer.finish} can check that none leaked.
 *
 * @example
 * ```ts ignore
 * await using s = await startAbuseServer({ MAX_FRAME_BYTES: "1024" });
 * // ... abuse s.t.server.wsUrl ...
 * await s.finish();
 * ```
 */
export async function startAbuseServer(
  env: Env = {},
  options: TestServerOptions = {},
): Promise<AbuseServer> {
  const logs: LogLine[] = [];
  const log: Logger = createLogger("debug", (line) => logs.push(JSON.parse(line)));
  const unhandled: unknown[] = [];
  const onRejection = (event: PromiseRejectionEvent) => {
    unhandled.push(event.reason);
    event.preventDefault();
  };
  const onError = (event: ErrorEvent) => {
    unhandled.push(event.error ?? event.message);
    event.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  const t = await startTestServer({
    GRACE_MS: "500",
    IDLE_ROOM_MS: "100",
    FINISHED_RETENTION_MS: "100",
    ...env,
  }, {
    ...options,
    log,
    games: options.games ?? [...exampleGames, ...testGames],
  });
  const close = async () => {
    await t.close();
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  };
  const errors = () => logs.filter((line) => line.level === "error");
  const bystanders: Bystander[] = [];
  return {
    t,
    logs,
    unhandled,
    errors,
    bystander: async (bystanderOptions) => {
      const bystander = await startBystander(t, bystanderOptions);
      bystanders.push(bystander);
      return bystander;
    },
    finish: async (finishOptions = {}) => {
      for (const bystander of bystanders) await bystander.stop();
      if (!finishOptions.skipGame) await playTicTacToe(t, finishOptions.players);
      await waitFor(() => t.server.metrics.connections === 0, "every session closed");
      if (finishOptions.roomsDrain ?? true) {
        await waitFor(() => t.server.manager.size === 0, "every room disposed");
      }
      const unexpected = errors().filter((line) =>
        !(finishOptions.expectedErrors ?? []).includes(line.msg)
      );
      assert.deepEqual(unexpected, [], `errors were logged: ${shorten(unexpected)}`);
      assert.deepEqual(unhandled, [], `unhandled rejections or errors: ${shorten(unhandled)}`);
    },
    [Symbol.asyncDispose]: close,
  };
}

/** The start of a JSON rendering, for assertion messages. */
function shorten(values: unknown[]): string {
  const text = JSON.stringify(values.map((v) => v instanceof Error ? String(v.stack) : v));
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

/**
 * Two well-behaved clients play tic-tac-toe to a win on `t`: proof that the server still
 * serves rooms correctly after whatever the test did to it.
 *
 * @example
 * ```ts ignore
 * await playTicTacToe(s.t); // throws unless p1 wins with the top row on both mirrors
 * ```
 */
export async function playTicTacToe(
  t: TestServer,
  players: [ClientOptions, ClientOptions] = [{}, {}],
): Promise<void> {
  const ann = await t.client({ name: "ann", reconnect: false, ...players[0] })
    .create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob", reconnect: false, ...players[1] })
    .join<typeof ticTacToe>(ann.roomId);
  try {
    for (const [i, cell] of [0, 3, 1, 4, 2].entries()) {
      await (i % 2 === 0 ? ann : bob).send("place", { cell });
    }
    await waitFor(() => ann.outcome !== null && bob.outcome !== null, "game over on both sides");
    assert.deepEqual(ann.outcome?.winners, ["p1"]);
    assert.deepEqual(bob.state.line, [0, 1, 2]);
  } finally {
    ann.leave();
    bob.leave();
  }
}

/**
 * A test game for bystanders: two players add to a running total; the state records who
 * moved last, so a check can tell that every move was credited to its sender.
 */
export const tally = defineGame({
  name: "tally",
  players: { min: 2, max: 2 },
  setup: () => ({ total: 0, moves: 0, last: "" }),
  actions: {
    add: {
      payload: t.object({ by: t.int({ min: 1, max: 100 }) }),
      apply(state, { by }, ctx) {
        state.total += by;
        state.moves++;
        state.last = ctx.player ?? "";
      },
    },
  },
});

/** Options of {@linkcode startBystander}. */
export interface BystanderOptions {
  /**
   * Pause between rounds, ms (default 50: each player acts at most 20 times a second, within
   * the default `ACTION_RATE`). Lengthen it under a lowered `ACTION_RATE`.
   */
  intervalMs?: number;
  /** Client options of the two players (e.g. their tokens on a server with a secret). */
  players?: [ClientOptions, ClientOptions];
}

/** What {@linkcode Bystander.stop} measured. */
export interface BystanderReport {
  /** Rounds played (two actions each), the final one after the abuse included. */
  rounds: number;
  /** Latency of every action while the bystander ran, ms. */
  latencies: number[];
}

/** Two players in their own room who keep playing while a test abuses the server. */
export interface Bystander {
  roomId: string;
  /**
   * Stops playing, plays one more round, then checks the room was served throughout: every
   * action was applied in order and credited to its sender, both mirrors agree with the
   * server, and neither client ever lost its connection. Then both leave. Idempotent.
   */
  stop(): Promise<BystanderReport>;
}

/**
 * Opens a bystander room on `t` and starts playing in the background.
 *
 * @example
 * ```ts ignore
 * const bystander = await startBystander(s.t);
 * // ... abuse the server ...
 * const { rounds } = await bystander.stop(); // throws if the room was not served
 * ```
 */
export async function startBystander(
  t: TestServer,
  options: BystanderOptions = {},
): Promise<Bystander> {
  const [annOptions, bobOptions] = options.players ?? [{}, {}];
  // No reconnects: a bystander that loses its connection must fail the test, not hide it.
  const ann = await t.client({ name: "ann", reconnect: false, ...annOptions })
    .create<typeof tally>("tally");
  const bob = await t.client({ name: "bob", reconnect: false, ...bobOptions })
    .join<typeof tally>(ann.roomId);
  const statuses: string[] = [];
  for (const room of [ann, bob]) room.onStatus((status) => statuses.push(status));
  const latencies: number[] = [];
  let rounds = 0;
  let expected = 0;
  let running = true;
  let wake = () => {};
  const round = async () => {
    for (const [room, by, player] of [[ann, 1, "p1"], [bob, 2, "p2"]] as const) {
      const started = performance.now();
      await room.send("add", { by });
      latencies.push(performance.now() - started);
      expected += by;
      assert.equal(room.state.last, player, "the move is credited to its sender");
    }
    rounds++;
  };
  const loop = (async () => {
    while (running) {
      await round();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.intervalMs ?? 50);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  // A failure surfaces in `stop`; until then it is not an unhandled rejection of the server.
  loop.catch(() => {});
  let stopped: Promise<BystanderReport> | null = null;
  return {
    roomId: ann.roomId,
    stop: () =>
      stopped ??= (async () => {
        running = false;
        wake();
        try {
          await loop;
          await round();
          await waitFor(
            () => ann.state.total === expected && bob.state.total === expected,
            "both bystander mirrors at the expected total",
          );
          assert.equal(ann.state.moves, rounds * 2);
          assert.equal(ann.seq, bob.seq);
          assert.deepEqual(statuses, [], "the bystanders never lost their connection");
          assert.equal(ann.status, "connected");
          assert.equal(bob.status, "connected");
        } finally {
          ann.leave();
          bob.leave();
        }
        return { rounds, latencies };
      })(),
  };
}

/** Length of the string a `firehose` shout puts in the state. */
export const FIREHOSE_BLOB = 32 * 1024;

/**
 * A test game whose `shout` broadcasts a 32 KiB change to everyone in the room: the quickest
 * way to fill the send buffer of a client that stopped reading. `poke` is a small change, for
 * timing the room without the cost of the big frames.
 */
export const firehose = defineGame({
  name: "firehose",
  players: { min: 1, max: 4 },
  setup: () => ({ n: 0, blob: "", pokes: 0 }),
  actions: {
    poke: {
      apply(state) {
        state.pokes++;
      },
    },
    shout: {
      payload: t.object({ n: t.int({ min: 0, max: 1_000_000 }) }),
      apply(state, { n }) {
        state.n = n;
        state.blob = `${n}:${"x".repeat(FIREHOSE_BLOB)}`;
      },
    },
  },
});

/**
 * A test game with bugs on purpose: `explode` throws in `validate`, and a room created with
 * `{ broken: true }` throws in `setup`. The error text names a secret that must never reach a
 * client.
 */
export const faulty = defineGame({
  name: "faulty",
  players: { min: 1, max: 2 },
  options: t.object({ broken: t.optional(t.boolean()) }),
  setup: ({ options }) => {
    if (options.broken) throw new Error(`setup failed: ${INTERNAL_SECRET}`);
    return { count: 0 };
  },
  actions: {
    explode: {
      validate: () => {
        throw new Error(`validate failed: ${INTERNAL_SECRET}`);
      },
      apply: () => {},
    },
    bump: {
      apply(state) {
        state.count++;
      },
    },
  },
});

/** A marker that appears only in server-side errors; it must never be in a response. */
export const INTERNAL_SECRET = "db-password-hunter2";

/** The games {@linkcode startAbuseServer} adds to the example games. */
export const testGames = [firehose, faulty, tally] as const;

/**
 * The median of `values` (NaN when empty).
 *
 * @example
 * ```ts ignore
 * median([3, 1, 2, 10]); // 2.5
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The `q` quantile of `values` by the nearest-rank method (NaN when empty).
 *
 * @example
 * ```ts ignore
 * percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95); // 10
 * ```
 */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Shared pieces of the abuse suite (`test/abuse_*_test.ts`): a server whose log lines are
 * captured, a watch on unhandled rejections, test-only games, and the closing checks every
 * abuse test ends with (a well-behaved game still completes, nothing was logged as an error,
 * and the server's bookkeeping is back to zero).
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
  return {
    t,
    logs,
    unhandled,
    errors,
    finish: async (finishOptions = {}) => {
      if (!finishOptions.skipGame) await playTicTacToe(t, finishOptions.players);
      await waitFor(() => t.server.metrics.connections === 0, "every session closed");
      if (finishOptions.roomsDrain ?? true) {
        await waitFor(() => t.server.manager.size === 0, "every room disposed");
      }
      const unexpected = errors().filter((line) =>
        !(finishOptions.expectedErrors ?? []).includes(line.msg)
      );
      assert.deepEqual(unexpected, [], "no error was logged");
      assert.deepEqual(unhandled, [], "no unhandled rejection or error");
    },
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Two well-behaved clients play tic-tac-toe to a win on `t`: proof that the server still
 * serves rooms correctly after whatever the test did to it.
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

/** Length of the string a `firehose` shout puts in the state. */
export const FIREHOSE_BLOB = 32 * 1024;

/**
 * A test game whose every action broadcasts a 32 KiB change to everyone in the room: the
 * quickest way to fill the send buffer of a client that stopped reading.
 */
export const firehose = defineGame({
  name: "firehose",
  players: { min: 1, max: 4 },
  setup: () => ({ n: 0, blob: "" }),
  actions: {
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
export const testGames = [firehose, faulty] as const;

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

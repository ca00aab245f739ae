/**
 * Starts a real Arbiter server on a free port with in-memory settings, for end-to-end tests
 * over real WebSockets.
 *
 * @module
 */
import { exampleGames } from "../../games/mod.ts";
import {
  type Env,
  loadConfig,
  type RunningServer,
  silentLogger,
  type StartOptions,
  startServer,
} from "../../server/mod.ts";
import { type ArbiterClient, type ClientOptions, connect } from "../../client/mod.ts";

/** A server for one test, with a client factory; `close()` in a `finally`. */
export interface TestServer extends AsyncDisposable {
  server: RunningServer;
  client(options?: ClientOptions): ArbiterClient;
  close(): Promise<void>;
}

/** What a test may set besides the environment. */
export interface TestServerOptions {
  /** Logger of the server (default: silent); pass a capturing one to check what was logged. */
  log?: StartOptions["log"];
  /** Games to register (default: the example games). */
  games?: StartOptions["games"];
  /** Custom authentication at the upgrade. */
  authenticate?: StartOptions["authenticate"];
}

/**
 * Starts the server with `env` on top of test defaults (port 0, in-memory KV, quiet logs).
 *
 * @example
 * ```ts ignore
 * await using t = await startTestServer({ GRACE_MS: "200" });
 * const room = await t.client().joinOrCreate("tic_tac_toe");
 * ```
 */
export async function startTestServer(
  env: Env = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const config = loadConfig({
    PORT: "0",
    ARBITER_KV_PATH: ":memory:",
    LOG_LEVEL: "error",
    ...env,
  });
  const server = await startServer({
    config,
    games: options.games ?? exampleGames,
    log: options.log ?? silentLogger,
    authenticate: options.authenticate,
  });
  const close = () => server.shutdown();
  return {
    server,
    client: (options = {}) => connect(server.wsUrl, { pingIntervalMs: 0, ...options }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A port of 127.0.0.1 nobody listens on now (bound, then released): a server that is down.
 *
 * @example
 * ```ts ignore
 * const client = connect(`ws://127.0.0.1:${closedPort()}/ws`);
 * ```
 */
export function closedPort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  probe.close();
  return (probe.addr as Deno.NetAddr).port;
}

/**
 * Resolves when `predicate` holds, polling every few ms; rejects after `timeoutMs`, saying
 * `what` it waited for (a function is asked at that moment, e.g. for what was seen so far).
 */
export async function waitFor(
  predicate: () => boolean,
  what: string | (() => string),
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What {@linkcode waitForSameState} compares: a client room's status, sequence and state. */
export interface MirrorView {
  readonly status: string;
  readonly seq: number;
  readonly state: unknown;
}

/**
 * Resolves once `follower` is connected and holds exactly `leader`'s state at `leader`'s
 * sequence (e.g. after a resume), or rejects after `timeoutMs`.
 */
export async function waitForSameState(
  leader: MirrorView,
  follower: MirrorView,
  timeoutMs = 15_000,
): Promise<void> {
  await waitFor(
    () =>
      follower.status === "connected" && follower.seq === leader.seq &&
      JSON.stringify(follower.state) === JSON.stringify(leader.state),
    "the follower's state to equal the leader's",
    timeoutMs,
  );
}

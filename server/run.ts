/**
 * A server process: what `main.ts` (`deno task dev`, Deno Deploy) does, for any list of games.
 * {@linkcode startServer} is the library call (it throws, and leaves signals to the caller);
 * {@linkcode runServer} is the entry point of a process around it.
 *
 * @module
 */
import { KvInUseError } from "../persistence/mod.ts";
import { type Env, loadConfig, type ServerConfig } from "./config.ts";
import {
  KvOpenError,
  ListenError,
  type RunningServer,
  type StartOptions,
  startServer,
} from "./server.ts";

/**
 * A repeat of a stop signal sooner than this after the first is the same request. A terminal's
 * Ctrl-C reaches every process of its group, and launchers such as npm's `deno` package pass
 * what they receive on to their child as well: the server then gets one press two or three
 * times within milliseconds, and taking the copies for a second press would skip the save.
 */
export const REPEAT_SIGNAL_MS = 1000;

/**
 * Options of {@linkcode runServer}: those of {@linkcode startServer} (`games`, `authenticate`,
 * `log`...), with the settings read from `env` instead of given as a `config`.
 */
export interface RunOptions extends Omit<StartOptions, "config"> {
  /** Settings as environment variables (README, "Configuration"); default `Deno.env`. */
  env?: Env;
}

/**
 * Runs a server until SIGINT or SIGTERM, as `deno task dev` does: reads the settings from the
 * environment, serves `games`, and on a signal saves every room and exits with 0 (Deno Deploy
 * sends SIGINT and kills 5 s later). A second signal, at least {@linkcode REPEAT_SIGNAL_MS}
 * after the first, exits at once with 1: rooms are then restored from their last save. A
 * setting it cannot use, an address it cannot listen on or a KV path it cannot open is one
 * line on stderr and exit code 1, never a stack trace. Resolves with the running server.
 *
 * @example
 * ```ts ignore
 * // your_server.ts, run with `deno run -A --v8-flags=--max-semi-space-size=16 your_server.ts`
 * import { runServer } from "./server/mod.ts";
 * import { connectFour, ticTacToe } from "./games/mod.ts"; // your game modules instead
 * await runServer({ games: [ticTacToe, connectFour] });
 * ```
 */
export async function runServer(options: RunOptions): Promise<RunningServer> {
  const { env, ...start } = options;
  let config: ServerConfig;
  try {
    config = loadConfig(env ?? Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    // The message names the variable and the value: a stack trace would only hide it.
    exit(`Invalid configuration: ${error.message}`);
  }
  // Listening from the start: a signal while rooms are being restored stops the server once
  // it is up (a second one exits at once, as does one during a shutdown that hangs).
  let server: RunningServer | null = null;
  let stopAsked: number | null = null;
  const stop = async () => {
    const now = performance.now();
    if (stopAsked !== null) {
      if (now - stopAsked < REPEAT_SIGNAL_MS) return;
      exit("Stopping at once: rooms not saved by now are restored from their last save.");
    }
    stopAsked = now;
    if (!server) return console.error("Stopping once the server is up (again to stop at once).");
    await server.shutdown();
    Deno.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(signal, stop);
    } catch {
      // Platforms without this signal (SIGTERM on Windows) shut down by other means.
    }
  }
  try {
    server = await startServer({ ...start, config });
  } catch (error) {
    // Nothing was restored or saved: the process holding the port keeps its rooms.
    if (error instanceof ListenError) {
      exit(
        error.cause instanceof Deno.errors.AddrInUse
          ? `Port ${config.port} is in use (another Arbiter?); set PORT to another one.`
          : `${error.message} (check HOST and PORT)`,
      );
    }
    if (error instanceof KvOpenError) exit(`${error.message} (check ARBITER_KV_PATH)`);
    if (error instanceof KvInUseError) exit(error.message);
    throw error;
  }
  // Stopped without being asked to, by a signal or by the caller's `shutdown()` (another
  // process took its KV over): a failure.
  let asked = false;
  const { shutdown } = server;
  server = { ...server, shutdown: () => (asked = true, shutdown()) };
  void server.finished.then(() => {
    if (!asked) exit("The server stopped by itself; the log above says why.");
  });
  if (stopAsked !== null) {
    stopAsked = null;
    await stop();
  }
  return server;
}

function exit(message: string): never {
  console.error(message);
  Deno.exit(1);
}

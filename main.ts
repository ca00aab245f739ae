/**
 * `deno task dev` and Deno Deploy start here: read settings from the environment, register the
 * example games, serve, and shut down gracefully on SIGINT/SIGTERM (Deno Deploy sends SIGINT
 * and kills 5 s later).
 *
 * @module
 */
import { exampleGames } from "./games/mod.ts";
import {
  KvOpenError,
  ListenError,
  loadConfig,
  type RunningServer,
  type ServerConfig,
  startServer,
} from "./server/mod.ts";

if (import.meta.main) {
  let config: ServerConfig;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    // The message names the variable and the value: a stack trace would only hide it.
    console.error(`Invalid configuration: ${error.message}`);
    Deno.exit(1);
  }
  // Listening from the start: a signal while rooms are being restored stops the server once
  // it is up (a second one exits at once, as does one during a shutdown that hangs).
  let server: RunningServer | null = null;
  let stopping = false;
  const stop = async () => {
    if (stopping) {
      console.error("Stopping at once: rooms not saved by now are restored from their last save.");
      Deno.exit(1);
    }
    stopping = true;
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
  server = await startServer({ config, games: exampleGames }).catch((error) => {
    // Nothing was restored or saved: the process holding the port keeps its rooms.
    if (error instanceof ListenError) {
      console.error(
        error.cause instanceof Deno.errors.AddrInUse
          ? `Port ${config.port} is in use (another Arbiter?); set PORT to another one.`
          : `${error.message} (check HOST and PORT)`,
      );
      Deno.exit(1);
    }
    if (error instanceof KvOpenError) {
      console.error(`${error.message} (check ARBITER_KV_PATH)`);
      Deno.exit(1);
    }
    throw error;
  });
  if (stopping) {
    stopping = false;
    await stop();
  }
}

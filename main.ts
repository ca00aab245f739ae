/**
 * `deno task dev` and Deno Deploy start here: read settings from the environment, register the
 * example games, serve, and shut down gracefully on SIGINT/SIGTERM (Deno Deploy sends SIGINT
 * and kills 5 s later).
 *
 * @module
 */
import { exampleGames } from "./games/mod.ts";
import { ListenError, loadConfig, type ServerConfig, startServer } from "./server/mod.ts";

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
  const server = await startServer({ config, games: exampleGames }).catch((error) => {
    if (!(error instanceof ListenError)) throw error;
    // Nothing was restored or saved: the process holding the port keeps its rooms.
    console.error(
      error.cause instanceof Deno.errors.AddrInUse
        ? `Port ${config.port} is in use (another Arbiter?); set PORT to another one.`
        : `${error.message} (check HOST and PORT)`,
    );
    Deno.exit(1);
  });
  const stop = async () => {
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
}

/**
 * The body of one Worker of {@linkcode startWorkers}: an Arbiter server in its own isolate,
 * as `deno serve --parallel` runs one per CPU. It answers the test's commands by message.
 *
 * @module
 */
import { exampleGames } from "../../games/mod.ts";
import { createLogger, loadConfig, type RunningServer, startServer } from "../../server/mod.ts";

/** A command from the test. */
export type WorkerCommand =
  | { kind: "start"; env: Record<string, string> }
  | { kind: "claim"; id: number; rooms: string[]; at: number }
  | { kind: "rooms"; id: number }
  | { kind: "stop"; id: number };

let server: RunningServer | null = null;

/**
 * The Worker's global scope. (Typed here rather than with `lib="deno.worker"`: a lib reference
 * would change the globals of every file `deno check` checks, the pages' DOM types included.)
 */
const scope = self as unknown as {
  name: string;
  postMessage(message: unknown): void;
  onmessage: ((event: MessageEvent<WorkerCommand>) => void) | null;
};

scope.onmessage = async (event: MessageEvent<WorkerCommand>) => {
  const command = event.data;
  try {
    switch (command.kind) {
      case "start": {
        const config = loadConfig({
          PORT: "0",
          HOST: "127.0.0.1",
          LOG_LEVEL: "error",
          ...command.env,
        });
        server = await startServer({
          config,
          games: exampleGames,
          // Errors show in the test's output, tagged with the Worker.
          log: createLogger(config.logLevel, console.error, { worker: scope.name }),
        });
        scope.postMessage({
          kind: "started",
          port: server.port,
          instance: server.cluster?.instance,
        });
        return;
      }
      case "claim": {
        // Every worker starts its claims at the same moment, to race for real.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, command.at - Date.now())));
        const results = await Promise.all(
          command.rooms.map((room) => server!.cluster!.leases.claim(room)),
        );
        scope.postMessage({ kind: "reply", id: command.id, value: results.map((r) => r.ok) });
        return;
      }
      case "rooms":
        scope.postMessage({
          kind: "reply",
          id: command.id,
          value: server!.manager.list({ localOnly: true }).map((room) => room.id),
        });
        return;
      case "stop":
        await server?.shutdown();
        scope.postMessage({ kind: "reply", id: command.id, value: null });
        return;
    }
  } catch (error) {
    scope.postMessage({ kind: "failed", error: String((error as Error)?.stack ?? error) });
  }
};

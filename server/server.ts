/**
 * Starts an Arbiter server: room manager, routes, WebSocket sessions, and a graceful
 * shutdown that closes every socket with 1012 so clients resume elsewhere or after restart.
 *
 * @module
 */
import { CLOSE_CODES } from "../protocol/mod.ts";
import { type GameDefinition, RoomManager } from "../rooms/mod.ts";
import { type AppOptions, createApp } from "./app.ts";
import type { ServerConfig } from "./config.ts";
import { createLogger, type Logger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import type { SocketSession } from "./socket_session.ts";

/** Options of {@linkcode startServer}. */
export interface StartOptions {
  config: ServerConfig;
  // deno-lint-ignore no-explicit-any
  games: readonly GameDefinition<any, any, any>[];
  /** Defaults to a JSON-lines logger at `config.logLevel`. */
  log?: Logger;
  /** Custom authentication at the WebSocket upgrade (see `AppOptions.authenticate`). */
  authenticate?: AppOptions["authenticate"];
  /** Called once the server listens (the ready line is logged either way). */
  onListen?: (url: URL) => void;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8000/`. */
  url: URL;
  /** The WebSocket endpoint, e.g. `ws://127.0.0.1:8000/ws`. */
  wsUrl: string;
  port: number;
  manager: RoomManager;
  metrics: Metrics;
  /** Stops accepting, closes sockets with 1012, disposes rooms; resolves when done. */
  shutdown(): Promise<void>;
  /** Resolves when the HTTP server has stopped. */
  finished: Promise<void>;
}

/**
 * Starts listening and resolves once the port is bound.
 *
 * @example
 * ```ts ignore
 * import { loadConfig } from "./config.ts";
 * import { exampleGames } from "../games/mod.ts";
 * const server = await startServer({ config: loadConfig({ PORT: "0" }), games: exampleGames });
 * console.log(server.wsUrl);
 * await server.shutdown();
 * ```
 */
export function startServer(options: StartOptions): Promise<RunningServer> {
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const manager = new RoomManager({
    games: options.games,
    graceMs: config.graceMs,
    finishedRetentionMs: config.finishedRetentionMs,
    idleDisposeMs: config.idleRoomMs,
    maxRooms: config.maxRooms,
    ringSize: config.ringSize,
    // Game code that throws is logged here (with its stack); clients only get `internal`.
    onError: (error) =>
      log.error("room error", { error: String((error as Error)?.stack ?? error) }),
  });
  const sockets = new Set<WebSocket>();
  let draining = false;
  const app = createApp({
    manager,
    config,
    log,
    metrics,
    authenticate: options.authenticate,
    isDraining: () => draining,
    onSession: (_session: SocketSession, socket: WebSocket) => {
      sockets.add(socket);
      socket.addEventListener("close", () => sockets.delete(socket));
    },
  });

  const server = Deno.serve({
    port: config.port,
    hostname: config.host,
    // The ready line below replaces Deno's own.
    onListen: () => {},
  }, (request, info) => app.fetch(request, { info }));
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = new URL(`http://${host}:${addr.port}/`);
  log.info(`Arbiter listening on ${url}`, { url: url.href, games: manager.games.size });
  options.onListen?.(url);

  let shuttingDown: Promise<void> | null = null;
  const shutdown = () =>
    shuttingDown ??= (async () => {
      draining = true;
      log.info("shutting down", { sockets: sockets.size });
      const closed = [...sockets].map((socket) =>
        new Promise<void>((resolve) => {
          socket.addEventListener("close", () => resolve(), { once: true });
          try {
            socket.close(CLOSE_CODES.service_restart, "server_restart");
          } catch {
            resolve();
          }
        })
      );
      // Clients answer the close handshake within milliseconds; do not wait on dead peers.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(closed),
        new Promise((resolve) => timer = setTimeout(resolve, 2000)),
      ]);
      clearTimeout(timer);
      await manager.dispose();
      await server.shutdown();
    })();
  return Promise.resolve({
    url,
    wsUrl: `ws://${host}:${addr.port}/ws`,
    port: addr.port,
    manager,
    metrics,
    finished: server.finished,
    shutdown,
  });
}

/**
 * Starts an Arbiter server: Deno KV and durable rooms (restored at boot), room manager,
 * routes, WebSocket sessions, and a graceful shutdown that stops every room, closes its
 * sockets with 1012 so clients resume after the restart, and saves every room.
 *
 * @module
 */
import { Cluster, combineHooks } from "../cluster/mod.ts";
import {
  DurableRooms,
  KvInUseError,
  KvRoomStore,
  openKv,
  OwnerClaim,
  type OwnerRecord,
  type RestoreReport,
} from "../persistence/mod.ts";
import { CLOSE_CODES } from "../protocol/mod.ts";
import { type GameDefinition, RoomManager, type RoomManagerOptions } from "../rooms/mod.ts";
import { type AppOptions, createApp } from "./app.ts";
import type { ServerConfig } from "./config.ts";
import { listen, type Listening } from "./listen.ts";
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
  /** An open Deno KV to use instead of opening `config.kvPath` (the caller closes it). */
  kv?: Deno.Kv;
}

/**
 * {@linkcode startServer} could not listen on `host:port`: the port is taken (`cause` is a
 * `Deno.errors.AddrInUse`), the host is no address of this machine or does not resolve, or the
 * port needs privileges. `cause` is Deno's error. Nothing was restored or saved.
 *
 * @example
 * ```ts ignore
 * const server = await startServer({ config, games }).catch((error) => {
 *   if (error instanceof ListenError) console.error(`${error.message} (check HOST and PORT)`);
 *   throw error;
 * });
 * ```
 */
export class ListenError extends Error {
  /** The interface asked for (`HOST`). */
  readonly host: string;
  /** The port asked for (`PORT`). */
  readonly port: number;

  constructor(host: string, port: number, cause: unknown) {
    super(`Cannot listen on ${host}:${port}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "ListenError";
    this.host = host;
    this.port = port;
  }
}

/**
 * {@linkcode startServer} could not open Deno KV at `path` (`ARBITER_KV_PATH`): not a
 * database, a folder, a folder it cannot create, no permission, or a KV server that does not
 * answer. `cause` is Deno's error. Nothing was restored.
 *
 * @example
 * ```ts ignore
 * const server = await startServer({ config, games }).catch((error) => {
 *   if (error instanceof KvOpenError) console.error(`${error.message} (check ARBITER_KV_PATH)`);
 *   throw error;
 * });
 * ```
 */
export class KvOpenError extends Error {
  /** The path or URL asked for (`""`: the platform's default database). */
  readonly path: string;

  constructor(path: string, cause: unknown) {
    const where = path === "" ? "the default database" : `"${path}"`;
    super(`Cannot open Deno KV at ${where}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "KvOpenError";
    this.path = path;
  }
}

/** Saves at shutdown get this long: Deno Deploy kills a process 5 s after SIGINT. */
const SHUTDOWN_SAVE_MS = 4000;
/**
 * The whole shutdown gets this long: past it, what still waits on KV (a cluster's lease
 * release, durable writes) is abandoned and the process stops anyway, as on a crash.
 */
const SHUTDOWN_MS = 4500;

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8000/`. */
  url: URL;
  /** The WebSocket endpoint, e.g. `ws://127.0.0.1:8000/ws`. */
  wsUrl: string;
  port: number;
  manager: RoomManager;
  metrics: Metrics;
  /** Durable rooms: saving, the action log, expiry. */
  durable: DurableRooms;
  /** The rooms brought back at boot (in a cluster: the rooms nobody ran, adopted). */
  restored: RestoreReport;
  /** This instance's part in a cluster (`ARBITER_CLUSTER=kv`), or null when it runs alone. */
  cluster: Cluster | null;
  /**
   * Stops accepting, stops every room and closes its sockets with 1012, saves every room
   * (at most 4 s), closes KV; resolves when done.
   */
  shutdown(): Promise<void>;
  /** Resolves when the HTTP server has stopped. */
  finished: Promise<void>;
}

/**
 * Binds the port, then restores the stored rooms (requests that arrive meanwhile wait), and
 * resolves once the server is ready. A port that cannot be bound (taken, or a `host` that is
 * not this machine's) rejects with a {@linkcode ListenError} before any room is read.
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
export async function startServer(options: StartOptions): Promise<RunningServer> {
  const { config } = options;
  const log = options.log ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  let kv: Deno.Kv;
  try {
    kv = options.kv ?? await openKv(config.kvPath);
  } catch (error) {
    throw new KvOpenError(config.kvPath, error);
  }
  // Alone, this process must be the only one on its KV: two would each restore and save the same
  // rooms, and overwrite each other's moves. (An in-memory KV is this process's own.)
  // Taken once the port is bound (a busy port is the likelier mistake, and says so at once).
  // With a KV of the caller's own (`options.kv`), so is making sure no other process uses it.
  const claims = config.cluster !== "kv" && config.kvPath !== ":memory:" && !options.kv;
  let claim = null as OwnerClaim | null; // (set in the restore below)
  // Until the server is up, a claim lost (during the restore) fails the start below.
  let stopForLostClaim = (holder: OwnerRecord | null) => void (lostTo = holder);
  let lostTo: OwnerRecord | null | undefined;
  const cluster = config.cluster === "kv"
    ? new Cluster({
      kv,
      leaseMs: config.leaseMs,
      pollMs: config.clusterPollMs,
      joinTimeoutMs: config.joinTimeoutMs,
      log,
    })
    : null;
  const durable = new DurableRooms({
    store: new KvRoomStore(kv, {
      onWrite: (ms) => metrics.kvWrite(ms),
      fence: cluster?.fence ?? (claims ? (room) => claim?.fence(room) ?? null : undefined),
    }),
    keep: cluster?.keep,
    durability: config.durability,
    snapshotEveryActions: config.snapshotEveryActions,
    snapshotEveryMs: config.snapshotEveryMs,
    finishedRetentionMs: config.finishedRetentionMs,
    roomDataTtlMs: config.roomDataTtlMs,
    log,
  });
  // Each room's life in the log, with its id, so a log query can follow one game.
  const lifecycle: Partial<RoomManagerOptions> = {
    onRoomCreated: (room, how) => log.info(`room ${how}`, { room: room.id, game: room.game.name }),
    onRoomChanged: (room, change) => {
      if (change === "finished") {
        log.info("game over", { room: room.id, game: room.game.name, outcome: room.outcome });
      }
    },
    onRoomDisposed: (room, reason) =>
      log.info("room disposed", { room: room.id, game: room.game.name, reason }),
  };
  const persistence = cluster ? combineHooks(cluster.hooks(), durable.hooks()) : durable.hooks();
  const manager = new RoomManager({
    // In a cluster, a room is claimed before the durable layer first saves it.
    ...combineHooks(persistence, lifecycle),
    games: options.games,
    graceMs: config.graceMs,
    finishedRetentionMs: config.finishedRetentionMs,
    idleDisposeMs: config.idleRoomMs,
    maxRooms: config.maxRooms,
    ringSize: config.ringSize,
    actionLimits: { rate: config.actionRate, burst: config.actionBurst },
    maxSpectators: config.maxSpectators,
    // Game code that throws is logged here (with its stack); clients only get `internal`.
    onError: (error, room) =>
      log.error("room error", {
        room: room.id,
        game: room.game,
        error: String((error as Error)?.stack ?? error),
      }),
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
    join: cluster?.join,
    registered: cluster?.registered,
    onSession: (_session: SocketSession, socket: WebSocket) => {
      sockets.add(socket);
      socket.addEventListener("close", () => sockets.delete(socket));
    },
  });

  // The port is bound before the stored rooms are touched: a second process started on a busy
  // port fails here instead of restoring (and re-saving) the rooms the running one owns.
  // Requests that arrive meanwhile wait for the restore.
  let restoring: Promise<RestoreReport> | null = null;
  let server: Listening;
  try {
    server = listen(
      {
        port: config.port,
        hostname: config.host,
        noDelay: config.tcpNoDelay,
        // A connection that has not even sent its upgrade request is no nearer to a join.
        idleTimeoutMs: config.joinTimeoutMs,
        // Room for as many upgrade requests (over the socket cap they get a 429 answer, not a
        // reset) and page or API requests beside a full set of sockets.
        maxConnectionsPerAddress: 2 * config.maxConnectionsPerIp,
        onAcceptError: (error) => log.error("accept failed; retrying", { error: String(error) }),
      },
      (request, info) =>
        restoring
          ? restoring.then(() => app.fetch(request, { info }))
          : app.fetch(request, { info }),
    );
  } catch (error) {
    if (!options.kv) kv.close();
    // Deno's own errors name neither the address nor the settings behind it.
    throw new ListenError(config.host, config.port, error);
  }
  // Alone, every stored room is this server's; in a cluster, only those nobody else runs.
  restoring = cluster
    ? cluster.start(manager, durable).then((rooms) => ({
      restored: rooms,
      expired: [],
      failed: [],
    }))
    : (async () => {
      if (claims) {
        claim = await OwnerClaim.take(kv, {
          onWait: (holder) =>
            log.info("KV claimed by another process; waiting for its heartbeat", {
              pid: holder.pid,
            }),
          onTakeOver: (previous) =>
            log.warn("took over the KV of a process that stopped without letting go", {
              pid: previous.pid,
            }),
          onLost: (holder) => stopForLostClaim(holder),
        });
      }
      return await durable.restore(manager);
    })();
  let restored: RestoreReport;
  try {
    restored = await restoring;
    // Taken over while restoring (a long restore can look like a dead process to another):
    // every room write would fail from here on. Read back, as no heartbeat may have run since.
    if (claim && lostTo === undefined) await claim.confirm();
    if (lostTo !== undefined) throw new KvInUseError(lostTo);
  } catch (error) {
    try {
      // Whatever came back stops as for a restart: its stored data stays as it was.
      manager.dispose("server_restart");
      await cluster?.stop();
      await durable.close().finally(() => claim?.release());
      await server.shutdown();
    } catch {
      // The restore's error is the one to report.
    } finally {
      if (!options.kv) kv.close();
    }
    throw error;
  } finally {
    restoring = null;
  }
  durable.startSweeping();
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = new URL(`http://${host}:${addr.port}/`);
  log.info(`Arbiter listening on ${url}`, {
    url: url.href,
    games: manager.games.size,
    kv: config.kvPath || "platform default",
    durability: config.durability,
    tcpNoDelay: server.noDelay,
    restoredRooms: restored.restored.length,
    cluster: cluster?.instance ?? "off",
  });
  options.onListen?.(url);

  let shuttingDown: Promise<void> | null = null;
  const shutdown = () =>
    shuttingDown ??= (async () => {
      const deadline = Date.now() + SHUTDOWN_MS;
      draining = true;
      // A process started meanwhile (a restart, a rolling update) waits for the release.
      claim?.stopping();
      log.info("shutting down", { sockets: sockets.size, rooms: manager.size });
      // Stopping the rooms first freezes them (members get `server_restart` and 1012), so the
      // snapshots below hold everything any client was told.
      manager.dispose("server_restart");
      const saved = durable.flush(SHUTDOWN_SAVE_MS);
      const closed = [...sockets].map((socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
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
      const report = await saved;
      log.info("rooms saved", { ...report });
      const released = (async () => {
        // Saved: other instances may take the rooms now rather than after the lease time.
        try {
          await cluster?.stop();
          await durable.close();
        } finally {
          await claim?.release();
        }
      })().catch((error) => log.error("shutdown: releasing KV failed", { error: String(error) }));
      const late = await Promise.race([
        released.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()));
        }),
      ]);
      clearTimeout(timer);
      if (late) {
        // The claim lapses by itself: the next process takes it after three missed heartbeats.
        claim?.stopHeartbeat();
        log.warn("shutdown: KV did not answer in time; stopping without it", {
          ms: SHUTDOWN_MS,
          cluster: cluster !== null,
        });
      }
      if (!options.kv) {
        // Closing waits for the commit in flight, which SQLite holds on a locked file for up
        // to 5 s: when late, the KV closes once its writes are done, without this waiting.
        const close = () => {
          try {
            kv.close();
          } catch {
            // Closed already: nothing left to release.
          }
        };
        if (late) void released.finally(close);
        else close();
      }
      await server.shutdown();
    })();
  // Another process took this one's KV (this one stalled long enough to look dead): its room
  // writes fail from now on, so it stops rather than acknowledge moves it cannot keep.
  stopForLostClaim = (holder) => {
    log.error("another process took over this KV; stopping (rooms are not saved from here)", {
      holder: holder?.pid ?? null,
    });
    void shutdown();
  };
  return {
    url,
    wsUrl: `ws://${host}:${addr.port}/ws`,
    port: addr.port,
    manager,
    metrics,
    durable,
    restored,
    cluster,
    finished: server.finished,
    shutdown,
  };
}

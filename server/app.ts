/**
 * The HTTP routes (Hono): health, games and rooms API, the WebSocket endpoint, the client
 * bundle, pages and metrics. HTTP errors are JSON `{ code, message }`.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { secureHeaders } from "hono/secure-headers";
import {
  ArbiterError,
  CLOSE_CODES,
  parseRoomListQuery,
  ROOM_LIST_LIMITS,
  SUBPROTOCOL,
  type Value,
} from "../protocol/mod.ts";
import type { ConnectionInfo } from "./listen.ts";
import type { RoomManager } from "../rooms/mod.ts";
import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { renderPrometheus } from "./prometheus.ts";
import { type AuthUser, type SessionContext, SocketSession } from "./socket_session.ts";
import { originAllowed } from "./origin.ts";
import { signedTokenVerifier } from "./tokens.ts";
import { dashboardStats } from "../web/stats.ts";
import { webAssets } from "../web/mod.ts";

/** Connection details Deno.serve passes to the handler. */
export interface AppEnv {
  Bindings: { info?: ConnectionInfo };
}

/** What the routes need. */
export interface AppOptions {
  manager: RoomManager;
  config: ServerConfig;
  log: Logger;
  metrics: Metrics;
  /**
   * Custom authentication at the WebSocket upgrade: return the user, or null to refuse with
   * 401. Runs before the built-in signed tokens (which need `ARBITER_SECRET`).
   */
  authenticate?: (request: Request) => AuthUser | null | Promise<AuthUser | null>;
  /** Called for every socket session once its socket is open (the server tracks them for shutdown). */
  onSession?: (session: SocketSession, socket: WebSocket) => void;
  /** When true, new WebSocket upgrades get 503 (the server is shutting down). */
  isDraining?: () => boolean;
  /** Routes joins to rooms on any instance (`cluster/`); default `manager.join`. */
  join?: SessionContext["join"];
  /**
   * Resolves once a room created over HTTP can be joined on every instance (a cluster's
   * `registered`); `POST /api/rooms` answers only then.
   */
  registered?: (room: string) => Promise<void>;
}

/**
 * Largest JSON body the HTTP API reads, bytes (the same bound as a WebSocket frame); larger
 * gets 413 `payload_too_large`.
 *
 * @example
 * ```ts
 * import { MAX_BODY_BYTES } from "./app.ts";
 * console.log(MAX_BODY_BYTES); // 16384
 * ```
 */
export const MAX_BODY_BYTES = 16 * 1024;

/**
 * The HTTP status of each error code an HTTP route answers with (anything else is 400). An
 * unexpected error, or a game's own code failing, is 500 `internal`. PROTOCOL.md section 10
 * lists them.
 *
 * @example
 * ```ts
 * import { HTTP_STATUS_BY_CODE } from "./app.ts";
 * console.log(HTTP_STATUS_BY_CODE.forbidden_origin); // 403
 * ```
 */
export const HTTP_STATUS_BY_CODE: Readonly<
  Record<string, 400 | 401 | 403 | 404 | 413 | 429 | 500 | 503>
> = {
  room_not_found: 404,
  game_not_found: 404,
  not_found: 404,
  bad_options: 400,
  bad_request: 400,
  unauthorized: 401,
  forbidden_origin: 403,
  too_many_rooms: 503,
  too_many_connections: 429,
  payload_too_large: 413,
  server_restart: 503,
  internal: 500,
};

/**
 * Builds the Hono app. `startServer` serves it with `listen` (`server/listen.ts`).
 *
 * @example
 * ```ts ignore
 * const app = createApp({ manager, config, log, metrics });
 * Deno.serve({ port: 0 }, (req, info) => app.fetch(req, { info }));
 * ```
 */
export function createApp(options: AppOptions): Hono<AppEnv> {
  const { manager, config, log, metrics } = options;
  const app = new Hono<AppEnv>();
  const connectionsByIp = new Map<string, number>();
  const verifyToken = config.secret ? signedTokenVerifier(config.secret) : null;
  const startedAt = Date.now();

  // Registered first, so it runs outermost and has the last word over the secure headers:
  // game pages on other origins import the client library from here (their WebSocket is
  // still checked against ALLOWED_ORIGINS).
  app.use("/client.js", async (c, next) => {
    await next();
    c.res.headers.set("access-control-allow-origin", "*");
    c.res.headers.set("cross-origin-resource-policy", "cross-origin");
  });
  app.use(
    "*",
    secureHeaders({
      // Pages load only our own scripts and talk only to our own origin.
      contentSecurityPolicy: {
        defaultSrc: ["'self'"],
        connectSrc: ["'self'", "ws:", "wss:"],
        imgSrc: ["'self'", "data:"],
        styleSrc: ["'self'", "'unsafe-inline'"],
      },
      crossOriginEmbedderPolicy: false,
    }),
  );

  app.onError((error, c) => {
    if (error instanceof ArbiterError) return jsonError(c, error.code, error.message);
    // No stack traces or internals leave the server; they go to the log.
    log.error("http handler failed", { path: c.req.path, error: String(error?.stack) });
    return c.json({ code: "internal", message: "Unexpected server error." }, 500);
  });
  app.notFound((c) => jsonError(c, "not_found", `No route for ${c.req.method} ${c.req.path}.`));

  // A stopping instance answers 503, so a load balancer's health check sends no one to it.
  app.get("/health", (c) =>
    c.json({
      status: options.isDraining?.() ? "draining" : "ok",
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      rooms: manager.count(),
      connections: metrics.connections,
    }, options.isDraining?.() ? 503 : 200));

  app.get("/api/games", (c) =>
    c.json(
      [...manager.games.values()].map((game) => ({
        name: game.name,
        players: game.players,
        spectators: game.spectators !== false,
        realtime: Boolean(game.tick),
        actions: Object.keys(game.actions),
      })),
    ));

  app.get("/api/rooms", (c) => {
    // Browser games served from an allowed origin may read the lobby (a simple GET: no
    // preflight), its refusals included; the total tells them whether there is another page.
    const origin = c.req.header("origin");
    if (origin && originAllowed(origin, config.allowedOrigins)) {
      c.header("access-control-allow-origin", origin);
      c.header("access-control-expose-headers", "x-total-count");
    }
    c.header("vary", "origin");
    const query = parseRoomListQuery(new URL(c.req.url).searchParams);
    if (typeof query === "string") return jsonError(c, "bad_request", query);
    const { offset = 0, limit = ROOM_LIST_LIMITS.default, ...filters } = query;
    const rooms = manager.list({ ...filters, publicOnly: true });
    c.header("x-total-count", String(rooms.length));
    return c.json(rooms.slice(offset, offset + limit));
  });

  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      jsonError(c, "payload_too_large", `Request bodies are limited to ${MAX_BODY_BYTES} bytes.`),
  });

  /**
   * With authentication on, creating rooms over HTTP needs it too (the `authenticate` option,
   * or `Authorization: Bearer <signed token>`): rooms count against `MAX_ROOMS`, so anonymous
   * clients must not be able to fill the process with them.
   */
  const mayCreate = async (request: Request): Promise<boolean> => {
    if (options.authenticate) return (await options.authenticate(request)) !== null;
    if (!verifyToken) return true;
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "");
    return (await verifyToken(bearer?.[1])) !== null;
  };

  app.post("/api/rooms", limitBody, async (c) => {
    // Pages of other sites must not create rooms in their visitors' name: the same origins as
    // for sockets, and a JSON content type, which a cross-site form cannot send unasked.
    const origin = c.req.header("origin") ?? null;
    if (!originAllowed(origin, config.allowedOrigins)) {
      return jsonError(c, "forbidden_origin", `Origin ${origin} may not create rooms here.`);
    }
    const contentType = c.req.header("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(contentType)) {
      return jsonError(c, "bad_request", "Send the body as Content-Type: application/json.");
    }
    // JSON is UTF-8 (RFC 8259): a body declared otherwise would be read as something it is not.
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
    if (charset !== undefined && charset.toLowerCase() !== "utf-8") {
      return jsonError(c, "bad_request", "Send the JSON body as UTF-8 (charset=utf-8, or none).");
    }
    if (!(await mayCreate(c.req.raw))) {
      return jsonError(c, "unauthorized", "Authentication failed.");
    }
    // As for sockets: a room made now would be stopped at once; the client should retry.
    if (options.isDraining?.()) {
      return jsonError(c, "server_restart", "The server is shutting down; retry shortly.");
    }
    let body: { game?: unknown; options?: unknown; private?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return jsonError(c, "bad_request", 'Send a JSON body like {"game": "tic_tac_toe"}.');
    }
    if (typeof body?.game !== "string") {
      return jsonError(c, "bad_request", 'The body needs "game": the name of a registered game.');
    }
    // null is no options, as in a WebSocket join: the game's defaults.
    if (body.options !== undefined && body.options !== null && !isPlainObject(body.options)) {
      return jsonError(c, "bad_request", '"options" must be a JSON object (or null for none).');
    }
    if (body.private !== undefined && typeof body.private !== "boolean") {
      return jsonError(c, "bad_request", '"private" must be true or false.');
    }
    const gameOptions = (body.options ?? undefined) as Record<string, Value> | undefined;
    const room = await manager.create(body.game, gameOptions, {
      private: body.private === true,
    });
    await options.registered?.(room.id);
    return c.json({ id: room.id, game: body.game }, 201);
  });

  app.get("/api/rooms/:id", (c) => {
    const id = c.req.param("id");
    const summary = manager.summary(id);
    if (!summary) {
      const shown = id.length > 64 ? `${id.slice(0, 64)}…` : id;
      return jsonError(c, "room_not_found", `No room with id ${JSON.stringify(shown)}.`);
    }
    return c.json(summary);
  });

  // The /dashboard page polls this every second.
  app.get("/api/stats", (c) => {
    c.header("cache-control", "no-store");
    return c.json(dashboardStats(metrics, manager, startedAt));
  });

  app.get("/metrics", (c) => {
    c.header("content-type", "text/plain; version=0.0.4");
    return c.body(renderPrometheus(metrics, manager));
  });

  app.get("/ws", async (c) => {
    const request = c.req.raw;
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return jsonError(c, "bad_request", "This endpoint speaks WebSocket (Upgrade: websocket).");
    }
    if (options.isDraining?.()) {
      return jsonError(c, "server_restart", "The server is shutting down; retry shortly.");
    }
    const origin = request.headers.get("origin");
    if (!originAllowed(origin, config.allowedOrigins)) {
      log.warn("forbidden origin", { origin });
      return jsonError(c, "forbidden_origin", `Origin ${origin} may not open a socket here.`);
    }
    const ip = c.env?.info?.remoteAddr && "hostname" in c.env.info.remoteAddr
      ? c.env.info.remoteAddr.hostname
      : "unknown";
    const open = connectionsByIp.get(ip) ?? 0;
    if (open >= config.maxConnectionsPerIp) {
      return jsonError(
        c,
        "too_many_connections",
        `At most ${config.maxConnectionsPerIp} sockets per address.`,
      );
    }
    // Hold the slot from here on: parallel upgrades waiting on `authenticate` must not all
    // pass the check above.
    connectionsByIp.set(ip, open + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (connectionsByIp.get(ip) ?? 1) - 1;
      if (left <= 0) connectionsByIp.delete(ip);
      else connectionsByIp.set(ip, left);
    };
    let user: AuthUser | null = null;
    if (options.authenticate) {
      try {
        user = await options.authenticate(request);
      } catch (error) {
        release();
        throw error;
      }
      if (!user) {
        release();
        return jsonError(c, "unauthorized", "Authentication failed.");
      }
    }
    const offered = request.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim());
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(request, {
        // Echo our subprotocol only when asked: browsers fail the handshake on an unasked one.
        protocol: offered?.includes(SUBPROTOCOL) ? SUBPROTOCOL : undefined,
        idleTimeout: config.heartbeatSeconds,
      });
    } catch {
      // A malformed handshake (no Sec-WebSocket-Key, wrong version): the client's fault.
      release();
      return jsonError(c, "bad_request", "Not a valid WebSocket upgrade request.");
    }
    const { socket, response } = upgraded;
    // The slot is freed when Deno reports the close, not when the session gives up: a peer
    // that never completes the close handshake still holds a connection.
    socket.addEventListener("close", release, { once: true });
    // A peer that left before the upgrade response never opens the socket nor closes it.
    c.env?.info?.completed?.catch(() => {
      if (socket.readyState === WebSocket.CONNECTING) release();
    });
    const session = new SocketSession(socket, {
      manager,
      config,
      log,
      metrics,
      verifyToken: user ? null : verifyToken,
      user,
      join: options.join,
    });
    // Handed over once open: a socket whose upgrade response never reached the peer never
    // opens nor fires `close`, and whoever tracked it would hold it forever.
    socket.addEventListener("open", () => {
      if (options.isDraining?.()) {
        // Opened after the shutdown closed every tracked socket.
        socket.close(CLOSE_CODES.service_restart, "server_restart");
        return;
      }
      options.onSession?.(session, socket);
    }, { once: true });
    return response;
  });

  for (const asset of webAssets) {
    app.get(asset.path, () =>
      new Response(asset.body as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": asset.contentType, "cache-control": "no-cache" },
      }));
  }

  return app;
}

function jsonError(c: Context, code: string, message: string): Response {
  return c.json({ code, message }, HTTP_STATUS_BY_CODE[code] ?? 400);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Listening for HTTP with Nagle's algorithm off. Game traffic is many small frames; with
 * Nagle on, a frame written while an earlier one is unacknowledged waits for the peer's
 * delayed ACK (up to 40 ms on Linux), which dominated Arbiter's latency percentiles (see
 * docs/PERFORMANCE.md). `Deno.serve` (Deno 2.5) cannot set `TCP_NODELAY`, so when asked this
 * accepts with `Deno.listen`, sets it per connection and serves each one with
 * `Deno.serveHttp`. Elsewhere (Deno Deploy, whose edge terminates TCP, or a runtime without
 * `Deno.serveHttp`) it is plain `Deno.serve`.
 *
 * @module
 */

/** What a request handler learns about the connection. */
export interface ConnectionInfo {
  remoteAddr: Deno.NetAddr;
  /**
   * Settles once the response went out, or rejects when it could not be delivered (the peer
   * left first): a WebSocket whose upgrade response was never delivered never opens and never
   * fires `close`, so whoever counted it must let go here.
   */
  completed: Promise<void>;
}

/** A request handler, as for `Deno.serve`. */
export type Handler = (request: Request, info: ConnectionInfo) => Response | Promise<Response>;

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  port: number;
  hostname: string;
  /** Set `TCP_NODELAY` on every accepted connection (when the runtime allows). */
  noDelay: boolean;
  /**
   * A connection that sends no request for this long (before its first one, or between
   * keep-alive requests), or whose request is not answered within it (a body sent too slowly),
   * is closed (default 10 s), so idle TCP connections cannot pile up until the process runs
   * out of file descriptors. Upgraded WebSockets are not affected. Only with `noDelay`
   * (`Deno.serve` has its own handling of idle connections, not of slow bodies).
   */
  idleTimeoutMs?: number;
  /**
   * Plain HTTP connections (not yet, or never, upgraded to a WebSocket) one address may hold
   * open at once; more are closed as soon as they are accepted, so that one client cannot take
   * every file descriptor. Default: no limit. Only with `noDelay`.
   */
  maxConnectionsPerAddress?: number;
  /**
   * Told, at most once a second, when accepting a connection failed (e.g. out of file
   * descriptors); accepting is retried. Only with `noDelay`.
   */
  onAcceptError?: (error: unknown) => void;
}

/** A listening server. */
export interface Listening {
  addr: Deno.NetAddr;
  /** Whether accepted connections have `TCP_NODELAY` set. */
  noDelay: boolean;
  /** Stops accepting and closes idle connections; resolves once stopped. */
  shutdown(): Promise<void>;
  /** Resolves once the server has stopped. */
  finished: Promise<void>;
}

interface RequestEventLike {
  request: Request;
  respondWith(response: Response | Promise<Response>): Promise<void>;
}

interface HttpConnLike extends AsyncIterable<RequestEventLike> {
  close(): void;
}

type ServeHttp = (conn: Deno.Conn) => HttpConnLike;

/**
 * Starts serving `handler` and returns once the port is bound.
 *
 * @example
 * ```ts
 * import { listen } from "./listen.ts";
 * const server = listen(
 *   { port: 0, hostname: "127.0.0.1", noDelay: true },
 *   () => new Response("hello"),
 * );
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * console.log(await response.text()); // "hello"
 * await server.shutdown();
 * ```
 */
export function listen(options: ListenOptions, handler: Handler): Listening {
  // Deprecated, but the only way to serve a connection whose socket options we set.
  const serveHttp = (Deno as unknown as { serveHttp?: ServeHttp }).serveHttp;
  if (options.noDelay && typeof serveHttp === "function") {
    return listenNoDelay(options, handler, serveHttp);
  }
  const server = Deno.serve({
    port: options.port,
    hostname: options.hostname,
    onListen: () => {},
  }, (request, info) => handler(request, info));
  return {
    addr: server.addr,
    noDelay: false,
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}

function listenNoDelay(options: ListenOptions, handler: Handler, serveHttp: ServeHttp): Listening {
  const listener = Deno.listen({ port: options.port, hostname: options.hostname });
  const connections = new Set<HttpConnLike>();
  const idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
  const maxPerAddress = options.maxConnectionsPerAddress ?? Infinity;
  const openByAddress = new Map<string, number>();
  let closed = false;
  const serveConnection = async (conn: Deno.Conn) => {
    const remoteAddr = conn.remoteAddr as Deno.NetAddr;
    const address = remoteAddr.hostname;
    const open = openByAddress.get(address) ?? 0;
    if (open >= maxPerAddress) {
      conn.close();
      return;
    }
    openByAddress.set(address, open + 1);
    const release = () => {
      const left = (openByAddress.get(address) ?? 1) - 1;
      if (left > 0) openByAddress.set(address, left);
      else openByAddress.delete(address);
    };
    let http: HttpConnLike;
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
      http = serveHttp(conn);
    } catch {
      release();
      conn.close();
      return;
    }
    connections.add(http);
    const idle = () => setTimeout(() => closeQuietly(http), idleTimeoutMs);
    let silent: ReturnType<typeof setTimeout> | undefined = idle();
    try {
      for await (const event of http) {
        // The handler gets as long to answer (a body dripping in byte by byte would otherwise
        // hold the connection for good): a request still unanswered then is dropped with it.
        clearTimeout(silent);
        silent = idle();
        let delivered!: () => void;
        let lost!: (error: unknown) => void;
        const completed = new Promise<void>((resolve, reject) => {
          delivered = resolve;
          lost = reject;
        });
        completed.catch(() => {});
        let upgraded = false;
        const response = respond(handler, event.request, { remoteAddr, completed }).then((r) => {
          clearTimeout(silent);
          upgraded = r.status === 101;
          return r;
        });
        // Requests on one connection are answered in order, as HTTP/1.1 requires.
        await event.respondWith(response).then(delivered, lost);
        // An upgraded WebSocket has its own heartbeat, and its connection serves no more
        // requests: asking for one would only fail (an error built per WebSocket, 2-3 % of the
        // server's CPU when players come and go). A keep-alive connection waits again.
        if (upgraded) break;
        silent = idle();
      }
    } catch {
      // The peer went away mid-request.
    } finally {
      // From an upgrade on, the WebSocket is counted by whoever accepted it (the socket limit
      // per address), not here.
      clearTimeout(silent);
      connections.delete(http);
      release();
    }
  };
  const finished = (async () => {
    let retryMs = 0;
    let failedAt = -Infinity;
    let reportedAt = -Infinity;
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed) return;
        // Out of file descriptors (EMFILE) or another passing failure: the server must not
        // stop accepting for good, so it waits (10 ms, doubling up to 1 s while failures keep
        // coming within 5 s of each other) and tries again.
        const now = Date.now();
        retryMs = now - failedAt > 5000 ? 10 : Math.min(1000, retryMs * 2);
        failedAt = now;
        if (now - reportedAt >= 1000) {
          reportedAt = now;
          options.onAcceptError?.(error);
        }
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        continue;
      }
      serveConnection(conn);
    }
  })();
  return {
    addr: listener.addr as Deno.NetAddr,
    noDelay: true,
    async shutdown() {
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      // Upgraded connections are already closed: they close with their socket.
      for (const http of connections) closeQuietly(http);
      await finished;
    },
    finished,
  };
}

function closeQuietly(http: HttpConnLike): void {
  try {
    http.close();
  } catch {
    // Already closed.
  }
}

async function respond(handler: Handler, request: Request, info: ConnectionInfo) {
  try {
    return await handler(request, info);
  } catch {
    return new Response(JSON.stringify({ code: "internal", message: "Unexpected server error." }), {
      status: 500,
      headers: { "content-type": "application/json" },
    });
  }
}

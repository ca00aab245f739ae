/**
 * A server that takes WebSocket upgrades (subprotocol `arbiter.v1`) and then never answers a
 * join (`"never"`), or closes each socket as soon as it opens, with 1001 and no `error` frame
 * (`"close"`): joins the load tools must count as failed, not wait on. `POST /api/rooms` answers
 * 201 with a room id, so the arena gets as far as joining.
 *
 * @module
 */
import { SUBPROTOCOL } from "../../protocol/mod.ts";

/** A running silent server; `close()` (or `await using`) when done. */
export interface SilentServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  httpUrl: string;
  /** `ws://127.0.0.1:<port>/ws`. */
  wsUrl: string;
  /** Upgrades taken so far. */
  readonly upgrades: number;
  close(): Promise<void>;
}

/** Starts a silent server on a free loopback port. */
export function startSilentServer(mode: "never" | "close"): SilentServer {
  const sockets = new Set<WebSocket>();
  let upgrades = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    if (request.method === "POST" && new URL(request.url).pathname === "/api/rooms") {
      return Response.json({ id: "silent", game: "arena" }, { status: 201 });
    }
    if (request.headers.get("upgrade") !== "websocket") return new Response(null, { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol: SUBPROTOCOL });
    upgrades++;
    sockets.add(socket);
    socket.onclose = () => sockets.delete(socket);
    if (mode === "close") socket.onopen = () => socket.close(1001, "going away");
    return response;
  });
  const httpUrl = `http://127.0.0.1:${server.addr.port}`;
  const close = async () => {
    for (const socket of sockets) {
      try {
        socket.close();
      } catch {
        // Closed already.
      }
    }
    await server.shutdown();
  };
  return {
    httpUrl,
    wsUrl: `ws://127.0.0.1:${server.addr.port}/ws`,
    get upgrades() {
      return upgrades;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The load generator's WebSocket client (`loadtest/ws_client.ts`) against Deno's own server
 * side: upgrade, binary messages both ways, answered pings, both close handshakes, and a
 * refused upgrade.
 */
import assert from "node:assert/strict";
import { type CloseInfo, NoDelayWebSocket } from "../loadtest/ws_client.ts";

interface Echo {
  url: string;
  /** Close codes the server saw, in order. */
  closes: number[];
  server: Deno.HttpServer;
}

/** Echoes binary messages; `close:<code>` makes it close; `/nope` is refused with 404. */
function echoServer(idleTimeout = 120): Echo {
  const closes: number[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (request) => {
    if (new URL(request.url).pathname === "/nope") return new Response("no", { status: 404 });
    const offered = request.headers.get("sec-websocket-protocol") === "echo.v1";
    const { socket, response } = Deno.upgradeWebSocket(request, {
      protocol: offered ? "echo.v1" : undefined,
      idleTimeout,
    });
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      if (bytes[0] === 0xff) socket.close(4000 + bytes[1], "asked");
      else socket.send(bytes);
    };
    socket.onclose = (event) => closes.push(event.code);
    return response;
  });
  return { url: `ws://127.0.0.1:${server.addr.port}/ws`, closes, server };
}

function events(socket: NoDelayWebSocket) {
  const log: string[] = [];
  const messages: Uint8Array[] = [];
  const closed = Promise.withResolvers<CloseInfo>();
  const opened = Promise.withResolvers<void>();
  socket.onopen = () => (log.push("open"), opened.resolve());
  socket.onmessage = (bytes) => (log.push("message"), messages.push(bytes));
  socket.onerror = () => log.push("error");
  socket.onclose = (info) => {
    log.push("close");
    closed.resolve(info);
    opened.reject(new Error(`closed before opening: ${JSON.stringify(info)}`));
  };
  opened.promise.catch(() => {});
  return { log, messages, opened: opened.promise, closed: closed.promise };
}

async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await new Promise((resolve) => setTimeout(resolve, 5));
}

Deno.test("ws client: upgrade with a subprotocol, binary messages both ways, server-initiated close", async () => {
  const echo = echoServer();
  try {
    const socket = new NoDelayWebSocket(echo.url, "echo.v1");
    const e = events(socket);
    await e.opened;
    assert.equal(socket.readyState, NoDelayWebSocket.OPEN);
    assert.equal(socket.protocol, "echo.v1");
    const big = new Uint8Array(70_000).map((_, i) => i & 0x7f);
    for (const payload of [new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(7), big]) {
      socket.send(payload);
    }
    await until(() => e.messages.length === 3);
    assert.deepEqual(e.messages.map((m) => m.length), [3, 300, 70_000]);
    assert.deepEqual(e.messages[2], big);
    socket.send(new Uint8Array([0xff, 5]));
    assert.deepEqual(await e.closed, { code: 4005, reason: "asked" });
    assert.deepEqual(e.log.filter((x) => x !== "message"), ["open", "close"]);
    assert.equal(socket.readyState, NoDelayWebSocket.CLOSED);
    await until(() => echo.closes.length === 1);
  } finally {
    await echo.server.shutdown();
  }
});

Deno.test("ws client: a client close completes the handshake with the code", async () => {
  const echo = echoServer();
  try {
    const socket = new NoDelayWebSocket(echo.url);
    const e = events(socket);
    await e.opened;
    socket.close(1000, "done");
    assert.equal(socket.readyState, NoDelayWebSocket.CLOSING);
    assert.equal((await e.closed).code, 1000);
    await until(() => echo.closes.length === 1);
    assert.deepEqual(echo.closes, [1000]);
    socket.send(new Uint8Array([1])); // ignored once closed
  } finally {
    await echo.server.shutdown();
  }
});

Deno.test("ws client: a refused upgrade is an error, then a close 1006, never an open", async () => {
  const echo = echoServer();
  try {
    const e = events(new NoDelayWebSocket(echo.url.replace("/ws", "/nope")));
    assert.deepEqual(await e.closed, { code: 1006, reason: "" });
    assert.deepEqual(e.log, ["error", "close"]);
    const refused = events(new NoDelayWebSocket("ws://127.0.0.1:1/ws"));
    assert.equal((await refused.closed).code, 1006);
    assert.deepEqual(refused.log, ["error", "close"]);
  } finally {
    await echo.server.shutdown();
  }
});

Deno.test("ws client: answers the server's heartbeat pings, so a quiet connection stays open", async () => {
  // The server pings after 0.5 s of silence and gives up 0.5 s later without a pong.
  const echo = echoServer(1);
  try {
    const socket = new NoDelayWebSocket(echo.url);
    const e = events(socket);
    await e.opened;
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    assert.equal(socket.readyState, NoDelayWebSocket.OPEN, `events: ${e.log}`);
    assert.deepEqual(echo.closes, []);
    socket.close();
    await e.closed;
  } finally {
    await echo.server.shutdown();
  }
});

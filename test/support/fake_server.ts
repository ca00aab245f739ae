/**
 * A hand-driven Arbiter server for client tests: every WebSocket upgrade is handed to a test
 * callback that decides which frames to send (any bytes, valid or not). What the client sends
 * is decoded for the test to read.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type ClientMessage,
  decodeClientMessage,
  encodeServerMessage,
  SUBPROTOCOL,
  type WelcomeMessage,
} from "../../protocol/mod.ts";

/** One client socket of a {@linkcode FakeServer}. */
export interface FakeConn {
  /** The server side of the socket. */
  socket: WebSocket;
  /** Its position among the server's sockets (0 for the first). */
  index: number;
  /** Every message the client sent on it, decoded. */
  messages: ClientMessage[];
  /** The next message the client sends (one not taken yet). */
  next(): Promise<ClientMessage>;
  /** Sends `bytes` if the socket is still open. */
  send(bytes: Uint8Array): void;
}

/**
 * A server on a free port whose every socket is driven by `onSocket`; dispose it at the end.
 *
 * @example
 * ```ts ignore
 * await using server = new FakeServer(async (conn) => {
 *   await conn.next(); // the join
 *   conn.send(welcome());
 * });
 * const room = await connect(server.url, { pingIntervalMs: 0 }).joinOrCreate("g");
 * ```
 */
export class FakeServer implements AsyncDisposable {
  readonly #server: Deno.HttpServer;
  /** Every socket so far, in order. */
  readonly conns: FakeConn[] = [];

  constructor(onSocket: (conn: FakeConn) => void | Promise<void>) {
    this.#server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol: SUBPROTOCOL });
      socket.binaryType = "arraybuffer";
      const waiting: ((m: ClientMessage) => void)[] = [];
      const queued: ClientMessage[] = [];
      const conn: FakeConn = {
        socket,
        index: this.conns.length,
        messages: [],
        next: () =>
          queued.length > 0
            ? Promise.resolve(queued.shift()!)
            : new Promise((resolve) => waiting.push(resolve)),
        send: (bytes) => {
          if (socket.readyState === WebSocket.OPEN) socket.send(bytes);
        },
      };
      this.conns.push(conn);
      socket.onmessage = (e) => {
        const m = decodeClientMessage(new Uint8Array(e.data as ArrayBuffer));
        conn.messages.push(m);
        const w = waiting.shift();
        if (w) w(m);
        else queued.push(m);
      };
      socket.onopen = () => void onSocket(conn);
      return response;
    });
  }

  /** The WebSocket URL to connect to. */
  get url(): string {
    return `ws://127.0.0.1:${(this.#server.addr as Deno.NetAddr).port}/ws`;
  }

  /** Closes every socket and stops the server. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const c of this.conns) {
      try {
        c.socket.close();
      } catch {
        // Closed already.
      }
    }
    await this.#server.shutdown();
  }
}

/** A valid `welcome` frame for player p1 of room r1 (game `g`), with `over` on top. */
export function welcome(over: Partial<WelcomeMessage> = {}): Uint8Array {
  return encodeServerMessage({
    kind: "welcome",
    seq: 1,
    time: Date.now(),
    room: "r1",
    game: "g",
    player: "p1",
    session: "sess",
    ack: 0,
    state: { n: 0 },
    players: [{ id: "p1", name: "ann", seat: 0, presence: "connected" }],
    actions: ["go"],
    keys: ["n"],
    refs: [],
    resumed: false,
    ...over,
  } as WelcomeMessage);
}

/**
 * A `Deno.test` of the client against sockets that may close after the test's end (so without
 * the op and resource sanitizers), which fails if an error escaped to the global scope while it
 * ran: an event handler that threw, a promise nobody handled.
 *
 * @example
 * ```ts ignore
 * clientTest("client: a bad join fails at once", async () => {
 *   await using server = new FakeServer(() => {});
 *   // ...
 * });
 * ```
 */
export function clientTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const uncaught = catchUncaught();
      try {
        await fn();
      } finally {
        uncaught.stop();
      }
      assert.deepEqual(uncaught.errors.map(String), [], "nothing escaped to the global scope");
    },
  });
}

/**
 * Collects errors that escape to the global scope instead of failing the test run; `stop()`
 * before asserting.
 */
function catchUncaught(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(e.error);
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    errors.push(e.reason);
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return {
    errors,
    stop: () => {
      globalThis.removeEventListener("error", onError);
      globalThis.removeEventListener("unhandledrejection", onRejection);
    },
  };
}

/**
 * A network a test controls, for the client library's `WebSocket` option: while `offline`,
 * sockets go nowhere (the client keeps retrying); it counts the bytes and the frame kinds the
 * client received, records how each socket closed, and can swallow chosen frames before the
 * client sees them (a frame lost in transit).
 *
 * @module
 */
import type { WebSocketConstructor } from "../../client/mod.ts";

/** How one of the client's sockets closed, as its `close` event said. */
export interface SocketClose {
  code: number;
  reason: string;
  wasClean: boolean;
}

/**
 * Hand `network.WebSocket` to the client (`{ WebSocket: network.WebSocket }`).
 *
 * @example
 * ```ts ignore
 * const network = new TestNetwork();
 * const room = await t.client({ WebSocket: network.WebSocket }).create("tic_tac_toe");
 * network.swallow(0x11); // the next delta never reaches the client
 * ```
 */
export class TestNetwork {
  /** While true, new sockets connect to a closed port and fail at once. */
  offline = false;
  /** Payload bytes the client received (swallowed frames included). */
  bytes = 0;
  /** Frames received, by their first byte (the frame type), swallowed ones included. */
  readonly frames = new Map<number, number>();
  /** Every close of the client's sockets, in order. */
  readonly closes: SocketClose[] = [];
  /**
   * While true, every frame to the client is lost (a link that stopped delivering: what is in
   * flight when a connection drops never arrives). Counted as swallowed.
   */
  deaf = false;
  /** Frames swallowed so far. */
  swallowed = 0;
  readonly #swallowing: { type: number; left: number }[] = [];
  /** The constructor to pass as the client's `WebSocket` option. */
  readonly WebSocket: WebSocketConstructor = testSocket(this);

  /** The next `count` frames whose first byte is `type` are dropped before the client. */
  swallow(type: number, count = 1): void {
    this.#swallowing.push({ type, left: count });
  }

  /** How many frames of this type (first byte) arrived. */
  received(type: number): number {
    return this.frames.get(type) ?? 0;
  }

  /** Counts `data` and says whether it is to be swallowed. */
  take(data: unknown): boolean {
    if (!(data instanceof ArrayBuffer) || data.byteLength === 0) return false;
    this.bytes += data.byteLength;
    const type = new Uint8Array(data)[0];
    this.frames.set(type, (this.frames.get(type) ?? 0) + 1);
    if (this.deaf) {
      this.swallowed++;
      return true;
    }
    const rule = this.#swallowing.find((r) => r.type === type && r.left > 0);
    if (!rule) return false;
    rule.left--;
    this.swallowed++;
    return true;
  }
}

function testSocket(network: TestNetwork): WebSocketConstructor {
  const handler = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage")!;
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      // Port 9 (discard) on loopback refuses the connection at once.
      super(network.offline ? "ws://127.0.0.1:9/ws" : url, protocols);
      this.addEventListener("close", (event) => {
        network.closes.push({ code: event.code, reason: event.reason, wasClean: event.wasClean });
      });
      // The client reads with `onmessage`: wrap whatever it installs so that every frame is
      // counted and a swallowed one never reaches it.
      let installed: WebSocket["onmessage"] = null;
      Object.defineProperty(this, "onmessage", {
        configurable: true,
        get: () => installed,
        set: (callback: WebSocket["onmessage"]) => {
          installed = callback;
          handler.set!.call(
            this,
            callback === null ? null : (event: MessageEvent) => {
              if (!network.take(event.data)) callback.call(this, event);
            },
          );
        },
      });
    }
  };
}

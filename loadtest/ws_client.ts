/**
 * A minimal WebSocket client (RFC 6455) over `Deno.connect` with Nagle's algorithm off, for
 * the load generator.
 *
 * Deno's own `WebSocket` turns Nagle on for its connections (`setsockopt(TCP_NODELAY, 0)`,
 * seen with `strace`) and has no option to change it: a move written while the previous one
 * is unacknowledged then waits for the server's delayed ACK, up to 40 ms, and every latency
 * percentile measured through it carries that client-side delay whatever the server does.
 * Browsers and the Node client the Colyseus reference used (`ws`) send with `TCP_NODELAY`, so
 * the generator does too: it speaks the protocol itself over a TCP connection it can
 * configure.
 *
 * Only what the scenarios need: `ws://` URLs, binary messages, one subprotocol, answering
 * pings and the close handshake. Callbacks take the payload bytes directly (no `MessageEvent`
 * dispatch, which also keeps the generator's own CPU down).
 *
 * @module
 */
import { concatBytes } from "../protocol/bytes.ts";
import { closeQuietly, headEnd, writeAll } from "./conn_io.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The GUID of RFC 6455 section 1.3, hashed with the key to form `Sec-WebSocket-Accept`. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Largest HTTP response head accepted during the handshake. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Bytes read per `conn.read`: frames of the workloads are far smaller; longer ones span reads. */
const READ_BYTES = 4096;

const EMPTY = new Uint8Array(0);

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** How a connection ended, as `WebSocket`'s `close` event reports it. */
export interface CloseInfo {
  /** The peer's close code; 1005 for a close frame without one; 1006 without a close frame. */
  code: number;
  reason: string;
}

/**
 * A client WebSocket whose TCP connection has `TCP_NODELAY` set. Same states as `WebSocket`
 * (`readyState` 0-3) and the same order of callbacks: `onopen`, then `onmessage` per binary
 * message, and `onclose` once at the end, preceded by `onerror` when the connection failed.
 *
 * @example
 * ```ts ignore
 * import { NoDelayWebSocket } from "./ws_client.ts";
 * const socket = new NoDelayWebSocket("ws://127.0.0.1:8000/ws", "arbiter.v1");
 * socket.onopen = () => socket.send(new Uint8Array([0x01]));
 * socket.onmessage = (bytes) => console.log(bytes.length);
 * socket.onclose = ({ code }) => console.log("closed", code);
 * ```
 */
export class NoDelayWebSocket {
  /** Connecting or upgrading. */
  static readonly CONNECTING = 0;
  /** Open: messages flow. */
  static readonly OPEN = 1;
  /** A close frame went out; waiting for the peer's. */
  static readonly CLOSING = 2;
  /** Over. */
  static readonly CLOSED = 3;

  /** One of the four states above. */
  readyState = NoDelayWebSocket.CONNECTING;
  /** The subprotocol the server chose ("" for none). */
  protocol = "";
  /** Called once the upgrade succeeded. */
  onopen: (() => void) | null = null;
  /** Called with each binary message's payload (a copy the callee may keep). */
  onmessage: ((bytes: Uint8Array) => void) | null = null;
  /** Called when the connection or upgrade failed, or the connection broke; `onclose` follows. */
  onerror: (() => void) | null = null;
  /** Called once when the connection is over. */
  onclose: ((info: CloseInfo) => void) | null = null;

  #conn: Deno.TcpConn | null = null;
  /** Bytes read and not yet parsed (a partial frame). */
  #pending: Uint8Array = EMPTY;
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = 0;
  /** Frames waiting while a write is in flight; written together next. */
  #queue: Uint8Array[] = [];
  #writing = false;
  #closeInfo: CloseInfo | null = null;
  /** Hang up once the queued frames are written (after echoing the server's close). */
  #endAfterWrites = false;
  #finished = false;

  /** Connects to `url` (`ws://host:port/path`) and upgrades, offering `protocol` if given. */
  constructor(url: string, protocol?: string) {
    void this.#run(new URL(url), protocol);
  }

  /** Sends one binary message (queued behind a write in flight; dropped unless open). */
  send(payload: Uint8Array): void {
    if (this.readyState !== NoDelayWebSocket.OPEN) return;
    this.#write(clientFrame(OP_BINARY, payload));
  }

  /** Starts the close handshake (or abandons a connection still being set up). */
  close(code = 1000, reason = ""): void {
    if (this.readyState === NoDelayWebSocket.CONNECTING) {
      this.#finish({ code: 1006, reason: "" }, false);
      return;
    }
    if (this.readyState !== NoDelayWebSocket.OPEN) return;
    this.readyState = NoDelayWebSocket.CLOSING;
    this.#write(clientFrame(OP_CLOSE, closePayload(code, reason)));
  }

  async #run(url: URL, protocol: string | undefined): Promise<void> {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || 80),
      });
    } catch {
      this.#finish({ code: 1006, reason: "" }, true);
      return;
    }
    if (this.#finished) {
      closeQuietly(conn);
      return;
    }
    this.#conn = conn;
    const buffer = new Uint8Array(READ_BYTES);
    try {
      conn.setNoDelay(true);
      await this.#handshake(conn, url, protocol, buffer);
    } catch {
      this.#finish({ code: 1006, reason: "" }, true);
      return;
    }
    if (this.#finished) return;
    this.readyState = NoDelayWebSocket.OPEN;
    this.onopen?.();
    try {
      this.#parse();
      while (!this.#finished) {
        const n = await conn.read(buffer);
        if (n === null) break;
        const chunk = buffer.subarray(0, n);
        this.#pending = this.#pending.length ? concatBytes([this.#pending, chunk]) : chunk;
        this.#parse();
      }
    } catch {
      // Reset by the peer, or closed by us: the end of the stream either way.
    }
    // A stream that ends without a close frame is an abnormal closure (1006), as in browsers.
    this.#finish(this.#closeInfo ?? { code: 1006, reason: "" }, this.#closeInfo === null);
  }

  async #handshake(
    conn: Deno.TcpConn,
    url: URL,
    protocol: string | undefined,
    buffer: Uint8Array,
  ): Promise<void> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const lines = [
      `GET ${url.pathname || "/"}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      `Sec-WebSocket-Key: ${key}`,
    ];
    if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    let head: Uint8Array = EMPTY;
    let end = -1;
    while (end < 0) {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("closed during the upgrade");
      head = concatBytes([head, buffer.subarray(0, n)]);
      end = headEnd(head);
      if (end < 0 && head.length > MAX_HEAD_BYTES) throw new Error("response head too long");
    }
    const [status, ...fields] = decoder.decode(head.subarray(0, end)).split("\r\n");
    if (!/^HTTP\/1\.1 101\b/.test(status)) throw new Error(`upgrade refused: ${status}`);
    const headers = new Map<string, string>();
    for (const field of fields) {
      const colon = field.indexOf(":");
      if (colon > 0) {
        headers.set(field.slice(0, colon).trim().toLowerCase(), field.slice(colon + 1).trim());
      }
    }
    if (headers.get("sec-websocket-accept") !== await acceptFor(key)) {
      throw new Error("bad Sec-WebSocket-Accept");
    }
    this.protocol = headers.get("sec-websocket-protocol") ?? "";
    if (this.protocol && this.protocol !== protocol) throw new Error("unasked subprotocol");
    // Frames the server sent right behind its response (e.g. nothing yet, or a first message).
    this.#pending = head.slice(end + 4);
  }

  /** Handles every complete frame in `#pending`. */
  #parse(): void {
    const b = this.#pending;
    let pos = 0;
    while (!this.#finished) {
      const available = b.length - pos;
      if (available < 2) break;
      const b0 = b[pos];
      const b1 = b[pos + 1];
      let length = b1 & 0x7f;
      let head = 2;
      if (length === 126) {
        if (available < 4) break;
        length = (b[pos + 2] << 8) | b[pos + 3];
        head = 4;
      } else if (length === 127) {
        if (available < 10) break;
        length = Number(new DataView(b.buffer, b.byteOffset + pos + 2, 8).getBigUint64(0));
        head = 10;
      }
      // Servers never mask (RFC 6455 section 5.1); a masked frame is a broken peer.
      if (b1 & 0x80) {
        this.#fail();
        return;
      }
      if (available < head + length) break;
      // Copied out: the read buffer is reused by the next read.
      const payload = b.slice(pos + head, pos + head + length);
      pos += head + length;
      this.#onFrame((b0 & 0x80) !== 0, b0 & 0x0f, payload);
    }
    // Keep only the partial frame, copied: `b` may be a view of the read buffer.
    this.#pending = pos === b.length ? EMPTY : b.slice(pos);
  }

  #onFrame(fin: boolean, opcode: number, payload: Uint8Array): void {
    switch (opcode) {
      case OP_PING:
        if (this.readyState === NoDelayWebSocket.OPEN) this.#write(clientFrame(OP_PONG, payload));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        this.#closeInfo = { code, reason: decoder.decode(payload.subarray(2)) };
        // Echo the close (unless ours already went out), then hang up once it is written.
        if (this.readyState === NoDelayWebSocket.OPEN) {
          this.readyState = NoDelayWebSocket.CLOSING;
          this.#write(clientFrame(OP_CLOSE, payload.subarray(0, 2)), true);
        } else {
          this.#finish(this.#closeInfo, false);
        }
        return;
      }
      case OP_CONTINUATION:
      case OP_TEXT:
      case OP_BINARY: {
        if (opcode !== OP_CONTINUATION) this.#fragmentOpcode = opcode;
        if (!fin) {
          this.#fragments.push(payload);
          return;
        }
        let message = payload;
        if (this.#fragments.length) {
          message = concatBytes([...this.#fragments, payload]);
          this.#fragments = [];
        }
        // The protocols spoken here are binary only; a text frame is passed on as bytes.
        if (this.readyState === NoDelayWebSocket.OPEN) this.onmessage?.(message);
        return;
      }
      default:
        this.#fail();
    }
  }

  /** Writes `frame` now, or after the write in flight; `thenEnd` hangs up once written. */
  #write(frame: Uint8Array, thenEnd = false): void {
    this.#queue.push(frame);
    if (thenEnd) this.#endAfterWrites = true;
    if (!this.#writing) void this.#flush();
  }

  async #flush(): Promise<void> {
    const conn = this.#conn;
    if (!conn) return;
    this.#writing = true;
    try {
      while (this.#queue.length && !this.#finished) {
        // Frames sent in the same turn of the event loop go out in one write.
        const bytes = this.#queue.length === 1 ? this.#queue[0] : concatBytes(this.#queue);
        this.#queue = [];
        await writeAll(conn, bytes);
      }
    } catch {
      this.#finish(this.#closeInfo ?? { code: 1006, reason: "" }, this.#closeInfo === null);
      return;
    } finally {
      this.#writing = false;
    }
    if (this.#endAfterWrites && this.#closeInfo) this.#finish(this.#closeInfo, false);
  }

  /** A protocol violation by the server: drop the connection (1006, as browsers report it). */
  #fail(): void {
    this.#finish({ code: 1006, reason: "" }, true);
  }

  #finish(info: CloseInfo, error: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.readyState = NoDelayWebSocket.CLOSED;
    this.#queue = [];
    if (this.#conn) closeQuietly(this.#conn);
    if (error) this.onerror?.();
    this.onclose?.(info);
  }
}

/** Builds one masked client frame (RFC 6455 section 5.3: clients must mask). */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = 2 + extended + 4;
  const frame = new Uint8Array(head + length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | (extended === 0 ? length : extended === 2 ? 126 : 127);
  if (extended === 2) {
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else if (extended === 8) {
    new DataView(frame.buffer).setBigUint64(2, BigInt(length));
  }
  // The mask only keeps proxies from reading frames as HTTP; it need not be cryptographic.
  const mask = (Math.random() * 0x100000000) >>> 0;
  const k0 = mask >>> 24, k1 = (mask >>> 16) & 0xff, k2 = (mask >>> 8) & 0xff, k3 = mask & 0xff;
  frame[head - 4] = k0;
  frame[head - 3] = k1;
  frame[head - 2] = k2;
  frame[head - 1] = k3;
  for (let i = 0; i < length; i++) {
    const k = (i & 3) === 0 ? k0 : (i & 3) === 1 ? k1 : (i & 3) === 2 ? k2 : k3;
    frame[head + i] = payload[i] ^ k;
  }
  return frame;
}

function closePayload(code: number, reason: string): Uint8Array {
  const text = encoder.encode(reason).subarray(0, 123);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

async function acceptFor(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + ACCEPT_GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

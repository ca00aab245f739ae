/**
 * A raw WebSocket client over `Deno.connect` for abuse tests: it does the HTTP upgrade itself
 * (any Origin, any headers), writes any frame a misbehaving peer could write (text, oversized,
 * unmasked, declared-but-never-sent payloads, garbage), can stop answering pings or stop
 * reading altogether, and records every server frame, `error` message and the close code.
 *
 * Deno's own `WebSocket` accepts `{ headers }` as a second argument (so an Origin can be set
 * with it too), but it always answers pings and always reads, so it cannot play a dead or a
 * stalled peer.
 *
 * @module
 */
import {
  type ClientMessage,
  decodeServerMessage,
  encodeClientMessage,
  type ErrorMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
  SUBPROTOCOL,
  type WelcomeMessage,
} from "../../protocol/mod.ts";
import { concatBytes } from "../../protocol/bytes.ts";
import { closeQuietly, headEnd, writeAll } from "../../loadtest/conn_io.ts";

/** WebSocket opcodes (RFC 6455, section 5.2). */
export const OPCODES = Object.freeze(
  {
    continuation: 0x0,
    text: 0x1,
    binary: 0x2,
    close: 0x8,
    ping: 0x9,
    pong: 0xa,
  } as const,
);

/** Options of the HTTP upgrade. */
export interface RawUpgradeOptions {
  /** `Origin` header; omitted when undefined (a non-browser client). */
  origin?: string;
  /** `Sec-WebSocket-Protocol` to offer; default `arbiter.v1`, null to offer none. */
  protocol?: string | null;
  /** More request headers. */
  headers?: Record<string, string>;
  /** Send no `Sec-WebSocket-Key` (a malformed handshake). */
  omitKey?: boolean;
  /** Answer the server's pings (default true). A dead peer does not. */
  autoPong?: boolean;
  /**
   * Answer the server's close frame and hang up (default true). When false the peer ignores
   * it and keeps the TCP connection until the server drops it.
   */
  answerClose?: boolean;
  /** Give up on the handshake after this long, ms (default 5 000). */
  timeoutMs?: number;
}

/** An upgrade the server answered with something other than 101. */
export interface RefusedUpgrade {
  status: number;
  headers: Headers;
  /** The response body as text (JSON for Arbiter's refusals). */
  body: string;
}

/** How the connection ended. */
export interface RawClose {
  /** The close frame's code; 1005 for a close frame without one; 1006 for no close frame. */
  code: number;
  reason: string;
  /** Every `error` message received before the close. */
  errors: ErrorMessage[];
}

/** Outcome of {@linkcode rawUpgrade}: an open socket, or the HTTP refusal. */
export type UpgradeResult =
  | { ok: true; socket: RawSocket }
  | { ok: false; refused: RefusedUpgrade };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Performs the WebSocket upgrade over a fresh TCP connection to `wsUrl` (`ws://host:port/path`).
 *
 * @example
 * ```ts ignore
 * const result = await rawUpgrade(server.wsUrl, { origin: "https://evil.example" });
 * if (!result.ok) console.log(result.refused.status); // 403
 * ```
 */
export async function rawUpgrade(
  wsUrl: string,
  options: RawUpgradeOptions = {},
): Promise<UpgradeResult> {
  const url = new URL(wsUrl);
  const port = Number(url.port || 80);
  const conn = await Deno.connect({ hostname: url.hostname.replace(/^\[|\]$/g, ""), port });
  conn.setNoDelay(true);
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const lines = [
    `GET ${url.pathname}${url.search} HTTP/1.1`,
    `Host: ${url.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Version: 13",
  ];
  if (!options.omitKey) lines.push(`Sec-WebSocket-Key: ${key}`);
  const protocol = options.protocol === undefined ? SUBPROTOCOL : options.protocol;
  if (protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  if (options.origin !== undefined) lines.push(`Origin: ${options.origin}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    lines.push(`${name}: ${value}`);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }, timeoutMs);
  try {
    await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
    let buffer = new Uint8Array(0);
    let headerEnd = -1;
    while (headerEnd < 0) {
      const chunk = await readChunk(conn);
      if (chunk === null) throw new Error("connection closed during the handshake");
      buffer = concatBytes([buffer, chunk]);
      headerEnd = headEnd(buffer);
    }
    const head = decoder.decode(buffer.subarray(0, headerEnd)).split("\r\n");
    const status = Number(head[0].split(" ")[1]);
    const headers = new Headers();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    let rest = buffer.subarray(headerEnd + 4);
    if (status === 101) {
      clearTimeout(timer);
      const socket = new RawSocket(conn, rest, headers, options.autoPong ?? true);
      socket.answerClose = options.answerClose ?? true;
      return { ok: true, socket };
    }
    const length = Number(headers.get("content-length") ?? "NaN");
    while (Number.isFinite(length) ? rest.length < length : true) {
      const chunk = await readChunk(conn);
      if (chunk === null) break;
      rest = concatBytes([rest, chunk]);
    }
    clearTimeout(timer);
    closeQuietly(conn);
    return { ok: false, refused: { status, headers, body: decoder.decode(rest) } };
  } catch (error) {
    clearTimeout(timer);
    closeQuietly(conn);
    throw error;
  }
}

/**
 * Like {@linkcode rawUpgrade} but throws unless the server upgraded.
 *
 * @example
 * ```ts ignore
 * const socket = await openRaw(server.wsUrl);
 * await socket.sendText("hello");
 * console.log((await socket.closed).code); // 1003
 * ```
 */
export async function openRaw(wsUrl: string, options?: RawUpgradeOptions): Promise<RawSocket> {
  const result = await rawUpgrade(wsUrl, options);
  if (!result.ok) {
    throw new Error(`upgrade refused: ${result.refused.status} ${result.refused.body}`);
  }
  return result.socket;
}

/** Options of {@linkcode RawSocket.sendFrame}. */
export interface FrameOptions {
  /** FIN bit; default true. */
  fin?: boolean;
  /** Mask the payload as a client must; default true. */
  mask?: boolean;
  /** RSV bits (0-7) to set; default 0. */
  rsv?: number;
  /** Length to put in the header instead of the payload's (a lie: the payload follows as is). */
  declaredLength?: number;
}

/**
 * An open raw WebSocket connection (client side). Reads in the background unless paused,
 * answers pings unless told not to, and decodes every binary frame as a server message.
 */
export class RawSocket {
  /** Response headers of the upgrade. */
  readonly headers: Headers;
  /** Every server message decoded so far, in order. */
  readonly messages: ServerMessage[] = [];
  /** Binary frames that did not decode as server messages (there should be none). */
  readonly undecodable: Uint8Array[] = [];
  /** Text frames received (there should be none). */
  readonly texts: string[] = [];
  /** WebSocket pings the server sent. */
  pingsReceived = 0;
  /** Payload bytes received. */
  bytesReceived = 0;
  /** Answer pings with pongs. */
  autoPong: boolean;
  /** Answer a close frame and hang up; when false, keep the connection open after it. */
  answerClose = true;
  /** The server's close frame, once received (also when it was not answered). */
  closeFrame: { code: number; reason: string } | null = null;
  /** Resolves when the connection is over (close frame or end of stream). */
  readonly closed: Promise<RawClose>;
  readonly #conn: Deno.Conn;
  #buffer: Uint8Array;
  #fragments: Uint8Array[] = [];
  #fragmentOpcode = 0;
  #close: RawClose | null = null;
  #resolveClosed!: (close: RawClose) => void;
  #waiters = new Set<() => void>();
  #paused: { promise: Promise<void>; resume: () => void } | null = null;
  #writing: Promise<unknown> = Promise.resolve();
  #gone = false;

  /** Use {@linkcode rawUpgrade} or {@linkcode openRaw}. */
  constructor(conn: Deno.Conn, leftover: Uint8Array, headers: Headers, autoPong: boolean) {
    this.#conn = conn;
    this.#buffer = leftover;
    this.headers = headers;
    this.autoPong = autoPong;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    void this.#readLoop();
  }

  /** The close, once the connection is over; null while it is open. */
  get close(): RawClose | null {
    return this.#close;
  }

  /** `error` messages received so far. */
  get errors(): ErrorMessage[] {
    return this.messages.filter((m): m is ErrorMessage => m.kind === "error");
  }

  /** Stops reading from the TCP connection (the kernel buffers fill, then the server's). */
  pauseReading(): void {
    if (this.#paused) return;
    let resume!: () => void;
    const promise = new Promise<void>((r) => resume = r);
    this.#paused = { promise, resume };
  }

  /** Reads again after {@linkcode RawSocket.pauseReading}. */
  resumeReading(): void {
    const paused = this.#paused;
    this.#paused = null;
    paused?.resume();
  }

  /** Writes one frame; resolves false when the connection is already gone. */
  sendFrame(opcode: number, payload: Uint8Array, options: FrameOptions = {}): Promise<boolean> {
    return this.writeRaw(buildFrame(opcode, payload, options));
  }

  /** Writes several frames in one TCP write. */
  sendFrames(frames: { opcode: number; payload: Uint8Array; options?: FrameOptions }[]) {
    return this.writeRaw(
      concatBytes(frames.map((f) => buildFrame(f.opcode, f.payload, f.options))),
    );
  }

  /** Sends a binary message. */
  sendBinary(bytes: Uint8Array): Promise<boolean> {
    return this.sendFrame(OPCODES.binary, bytes);
  }

  /** Sends a text message (not part of the protocol). */
  sendText(text: string): Promise<boolean> {
    return this.sendFrame(OPCODES.text, encoder.encode(text));
  }

  /** Encodes and sends a protocol message. */
  send(message: ClientMessage): Promise<boolean> {
    return this.sendBinary(encodeClientMessage(message).slice());
  }

  /** Sends a WebSocket close frame. */
  sendClose(code = 1000, reason = ""): Promise<boolean> {
    const reasonBytes = encoder.encode(reason);
    const payload = new Uint8Array(2 + reasonBytes.length);
    new DataView(payload.buffer).setUint16(0, code);
    payload.set(reasonBytes, 2);
    return this.sendFrame(OPCODES.close, payload);
  }

  /** Writes bytes as they are (serialized with other writes). */
  writeRaw(bytes: Uint8Array): Promise<boolean> {
    const write = this.#writing.then(async () => {
      if (this.#gone) return false;
      try {
        await writeAll(this.#conn, bytes);
        return true;
      } catch {
        return false;
      }
    });
    this.#writing = write;
    return write;
  }

  /**
   * Sends a `join` and resolves with the `welcome`; rejects with the `error` message's code if
   * the server refuses.
   */
  async join(fields: Omit<ClientMessage & { kind: "join" }, "kind" | "version">, timeoutMs = 5000) {
    const from = this.messages.length;
    await this.send({ kind: "join", version: PROTOCOL_VERSION, ...fields });
    const reply = await this.next(
      (m) => m.kind === "welcome" || m.kind === "error",
      timeoutMs,
      from,
    );
    if (reply.kind === "error") throw new Error(`join refused: ${reply.code} ${reply.message}`);
    return reply as WelcomeMessage;
  }

  /**
   * Resolves with the first message at index `from` or later that matches; rejects when the
   * connection closes first or after `timeoutMs`.
   */
  next(
    predicate: (message: ServerMessage) => boolean,
    timeoutMs = 5000,
    from = 0,
  ): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.slice(from).find(predicate);
        if (found) return done(() => resolve(found));
        if (this.#close) {
          const close = this.#close;
          return done(() => reject(new Error(`closed (${close.code}) before the message came`)));
        }
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`no matching message in ${timeoutMs} ms`))),
        timeoutMs,
      );
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Resolves with the close, or rejects after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<RawClose> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the server did not close within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops the TCP connection without a close frame. */
  abort(): void {
    this.#finish(1006, "aborted by the test");
    this.#shutdown();
    this.resumeReading();
  }

  /** Same as {@linkcode RawSocket.abort}. */
  [Symbol.dispose](): void {
    this.abort();
  }

  async #readLoop(): Promise<void> {
    try {
      this.#parse();
      while (!this.#close) {
        if (this.#paused) await this.#paused.promise;
        if (this.#close) break;
        const chunk = await readChunk(this.#conn);
        if (chunk === null) break;
        this.#buffer = this.#buffer.length ? concatBytes([this.#buffer, chunk]) : chunk;
        this.#parse();
      }
    } catch {
      // Reset by the peer: same as the end of the stream.
    }
    this.#finish(this.closeFrame?.code ?? 1006, this.closeFrame?.reason ?? "");
    // Let a queued close reply go out first.
    await this.#writing;
    this.#shutdown();
  }

  #parse(): void {
    for (;;) {
      const b = this.#buffer;
      if (b.length < 2) return;
      const fin = (b[0] & 0x80) !== 0;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let length = b[1] & 0x7f;
      let pos = 2;
      if (length === 126) {
        if (b.length < 4) return;
        length = (b[2] << 8) | b[3];
        pos = 4;
      } else if (length === 127) {
        if (b.length < 10) return;
        length = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
        pos = 10;
      }
      const maskKey = masked ? b.subarray(pos, pos + 4) : null;
      if (masked) pos += 4;
      if (b.length < pos + length) return;
      const payload = b.slice(pos, pos + length);
      if (maskKey) { for (let i = 0; i < payload.length; i++) payload[i] ^= maskKey[i & 3]; }
      this.#buffer = b.subarray(pos + length);
      this.#onFrame(fin, opcode, payload);
      if (this.#close) return;
    }
  }

  #onFrame(fin: boolean, opcode: number, payload: Uint8Array): void {
    this.bytesReceived += payload.length;
    switch (opcode) {
      case OPCODES.ping:
        this.pingsReceived++;
        if (this.autoPong) void this.sendFrame(OPCODES.pong, payload);
        return;
      case OPCODES.pong:
        return;
      case OPCODES.close: {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        const reason = decoder.decode(payload.subarray(2));
        this.closeFrame ??= { code, reason };
        if (!this.answerClose) return;
        // Answer the close as the RFC asks; the read loop then drops the connection.
        void this.sendFrame(OPCODES.close, payload.subarray(0, 2));
        this.#finish(code, reason);
        return;
      }
      case OPCODES.continuation:
      case OPCODES.text:
      case OPCODES.binary: {
        if (opcode !== OPCODES.continuation) this.#fragmentOpcode = opcode;
        this.#fragments.push(payload);
        if (!fin) return;
        const message = concatBytes(this.#fragments);
        this.#fragments = [];
        if (this.#fragmentOpcode === OPCODES.text) {
          this.texts.push(decoder.decode(message));
        } else {
          try {
            this.messages.push(decodeServerMessage(message));
          } catch {
            this.undecodable.push(message);
          }
        }
        this.#notify();
        return;
      }
    }
  }

  #shutdown(): void {
    this.#gone = true;
    closeQuietly(this.#conn);
  }

  #finish(code: number, reason: string): void {
    if (this.#close) return;
    this.#close = { code, reason, errors: this.errors };
    this.#resolveClosed(this.#close);
    this.#notify();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/**
 * Builds one client frame (masked unless told otherwise).
 *
 * @example
 * ```ts ignore
 * const frame = buildFrame(OPCODES.binary, new Uint8Array([3, 0]));
 * ```
 */
export function buildFrame(
  opcode: number,
  payload: Uint8Array,
  options: FrameOptions = {},
): Uint8Array {
  const mask = options.mask ?? true;
  const length = options.declaredLength ?? payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const header = new Uint8Array(2 + extended + (mask ? 4 : 0));
  header[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  header[1] = (mask ? 0x80 : 0) | (extended === 0 ? length : extended === 2 ? 126 : 127);
  const view = new DataView(header.buffer);
  if (extended === 2) view.setUint16(2, length);
  if (extended === 8) view.setBigUint64(2, BigInt(length));
  const body = payload.slice();
  if (mask) {
    const key = crypto.getRandomValues(new Uint8Array(4));
    header.set(key, 2 + extended);
    for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  }
  return concatBytes([header, body]);
}

const readBuffers = new WeakMap<Deno.Conn, Uint8Array>();

async function readChunk(conn: Deno.Conn): Promise<Uint8Array | null> {
  let buf = readBuffers.get(conn);
  if (!buf) readBuffers.set(conn, buf = new Uint8Array(64 * 1024));
  const n = await conn.read(buf);
  return n === null ? null : buf.slice(0, n);
}

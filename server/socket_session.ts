/**
 * One WebSocket, one session: waits for a `join`, then forwards actions to the room's seat,
 * answers pings, and turns every bad input into a typed `reject` or `error` + close code.
 *
 * @module
 */
import {
  ArbiterError,
  type ClientMessage,
  CLOSE_CODES,
  closeCodeFor,
  decodeClientMessage,
  type DecodeLimits,
  encodeServerMessage,
  type ErrorCode,
  PROTOCOL_VERSION,
  ProtocolError,
} from "../protocol/mod.ts";
import type { JoinRequest, Member, RoomManager, Seat } from "../rooms/mod.ts";
import type { ServerConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { TokenBucket } from "./rate_limit.ts";

/** An authenticated user, from the server's `authenticate` option or a signed token. */
export interface AuthUser {
  userId: string;
  name: string;
}

/** What a session needs from the server around it. */
export interface SessionContext {
  manager: RoomManager;
  config: ServerConfig;
  log: Logger;
  metrics: Metrics;
  /** Verifies a join's token (built-in signed tokens); null when auth is off. */
  verifyToken: ((token: string | undefined) => Promise<AuthUser | null>) | null;
  /** The user the upgrade request authenticated as, if an `authenticate` option is set. */
  user: AuthUser | null;
  /** Routes joins instead of `manager.join` (`cluster/`: to rooms on any instance). */
  join?: (request: JoinRequest, member: Member) => Promise<SessionSeat>;
}

/** What a join gives a session: a seat in a room here, or one relayed to another instance. */
export type SessionSeat = Omit<Seat, "room"> & { readonly room: { readonly id: string } };

let nextSessionNumber = 1;

/** The close reason Deno gives when a peer misses the `idleTimeout` ping (close code 1001). */
const DENO_HEARTBEAT_REASON = "No response from ping frame.";

/**
 * Drives one server-side WebSocket through the protocol. Attach it right after
 * `Deno.upgradeWebSocket`; it installs the socket's handlers itself.
 *
 * @example
 * ```ts ignore
 * const { socket, response } = Deno.upgradeWebSocket(request, { protocol: SUBPROTOCOL });
 * new SocketSession(socket, context);
 * return response;
 * ```
 */
export class SocketSession {
  /** Short id used in logs. */
  readonly id = `s${nextSessionNumber++}`;
  readonly #socket: WebSocket;
  readonly #context: SessionContext;
  readonly #log: Logger;
  readonly #bucket: TokenBucket;
  readonly #limits: DecodeLimits;
  #seat: SessionSeat | null = null;
  #joining = false;
  #opened = false;
  #closed = false;
  #rateLimitedInARow = 0;
  #joinTimer: ReturnType<typeof setTimeout> | undefined;

  /** Wires the socket; the session lives until the socket closes. */
  constructor(socket: WebSocket, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    this.#log = context.log.child({ session: this.id });
    const { config } = context;
    this.#bucket = new TokenBucket(config.actionRate, config.actionBurst);
    this.#limits = { maxFrameBytes: config.maxFrameBytes };
    socket.binaryType = "arraybuffer";
    // Counted from the upgrade, not from `open`: a socket whose upgrade response never reached
    // the peer (it hung up first) never opens, and must not hold its session forever either.
    this.#joinTimer = setTimeout(
      () => this.#fail("join_timeout", `No join within ${config.joinTimeoutMs} ms.`),
      config.joinTimeoutMs,
    );
    socket.onopen = () => {
      if (this.#closed) return;
      this.#opened = true;
      context.metrics.connectionOpened();
    };
    socket.onmessage = (event) => this.#onMessage(event.data);
    socket.onclose = (event) => {
      // Deno's own heartbeat (the `idleTimeout` option): the peer did not answer a ping.
      if (event.code === 1001 && event.reason === DENO_HEARTBEAT_REASON && !this.#closed) {
        this.#log.info("heartbeat timeout", { seconds: context.config.heartbeatSeconds });
      }
      this.#onClose();
    };
    socket.onerror = () => {
      // onclose follows; the error event carries nothing more useful.
    };
  }

  /** The member the room sends this session's frames through. */
  readonly #member: Member = {
    send: (frame) => this.#send(frame),
    close: (code, reason) => this.#closeSocket(code, reason),
  };

  /**
   * Sends one frame unless the client stopped reading: every frame (room broadcasts, pongs,
   * rejects) goes through here, so a peer that floods requests and never reads the answers
   * cannot grow the server's send buffer past `maxBufferedBytes`.
   */
  #send(frame: Uint8Array): void {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return;
    const buffered = this.#socket.bufferedAmount;
    if (buffered > this.#context.config.maxBufferedBytes) {
      this.#log.warn("slow consumer dropped", { buffered });
      this.#context.metrics.slowConsumerDropped();
      // No error frame: it would only queue behind what the client is not reading.
      this.#closeSocket(CLOSE_CODES.slow_consumer, "slow_consumer");
      return;
    }
    this.#socket.send(frame);
    this.#context.metrics.frameSent(frame.byteLength);
  }

  #onMessage(data: unknown): void {
    if (this.#closed) return;
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(
        "text_frame",
        "Send binary frames only; text frames are not part of the protocol.",
      );
      return;
    }
    this.#context.metrics.frameReceived(data.byteLength);
    let message: ClientMessage;
    try {
      message = decodeClientMessage(new Uint8Array(data), this.#limits);
    } catch (error) {
      if (error instanceof ProtocolError) {
        this.#fail(error.code, error.message);
      } else {
        this.#log.error("decoder escaped", { error: String(error) });
        this.#fail("internal", "The frame could not be read.");
      }
      return;
    }
    try {
      this.#dispatch(message);
    } catch (error) {
      // A bug in one handler must cost one connection at most, never the process.
      this.#log.error("session handler failed", { error: String((error as Error)?.stack) });
      this.#fail("internal", "Unexpected server error.");
    }
  }

  #dispatch(message: ClientMessage): void {
    switch (message.kind) {
      case "join":
        void this.#join(message);
        return;
      case "action": {
        // The budget comes first: a connection that never joins must not get unlimited
        // `not_joined` replies out of a flood either.
        if (!this.#takeToken()) {
          this.#context.metrics.actionRejected("rate_limited");
          if (this.#closed) return;
          const { actionRate, actionBurst } = this.#context.config;
          this.#reject(
            message.seq,
            "rate_limited",
            `At most ${actionRate} actions/s (bursts of ${actionBurst}); this one was dropped.`,
          );
          return;
        }
        const seat = this.#seat;
        if (!seat) {
          this.#reject(message.seq, "not_joined", "Join a room before sending actions.");
          return;
        }
        seat.act(message.seq, message.name, message.payload);
        return;
      }
      case "ping":
        // Pings share the action budget; a ping over it gets no pong.
        if (!this.#takeToken()) return;
        this.#send(encodeServerMessage({
          kind: "pong",
          clientTime: message.time,
          serverTime: Date.now(),
        }));
        return;
      case "leave":
        this.#seat?.leave();
        this.#seat = null;
        this.#closeSocket(CLOSE_CODES.normal, "left");
        return;
    }
  }

  async #join(message: ClientMessage & { kind: "join" }): Promise<void> {
    if (this.#seat || this.#joining) {
      this.#fail("already_joined", "This connection already joined a room; open another socket.");
      return;
    }
    if (message.version !== PROTOCOL_VERSION) {
      this.#fail(
        "unsupported_version",
        `This server speaks protocol version ${PROTOCOL_VERSION}, the join asked for ${message.version}.`,
      );
      return;
    }
    this.#joining = true;
    clearTimeout(this.#joinTimer);
    const { manager, verifyToken, metrics } = this.#context;
    const started = performance.now();
    try {
      let user = this.#context.user;
      if (verifyToken) {
        user = await verifyToken(message.token);
        if (!user) throw new ArbiterError("unauthorized", "A valid, unexpired token is required.");
      }
      const request: JoinRequest = {
        mode: message.mode,
        room: message.room,
        game: message.game,
        options: message.options,
        name: user?.name ?? message.name,
        spectator: message.spectator,
        resume: message.resume,
        user: user ?? undefined,
      };
      const seat = this.#context.join
        ? await this.#context.join(request, this.#member)
        : await manager.join(request, this.#member);
      if (this.#closed) {
        // The socket went away while the join was in flight: free the seat's connection.
        seat.disconnect();
        return;
      }
      this.#seat = seat;
      metrics.joined(performance.now() - started, Boolean(message.resume));
      this.#log.info("joined", {
        room: seat.room.id,
        player: seat.player,
        resumed: Boolean(message.resume),
      });
    } catch (error) {
      const code: ErrorCode = error instanceof ArbiterError ? error.code : "internal";
      if (code === "internal") this.#log.error("join failed", { error: String(error) });
      metrics.joinFailed(code);
      this.#fail(code, error instanceof ArbiterError ? error.message : "Unexpected server error.");
    } finally {
      this.#joining = false;
    }
  }

  /**
   * Takes a token of the connection's action budget (actions and pings). Without one, counts
   * toward the flood streak; `abuseLimit` refusals in a row close with `policy_violation`.
   */
  #takeToken(): boolean {
    if (this.#bucket.take()) {
      this.#rateLimitedInARow = 0;
      return true;
    }
    if (++this.#rateLimitedInARow >= this.#context.config.abuseLimit) {
      this.#fail("policy_violation", "Sustained flood of actions or pings over the rate limit.");
    }
    return false;
  }

  #reject(seq: number, code: ErrorCode, message: string): void {
    this.#send(encodeServerMessage({ kind: "reject", seq, code, message }));
  }

  /** Sends `error` with the code, then closes with the matching close code. */
  #fail(code: ErrorCode, message: string): void {
    if (this.#closed) return;
    this.#log.info("connection refused", { code, reason: message });
    if (this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.send(encodeServerMessage({ kind: "error", code, message }));
    }
    this.#closeSocket(closeCodeFor(code), code);
  }

  #closeSocket(code: number, reason: string): void {
    if (this.#socket.readyState === WebSocket.OPEN || this.#socket.readyState === 0) {
      try {
        this.#socket.close(code, reason);
      } catch {
        // Already closing: nothing more to do.
      }
    }
    this.#onClose();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    if (this.#opened) this.#context.metrics.connectionClosed();
    const seat = this.#seat;
    this.#seat = null;
    // Not a deliberate leave: the seat waits out its grace window for a resume.
    seat?.disconnect();
  }
}

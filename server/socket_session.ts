/**
 * One WebSocket, one session: waits for a `join`, then forwards actions to the room's seat,
 * answers pings, and turns every bad input into a typed `reject` or `error` + close code.
 *
 * @module
 */
import {
  ActionPayloadError,
  ArbiterError,
  type ClientMessage,
  CLOSE_CODES,
  closeCodeFor,
  decodeClientMessage,
  type DecodeLimits,
  decodeServerMessage,
  DEFAULT_INBOUND_LIMITS,
  encodeServerMessage,
  type ErrorCode,
  FRAME_KINDS,
  PROTOCOL_VERSION,
  ProtocolError,
  REMEMBERED_REFUSALS,
  type SettledReject,
  TokenBucket,
} from "../protocol/mod.ts";
import type { HeldInputHandler, JoinRequest, Member, RoomManager, Seat } from "../rooms/mod.ts";
import type { ServerConfig } from "./config.ts";
import type { LogFields, Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { deltaAckDelta, PendingActions, readWelcome } from "./pending_actions.ts";

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

/** Decode limits by server config: one object per server rather than per session. */
const limitsByConfig = new WeakMap<ServerConfig, DecodeLimits>();

function decodeLimits(config: ServerConfig): DecodeLimits {
  let limits = limitsByConfig.get(config);
  if (!limits) {
    // Complete, so the decoder uses it as is instead of filling in defaults per frame.
    limits = { ...DEFAULT_INBOUND_LIMITS, maxFrameBytes: config.maxFrameBytes };
    limitsByConfig.set(config, limits);
  }
  return limits;
}

const WELCOME = FRAME_KINDS.welcome;
const DELTA = FRAME_KINDS.delta;
const REJECT = FRAME_KINDS.reject;
const PING = FRAME_KINDS.ping;
const LEAVE = FRAME_KINDS.leave;

/**
 * Drives one server-side WebSocket through the protocol. Attach it right after
 * `Deno.upgradeWebSocket`; it installs the socket's listeners itself. It is also the
 * {@linkcode Member} its room sends frames through, and counts what those frames say
 * (deltas, acknowledged and refused actions, resyncs) in the server's metrics.
 *
 * Thousands of idle sessions stay open at once, so a session holds no closures: the socket's
 * events come to {@linkcode SocketSession.handleEvent} and log lines name the session as a
 * field rather than through a child logger.
 *
 * @example
 * ```ts ignore
 * const { socket, response } = Deno.upgradeWebSocket(request, { protocol: SUBPROTOCOL });
 * new SocketSession(socket, context);
 * return response;
 * ```
 */
export class SocketSession implements Member, HeldInputHandler {
  /** Short id used in logs. */
  readonly id = `s${nextSessionNumber++}`;
  readonly #socket: WebSocket;
  readonly #context: SessionContext;
  readonly #bucket: TokenBucket;
  readonly #limits: DecodeLimits;
  #seat: SessionSeat | null = null;
  /** Actions sent to the room and not yet answered, with their arrival times. */
  #pending: PendingActions | null = null;
  /**
   * Bytes the socket may hold at most: its `bufferedAmount` when last read, plus everything
   * sent since. Reading `bufferedAmount` is a call into the runtime, so it is read only when
   * this bound could pass `maxBufferedBytes`.
   */
  #bufferedBound = 0;
  #joining = false;
  /** A `leave` came while the join was in flight. */
  #leaving = false;
  /** A `leave` came: nothing the client sends after it counts (the socket closes soon). */
  #left = false;
  /** The join in flight (or done) asked to resume a seat. */
  #resuming = false;
  #opened = false;
  #closed = false;
  #rateLimitedInARow = 0;
  /**
   * Actions of the seat refused here since the last one passed on, handed to the room with
   * the next: once that one is acknowledged, only the room's memory of these refusals keeps
   * a resuming client (whose `reject` frames were lost) from taking them for applied.
   */
  #refusedSinceAct: SettledReject[] = [];
  #joinTimer: ReturnType<typeof setTimeout> | undefined;
  /** Frames the room holds for its next tick (see {@linkcode SocketSession.handleHeldInput}). */
  #heldFrames = 0;
  /** Their bytes. */
  #heldBytes = 0;

  /** Wires the socket; the session lives until the socket closes. */
  constructor(socket: WebSocket, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    const { config } = context;
    this.#bucket = new TokenBucket(config.actionRate, config.actionBurst);
    this.#limits = decodeLimits(config);
    socket.binaryType = "arraybuffer";
    // Counted from the upgrade, not from `open`: a socket whose upgrade response never reached
    // the peer (it hung up first) never opens, and must not hold its session forever either.
    this.#joinTimer = setTimeout(SocketSession.#joinTimedOut, config.joinTimeoutMs, this);
    // The session is the listener (`handleEvent`): no closure per socket and event type.
    socket.addEventListener("open", this);
    socket.addEventListener("message", this);
    socket.addEventListener("close", this);
    // No "error" listener: an error is always followed by close, which carries all there is.
  }

  static #joinTimedOut(session: SocketSession): void {
    session.#fail("join_timeout", `No join within ${session.#context.config.joinTimeoutMs} ms.`);
  }

  /** The socket's events (the session is registered as their listener object). */
  handleEvent(event: Event): void {
    switch (event.type) {
      case "message": {
        const data = (event as MessageEvent).data;
        const arrivedAt = performance.now();
        // Counted on arrival, whether or not the room holds it until its tick.
        if (data instanceof ArrayBuffer) this.#context.metrics.frameReceived(data.byteLength);
        if (!this.#hold(data, arrivedAt)) this.#onMessage(data, arrivedAt);
        return;
      }
      case "open":
        if (this.#closed) return;
        this.#opened = true;
        this.#context.metrics.connectionOpened();
        return;
      case "close": {
        const { code, reason } = event as CloseEvent;
        // Deno's own heartbeat (the `idleTimeout` option): the peer did not answer a ping.
        if (code === 1001 && reason === DENO_HEARTBEAT_REASON && !this.#closed) {
          this.#log("info", "heartbeat timeout", {
            seconds: this.#context.config.heartbeatSeconds,
          });
        }
        this.#onClose();
        return;
      }
    }
  }

  /**
   * Sends one frame from the room (the {@linkcode Member} side of the session) and records
   * what it means: a `delta` acknowledging actions times them, a `reject` refuses one, a
   * `welcome` starts the count of acknowledgements over.
   */
  send(frame: Uint8Array): void {
    if (!this.#send(frame)) return;
    const metrics = this.#context.metrics;
    switch (frame[0]) {
      case DELTA: {
        metrics.deltaSent();
        const ackDelta = deltaAckDelta(frame);
        if (ackDelta > 0) this.#pending?.ack(ackDelta, performance.now(), metrics);
        return;
      }
      case REJECT: {
        // Rare and small: decoding the whole frame is fine.
        const reject = decodeServerMessage(frame);
        if (reject.kind !== "reject") return;
        this.#pending?.reject(reject.seq);
        metrics.actionRejected(reject.code);
        return;
      }
      case WELCOME: {
        const { ack, fullState } = readWelcome(frame);
        (this.#pending ??= new PendingActions()).reset(ack);
        // A resume that could not replay what it missed gets the whole state again.
        if (this.#resuming && fullState) metrics.resynced();
        return;
      }
    }
  }

  /** Closes the socket (the room already sent an `error` frame saying why). */
  close(code: number, reason: string): void {
    this.#closeSocket(code, reason);
  }

  /**
   * Sends one frame unless the client stopped reading: every frame (room broadcasts, pongs,
   * rejects) goes through here, so a peer that floods requests and never reads the answers
   * cannot grow the server's send buffer past `maxBufferedBytes`. Returns whether it went out.
   */
  #send(frame: Uint8Array): boolean {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return false;
    const max = this.#context.config.maxBufferedBytes;
    if (this.#bufferedBound + frame.byteLength > max) {
      const buffered = this.#socket.bufferedAmount;
      if (buffered > max) {
        this.#log("warn", "slow consumer dropped", { buffered });
        this.#context.metrics.slowConsumerDropped();
        // No error frame: it would only queue behind what the client is not reading.
        this.#closeSocket(CLOSE_CODES.slow_consumer, "slow_consumer");
        return false;
      }
      this.#bufferedBound = buffered;
    }
    this.#bufferedBound += frame.byteLength;
    this.#socket.send(frame);
    this.#context.metrics.frameSent(frame.byteLength);
    return true;
  }

  /** Writes a log line naming this session. */
  #log(level: "info" | "warn" | "error", msg: string, fields: LogFields = {}): void {
    // Once joined, every line names the room too, so a log query can follow one game.
    const room = this.#seat ? { room: this.#seat.room.id } : {};
    this.#context.log[level](msg, { session: this.id, ...room, ...fields });
  }

  /**
   * Leaves a frame with the room until its next tick when the room broadcasts per tick (see
   * `Seat.hold`): it then handles everything that arrived since the last tick in one go, just
   * before the tick, instead of waking up for each frame; the frame's effects would not go out
   * before that tick anyway. Handled at once, after whatever the room holds (so this session's
   * frames still run in arrival order, through the rate limit too): a ping (it times the round
   * trip), a `leave` (its close must not wait), a text frame and a frame too large to hold (both
   * refused), and the frame past a burst of frames or a largest frame's bytes held within one
   * tick, so a flood is refused as it arrives and what a connection can make the server hold
   * stays small however slowly its room ticks.
   */
  #hold(data: unknown, arrivedAt: number): boolean {
    const seat = this.#seat;
    if (!seat?.hold || this.#closed || this.#left) return false;
    const bytes = data instanceof ArrayBuffer ? data.byteLength : -1;
    const kind = bytes > 0 ? new Uint8Array(data as ArrayBuffer, 0, 1)[0] : -1;
    const { actionBurst, maxFrameBytes } = this.#context.config;
    const atOnce = kind === PING || kind === LEAVE || bytes < 0 || bytes > maxFrameBytes;
    if (atOnce || this.#heldFrames >= actionBurst || this.#heldBytes + bytes > maxFrameBytes) {
      if (this.#heldFrames > 0) seat.release?.();
      if (atOnce || this.#seat !== seat) return false;
    }
    if (!seat.hold(this, data, arrivedAt)) return false;
    this.#heldFrames++;
    this.#heldBytes += bytes;
    return true;
  }

  /**
   * A frame the room held for its tick comes back (the {@linkcode HeldInputHandler} side of
   * the session; the room calls it, in arrival order): it is handled as if it arrived now,
   * with its real arrival time for the rate limit and the action's latency.
   */
  handleHeldInput(input: unknown, arrivedAt: number): void {
    this.#heldFrames--;
    this.#heldBytes -= (input as ArrayBuffer).byteLength;
    this.#onMessage(input, arrivedAt);
  }

  #onMessage(data: unknown, arrivedAt: number): void {
    if (this.#closed || this.#left) return;
    if (!(data instanceof ArrayBuffer)) {
      this.#fail(
        "text_frame",
        "Send binary frames only; text frames are not part of the protocol.",
      );
      return;
    }
    let message: ClientMessage;
    try {
      message = decodeClientMessage(new Uint8Array(data), this.#limits);
    } catch (error) {
      if (error instanceof ActionPayloadError) {
        // Well-formed but too large: this action is refused, the connection stays.
        if (this.#admit(error.seq, arrivedAt)) {
          this.#reject(error.seq, error.code, error.message);
        }
      } else if (error instanceof ProtocolError) {
        this.#fail(error.code, error.message);
      } else {
        this.#log("error", "decoder escaped", { error: String(error) });
        this.#fail("internal", "The frame could not be read.");
      }
      return;
    }
    try {
      this.#dispatch(message, arrivedAt);
    } catch (error) {
      // A bug in one handler must cost one connection at most, never the process.
      this.#log("error", "session handler failed", { error: String((error as Error)?.stack) });
      this.#fail("internal", "Unexpected server error.");
    }
  }

  #dispatch(message: ClientMessage, arrivedAt: number): void {
    switch (message.kind) {
      case "join":
        void this.#join(message);
        return;
      case "action": {
        if (!this.#admit(message.seq, arrivedAt)) return;
        // Tracked before the room sees it: the room may answer within this call.
        this.#pending?.track(message.seq, arrivedAt);
        const refused = this.#refusedSinceAct;
        if (refused.length === 0) {
          this.#seat!.act(message.seq, message.name, message.payload);
        } else {
          this.#refusedSinceAct = [];
          this.#seat!.act(message.seq, message.name, message.payload, refused);
        }
        return;
      }
      case "ping":
        // Pings share the action budget; a ping over it gets no pong.
        if (!this.#takeToken(arrivedAt)) return;
        this.#send(encodeServerMessage({
          kind: "pong",
          clientTime: message.time,
          serverTime: Date.now(),
        }));
        return;
      case "leave": {
        // A leave while the join is in flight gives up the seat once the join lands.
        if (this.#joining) this.#leaving = true;
        this.#left = true;
        const left = this.#seat?.leave();
        this.#seat = null;
        // Closed once the room processed the leave: the acks of actions sent before it (a
        // `log` room may still be storing one) reach the client first.
        const close = () => this.#closeSocket(CLOSE_CODES.normal, "left");
        if (left) left.then(close, close);
        else close();
        return;
      }
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
    this.#resuming = Boolean(message.resume);
    clearTimeout(this.#joinTimer);
    const { manager, verifyToken, metrics } = this.#context;
    const started = performance.now();
    try {
      let user = this.#context.user;
      if (verifyToken) {
        user = await verifyToken(message.token);
        if (!user) throw new ArbiterError("unauthorized", "A valid, unexpired token is required.");
      }
      // Gone while authenticating: a join now would take a seat for nobody or, repeating a join
      // key, take it from the retry that is already playing in it.
      if (this.#closed) return;
      const request: JoinRequest = {
        mode: message.mode,
        room: message.room,
        game: message.game,
        options: message.options,
        name: user?.name ?? message.name,
        spectator: message.spectator,
        private: message.private,
        resume: message.resume,
        user: user ?? undefined,
        key: message.key,
      };
      const seat = this.#context.join
        ? await this.#context.join(request, this)
        : await manager.join(request, this);
      if (this.#closed) {
        // The socket went away while the join was in flight: a `leave` gives the seat up, a
        // lost connection keeps it for a resume.
        if (this.#leaving) seat.leave();
        else seat.disconnect();
        return;
      }
      this.#seat = seat;
      metrics.joined(performance.now() - started, Boolean(message.resume));
      this.#log("info", "joined", {
        room: seat.room.id,
        player: seat.player,
        resumed: Boolean(message.resume),
      });
    } catch (error) {
      // The join frame was decoded already: a ProtocolError now comes from data the server
      // encoded (a game's state or view), and its code would blame the client's frame.
      const known = error instanceof ArbiterError && !(error instanceof ProtocolError);
      const code: ErrorCode = known ? error.code : "internal";
      // An `internal` ArbiterError was logged where it was made (the manager's `room error`).
      if (!known) {
        const game = message.game ?? manager.get(message.room ?? "")?.game.name;
        this.#log("error", "join failed", {
          game,
          error: String((error as Error)?.stack ?? error),
        });
      }
      metrics.joinFailed(code);
      this.#fail(code, known ? error.message : "Unexpected server error.");
    } finally {
      this.#joining = false;
    }
  }

  /**
   * Takes a token of the connection's action budget (actions and pings). Without one, counts
   * toward the flood streak; `abuseLimit` refusals in a row close with `policy_violation`.
   */
  #takeToken(now: number): boolean {
    if (this.#bucket.take(now)) {
      this.#rateLimitedInARow = 0;
      return true;
    }
    if (++this.#rateLimitedInARow >= this.#context.config.abuseLimit) {
      this.#fail("policy_violation", "Sustained flood of actions or pings over the rate limit.");
    }
    return false;
  }

  /**
   * Whether action `seq` may go on to the room: within the action budget and joined; if not,
   * it is refused here. The budget comes first: a connection that never joins must not get
   * unlimited `not_joined` replies out of a flood either.
   */
  #admit(seq: number, now: number): boolean {
    if (!this.#takeToken(now)) {
      if (this.#closed) {
        this.#context.metrics.actionRejected("rate_limited");
        return false;
      }
      const { actionRate, actionBurst } = this.#context.config;
      this.#reject(
        seq,
        "rate_limited",
        `At most ${actionRate} actions/s (bursts of ${actionBurst}); this one was dropped.`,
      );
      return false;
    }
    if (!this.#seat) {
      this.#reject(seq, "not_joined", "Join a room before sending actions.");
      return false;
    }
    return true;
  }

  /** A refusal by the session itself (the action never reached a room). */
  #reject(seq: number, code: ErrorCode, message: string): void {
    if (this.#seat && Number.isSafeInteger(seq) && seq > 0) {
      // Older ones could not be remembered anyway (the room keeps as many).
      if (this.#refusedSinceAct.push({ seq, code, message }) > REMEMBERED_REFUSALS) {
        this.#refusedSinceAct.shift();
      }
    }
    this.#context.metrics.actionRejected(code);
    this.#send(encodeServerMessage({ kind: "reject", seq, code, message }));
  }

  /** Sends `error` with the code, then closes with the matching close code. */
  #fail(code: ErrorCode, message: string): void {
    if (this.#closed) return;
    this.#log("info", "connection refused", { code, reason: message });
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
    if (this.#heldFrames > 0) {
      // Frames held for the room's tick arrived before the close: they count, as they would
      // have had the room taken them on arrival. One of them may end the session itself.
      this.#seat?.release?.();
      if (this.#closed) return;
    }
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    if (this.#opened) this.#context.metrics.connectionClosed();
    const seat = this.#seat;
    this.#seat = null;
    // Not a deliberate leave: the seat waits out its grace window for a resume.
    seat?.disconnect();
  }
}

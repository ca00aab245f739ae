/**
 * A joined room as the client sees it: a local mirror of the state kept up to date from
 * deltas, typed actions acknowledged by the server, presence, and a connection that resumes
 * itself after a drop.
 *
 * @module
 */
import {
  type ActionLimits,
  type ActionMessage,
  applyOps,
  ArbiterError,
  CLOSE_CODES,
  decodeClientMessage,
  type DecodeLimits,
  decodeServerMessage,
  DEFAULT_OUTBOUND_LIMITS,
  DeltaDecoder,
  type DeltaMessage,
  encodeClientMessage,
  type ErrorCode,
  type EventMessage,
  freezeValue,
  type JoinMessage,
  type Outcome,
  type PlayerInfo,
  PROTOCOL_VERSION,
  ProtocolError,
  REMEMBERED_REFUSALS,
  type ServerMessage,
  SUBPROTOCOL,
  TokenBucket,
  type Value,
  type WelcomeMessage,
} from "../protocol/mod.ts";
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import { Listeners } from "./listeners.ts";

/**
 * Where the connection stands: `connecting` (first join), `connected`, `reconnecting` (dropped,
 * retrying), `offline` (several retries failed; still retrying), `closed` (left, or gave up).
 */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline" | "closed";

/** The WebSocket constructor the client uses (the global one unless injected). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

/** Options shared by every room a client joins. */
export interface ClientOptions {
  /** Display name sent with each join. */
  name?: string;
  /** Auth token for servers that require one, or a function that fetches a fresh one. */
  token?: string | (() => string | Promise<string>);
  /** Reconnect policy; `false` disables automatic reconnect. */
  reconnect?:
    | false
    | (BackoffOptions & {
      /**
       * Give up after this many failed attempts in a row. Default: never. An attempt whose
       * connection broke within 5 s of its welcome counts as failed, and the backoff keeps
       * growing across such attempts.
       */
      maxAttempts?: number;
      /** Report `offline` after this many failed attempts. Default 3. */
      offlineAfter?: number;
      /**
       * How long a first join (before any welcome) keeps trying a server it cannot reach,
       * e.g. one that is restarting (also one that answers `server_restart`), before its
       * promise rejects with `unreachable` (or the server's error), ms. Default 10 000.
       */
      firstJoinMs?: number;
    });
  /** Actions sent while reconnecting: `queue` (default) sends them after the resume; `reject` fails them at once. */
  whileReconnecting?: "queue" | "reject";
  /**
   * Pace sends to the server's action limit (told in each welcome), so that a burst or what
   * was queued while reconnecting waits its turn instead of being refused `rate_limited`.
   * Default true; false sends each action at once, and the server refuses those over its limit
   * (for inputs better dropped than late).
   */
  paceActions?: boolean;
  /**
   * How long one connection attempt may take from opening its socket to the server's welcome
   * before it counts as failed (and the next attempt follows), ms: a connection into a black
   * hole or to a hung server never closes by itself. A first join also stops at `firstJoinMs`.
   * Default 10 000.
   */
  joinTimeoutMs?: number;
  /** How often to ping for round-trip time and clock offset, ms; 0 disables. Default 5 000. */
  pingIntervalMs?: number;
  /** Decoder limits for frames from the server. */
  limits?: DecodeLimits;
  /** WebSocket implementation, for runtimes without a global one. */
  WebSocket?: WebSocketConstructor;
}

/** What a join asks for; built by {@linkcode ArbiterClient} methods. */
export interface JoinTarget {
  mode: JoinMessage["mode"];
  room?: string;
  game?: string;
  options?: { [key: string]: Value };
  spectator?: boolean;
  /** `create` only: a private room (out of room lists; its 16-character id is the invitation). */
  private?: boolean;
  /** Resume this seat (a session token kept from an earlier `welcome`) in `room`. */
  session?: string;
}

interface PendingAction {
  seq: number;
  name: string;
  /**
   * The encoded `action` frame (a copy): sent again as is after a resume, unless the server's
   * list of actions changed (it names the action by its index in that list).
   */
  frame: Uint8Array;
  resolve: () => void;
  reject: (error: ArbiterError) => void;
}

// Close codes after which reconnecting cannot help: the server said no for good.
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.normal,
  CLOSE_CODES.protocol_error,
  CLOSE_CODES.unsupported_data,
  CLOSE_CODES.policy_violation,
  CLOSE_CODES.message_too_big,
  CLOSE_CODES.join_failed,
  CLOSE_CODES.session_replaced,
  CLOSE_CODES.room_closed,
  CLOSE_CODES.unauthorized,
]);

// Error codes that end the session: a resume with the same token would fail the same way.
const FINAL_ERROR_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "bad_session",
  "room_not_found",
  "room_closed",
  "unauthorized",
  "session_replaced",
  "unsupported_version",
  "policy_violation",
]);

// Error codes that refuse a first join only for now: it is retried within `firstJoinMs` (its join
// key keeps a retry from taking a second seat).
const RETRIED_FIRST_JOIN_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["server_restart"]);

/**
 * A room this client joined. `S` is the state as this client may see it (the game's view),
 * `A` maps action names to payload types. Create one with {@linkcode ArbiterClient}.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./mod.ts";
 * import type { ticTacToe } from "../games/mod.ts";
 * const client = connect("ws://localhost:8000/ws", { name: "ann" });
 * const room = await client.joinOrCreate<typeof ticTacToe>("tic_tac_toe");
 * room.onState((state) => console.log(state.board));
 * await room.send("place", { cell: 4 }); // resolves once the server applied it
 * ```
 */
export class RoomConnection<S = Value, A extends Record<string, unknown> = Record<string, Value>> {
  readonly #url: string;
  readonly #options: ClientOptions;
  #target: JoinTarget;
  #socket: WebSocket | null = null;
  /** Whether the current socket opened (a socket that never did found no server). */
  #socketOpened = false;
  /** When {@linkcode RoomConnection.open} was called (the first join's budget starts). */
  #openedAt = 0;
  #status: ConnectionStatus = "connecting";
  /** Whether a `welcome` ever arrived: until then every attempt is a first join. */
  #welcomed = false;
  /**
   * Sent with every first-join attempt (PROTOCOL.md 6.1): a retry after a welcome lost with its
   * connection gets the seat (and room) the lost one took, not a second one. Made at the first
   * such join; `undefined` where the runtime has no Web Crypto (then none is sent).
   */
  #joinKey: string | undefined | null = null;
  /** Whether the current socket sent its `join` (a `leave` before it would give up nothing). */
  #joinSent = false;
  /**
   * The last frame this client could not read since its last welcome: the error it gives up
   * with (after a welcome) says so.
   */
  #decodeError: ProtocolError | null = null;
  /** When the current socket last received a frame (a silent link is a dead one). */
  #lastHeardAt = 0;
  #roomId = "";
  #game = "";
  #player: string | null = null;
  #session = "";
  #seq = 0;
  #time = 0;
  #ack = 0;
  #state: Value = null;
  #decoder = new DeltaDecoder();
  #actionNames: string[] = [];
  #players = new Map<string, PlayerInfo>();
  #outcome: Outcome | null = null;
  #nextActionSeq = 1;
  #pending = new Map<number, PendingAction>();
  #attempt = 0;
  /** When the current connection's `welcome` arrived (0: not welcomed yet). */
  #welcomedAt = 0;
  /** The highest action seq sent on the current socket. */
  #sentThrough = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #joinTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  /** Paces sends within the limits of the current socket's welcome (null: none given). */
  #pacer: TokenBucket | null = null;
  #paceTimer: ReturnType<typeof setTimeout> | undefined;
  #rtt = NaN;
  #clockOffset = 0;
  #turnDeadline: number | null = null;
  #lastError: ArbiterError | null = null;
  #forceFullState = false;
  /** The sequence the mirror was at when the last gap was seen (-1: none yet). */
  #gapAt = -1;
  #replayedResumes = 0;
  #fullResumes = 0;
  #joined: { resolve: () => void; reject: (e: ArbiterError) => void } | null = null;

  readonly #stateListeners = new Listeners<S>();
  readonly #eventListeners = new Listeners<EventMessage>();
  readonly #presenceListeners = new Listeners<PlayerInfo[]>();
  readonly #gameOverListeners = new Listeners<Outcome>();
  readonly #statusListeners = new Listeners<ConnectionStatus>();
  readonly #rejectListeners = new Listeners<ArbiterError>();
  readonly #pongListeners = new Listeners<number>();

  /** Use {@linkcode ArbiterClient} instead; this is its building block. */
  constructor(url: string, target: JoinTarget, options: ClientOptions = {}) {
    this.#url = url;
    this.#target = target;
    this.#options = options;
    if (target.session !== undefined) {
      // Resuming a seat from a stored token: there is no mirror yet, so ask for the full state.
      this.#session = target.session;
      this.#roomId = target.room ?? "";
      this.#forceFullState = true;
    }
  }

  /**
   * Opens the socket and joins; resolves once the `welcome` arrived. A join that cannot be
   * encoded (game options that are not a {@linkcode Value}, a name or token that is not text)
   * rejects at once with `bad_field` or `forbidden_key`, before any socket is opened.
   */
  open(): Promise<this> {
    this.#openedAt = Date.now();
    return new Promise<this>((resolve, reject) => {
      this.#joined = { resolve: () => resolve(this), reject };
      // A token function's result is checked once fetched, in #sendJoin.
      const token = this.#options.token;
      try {
        encodeClientMessage(this.#joinMessage(typeof token === "function" ? undefined : token));
      } catch (error) {
        this.#close(asArbiterError(error, "bad_field"));
        return;
      }
      this.#openSocket();
    });
  }

  /** Room id. */
  get roomId(): string {
    return this.#roomId;
  }
  /** Game name. */
  get game(): string {
    return this.#game;
  }
  /** This client's player id, or null for a spectator. */
  get player(): string | null {
    return this.#player;
  }
  /** The session token that resumes this seat (keep it to resume after a page reload). */
  get session(): string {
    return this.#session;
  }
  /**
   * The state as this client may see it, as of {@linkcode RoomConnection.seq}. Frozen: each
   * change gives a new object (parts that did not change are the same objects as before), so
   * a framework can compare by reference; copy it (`structuredClone`) to change it locally.
   */
  get state(): S {
    return this.#state as S;
  }
  /** Room sequence of {@linkcode RoomConnection.state}. */
  get seq(): number {
    return this.#seq;
  }
  /** Server time of the last broadcast applied, ms since the Unix epoch. */
  get serverTime(): number {
    return this.#time;
  }
  /** Players and their presence. */
  get players(): PlayerInfo[] {
    return [...this.#players.values()];
  }
  /** The outcome, once the game is over. */
  get outcome(): Outcome | null {
    return this.#outcome;
  }
  /** Connection status. */
  get status(): ConnectionStatus {
    return this.#status;
  }
  /** Last measured round-trip time, ms (NaN before the first pong). */
  get rtt(): number {
    return this.#rtt;
  }
  /** Estimated `serverClock - localClock`, ms. */
  get clockOffset(): number {
    return this.#clockOffset;
  }
  /**
   * When the running turn clock ends, in server time (ms since the epoch), or null when the
   * game has no clock running. Compare with {@linkcode RoomConnection.serverNow}. It changes
   * with the `turn_clock` event that follows the delta of a step that started a turn, so just
   * after `send()` resolves (or `onState` fires) it may still be the last turn's: to react to a
   * new deadline, listen with {@linkcode RoomConnection.onEvent} for `turn_clock`.
   */
  get turnDeadline(): number | null {
    return this.#turnDeadline;
  }
  /** The server's clock as this client estimates it: `Date.now()` plus the measured offset. */
  serverNow(): number {
    return Date.now() + this.#clockOffset;
  }
  /** Actions sent and not yet applied or rejected. */
  get pendingActions(): number {
    return this.#pending.size;
  }
  /** How many resumes replayed missed deltas, and how many needed a full state. */
  get resumes(): { replayed: number; full: number } {
    return { replayed: this.#replayedResumes, full: this.#fullResumes };
  }
  /**
   * The error that closed the connection for good, if any. When the client gave up
   * reconnecting after a frame from the server it could not read (e.g. a `welcome` over its
   * {@linkcode ClientOptions.limits}), the error's message says so and its `cause` is that
   * {@linkcode ProtocolError}; a first join (or `resume()`) whose welcome cannot be read fails
   * with that `ProtocolError` itself (e.g. `frame_too_large`).
   */
  get lastError(): ArbiterError | null {
    return this.#lastError;
  }

  /** Called with the new state after every change. Returns an unsubscribe function. */
  onState(callback: (state: S) => void): () => void {
    return this.#stateListeners.add(callback);
  }
  /** Called for every room event (joins, drops, custom game events). */
  onEvent(callback: (event: EventMessage) => void): () => void {
    return this.#eventListeners.add(callback);
  }
  /** Called with the player list whenever someone's presence changes. */
  onPresence(callback: (players: PlayerInfo[]) => void): () => void {
    return this.#presenceListeners.add(callback);
  }
  /**
   * Called once when the game ends. Added after it ended (e.g. on a room joined or resumed once
   * the game was over), it is called once right away, asynchronously. Never twice for one room.
   */
  onGameOver(callback: (outcome: Outcome) => void): () => void {
    const off = this.#gameOverListeners.add(callback);
    const outcome = this.#outcome;
    if (outcome === null) return off;
    let subscribed = true;
    queueMicrotask(() => {
      if (subscribed) callback(outcome);
    });
    return () => {
      subscribed = false;
      off();
    };
  }
  /** Called on every connection status change. */
  onStatus(callback: (status: ConnectionStatus) => void): () => void {
    return this.#statusListeners.add(callback);
  }
  /**
   * Called once for every action the server refused (its `send` promise rejects too), also for
   * a refusal learnt at a resume. Not called for what `send` rejects locally (a payload that
   * cannot be encoded, `whileReconnecting: "reject"`, a closed room).
   */
  onReject(callback: (error: ArbiterError) => void): () => void {
    return this.#rejectListeners.add(callback);
  }

  /**
   * Sends an action. Resolves when the server has applied it (the delta acknowledging it was
   * applied to {@linkcode RoomConnection.state}); rejects with an {@linkcode ArbiterError} whose
   * `code` says why it was refused. A payload that is not a {@linkcode Value} (`NaN`, a `Date`,
   * nesting deeper than 64) rejects at once with `bad_field` (or `forbidden_key`) and is not
   * sent. An action whose payload may be null (`t.literal(null)`, or no payload schema) can
   * leave it out: `room.send("resign")` sends null. The move that ends the game resolves with
   * {@linkcode RoomConnection.outcome} already set (the server acknowledges it after `game_over`).
   */
  send<K extends keyof A & string>(
    name: K,
    ...payload: null extends A[K] ? [payload?: A[K]] : [payload: A[K]]
  ): Promise<void> {
    if (this.#status === "closed") {
      return Promise.reject(
        this.#lastError ?? new ArbiterError("not_joined", "This room connection is closed."),
      );
    }
    // A socket that is closing counts as gone already: its `close` event may not have fired.
    const live = this.#status === "connected" && this.#socket?.readyState === OPEN;
    if (!live && this.#options.whileReconnecting === "reject") {
      return Promise.reject(
        new ArbiterError("not_joined", "Not connected; the action was not sent (reconnecting)."),
      );
    }
    // Encoded now: an action that cannot be must never wait in #pending for a resume to resend.
    const seq = this.#nextActionSeq;
    let frame: Uint8Array;
    try {
      frame = this.#encodeAction(seq, name, (payload.length === 0 ? null : payload[0]) as Value);
    } catch (error) {
      return Promise.reject(asArbiterError(error, "bad_field"));
    }
    this.#nextActionSeq++;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(seq, { seq, name, frame, resolve, reject });
      // Otherwise it goes out with the others after the resume's welcome.
      this.#sendPending();
    });
  }

  /**
   * Measures round-trip time now; resolves with it in ms, or NaN when not connected or the
   * connection drops before the answer. Rejects with `heartbeat_timeout` when no `pong` came
   * within `timeoutMs` (the server answers no ping over its rate limit, PROTOCOL.md 6.4).
   */
  ping(timeoutMs = 10_000): Promise<number> {
    if (this.#status !== "connected" || this.#socket?.readyState !== OPEN) {
      return Promise.resolve(NaN);
    }
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        offPong();
        offStatus();
      };
      const done = (rtt: number) => {
        finish();
        resolve(rtt);
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new ArbiterError(
            "heartbeat_timeout",
            `No pong within ${timeoutMs} ms (a ping over the server's rate limit gets none).`,
          ),
        );
      }, timeoutMs);
      const offPong = this.#pongListeners.add(done);
      const offStatus = this.#statusListeners.add((s) => s !== "connected" && done(NaN));
      this.#sendPing();
    });
  }

  /**
   * Leaves the room deliberately: the seat is given up (not held for a resume). While
   * reconnecting, a short-lived socket resumes the seat only to leave it; if the server cannot
   * be reached the seat is freed when its grace period (`GRACE_MS`) ends. Actions already sent
   * reach the server before the leave and settle from its answer (`send("resign")` then
   * `leave()` resolves, and `state` and `outcome` show it by then, though listeners no longer
   * hear it); those not sent yet reject with `not_joined`.
   */
  leave(): void {
    if (this.#status === "closed") return;
    // A `leave` before this socket's join (still fetching a token) would give up nothing.
    if (this.#socket?.readyState === OPEN && this.#joinSent) {
      // What the pacer still holds goes now, before the leave (as all went before pacing): the
      // server answers each, at worst with `rate_limited`.
      this.#sendPending(false);
      this.#socket.send(encodeClientMessage({ kind: "leave" }));
      if (this.#welcomedAt !== 0) this.#settleWhileLeaving(this.#socket);
    } else if (this.#welcomed && this.#player !== null) {
      this.#openSocket(true);
    }
    this.#close(new ArbiterError("not_joined", "Left the room."), CLOSE_CODES.normal);
  }

  /**
   * Hands the actions sent on `socket` over to it: they settle from the acks and refusals the
   * server sends before it closes the socket for the leave (its close, or `joinTimeoutMs`
   * without one, rejects the rest with `not_joined`). The room is closed meanwhile.
   */
  #settleWhileLeaving(socket: WebSocket): void {
    const sent = new Map<number, PendingAction>();
    for (const [seq, action] of this.#pending) {
      if (seq > this.#sentThrough) break;
      sent.set(seq, action);
      this.#pending.delete(seq);
    }
    this.#socket = null;
    if (sent.size === 0) return void socket.close(CLOSE_CODES.normal, "closing");
    let ack = this.#ack;
    let mirroring = true;
    const finish = () => {
      clearTimeout(timer);
      socket.onmessage = socket.onclose = null;
      const error = new ArbiterError(
        "not_joined",
        "Left the room before the server said whether this action was applied.",
      );
      for (const action of sent.values()) action.reject(error);
      sent.clear();
      if (socket.readyState <= OPEN) socket.close(CLOSE_CODES.normal, "closing");
    };
    const timer = setTimeout(finish, this.#options.joinTimeoutMs ?? 10_000);
    socket.onclose = finish;
    socket.onmessage = (event) => {
      if (!(event.data instanceof ArrayBuffer)) return;
      let message: ServerMessage;
      try {
        message = decodeServerMessage(
          new Uint8Array(event.data),
          this.#options.limits ?? DEFAULT_OUTBOUND_LIMITS,
        );
      } catch {
        return finish();
      }
      if (message.kind === "delta") {
        // The room is closed, so no listener hears it, but `state` shows what settles (a
        // delta it cannot read stops the mirror there, not the settling).
        if (mirroring && message.seq === this.#seq + 1) {
          try {
            this.#applyDelta(message);
          } catch {
            mirroring = false;
          }
        }
        ack += message.ackDelta;
        for (const [seq, action] of sent) {
          if (seq > ack) break;
          sent.delete(seq);
          action.resolve();
        }
      } else if (message.kind === "game_over") {
        this.#outcome ??= message.outcome;
      } else if (message.kind === "reject") {
        const action = sent.get(message.seq);
        sent.delete(message.seq);
        action?.reject(new ArbiterError(message.code, message.message));
      }
      if (sent.size === 0) finish();
    };
  }

  /**
   * Drops the socket without leaving, as a network failure would (the seat waits for the
   * resume that follows automatically). Useful to test reconnection; `fullState` makes the
   * resume ask for the full state instead of the missed deltas.
   */
  dropConnection(fullState = false): void {
    if (fullState) this.#forceFullState = true;
    this.#socket?.close(4100, "client dropped the connection");
  }

  // --- socket lifecycle -------------------------------------------------------------------

  /** `farewell`: a socket that only resumes the seat to leave it, then closes. */
  #openSocket(farewell = false): void {
    const WS = this.#options.WebSocket ?? globalThis.WebSocket;
    let socket: WebSocket;
    try {
      socket = new WS(this.#socketUrl(), SUBPROTOCOL);
    } catch (error) {
      // The constructor refuses what no retry can fix (a malformed URL, a blocked port).
      if (!farewell) {
        this.#close(
          new ArbiterError(
            "unreachable",
            `Cannot open a WebSocket to ${this.#socketUrl()}: ${(error as Error).message}`,
          ),
        );
      }
      return;
    }
    socket.binaryType = "arraybuffer";
    if (farewell) {
      socket.onopen = () => void this.#sendJoin(socket, true);
      socket.onerror = () => {};
      return;
    }
    this.#socket = socket;
    this.#socketOpened = false;
    this.#joinSent = false;
    this.#sentThrough = 0;
    this.#armJoinTimer(socket);
    socket.onopen = () => {
      if (this.#socket === socket) this.#socketOpened = true;
      void this.#sendJoin(socket);
    };
    socket.onmessage = (event) => {
      if (this.#socket !== socket) return;
      this.#lastHeardAt = Date.now();
      if (!(event.data instanceof ArrayBuffer)) return;
      let message: ServerMessage;
      let decoder: DeltaDecoder | undefined;
      try {
        message = decodeServerMessage(
          new Uint8Array(event.data),
          this.#options.limits ?? DEFAULT_OUTBOUND_LIMITS,
        );
        // A full-state welcome's tables are part of reading it (they may exceed the caps).
        if (message.kind === "welcome" && !message.replay) {
          decoder = new DeltaDecoder(message.keys, message.refs, this.#options.limits);
        }
      } catch (error) {
        this.#onUnreadable(error);
        return;
      }
      if (message.kind === "welcome") this.#onWelcome(message, decoder);
      else this.#handle(message);
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.#onSocketGone(event.code, event.reason);
    };
    socket.onerror = () => {
      // onclose follows and decides what to do.
    };
  }

  /**
   * Fails the attempt of `socket` if no welcome came within `joinTimeoutMs` (a first join: nor
   * within what is left of `firstJoinMs`), as if the socket had closed.
   */
  #armJoinTimer(socket: WebSocket): void {
    const policy = this.#options.reconnect;
    let ms = this.#options.joinTimeoutMs ?? 10_000;
    if (!this.#welcomed && policy !== false) {
      ms = Math.min(ms, this.#openedAt + (policy?.firstJoinMs ?? 10_000) - Date.now());
    }
    ms = Math.max(0, ms);
    clearTimeout(this.#joinTimer);
    this.#joinTimer = setTimeout(() => {
      if (this.#socket !== socket) return;
      const stage = this.#socketOpened
        ? "the socket opened, but the server did not answer the join"
        : "the socket did not open";
      this.#onSocketGone(
        null,
        "",
        new ArbiterError(
          "unreachable",
          `No welcome from ${this.#url} within ${ms} ms (${stage}): check that the server runs ` +
            "and is not overloaded, and that nothing between drops the connection.",
        ),
      );
      // After #onSocketGone: its close event is then of no current socket, and ignored.
      try {
        socket.close(CLOSE_CODES.normal, "no welcome in time");
      } catch {
        // Closing a socket that never opened may throw in some runtimes; it is dropped anyway.
      }
    }, ms);
  }

  /**
   * The socket URL, with `room=<id>` once the room is known: a load balancer in front of
   * several servers can then send every player of a room to the same one (nginx
   * `hash $arg_room consistent`; see docs/DEPLOYMENT.md). Servers ignore the parameter.
   */
  #socketUrl(): string {
    const room = this.#roomId || this.#target.room;
    if (!room) return this.#url;
    try {
      const url = new URL(this.#url);
      url.searchParams.set("room", room);
      return url.href;
    } catch {
      return this.#url;
    }
  }

  async #sendJoin(socket: WebSocket, farewell = false): Promise<void> {
    const tokenOption = this.#options.token;
    let token: string | undefined;
    try {
      token = typeof tokenOption === "function" ? await tokenOption() : tokenOption;
    } catch (error) {
      if (farewell) socket.close();
      else this.#close(new ArbiterError("unauthorized", `token: ${(error as Error).message}`));
      return;
    }
    if ((!farewell && this.#socket !== socket) || socket.readyState !== OPEN) return;
    let frame: Uint8Array;
    try {
      frame = encodeClientMessage(this.#joinMessage(token, farewell));
    } catch (error) {
      // E.g. a token function that returned no string: no retry would fix it.
      if (farewell) socket.close();
      else this.#close(asArbiterError(error, "bad_field"));
      return;
    }
    socket.send(frame);
    if (farewell) {
      // The server gives the seat up once this join lands, even if the socket is gone by then.
      socket.send(encodeClientMessage({ kind: "leave" }));
      socket.close(CLOSE_CODES.normal, "left");
    } else {
      this.#joinSent = true;
    }
  }

  /** The `join` this client sends now (a resume once it holds a session token). */
  #joinMessage(token: string | undefined, farewell = false): JoinMessage {
    const resuming = this.#session !== "";
    const join: JoinMessage = resuming
      ? {
        kind: "join",
        version: PROTOCOL_VERSION,
        mode: "join",
        room: this.#roomId,
        // Sequence 0 asks for a full state: used when the mirror cannot be trusted.
        resume: { session: this.#session, seq: this.#forceFullState ? 0 : this.#seq },
      }
      : { kind: "join", version: PROTOCOL_VERSION, ...this.#target };
    if (!resuming && !farewell && !this.#target.spectator) {
      if (this.#joinKey === null) this.#joinKey = newJoinKey();
      if (this.#joinKey !== undefined) join.key = this.#joinKey;
    }
    if (this.#options.name !== undefined) join.name = this.#options.name;
    if (token !== undefined) join.token = token;
    return join;
  }

  /** `lost`: why the socket is given up, when the client gave it up (else read from the close). */
  #onSocketGone(code: number | null, reason: string, lost?: ArbiterError): void {
    this.#socket = null;
    clearTimeout(this.#joinTimer);
    this.#stopPing();
    if (this.#status === "closed") return;
    const error = this.#lastError;
    if (error && FINAL_ERROR_CODES.has(error.code)) {
      this.#close(error);
      return;
    }
    if (code !== null && FINAL_CLOSE_CODES.has(code)) {
      this.#close(
        error ??
          new ArbiterError("room_closed", `Server closed the connection (${code} ${reason}).`),
      );
      return;
    }
    // Backoff starts over only after a connection that lasted: one that breaks right after its
    // welcome (a room that cannot send its state) must not bring the client back at once, forever.
    if (this.#welcomedAt > 0 && Date.now() - this.#welcomedAt >= STABLE_CONNECTION_MS) {
      this.#attempt = 0;
    }
    this.#welcomedAt = 0;
    const policy = this.#options.reconnect;
    const firstJoin = !this.#welcomed;
    // The first join failing for a reason other than the network is the caller's to handle.
    if (firstJoin && error && !RETRIED_FIRST_JOIN_CODES.has(error.code)) {
      this.#close(error);
      return;
    }
    if (policy === false) {
      this.#close(this.#withDecodeError(error ?? lost ?? this.#lostError(code, reason)));
      return;
    }
    const { maxAttempts = Infinity, offlineAfter = 3, firstJoinMs = 10_000 } = policy ?? {};
    const delay = backoffDelay(this.#attempt, policy || {});
    const outOfAttempts = this.#attempt >= maxAttempts;
    // A first join has no room to come back to: its caller waits, for `firstJoinMs` at most.
    if (firstJoin && (outOfAttempts || Date.now() + delay > this.#openedAt + firstJoinMs)) {
      this.#close(error ?? lost ?? this.#lostError(code, reason, this.#attempt + 1));
      return;
    }
    if (outOfAttempts) {
      this.#close(
        // The room may well be there: its seat can still be resumed (`client.resume`) in time.
        this.#withDecodeError(
          new ArbiterError(
            "unreachable",
            `Gave up reconnecting after ${this.#attempt} attempts (the last: ${
              (lost ?? this.#lostError(code, reason)).message
            }).`,
          ),
        ),
      );
      return;
    }
    this.#setStatus(this.#attempt >= offlineAfter ? "offline" : "reconnecting");
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#lastError = null;
      this.#openSocket();
    }, delay);
  }

  /** Why a socket closed without an `error` frame, for the caller. */
  #lostError(code: number | null, reason: string, attempts = 1): ArbiterError {
    const closed = `closed ${code ?? "-"}${reason ? ` "${reason}"` : ""}`;
    const tries = attempts > 1 ? ` after ${attempts} attempts` : "";
    if (this.#socketOpened) {
      return new ArbiterError(
        "room_closed",
        `The server closed the connection (${closed})${tries}.`,
      );
    }
    // Browsers hide why an upgrade failed (refused, wrong path, HTTP 429 or 403...).
    return new ArbiterError(
      "unreachable",
      `No WebSocket to ${this.#url} could be opened (${closed})${tries}: check that the server ` +
        "runs (and is not restarting), the URL ends in its WebSocket path (/ws), this page's " +
        "origin is allowed (ALLOWED_ORIGINS) and this address is under its connection limit.",
    );
  }

  /**
   * `error` (decoding a frame, or applying a delta) failed. Before any welcome the join fails at
   * once with it: a retry would get the same frame. After one, the mirror is in doubt: resync
   * with a full state, keeping the error for the give-up error should the resumes fail.
   */
  #onUnreadable(error: unknown): void {
    const cause = error instanceof ProtocolError
      ? error
      : new ProtocolError("bad_delta", `${(error as Error)?.message ?? error}`);
    if (!this.#welcomed) {
      this.#close(cause);
      return;
    }
    this.#decodeError = cause;
    // Not a server-side reason to stop: the resume decides.
    this.#lastError = null;
    this.#resync(true);
  }

  #resync(fullState: boolean): void {
    if (fullState) this.#forceFullState = true;
    // Closing makes onclose schedule a resume, which replays what we missed.
    this.#socket?.close(4101, "client resync");
  }

  /** `error`, saying (and with as `cause`) the last frame from the server it could not read. */
  #withDecodeError(error: ArbiterError): ArbiterError {
    const cause = this.#decodeError;
    if (cause === null || error === cause) return error;
    const out = new ArbiterError(
      error.code,
      `${error.message} The last frame this client could not read: ${cause.code}: ${cause.message}`,
    );
    out.cause = cause;
    return out;
  }

  #close(error: ArbiterError, code: number = CLOSE_CODES.normal): void {
    this.#lastError = error;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#joinTimer);
    clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    this.#stopPing();
    const socket = this.#socket;
    this.#socket = null;
    if (socket && socket.readyState <= OPEN) socket.close(code, "closing");
    for (const action of this.#pending.values()) action.reject(error);
    this.#pending.clear();
    this.#joined?.reject(error);
    this.#joined = null;
    this.#setStatus("closed");
  }

  #setStatus(status: ConnectionStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#statusListeners.emit(status);
  }

  // --- messages ---------------------------------------------------------------------------

  #handle(message: Exclude<ServerMessage, WelcomeMessage>): void {
    switch (message.kind) {
      case "delta":
        return this.#onDelta(message);
      case "reject":
        this.#refuse(message.seq, new ArbiterError(message.code, message.message));
        this.#sendPending();
        return;
      case "event":
        this.#onPresenceEvent(message);
        if (message.type === "turn_clock") this.#onTurnClock(message);
        this.#eventListeners.emit(message);
        return;
      case "game_over":
        this.#gameOver(message.outcome);
        return;
      case "pong": {
        const now = nowMicros();
        this.#rtt = (now - message.clientTime) / 1000;
        this.#clockOffset = message.serverTime + this.#rtt / 2 - Date.now();
        this.#pongListeners.emit(this.#rtt);
        return;
      }
      case "error":
        this.#lastError = new ArbiterError(message.code, message.message);
        if (!this.#welcomed && !RETRIED_FIRST_JOIN_CODES.has(message.code)) {
          // The first join failed: report it to the caller rather than retrying.
          this.#close(this.#lastError, CLOSE_CODES.normal);
        }
        return;
    }
  }

  /** `decoder`: the full-state welcome's, built while reading the frame. */
  #onWelcome(welcome: WelcomeMessage, decoder: DeltaDecoder | undefined): void {
    clearTimeout(this.#joinTimer);
    this.#roomId = welcome.room;
    this.#game = welcome.game;
    this.#player = welcome.player;
    this.#session = welcome.session;
    const renamed = welcome.actions.length !== this.#actionNames.length ||
      welcome.actions.some((name, i) => name !== this.#actionNames[i]);
    this.#actionNames = welcome.actions;
    if (renamed) {
      // A new release of the game (a deploy): an old index could name another action now.
      for (const action of this.#pending.values()) {
        const sent = decodeClientMessage(action.frame, DEFAULT_OUTBOUND_LIMITS) as ActionMessage;
        action.frame = this.#encodeAction(action.seq, action.name, sent.payload ?? null);
      }
    }
    this.#seq = welcome.seq;
    this.#time = welcome.time;
    this.#ack = welcome.ack;
    // The server follows a welcome with the running turn clock, if any.
    this.#turnDeadline = null;
    // A seat resumed from a stored token continues above the actions applied before, and above
    // those refused: a refused seq used again would settle the new action as that refusal.
    const rejected = welcome.rejected ?? [];
    let next = Math.max(this.#nextActionSeq, welcome.ack + 1);
    for (const refused of rejected) next = Math.max(next, refused.seq + 1);
    this.#nextActionSeq = next;
    const fullState = !welcome.replay;
    if (welcome.resumed) {
      if (fullState) this.#fullResumes++;
      else this.#replayedResumes++;
    }
    if (fullState) {
      this.#state = freezeValue(welcome.state);
      this.#decoder = decoder ?? new DeltaDecoder(welcome.keys, welcome.refs, this.#options.limits);
    }
    this.#forceFullState = false;
    this.#players = new Map(welcome.players.map((p) => [p.id, p]));
    // A resume into a finished game carries its outcome again: announce it only the first time.
    const ended = Boolean(welcome.outcome) && this.#outcome === null;
    if (welcome.outcome) this.#outcome = welcome.outcome;
    this.#welcomed = true;
    this.#lastError = null;
    this.#decodeError = null;
    // Refusals lost with the old connection come first; then what `ack` covers was applied.
    // #refuse skips those settled already (the list repeats them at every resume).
    for (const refused of rejected) {
      this.#refuse(refused.seq, new ArbiterError(refused.code, refused.message));
    }
    // An onReject listener may have left the room: it stays closed.
    if (this.#status === "closed") return;
    this.#settleAcknowledged();
    // Set only now: #sendPending waits for it, so an onReject listener's send() above queued.
    this.#welcomedAt = Date.now();
    this.#pacer = this.#options.paceActions === false ? null : pacerFor(welcome.limits);
    // Only then (a refused action sent again would be a new one to the server) do the actions
    // queued while away, or sent but not settled before the drop, go out again in order,
    // before anything a listener sends; the server settles each client sequence once.
    this.#sendPending();
    this.#setStatus("connected");
    // A status listener may have left the room, or dropped the connection, meanwhile.
    if (this.#status !== "connected") return;
    this.#startPing();
    this.#presenceListeners.emit(this.players);
    if (fullState) this.#stateListeners.emit(this.#state as S);
    if (ended) this.#gameOverListeners.emit(welcome.outcome!);
    this.#joined?.resolve();
    this.#joined = null;
  }

  #gameOver(outcome: Outcome): void {
    const first = this.#outcome === null;
    this.#outcome = outcome;
    if (first) this.#gameOverListeners.emit(outcome);
  }

  #onDelta(delta: DeltaMessage): void {
    if (delta.seq !== this.#seq + 1) {
      // A gap: never apply out of order; resume from the last sequence we applied. A second
      // gap with no progress since the first means the replay itself is wrong: take the full
      // state rather than replay the same thing forever.
      const again = this.#gapAt === this.#seq;
      this.#gapAt = this.#seq;
      this.#resync(again);
      return;
    }
    try {
      const changed = this.#applyDelta(delta);
      this.#ack += delta.ackDelta;
      this.#settleAcknowledged();
      this.#sendPending();
      if (changed) this.#stateListeners.emit(this.#state as S);
    } catch (error) {
      this.#onUnreadable(error);
    }
  }

  /** Moves the mirror by the delta that follows it; whether the state changed. Throws if unreadable. */
  #applyDelta(delta: DeltaMessage): boolean {
    const ops = this.#decoder.decode(delta.ops);
    // A new state each time, sharing what did not change, frozen: one handed out before stays
    // as it was, and a change made to it in place throws rather than splitting the mirror
    // from the server's state.
    if (ops.length > 0) this.#state = applyOps(this.#state, ops, { immutable: true });
    this.#seq = delta.seq;
    this.#time += delta.dt;
    return ops.length > 0;
  }

  #onTurnClock(event: EventMessage): void {
    const deadline = (event.data as { deadline?: unknown } | undefined)?.deadline;
    this.#turnDeadline = typeof deadline === "number" ? deadline : null;
  }

  #onPresenceEvent(event: EventMessage): void {
    if (!event.player) return;
    const known = this.#players.get(event.player);
    const data = (event.data ?? {}) as Partial<PlayerInfo>;
    const presence = PRESENCE_BY_EVENT[event.type];
    if (!presence) return;
    this.#players.set(event.player, {
      id: event.player,
      name: typeof data.name === "string" ? data.name : known?.name ?? event.player,
      seat: typeof data.seat === "number" ? data.seat : known?.seat ?? this.#players.size,
      presence,
    });
    this.#presenceListeners.emit(this.players);
  }

  /**
   * Rejects the pending action `seq` and tells the `onReject` listeners; nothing when it is not
   * pending (settled already, or another client's, as in a resume from a stored token).
   */
  #refuse(seq: number, error: ArbiterError): void {
    const action = this.#pending.get(seq);
    if (!action) return;
    this.#pending.delete(seq);
    action.reject(error);
    this.#rejectListeners.emit(error);
  }

  #settleAcknowledged(): void {
    for (const [seq, action] of this.#pending) {
      if (seq > this.#ack) break;
      this.#pending.delete(seq);
      action.resolve();
    }
  }

  /**
   * Sends, in order, the pending actions not sent on this socket yet, keeping at most
   * {@linkcode REMEMBERED_REFUSALS} unsettled on the wire: should the connection drop, the
   * server's welcome then repeats every refusal among them, and none settles as applied by
   * mistake. The rest go out as those settle. Only once this socket was welcomed. `paced`: as
   * the server's action limit allows (see `paceActions`), or all at once.
   */
  #sendPending(paced = true): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== OPEN || this.#welcomedAt === 0) return;
    let unsettled = 0;
    for (const action of this.#pending.values()) {
      if (++unsettled > REMEMBERED_REFUSALS) return;
      if (action.seq <= this.#sentThrough) continue;
      const pacer = paced ? this.#pacer : null;
      if (pacer && !pacer.take()) {
        // Over the server's limit: wait for it rather than be refused `rate_limited` (what was
        // queued while reconnecting goes out as fast as the server takes it, no faster).
        this.#paceTimer ??= setTimeout(() => {
          this.#paceTimer = undefined;
          this.#sendPending();
        }, Math.ceil(pacer.wait()));
        return;
      }
      try {
        socket.send(action.frame);
        this.#sentThrough = action.seq;
      } catch (error) {
        // One action the socket refuses must not stop the others (nor stay pending).
        this.#pending.delete(action.seq);
        unsettled--;
        action.reject(asArbiterError(error, "bad_field"));
      }
    }
  }

  /** An `action` frame, copied out of the encoder's shared slab (it is kept for a resend). */
  #encodeAction(seq: number, name: string, payload: Value): Uint8Array {
    const index = this.#actionNames.indexOf(name);
    // The index is smaller on the wire than the name.
    return encodeClientMessage({ kind: "action", seq, name: index >= 0 ? index : name, payload })
      .slice();
  }

  #sendPing(): void {
    const socket = this.#socket;
    if (socket?.readyState === OPEN) {
      // Pings share the actions' budget on the server: one is spent even from an empty pacer
      // (the actions after it wait the longer), or frequent pings would crowd actions out.
      this.#pacer?.spend();
      socket.send(encodeClientMessage({ kind: "ping", time: nowMicros() }));
    }
  }

  #startPing(): void {
    this.#stopPing();
    const every = this.#options.pingIntervalMs ?? 5000;
    // Not once closed (e.g. left from a status listener): nothing would clear the interval.
    if (every <= 0 || this.#status !== "connected" || this.#socket === null) return;
    this.#lastHeardAt = Date.now();
    this.#sendPing();
    this.#pingTimer = setInterval(() => {
      // A half-open link (no FIN, e.g. a laptop that slept) never fires `close`: three pings
      // without a word back mean the server is gone, so resume on a fresh socket.
      if (Date.now() - this.#lastHeardAt > 3 * every) {
        const socket = this.#socket;
        this.#socket = null;
        socket?.close(4102, "server silent");
        this.#onSocketGone(null, "no answer to 3 pings");
        return;
      }
      this.#sendPing();
    }, every);
  }

  #stopPing(): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
  }
}

/** How long a welcomed connection must last before reconnect backoff starts over, ms. */
const STABLE_CONNECTION_MS = 5_000;

/**
 * A pacer inside the server's limits: sends spaced at the limit can reach the server bunched
 * (the network's jitter, or a server busy for a moment), and the server's bucket, full all
 * that time, did not keep what it would have refilled. Half the burst absorbs a bunching of
 * about a second at the default limits (30 a second, 60 at once).
 */
function pacerFor(limits: ActionLimits | undefined): TokenBucket | null {
  if (!limits) return null;
  return new TokenBucket(limits.rate * 0.9, Math.max(1, Math.floor(limits.burst / 2)));
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A join key: 144 random bits, base64url (24 characters); undefined without Web Crypto. */
function newJoinKey(): string | undefined {
  // Browsers, Deno and Node 19+ have it; a runtime without it joins without the guarantee.
  const webCrypto = (globalThis as { crypto?: Crypto }).crypto;
  if (typeof webCrypto?.getRandomValues !== "function") return undefined;
  const bytes = webCrypto.getRandomValues(new Uint8Array(18));
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += BASE64URL[n >> 18] + BASE64URL[(n >> 12) & 63] + BASE64URL[(n >> 6) & 63] +
      BASE64URL[n & 63];
  }
  return out;
}

/** `error` as an ArbiterError (an encoder's ProtocolError as is), else one with `code`. */
function asArbiterError(error: unknown, code: ErrorCode): ArbiterError {
  if (error instanceof ArbiterError) return error;
  return new ArbiterError(code, `${(error as Error)?.message ?? error}`);
}

// WebSocket.readyState values, spelled out so an injected implementation needs no global.
const OPEN = 1;

const PRESENCE_BY_EVENT: Record<string, PlayerInfo["presence"] | undefined> = {
  player_joined: "connected",
  player_reconnected: "connected",
  player_disconnected: "disconnected",
  player_left: "left",
};

// Ping times are opaque to the server: microseconds give a useful RTT on loopback.
function nowMicros(): number {
  return Math.round(performance.now() * 1000);
}

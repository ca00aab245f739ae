/**
 * The arena workload: bots seated 8 (or `players`) to a room, each sending `move` at `rate`
 * per second with the send interval jittered ±50 %, latency measured from the send to the
 * frame whose cumulative acknowledgement covers that move's sequence.
 *
 * Two targets: Arbiter (the real protocol, `protocol/mod.ts`) and the baseline relay
 * (`baseline_protocol.ts`), driven the same way so their numbers compare directly.
 *
 * @module
 */
import {
  applyOps,
  decodeServerMessage,
  DeltaDecoder,
  encodeClientMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
  SUBPROTOCOL,
  type Value,
} from "../protocol/mod.ts";
import { decodeServerFrame, encodeJoin, encodeMove } from "./baseline_protocol.ts";
import { NoDelayWebSocket } from "./ws_client.ts";
import { Samples, wireBytes } from "./stats.ts";
import {
  AckTracker,
  type Counters,
  newCounters,
  type PhaseClock,
  type SliceResult,
  type SliceRunner,
} from "./tally.ts";

/** What an arena slice (one worker's share of the rooms) needs. */
export interface ArenaConfig {
  target: "arbiter" | "baseline";
  /** WebSocket endpoint. */
  wsUrl: string;
  /** Rooms of this slice: Arbiter room ids, or baseline room numbers. */
  rooms: (string | number)[];
  /** Bots per room. */
  players: number;
  /** Moves per second per bot (0: join and stay idle). */
  rate: number;
  /** Decode every delta and keep a state mirror (checks the deltas; costs generator CPU). */
  decode: boolean;
  /** Give up on a join after this long, ms. */
  joinTimeoutMs: number;
  /** Joins in flight at once while connecting the slice. */
  joinConcurrency: number;
}

/** Shared by the bots of a slice: counters, samples and the phase clock. */
export interface ArenaShared {
  counters: Counters;
  latency: Samples;
  joinLatency: Samples;
  /** Set once the run starts. */
  clock: PhaseClock | null;
  /** Error codes seen (join failures, rejects), with counts. */
  codes: Record<string, number>;
}

/** The arena game's action payload; `seq` lets the game record the last move it applied. */
function movePayload(seq: number): { dx: number; dy: number; seq: number } {
  return { dx: randomStep(), dy: randomStep(), seq };
}

/** A step in [-1, 1], in quarters so it stays small on the wire. */
function randomStep(): number {
  return Math.round(Math.random() * 8 - 4) / 4;
}

function note(shared: ArenaShared, code: string): void {
  shared.codes[code] = (shared.codes[code] ?? 0) + 1;
}

/** One simulated player. */
abstract class ArenaBot {
  protected socket: NoDelayWebSocket | null = null;
  protected readonly shared: ArenaShared;
  protected readonly config: ArenaConfig;
  readonly acks: AckTracker;
  joined = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closedByUs = false;
  #settle: ((ok: boolean) => void) | null = null;
  #joinStart = 0;

  constructor(config: ArenaConfig, shared: ArenaShared) {
    this.config = config;
    this.shared = shared;
    this.acks = new AckTracker(shared.latency);
  }

  /** Connects and joins; resolves true on a welcome, false on any failure (counted). */
  join(): Promise<boolean> {
    this.shared.counters.clients++;
    return new Promise((resolve) => {
      const timeout = setTimeout(() => {
        this.shared.counters.failed_joins++;
        note(this.shared, "join_timeout");
        this.#finishJoin(false);
        this.close();
      }, this.config.joinTimeoutMs);
      this.#settle = (ok) => {
        clearTimeout(timeout);
        this.#settle = null;
        resolve(ok);
      };
      this.#joinStart = performance.now();
      let socket: NoDelayWebSocket;
      try {
        socket = this.openSocket();
      } catch (error) {
        this.shared.counters.connection_failures++;
        note(this.shared, `connect: ${(error as Error).message}`);
        this.#finishJoin(false);
        return;
      }
      this.socket = socket;
      socket.onopen = () => socket.send(this.joinFrame());
      socket.onmessage = (bytes) => this.#onFrame(bytes);
      socket.onerror = () => {
        if (!this.joined && this.#settle) {
          this.shared.counters.connection_failures++;
          note(this.shared, "connect_error");
          this.#finishJoin(false);
        }
      };
      socket.onclose = (event) => {
        clearTimeout(this.#timer);
        if (this.#settle) {
          this.shared.counters.failed_joins++;
          note(this.shared, `closed_before_welcome_${event.code}`);
          this.#finishJoin(false);
        } else if (this.joined && !this.#closedByUs) {
          this.shared.counters.disconnects++;
          note(this.shared, `closed_${event.code}`);
        }
      };
    });
  }

  #finishJoin(ok: boolean): void {
    this.#settle?.(ok);
  }

  /** Called by subclasses when the welcome arrived. */
  protected welcomed(): void {
    this.joined = true;
    this.shared.counters.joined++;
    this.shared.joinLatency.add(performance.now() - this.#joinStart);
    this.#finishJoin(true);
  }

  /** Called by subclasses when the join was refused. */
  protected refused(code: string): void {
    if (!this.#settle) return;
    this.shared.counters.failed_joins++;
    note(this.shared, code);
    this.#finishJoin(false);
  }

  /** Starts the jittered send loop. */
  start(): void {
    if (!this.joined || this.config.rate <= 0) return;
    const interval = 1000 / this.config.rate;
    const tick = () => {
      const clock = this.shared.clock;
      if (!clock?.loading || this.socket?.readyState !== NoDelayWebSocket.OPEN) return;
      const seq = this.acks.send(performance.now(), clock.measuring);
      this.shared.counters.actions_sent++;
      this.socket.send(this.moveFrame(seq));
      this.#timer = setTimeout(tick, interval * (0.5 + Math.random()));
    };
    // Spread the first sends over one interval so bots do not move in lockstep.
    this.#timer = setTimeout(tick, interval * Math.random());
  }

  /** Stops sending. */
  stop(): void {
    clearTimeout(this.#timer);
  }

  /** Closes the socket (a deliberate leave on Arbiter). */
  close(): void {
    this.stop();
    this.#closedByUs = true;
    const socket = this.socket;
    if (!socket) return;
    try {
      if (socket.readyState === NoDelayWebSocket.OPEN) {
        this.beforeClose(socket);
        socket.close(1000, "done");
      } else if (socket.readyState === NoDelayWebSocket.CONNECTING) {
        socket.close();
      }
    } catch {
      // Already closing.
    }
  }

  #onFrame(bytes: Uint8Array): void {
    const clock = this.shared.clock;
    if (clock?.measuring) {
      this.shared.counters.frames_measured++;
      this.shared.counters.bytes_measured += wireBytes(bytes.length);
    }
    try {
      this.onFrame(bytes, clock?.measuring ?? false);
    } catch (error) {
      this.shared.counters.decode_errors++;
      note(this.shared, `decode: ${(error as Error).message}`);
    }
  }

  protected abstract openSocket(): NoDelayWebSocket;
  protected abstract joinFrame(): Uint8Array;
  protected abstract moveFrame(seq: number): Uint8Array;
  protected abstract onFrame(bytes: Uint8Array, measuring: boolean): void;
  protected beforeClose(_socket: NoDelayWebSocket): void {}
}

/** A bot speaking Arbiter's protocol. */
export class ArbiterArenaBot extends ArenaBot {
  readonly #room: string;
  #seq = 0;
  #moveAction: string | number = "move";
  #decoder: DeltaDecoder | null = null;
  #state: Value = null;
  #player: string | null = null;

  constructor(config: ArenaConfig, shared: ArenaShared, room: string) {
    super(config, shared);
    this.#room = room;
  }

  /** The decoded state mirror (only with `decode`). */
  get state(): Value {
    return this.#state;
  }

  /** This bot's player id once joined. */
  get player(): string | null {
    return this.#player;
  }

  #lastSeq(): number | null {
    const players = (this.#state as { players?: Record<string, { lastSeq?: number }> } | null)
      ?.players;
    if (!this.#player) return null;
    return players?.[this.#player]?.lastSeq ?? null;
  }

  protected openSocket(): NoDelayWebSocket {
    return new NoDelayWebSocket(this.config.wsUrl, SUBPROTOCOL);
  }

  protected joinFrame(): Uint8Array {
    return encodeClientMessage({
      kind: "join",
      version: PROTOCOL_VERSION,
      mode: "join",
      room: this.#room,
      name: "bot",
    });
  }

  protected moveFrame(seq: number): Uint8Array {
    return encodeClientMessage({
      kind: "action",
      seq,
      name: this.#moveAction,
      payload: movePayload(seq),
    });
  }

  protected override beforeClose(socket: NoDelayWebSocket): void {
    socket.send(encodeClientMessage({ kind: "leave" }));
  }

  protected onFrame(bytes: Uint8Array, measuring: boolean): void {
    const msg: ServerMessage = decodeServerMessage(bytes);
    const counters = this.shared.counters;
    switch (msg.kind) {
      case "delta": {
        if (msg.seq !== this.#seq + 1) counters.seq_gaps++;
        this.#seq = msg.seq;
        counters.deltas_received++;
        if (measuring) counters.deltas_measured++;
        if (msg.ackDelta > 0) {
          counters.actions_acked += this.acks.ackTo(
            this.acks.acked + msg.ackDelta,
            performance.now(),
          );
        }
        if (this.#decoder) {
          this.#state = applyOps(this.#state, this.#decoder.decode(msg.ops));
          // The game echoes each applied move's seq as lastSeq: the mirror must agree with the ack.
          if (msg.ackDelta > 0 && this.#lastSeq() !== this.acks.acked) counters.mirror_mismatches++;
        }
        return;
      }
      case "welcome": {
        this.#seq = msg.seq;
        this.acks.reset(msg.ack);
        this.#player = msg.player;
        const index = msg.actions.indexOf("move");
        if (index >= 0) this.#moveAction = index;
        if (this.config.decode) {
          this.#decoder = new DeltaDecoder(msg.keys, msg.refs);
          this.#state = msg.state;
        }
        this.welcomed();
        return;
      }
      case "reject":
        counters.rejects++;
        this.acks.reject(msg.seq);
        note(this.shared, `reject_${msg.code}`);
        return;
      case "error":
        if (!this.joined) this.refused(msg.code);
        else note(this.shared, `error_${msg.code}`);
        return;
      default:
        // events, game_over and pongs do not matter to the arena load.
        return;
    }
  }
}

/** A bot speaking the baseline relay's framing. */
export class BaselineArenaBot extends ArenaBot {
  readonly #room: number;

  constructor(config: ArenaConfig, shared: ArenaShared, room: number) {
    super(config, shared);
    this.#room = room;
  }

  protected openSocket(): NoDelayWebSocket {
    return new NoDelayWebSocket(this.config.wsUrl);
  }

  protected joinFrame(): Uint8Array {
    return encodeJoin(this.#room);
  }

  protected moveFrame(seq: number): Uint8Array {
    const { dx, dy } = movePayload(seq);
    return encodeMove(seq, dx, dy);
  }

  protected onFrame(bytes: Uint8Array, measuring: boolean): void {
    const frame = decodeServerFrame(bytes);
    if (frame.kind === "welcome") {
      this.welcomed();
      return;
    }
    const counters = this.shared.counters;
    // A frame relaying others' moves is this client's "delta"; an ack-only frame is not.
    if (frame.entries > 0) {
      counters.deltas_received++;
      if (measuring) counters.deltas_measured++;
    }
    if (frame.ack !== null) {
      counters.actions_acked += this.acks.ackTo(frame.ack, performance.now());
    }
  }
}

/**
 * Creates the bots of a slice, `players` per room.
 *
 * @example
 * ```ts ignore
 * const bots = createArenaBots(config, shared);
 * await joinAll(bots, 100);
 * ```
 */
export function createArenaBots(config: ArenaConfig, shared: ArenaShared): ArenaBot[] {
  const bots: ArenaBot[] = [];
  for (const room of config.rooms) {
    for (let i = 0; i < config.players; i++) {
      bots.push(
        config.target === "arbiter"
          ? new ArbiterArenaBot(config, shared, String(room))
          : new BaselineArenaBot(config, shared, Number(room)),
      );
    }
  }
  return bots;
}

/** Joins every bot, at most `concurrency` joins in flight; resolves with how many joined. */
export async function joinAll(bots: readonly ArenaBot[], concurrency: number): Promise<number> {
  let next = 0;
  let joined = 0;
  const lane = async () => {
    while (next < bots.length) {
      const bot = bots[next++];
      if (await bot.join()) joined++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  return joined;
}

export type { ArenaBot };

/**
 * One worker's share of the arena: joins its bots in `prepare`, moves them through the
 * warm-up and the measured window, then waits for every outstanding ack (until the drain
 * deadline) and counts the ones that never came as lost.
 *
 * @example
 * ```ts ignore
 * const slice = new ArenaSlice(config);
 * await slice.prepare();
 * await slice.run(new PhaseClock(timeline));
 * console.log(slice.result().counters.lost_acks);
 * ```
 */
export class ArenaSlice implements SliceRunner {
  readonly config: ArenaConfig;
  readonly shared: ArenaShared;
  readonly bots: ArenaBot[];

  constructor(config: ArenaConfig) {
    this.config = config;
    this.shared = {
      counters: newCounters(),
      latency: new Samples(16_384),
      joinLatency: new Samples(1024),
      clock: null,
      codes: {},
    };
    this.bots = createArenaBots(config, this.shared);
  }

  get counters(): Counters {
    return this.shared.counters;
  }

  get latency(): Samples {
    return this.shared.latency;
  }

  async prepare(): Promise<void> {
    await joinAll(this.bots, this.config.joinConcurrency);
  }

  async run(clock: PhaseClock): Promise<void> {
    this.shared.clock = clock;
    await clock.until("warmup");
    for (const bot of this.bots) bot.start();
    await clock.until("drain");
    for (const bot of this.bots) bot.stop();
    // Wait for the acks still in flight, up to the drain deadline.
    while (clock.phase !== "done" && this.#outstanding() > 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.shared.counters.lost_acks = this.#outstanding();
    for (const bot of this.bots) bot.close();
    // Let the close frames go out before the worker is torn down.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  #outstanding(): number {
    let n = 0;
    for (const bot of this.bots) if (bot.joined) n += bot.acks.outstanding;
    return n;
  }

  result(): SliceResult {
    return {
      counters: { ...this.shared.counters },
      latency: this.shared.latency.toArray(),
      joinLatency: this.shared.joinLatency.toArray(),
      codes: { ...this.shared.codes },
      extra: {},
    };
  }
}

/**
 * The turn-based workload: pairs of bots play complete games (tic-tac-toe, connect four) with
 * random legal moves, `concurrency` games at a time. Each bot mirrors the state from the
 * deltas (`DeltaDecoder` + `applyOps`) to know whose turn it is and which moves are legal;
 * every `game_over` is checked against the final board (a winner has a line, a draw is a full
 * board) and the two players' mirrors must agree.
 *
 * @module
 */
import {
  applyOps,
  decodeServerMessage,
  DeltaDecoder,
  encodeClientMessage,
  type Outcome,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
  type Value,
} from "../protocol/mod.ts";
import { Samples, wireBytes } from "./stats.ts";
import {
  AckTracker,
  type Counters,
  newCounters,
  type PhaseClock,
  type SliceResult,
  type SliceRunner,
} from "./tally.ts";
import { TURN_GAMES, type TurnGame } from "./turn_games.ts";
import { NoDelayWebSocket } from "./ws_client.ts";

/** What a turns slice needs. */
export interface TurnsConfig {
  wsUrl: string;
  /** Games to play, in rotation (names of {@linkcode TURN_GAMES}). */
  games: string[];
  /** Games played at the same time by this slice. */
  concurrency: number;
  /** Most games this slice starts. */
  maxGames: number;
  joinTimeoutMs: number;
  /** Think time before each move, ms (0: move as soon as it is our turn). */
  thinkMs: number;
}

/** How long a finished game waits for the ack of its last move before counting it lost, ms. */
const ACK_AFTER_END_MS = 2000;

interface Shared {
  counters: Counters;
  latency: Samples;
  joinLatency: Samples;
  codes: Record<string, number>;
  clock: PhaseClock | null;
}

function note(shared: Shared, code: string): void {
  shared.codes[code] = (shared.codes[code] ?? 0) + 1;
}

/** One player of a match. */
class TurnBot {
  readonly #shared: Shared;
  readonly #game: TurnGame;
  readonly #config: TurnsConfig;
  readonly acks: AckTracker;
  socket: NoDelayWebSocket | null = null;
  player: string | null = null;
  room = "";
  state: Value = null;
  outcome: Outcome | null = null;
  closed = false;
  #decoder: DeltaDecoder | null = null;
  #seq = 0;
  #actionIndex: string | number;
  #inFlight = false;
  #thinking: ReturnType<typeof setTimeout> | undefined;
  #joinTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set by the match once both players are seated. */
  ready = false;
  onWelcome: (() => void) | null = null;
  onOver: (() => void) | null = null;
  /** The socket failed: before its welcome (`joined` false: a failed join) or after it. */
  onFail: ((code: string, joined: boolean) => void) | null = null;

  constructor(shared: Shared, game: TurnGame, config: TurnsConfig) {
    this.#shared = shared;
    this.#game = game;
    this.#config = config;
    this.acks = new AckTracker(shared.latency);
    this.#actionIndex = game.action;
  }

  connect(join: { mode: "create" } | { mode: "join"; room: string }): void {
    const started = performance.now();
    let welcomed = false;
    const socket = new NoDelayWebSocket(this.#config.wsUrl, SUBPROTOCOL);
    this.socket = socket;
    // A join nobody answers is a failed join, as in the arena and the join storm.
    this.#joinTimer = setTimeout(() => {
      if (!welcomed) this.onFail?.("join_timeout", false);
    }, this.#config.joinTimeoutMs);
    socket.onopen = () => {
      socket.send(encodeClientMessage({
        kind: "join",
        version: PROTOCOL_VERSION,
        mode: join.mode,
        ...(join.mode === "join" ? { room: join.room } : { game: this.#game.name }),
        name: "turn-bot",
      }));
    };
    socket.onerror = () => {
      if (!welcomed) {
        this.#shared.counters.connection_failures++;
        this.onFail?.("connect_error", false);
      }
    };
    socket.onclose = (event) => {
      this.closed = true;
      clearTimeout(this.#joinTimer);
      clearTimeout(this.#thinking);
      if (!welcomed) {
        this.onFail?.(`closed_before_welcome_${event.code}`, false);
      } else if (!this.outcome) {
        this.onFail?.(`closed_${event.code}`, true);
      }
    };
    socket.onmessage = (bytes) => {
      const counters = this.#shared.counters;
      const measuring = this.#shared.clock?.measuring ?? false;
      if (measuring) {
        counters.frames_measured++;
        counters.bytes_measured += wireBytes(bytes.length);
      }
      let msg;
      try {
        msg = decodeServerMessage(bytes);
      } catch (error) {
        counters.decode_errors++;
        note(this.#shared, `decode: ${(error as Error).message}`);
        return;
      }
      switch (msg.kind) {
        case "welcome": {
          welcomed = true;
          clearTimeout(this.#joinTimer);
          counters.joined++;
          this.#shared.joinLatency.add(performance.now() - started);
          this.player = msg.player;
          this.room = msg.room;
          this.#seq = msg.seq;
          this.acks.reset(msg.ack);
          this.state = msg.state;
          this.#decoder = new DeltaDecoder(msg.keys, msg.refs);
          const index = msg.actions.indexOf(this.#game.action);
          if (index >= 0) this.#actionIndex = index;
          this.onWelcome?.();
          return;
        }
        case "delta": {
          if (msg.seq !== this.#seq + 1) counters.seq_gaps++;
          this.#seq = msg.seq;
          counters.deltas_received++;
          if (measuring) counters.deltas_measured++;
          try {
            this.state = applyOps(this.state, this.#decoder!.decode(msg.ops));
          } catch (error) {
            counters.decode_errors++;
            note(this.#shared, `delta: ${(error as Error).message}`);
          }
          if (msg.ackDelta > 0) {
            counters.actions_acked += this.acks.ackTo(
              this.acks.acked + msg.ackDelta,
              performance.now(),
            );
            this.#inFlight = false;
          }
          // The ack of the move that ended the game follows game_over.
          if (this.outcome) this.onOver?.();
          else this.maybeMove();
          return;
        }
        case "reject":
          counters.rejects++;
          note(this.#shared, `reject_${msg.code}`);
          this.acks.reject(msg.seq);
          this.#inFlight = false;
          this.maybeMove();
          return;
        case "game_over":
          this.outcome = msg.outcome;
          clearTimeout(this.#thinking);
          this.onOver?.();
          return;
        case "error":
          note(this.#shared, `error_${msg.code}`);
          if (!welcomed) this.onFail?.(msg.code, false);
          return;
        case "event":
          if (msg.type === "player_joined") this.maybeMove();
          return;
        default:
          return;
      }
    };
  }

  /** Moves if it is this bot's turn and nothing of ours is in flight. */
  maybeMove(): void {
    if (!this.ready || this.outcome || this.#inFlight || this.closed || !this.player) return;
    const socket = this.socket;
    if (!socket || socket.readyState !== NoDelayWebSocket.OPEN) return;
    let moves: Value[];
    try {
      if (!this.#game.isTurn(this.state, this.player)) return;
      moves = this.#game.legalMoves(this.state);
    } catch (error) {
      note(this.#shared, `state: ${(error as Error).message}`);
      return;
    }
    if (moves.length === 0) return;
    this.#inFlight = true;
    const send = () => {
      if (this.outcome || socket.readyState !== NoDelayWebSocket.OPEN) return;
      const payload = moves[Math.floor(Math.random() * moves.length)];
      const seq = this.acks.send(performance.now(), this.#shared.clock?.measuring ?? false);
      this.#shared.counters.actions_sent++;
      socket.send(encodeClientMessage({ kind: "action", seq, name: this.#actionIndex, payload }));
    };
    if (this.#config.thinkMs > 0) this.#thinking = setTimeout(send, this.#config.thinkMs);
    else send();
  }

  close(): void {
    clearTimeout(this.#thinking);
    clearTimeout(this.#joinTimer);
    const socket = this.socket;
    if (!socket) return;
    try {
      if (socket.readyState === NoDelayWebSocket.OPEN) {
        socket.send(encodeClientMessage({ kind: "leave" }));
        socket.close(1000, "done");
      } else if (socket.readyState === NoDelayWebSocket.CONNECTING) {
        socket.close();
      }
    } catch {
      // Already closing.
    }
  }
}

/**
 * One worker's share of the turn-based games.
 *
 * @example
 * ```ts ignore
 * const slice = new TurnsSlice({ wsUrl, games: ["tic_tac_toe"], concurrency: 10,
 *   maxGames: 1000, joinTimeoutMs: 10_000, thinkMs: 0 });
 * await slice.run(new PhaseClock(timeline));
 * ```
 */
export class TurnsSlice implements SliceRunner {
  readonly config: TurnsConfig;
  readonly #shared: Shared = {
    counters: newCounters(),
    latency: new Samples(4096),
    joinLatency: new Samples(1024),
    codes: {},
    clock: null,
  };
  readonly #extra: Record<string, number> = {};
  #started = 0;
  #active = new Set<TurnBot>();
  /** Stops each running match from counting anything more (its timers too). */
  #stops = new Set<() => void>();

  constructor(config: TurnsConfig) {
    for (const name of config.games) {
      if (!TURN_GAMES[name]) throw new Error(`No turn-based bot for game "${name}".`);
    }
    this.config = config;
  }

  get counters(): Counters {
    return this.#shared.counters;
  }

  get latency(): Samples {
    return this.#shared.latency;
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  async run(clock: PhaseClock): Promise<void> {
    this.#shared.clock = clock;
    await clock.until("warmup");
    const lanes = Array.from({ length: Math.max(1, this.config.concurrency) }, async () => {
      while (clock.loading && this.#started < this.config.maxGames) {
        const game = TURN_GAMES[this.config.games[this.#started % this.config.games.length]];
        this.#started++;
        await this.#match(game, clock);
      }
    });
    await Promise.race([Promise.all(lanes), clock.until("done")]);
    // Matches still running (or waiting for their last ack) stop counting: counted here.
    for (const stop of this.#stops) stop();
    for (const bot of this.#active) {
      this.#shared.counters.lost_acks += bot.acks.outstanding;
      bot.close();
    }
    this.#extra.games_unfinished = this.#active.size / 2;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  #bump(key: string): void {
    this.#extra[key] = (this.#extra[key] ?? 0) + 1;
  }

  /** Plays one game to its end (or failure); resolves when both bots closed. */
  #match(game: TurnGame, clock: PhaseClock): Promise<void> {
    const shared = this.#shared;
    const counters = shared.counters;
    counters.games_started++;
    counters.clients += 2;
    const measured = clock.measuring;
    const a = new TurnBot(shared, game, this.config);
    const b = new TurnBot(shared, game, this.config);
    this.#active.add(a);
    this.#active.add(b);
    return new Promise<void>((resolve) => {
      let done = false;
      const stop = () => {
        done = true;
        clearTimeout(timer);
        clearTimeout(settling);
      };
      this.#stops.add(stop);
      // `joined`: whether the bot that failed had been welcomed (undefined: neither failed).
      const end = (failure: string | null, joined?: boolean) => {
        if (done) return;
        stop();
        this.#stops.delete(stop);
        if (failure) {
          note(shared, failure);
          if (joined ?? (a.room !== "" && b.player !== null)) counters.disconnects++;
          else counters.failed_joins++;
        }
        counters.lost_acks += a.acks.outstanding + b.acks.outstanding;
        this.#active.delete(a);
        this.#active.delete(b);
        a.close();
        b.close();
        resolve();
      };
      // A game that neither ends nor fails within the bound is reported, never waited on forever.
      const timer = setTimeout(() => end("match_timeout"), this.config.joinTimeoutMs + 60_000);
      const fail = (code: string, joined: boolean) => end(code, joined);
      a.onFail = fail;
      b.onFail = fail;
      a.onWelcome = () => b.connect({ mode: "join", room: a.room });
      b.onWelcome = () => {
        a.ready = true;
        b.ready = true;
        a.maybeMove();
        b.maybeMove();
      };
      let settling: ReturnType<typeof setTimeout> | undefined;
      const over = () => {
        if (!a.outcome || !b.outcome || done) return;
        // The winning move's ack comes right after game_over; one that never comes is lost.
        if (a.acks.outstanding + b.acks.outstanding > 0) {
          settling ??= setTimeout(settled, ACK_AFTER_END_MS);
          return;
        }
        settled();
      };
      const settled = () => {
        if (done || !a.outcome) return;
        clearTimeout(settling);
        counters.games_finished++;
        if (measured && clock.measuring) this.#bump("games_measured");
        if (clock.measuring) this.#bump("games_finished_in_window");
        this.#bump(`games_${game.name}`);
        const problem = game.checkOutcome(a.state, a.outcome) ??
          (JSON.stringify(a.state) !== JSON.stringify(b.state)
            ? "the players' mirrors differ"
            : null) ??
          (JSON.stringify(a.outcome) !== JSON.stringify(b.outcome)
            ? "the players got different outcomes"
            : null);
        if (problem) {
          counters.games_invalid++;
          note(shared, `invalid_${game.name}: ${problem}`);
        } else if (a.outcome.draw) {
          this.#bump(`draws_${game.name}`);
        } else {
          this.#bump(`wins_${game.name}`);
        }
        end(null);
      };
      a.onOver = over;
      b.onOver = over;
      a.connect({ mode: "create" });
    });
  }

  result(): SliceResult {
    return {
      counters: { ...this.#shared.counters },
      latency: this.#shared.latency.toArray(),
      joinLatency: this.#shared.joinLatency.toArray(),
      codes: { ...this.#shared.codes },
      extra: { ...this.#extra, games_started_total: this.#started },
    };
  }
}

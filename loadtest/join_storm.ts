/**
 * The join storm: sessions that connect, `join_or_create` a room, stay a moment and leave,
 * started at a rate that ramps from zero to the peak over the first half of the run and
 * holds there. It measures join latency (socket opened → `welcome`) and counts every failure.
 *
 * @module
 */
import {
  decodeServerMessage,
  encodeClientMessage,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
} from "../protocol/mod.ts";
import { Samples } from "./stats.ts";
import {
  type Counters,
  newCounters,
  type PhaseClock,
  type SliceResult,
  type SliceRunner,
} from "./tally.ts";
import { NoDelayWebSocket } from "./ws_client.ts";

/** What a join-storm slice needs. */
export interface JoinStormConfig {
  wsUrl: string;
  /** Game to `join_or_create`. */
  game: string;
  /** Room options for rooms the storm creates. */
  options?: Record<string, number | string | boolean>;
  /** Peak session starts per second for this slice. */
  rate: number;
  /** How long a session stays joined, ms: uniformly in [min, max]. */
  holdMs: [number, number];
  joinTimeoutMs: number;
  /** Most sessions this slice starts (a bound besides time). */
  maxSessions: number;
}

/**
 * One worker's share of the join storm.
 *
 * @example
 * ```ts ignore
 * const slice = new JoinStormSlice({ wsUrl, game: "arena", rate: 20, holdMs: [500, 1500],
 *   joinTimeoutMs: 10_000, maxSessions: 1000 });
 * await slice.run(new PhaseClock(timeline));
 * ```
 */
export class JoinStormSlice implements SliceRunner {
  readonly config: JoinStormConfig;
  readonly counters: Counters = newCounters();
  readonly latency: Samples = new Samples(1024);
  readonly #codes: Record<string, number> = {};
  #open = 0;
  #started = 0;

  constructor(config: JoinStormConfig) {
    this.config = config;
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  async run(clock: PhaseClock): Promise<void> {
    await clock.until("warmup");
    const { startAt, measureEnd } = clock.timeline;
    const rampEnd = startAt + (measureEnd - startAt) / 2;
    let owed = 0;
    let last = Date.now();
    const sessions: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      const ticker = setInterval(() => {
        const now = Date.now();
        if (!clock.loading || this.#started >= this.config.maxSessions) {
          clearInterval(ticker);
          resolve();
          return;
        }
        const share = now >= rampEnd ? 1 : Math.max(0, (now - startAt) / (rampEnd - startAt));
        owed += (this.config.rate * share * (now - last)) / 1000;
        last = now;
        while (owed >= 1 && this.#started < this.config.maxSessions) {
          owed -= 1;
          this.#started++;
          sessions.push(this.#session(clock));
        }
      }, 10);
    });
    // Sessions still joined leave after their hold; wait for them up to the drain deadline.
    await Promise.race([Promise.all(sessions), clock.until("done")]);
  }

  #note(code: string): void {
    this.#codes[code] = (this.#codes[code] ?? 0) + 1;
  }

  #session(clock: PhaseClock): Promise<void> {
    const counters = this.counters;
    counters.clients++;
    this.#open++;
    const measured = clock.measuring;
    const [minHold, maxHold] = this.config.holdMs;
    const hold = minHold + Math.random() * (maxHold - minHold);
    return new Promise<void>((resolve) => {
      let joined = false;
      let leaving = false;
      let settled = false;
      // Counted as a failed join already: the close we then cause is no second failure.
      let timedOut = false;
      let holdTimer: ReturnType<typeof setTimeout> | undefined;
      const started = performance.now();
      const finish = () => {
        if (settled) return;
        settled = true;
        this.#open--;
        clearTimeout(joinTimer);
        clearTimeout(holdTimer);
        resolve();
      };
      let socket: NoDelayWebSocket;
      try {
        socket = new NoDelayWebSocket(this.config.wsUrl, SUBPROTOCOL);
      } catch (error) {
        counters.connection_failures++;
        this.#note(`connect: ${(error as Error).message}`);
        finish();
        return;
      }
      const joinTimer = setTimeout(() => {
        if (joined) return;
        counters.failed_joins++;
        this.#note("join_timeout");
        timedOut = true;
        try {
          socket.close();
        } catch {
          // Already closing.
        }
        finish();
      }, this.config.joinTimeoutMs);
      let opened = false;
      socket.onopen = () => {
        opened = true;
        socket.send(encodeClientMessage({
          kind: "join",
          version: PROTOCOL_VERSION,
          mode: "join_or_create",
          game: this.config.game,
          options: this.config.options,
          name: "storm",
        }));
      };
      socket.onmessage = (bytes) => {
        if (timedOut) return; // a late answer to a join given up on
        let msg;
        try {
          msg = decodeServerMessage(bytes);
        } catch (error) {
          counters.decode_errors++;
          this.#note(`decode: ${(error as Error).message}`);
          return;
        }
        if (msg.kind === "welcome" && !joined) {
          joined = true;
          clearTimeout(joinTimer);
          counters.joined++;
          if (measured) this.latency.add(performance.now() - started);
          holdTimer = setTimeout(() => {
            leaving = true;
            try {
              socket.send(encodeClientMessage({ kind: "leave" }));
            } catch {
              // The socket closed meanwhile: counted by onclose.
            }
          }, hold);
        } else if (msg.kind === "error" && !joined) {
          counters.failed_joins++;
          this.#note(msg.code);
          joined = true; // settled as a failure; the close that follows is expected
          leaving = true;
        }
      };
      socket.onerror = () => {
        if (!opened) {
          counters.connection_failures++;
          this.#note("connect_error");
          joined = true;
          leaving = true;
        }
      };
      socket.onclose = (event) => {
        if (timedOut) {
          // Counted by the join timer.
        } else if (!joined) {
          counters.failed_joins++;
          this.#note(`closed_before_welcome_${event.code}`);
        } else if (leaving) {
          if (event.code === 1000) counters.leaves++;
        } else {
          counters.disconnects++;
          this.#note(`closed_${event.code}`);
        }
        finish();
      };
    });
  }

  /** Sessions open now. */
  get open(): number {
    return this.#open;
  }

  result(): SliceResult {
    return {
      counters: { ...this.counters },
      latency: new Float64Array(0),
      joinLatency: this.latency.toArray(),
      codes: { ...this.#codes },
      extra: { sessions_started: this.#started },
    };
  }
}

/**
 * What every load scenario counts, the measuring window it counts in, and the bookkeeping of
 * sent actions awaiting their acknowledgement.
 *
 * @module
 */
import { Samples } from "./stats.ts";

/** Counter names shared by all scenarios (each scenario uses the ones that apply). */
export const COUNTER_NAMES = [
  "clients",
  "joined",
  "failed_joins",
  "connection_failures",
  "disconnects",
  "actions_sent",
  "actions_acked",
  "rejects",
  "lost_acks",
  "deltas_received",
  "deltas_measured",
  "bytes_measured",
  "frames_measured",
  "seq_gaps",
  "decode_errors",
  "mirror_mismatches",
  "games_started",
  "games_finished",
  "games_invalid",
  "leaves",
] as const;

/** One counter name. */
export type CounterName = typeof COUNTER_NAMES[number];

/** A set of counters, all starting at 0. */
export type Counters = Record<CounterName, number>;

/**
 * Fresh counters, all 0.
 *
 * @example
 * ```ts
 * import { newCounters } from "./tally.ts";
 * console.log(newCounters().joined); // 0
 * ```
 */
export function newCounters(): Counters {
  const counters = {} as Counters;
  for (const name of COUNTER_NAMES) counters[name] = 0;
  return counters;
}

/**
 * Adds `from` into `into` (merging workers' counters).
 *
 * @example
 * ```ts
 * import { addCounters, newCounters } from "./tally.ts";
 * const a = newCounters();
 * const b = newCounters();
 * b.joined = 3;
 * console.log(addCounters(a, b).joined); // 3
 * ```
 */
export function addCounters(into: Counters, from: Partial<Counters>): Counters {
  for (const name of COUNTER_NAMES) into[name] += from[name] ?? 0;
  return into;
}

/**
 * The run's timeline as `Date.now()` instants: load starts at `startAt`, is measured from
 * `warmupEnd` to `measureEnd`, then stops; acknowledgements may arrive until `drainEnd`.
 */
export interface Timeline {
  startAt: number;
  warmupEnd: number;
  measureEnd: number;
  drainEnd: number;
}

/** Run phases: before start, warm-up, measured, draining (no new load), done. */
export type Phase = "idle" | "warmup" | "measure" | "drain" | "done";

/**
 * Follows a {@linkcode Timeline} with timers so hot paths read a field instead of the clock.
 *
 * @example
 * ```ts
 * import { PhaseClock } from "./tally.ts";
 * const now = Date.now();
 * const clock = new PhaseClock({ startAt: now, warmupEnd: now, measureEnd: now, drainEnd: now });
 * await clock.until("done");
 * console.log(clock.phase); // "done"
 * ```
 */
export class PhaseClock {
  #phase: Phase = "idle";
  #timers: ReturnType<typeof setTimeout>[] = [];
  #waiters: { phase: Phase; resolve: () => void }[] = [];
  readonly timeline: Timeline;

  constructor(timeline: Timeline) {
    this.timeline = timeline;
    const at = (phase: Phase, when: number) => {
      this.#timers.push(setTimeout(() => this.#enter(phase), Math.max(0, when - Date.now())));
    };
    at("warmup", timeline.startAt);
    at("measure", timeline.warmupEnd);
    at("drain", timeline.measureEnd);
    at("done", timeline.drainEnd);
  }

  /** The current phase. */
  get phase(): Phase {
    return this.#phase;
  }

  /** True while load is generated (warm-up and measured window). */
  get loading(): boolean {
    return this.#phase === "warmup" || this.#phase === "measure";
  }

  /** True inside the measured window. */
  get measuring(): boolean {
    return this.#phase === "measure";
  }

  /** Resolves once `phase` (or a later one) is reached. */
  until(phase: Phase): Promise<void> {
    if (PHASE_ORDER.indexOf(this.#phase) >= PHASE_ORDER.indexOf(phase)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ phase, resolve }));
  }

  /** Jumps to `done` now (e.g. every ack arrived early), clearing the timers. */
  finish(): void {
    this.#enter("done");
  }

  #enter(phase: Phase): void {
    if (PHASE_ORDER.indexOf(phase) <= PHASE_ORDER.indexOf(this.#phase)) return;
    this.#phase = phase;
    if (phase === "done") { for (const timer of this.#timers) clearTimeout(timer); }
    const reached = this.#waiters.filter((w) =>
      PHASE_ORDER.indexOf(w.phase) <= PHASE_ORDER.indexOf(phase)
    );
    this.#waiters = this.#waiters.filter((w) => !reached.includes(w));
    for (const waiter of reached) waiter.resolve();
  }
}

const PHASE_ORDER: readonly Phase[] = ["idle", "warmup", "measure", "drain", "done"];

const RING = 4096;
const SENT = 1;
const MEASURED = 2;
const REJECTED = 4;

/**
 * One client's actions in flight: when each sequence was sent, and its latency once the
 * server's cumulative acknowledgement covers it. Sequences start at 1 and grow by one.
 *
 * @example
 * ```ts
 * import { AckTracker } from "./tally.ts";
 * import { Samples } from "./stats.ts";
 * const latency = new Samples();
 * const acks = new AckTracker(latency);
 * const seq = acks.send(100, true);
 * acks.ackTo(seq, 112);
 * console.log(latency.summary().max, acks.outstanding); // 12 0
 * ```
 */
export class AckTracker {
  readonly #latency: Samples;
  readonly #sentAt = new Float64Array(RING);
  readonly #flags = new Uint8Array(RING);
  /** Last sequence sent (0: none yet). */
  lastSent = 0;
  /** Highest sequence the server acknowledged. */
  acked = 0;
  /** Actions acknowledged (not counting rejected ones the ack passed over). */
  ackedCount = 0;
  /** Actions rejected. */
  rejectedCount = 0;

  constructor(latency: Samples) {
    this.#latency = latency;
  }

  /** Records a send at `now` (ms); `measured` marks it for the latency samples. */
  send(now: number, measured: boolean): number {
    const seq = ++this.lastSent;
    const slot = seq % RING;
    this.#sentAt[slot] = now;
    this.#flags[slot] = measured ? SENT | MEASURED : SENT;
    return seq;
  }

  /** Sends in flight (not yet acknowledged, not rejected). */
  get outstanding(): number {
    let n = 0;
    for (let seq = this.acked + 1; seq <= this.lastSent; seq++) {
      if (!(this.#flags[seq % RING] & REJECTED)) n++;
    }
    return n;
  }

  /** The server refused `seq`: it will never be acknowledged by itself. */
  reject(seq: number): void {
    if (seq <= this.acked || seq > this.lastSent) return;
    const slot = seq % RING;
    if (!(this.#flags[slot] & REJECTED)) {
      this.#flags[slot] |= REJECTED;
      this.rejectedCount++;
    }
  }

  /** The server's cumulative ack reached `ack` at `now`: records each newly covered send. */
  ackTo(ack: number, now: number): number {
    if (ack <= this.acked) return 0;
    const top = Math.min(ack, this.lastSent);
    let count = 0;
    for (let seq = this.acked + 1; seq <= top; seq++) {
      const slot = seq % RING;
      const flags = this.#flags[slot];
      if (flags & REJECTED) continue;
      if (flags & MEASURED) this.#latency.add(now - this.#sentAt[slot]);
      count++;
    }
    this.acked = ack;
    this.ackedCount += count;
    return count;
  }

  /** Sets the starting ack (e.g. a welcome's `ack`) without recording anything. */
  reset(ack: number): void {
    this.acked = ack;
    if (this.lastSent < ack) this.lastSent = ack;
  }
}

/** What a worker sends back at the end of its slice. */
export interface SliceResult {
  counters: Counters;
  /** Action latencies measured in the window, ms. */
  latency: Float64Array<ArrayBuffer>;
  /** Join latencies (socket open → welcome), ms. */
  joinLatency: Float64Array<ArrayBuffer>;
  /** Error and close codes seen, with counts. */
  codes: Record<string, number>;
  /** Scenario-specific figures (e.g. games per game name). */
  extra: Record<string, number>;
}

/** One worker's share of a scenario. */
export interface SliceRunner {
  /** Connects what must be connected before the clock starts (e.g. the arena's bots). */
  prepare(): Promise<void>;
  /** Generates load along `clock`; resolves when the slice is done (drained or timed out). */
  run(clock: PhaseClock): Promise<void>;
  /** Counters so far (for the progress line). */
  readonly counters: Counters;
  /** Latency samples so far. */
  readonly latency: Samples;
  /** The final figures. */
  result(): SliceResult;
}

/**
 * Process metrics: counters and histograms the edge and the persistence layer update, read
 * by `GET /metrics` (Prometheus text format) and the `/dashboard` page.
 *
 * @module
 */

/** Latency histogram buckets, ms (upper bounds). */
const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000];

/**
 * A fixed-bucket histogram with a small reservoir of recent samples for percentiles.
 *
 * @example
 * ```ts
 * import { Histogram } from "./metrics.ts";
 * const h = new Histogram([1, 10, 100]);
 * h.observe(0.5);
 * h.observe(42);
 * console.log(h.count, h.percentile(0.5)); // 2 0.5
 * ```
 */
export class Histogram {
  /** Upper bounds of the buckets. */
  readonly bounds: readonly number[];
  /** Cumulative-ready counts per bucket (last one is +Inf). */
  readonly counts: number[];
  /** Sum of all observations. */
  sum = 0;
  /** Number of observations. */
  count = 0;
  readonly #recent: number[] = [];
  #next = 0;

  /** A histogram with these bucket upper bounds. */
  constructor(bounds: readonly number[] = LATENCY_BUCKETS_MS) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
    // A ring of the last 1024 samples gives live percentiles without unbounded memory.
    if (this.#recent.length < 1024) this.#recent.push(value);
    else this.#recent[this.#next++ % 1024] = value;
  }

  /** The `q` quantile (0..1) of the recent samples; NaN when there are none. */
  percentile(q: number): number {
    if (this.#recent.length === 0) return NaN;
    const sorted = [...this.#recent].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }
}

/** Counts by a label value (e.g. error code). */
export type LabeledCounter = Map<string, number>;

function bump(counter: LabeledCounter, label: string, by = 1): void {
  counter.set(label, (counter.get(label) ?? 0) + by);
}

/**
 * The process's metrics. One instance per server; every method is cheap enough for the hot
 * path (a few additions).
 *
 * @example
 * ```ts
 * import { Metrics } from "./metrics.ts";
 * const m = new Metrics();
 * m.connectionOpened();
 * m.frameSent(12);
 * console.log(m.connections, m.bytesOut); // 1 12
 * ```
 */
export class Metrics {
  /** Open sockets now. */
  connections = 0;
  /** Sockets ever opened. */
  connectionsTotal = 0;
  /** Frames received. */
  framesIn = 0;
  /** Frames sent. */
  framesOut = 0;
  /** Bytes received (WebSocket payload). */
  bytesIn = 0;
  /** Bytes sent (WebSocket payload). */
  bytesOut = 0;
  /** Successful joins (fresh). */
  joins = 0;
  /** Successful resumes. */
  resumes = 0;
  /** Full-state resyncs sent to resuming clients. */
  resyncs = 0;
  /** Failed joins by error code. */
  readonly joinFailures: LabeledCounter = new Map();
  /** Actions applied. */
  actionsAccepted = 0;
  /** Actions refused, by error code. */
  readonly actionsRejected: LabeledCounter = new Map();
  /** Delta frames sent. */
  deltasSent = 0;
  /** Slow consumers dropped. */
  slowConsumers = 0;
  /** Join latency, ms. */
  readonly joinLatency: Histogram = new Histogram();
  /**
   * Time from an action's arrival to the frame that answers it (the acknowledging delta:
   * queueing, validation, apply and, for tick-based games, the wait for the tick), ms.
   */
  readonly actionLatency: Histogram = new Histogram();
  /** Deno KV write latency, ms. */
  readonly kvWriteLatency: Histogram = new Histogram();

  /** A socket opened. */
  connectionOpened(): void {
    this.connections++;
    this.connectionsTotal++;
  }
  /** A socket closed. */
  connectionClosed(): void {
    this.connections--;
  }
  /** A frame arrived. */
  frameReceived(bytes: number): void {
    this.framesIn++;
    this.bytesIn += bytes;
  }
  /** A frame was sent. */
  frameSent(bytes: number): void {
    this.framesOut++;
    this.bytesOut += bytes;
  }
  /** A join succeeded after `ms`. */
  joined(ms: number, resumed: boolean): void {
    if (resumed) this.resumes++;
    else this.joins++;
    this.joinLatency.observe(ms);
  }
  /** A join failed. */
  joinFailed(code: string): void {
    bump(this.joinFailures, code);
  }
  /** A delta frame was sent. */
  deltaSent(): void {
    this.deltasSent++;
  }
  /** A resumed client got the whole state again (its missed deltas were no longer kept). */
  resynced(): void {
    this.resyncs++;
  }
  /** An action was acknowledged `ms` after it arrived. */
  actionAccepted(ms: number): void {
    this.actionsAccepted++;
    this.actionLatency.observe(ms);
  }
  /** An action was refused. */
  actionRejected(code: string): void {
    bump(this.actionsRejected, code);
  }
  /** A slow consumer was dropped. */
  slowConsumerDropped(): void {
    this.slowConsumers++;
  }
  /** A KV write took `ms`. */
  kvWrite(ms: number): void {
    this.kvWriteLatency.observe(ms);
  }
}

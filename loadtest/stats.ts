/**
 * Latency samples and their summaries. Samples are kept exactly (a growable `Float64Array`):
 * even 1,000 clients × 20 moves/s × 20 s is only 400,000 numbers, and exact percentiles avoid
 * the bucket error of a histogram when two servers are compared a few percent apart.
 *
 * @module
 */

/**
 * A growable list of latency samples in milliseconds.
 *
 * @example
 * ```ts
 * import { Samples } from "./stats.ts";
 * const samples = new Samples();
 * for (const ms of [3, 1, 2]) samples.add(ms);
 * console.log(samples.summary().p50); // 2
 * ```
 */
export class Samples {
  #values: Float64Array;
  #length = 0;

  /** Starts with room for `capacity` samples; it grows by doubling. */
  constructor(capacity = 1024) {
    this.#values = new Float64Array(Math.max(16, capacity));
  }

  /** How many samples were added. */
  get length(): number {
    return this.#length;
  }

  /** Adds one sample. */
  add(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }

  /** Adds every sample of `other` (e.g. the samples a worker sent back). */
  addAll(other: ArrayLike<number>): void {
    for (let i = 0; i < other.length; i++) this.add(other[i]);
  }

  /** A copy of the samples, trimmed to their count (transferable to another thread). */
  toArray(): Float64Array<ArrayBuffer> {
    return this.#values.slice(0, this.#length);
  }

  /** The samples from index `start` on, as a view (no copy; valid until the next `add`). */
  since(start: number): Float64Array {
    return this.#values.subarray(Math.min(start, this.#length), this.#length);
  }

  /** Percentiles, mean and max of the samples so far. */
  summary(): LatencySummary {
    return summarize(this.#values.subarray(0, this.#length));
  }
}

/** The usual latency statistics, in milliseconds (all 0 when there is no sample). */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * Summarizes samples with nearest-rank percentiles (the value below which `p` % of the samples
 * fall, taken from the data itself, never interpolated).
 *
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * const s = summarize(Float64Array.from({ length: 100 }, (_, i) => i + 1));
 * console.log(s.p50, s.p99, s.max); // 50 99 100
 * ```
 */
export function summarize(values: ArrayLike<number>): LatencySummary {
  const n = values.length;
  if (n === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const rank = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))];
  return {
    count: n,
    mean: sum / n,
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
    max: sorted[n - 1],
  };
}

/**
 * Bytes a WebSocket frame with `payload` bytes takes on the wire from the server (unmasked):
 * 2 header bytes up to 125, 4 up to 65,535, else 10.
 *
 * @example
 * ```ts
 * import { wireBytes } from "./stats.ts";
 * console.log(wireBytes(14), wireBytes(200)); // 16 204
 * ```
 */
export function wireBytes(payload: number): number {
  return payload + (payload < 126 ? 2 : payload < 65536 ? 4 : 10);
}

/**
 * Rounds for display and JSON: 2 decimals below 10, 1 below 1,000, whole above.
 *
 * @example
 * ```ts
 * import { round } from "./stats.ts";
 * console.log(round(3.14159), round(123.456), round(12345.6)); // 3.14 123.5 12346
 * ```
 */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const abs = Math.abs(value);
  if (abs < 10) return Math.round(value * 100) / 100;
  if (abs < 1000) return Math.round(value * 10) / 10;
  return Math.round(value);
}

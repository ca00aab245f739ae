/**
 * A token bucket: a sustained rate with a burst allowance, refilled from elapsed time (no
 * timers, so a million idle buckets cost nothing).
 *
 * @module
 */

/**
 * Allows `rate` events per second on average and up to `burst` at once.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./rate_limit.ts";
 * let now = 0;
 * const bucket = new TokenBucket(30, 60, () => now);
 * let allowed = 0;
 * for (let i = 0; i < 100; i++) if (bucket.take()) allowed++;
 * console.log(allowed); // 60: the burst
 * now += 1000;
 * console.log(bucket.take()); // true: 30 tokens came back in a second
 * ```
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updated: number;

  /** `rate` tokens per second, at most `burst` stored; `now` returns ms. */
  constructor(rate: number, burst: number, now: () => number = performance.now.bind(performance)) {
    this.#rate = rate;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#updated = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + ((now - this.#updated) * this.#rate) / 1000,
    );
    this.#updated = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

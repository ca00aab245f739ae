/**
 * A token bucket: a sustained rate with a burst allowance, refilled from elapsed time (no
 * timers, so a million idle buckets cost nothing). It is how the server limits a connection's
 * actions (the welcome's `limits`), and how a client paces its sends to stay within them.
 *
 * @module
 */

/**
 * Allows `rate` events per second on average and up to `burst` at once.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * let now = 0;
 * const bucket = new TokenBucket(30, 60, () => now);
 * let allowed = 0;
 * for (let i = 0; i < 100; i++) if (bucket.take()) allowed++;
 * console.log(allowed); // 60: the burst
 * console.log(bucket.wait()); // 33.3…: ms until the next token
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
  constructor(rate: number, burst: number, now: () => number = monotonicNow) {
    this.#rate = rate;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#updated = now();
  }

  /** Takes one token at time `now` (default: the clock's); false when the bucket is empty. */
  take(now: number = this.#now()): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * Takes one token at time `now` even when there is none: the bucket goes into debt, and
   * later {@linkcode TokenBucket.take}s wait until it is paid back.
   */
  spend(now: number = this.#now()): void {
    this.#refill(now);
    this.#tokens -= 1;
  }

  /** Milliseconds from `now` (default: the clock's) until a token is there (0: one is). */
  wait(now: number = this.#now()): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : ((1 - this.#tokens) * 1000) / this.#rate;
  }

  #refill(now: number): void {
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + ((now - this.#updated) * this.#rate) / 1000,
    );
    this.#updated = now;
  }
}

/** The default clock, shared: a bucket per connection must not cost a bound function each. */
function monotonicNow(): number {
  return performance.now();
}

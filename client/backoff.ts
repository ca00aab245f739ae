/**
 * Reconnect delays: exponential backoff with equal jitter (half of each delay fixed, half
 * random), so that many clients dropped at once (a server restart) do not all come back in
 * the same millisecond.
 *
 * @module
 */

/** Settings of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /** Delay cap for the first retry, ms. Default 250. */
  baseMs?: number;
  /** Largest delay, ms. Default 10 000. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0-based): a random value in
 * `[cap / 2, cap]` where `cap = min(maxMs, baseMs * factor ** attempt)`.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./backoff.ts";
 * const ms = backoffDelay(3, { baseMs: 100, maxMs: 5000 }); // between 400 and 800
 * console.log(ms >= 400 && ms <= 800);
 * ```
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const { baseMs = 250, maxMs = 10_000, factor = 2 } = options;
  const cap = Math.min(maxMs, baseMs * factor ** attempt);
  // Half fixed, half jitter: never hammers the server, still spreads clients out.
  return cap / 2 + random() * (cap / 2);
}

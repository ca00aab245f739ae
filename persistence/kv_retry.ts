/**
 * Retries of KV writes that SQLite refused because another process or Worker was writing the
 * same file at that moment ("database is locked"). A refused commit changed nothing, so it is
 * safe to send again. Deno Deploy's KV never answers this way; several processes sharing one
 * KV file (self-hosting behind a load balancer, `deno serve --parallel`) do, under contention.
 *
 * @module
 */

/** Tries before the error is passed on (the waits add up to about a second). */
const ATTEMPTS = 40;

/**
 * Whether `error` is SQLite's busy refusal.
 *
 * @example
 * ```ts
 * import { isLocked } from "./kv_retry.ts";
 * console.log(isLocked(new TypeError("database is locked"))); // true
 * ```
 */
export function isLocked(error: unknown): boolean {
  return error instanceof Error && error.message.includes("database is locked");
}

/**
 * Runs `write`, again after a short random wait while it fails with "database is locked".
 *
 * @example
 * ```ts
 * import { retryLocked } from "./kv_retry.ts";
 * const kv = await Deno.openKv(":memory:");
 * const result = await retryLocked(() => kv.atomic().set(["a"], 1).commit());
 * console.log(result.ok); // true
 * kv.close();
 * ```
 */
export async function retryLocked<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isLocked(error) || attempt >= ATTEMPTS) throw error;
      // Random, growing waits: writers that collided do not collide again in lockstep.
      const ms = Math.random() * Math.min(50, 2 * attempt);
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
}

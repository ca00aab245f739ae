/**
 * Time as the rooms see it. Every timer a room uses (ticks, turn clocks, grace windows,
 * disposal) goes through a {@linkcode Clock}, so tests can drive time by hand with
 * {@linkcode ManualClock} instead of sleeping.
 *
 * @module
 */

/** An opaque timer handle returned by {@linkcode Clock.setTimer}. */
export type TimerId = number;

/**
 * A source of time and one-shot timers.
 *
 * @example
 * ```ts
 * import { type Clock, systemClock } from "./clock.ts";
 * const clock: Clock = systemClock;
 * const id = clock.setTimer(() => console.log("later"), 1000);
 * clock.clearTimer(id);
 * ```
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` once, `ms` milliseconds from now. */
  setTimer(callback: () => void, ms: number): TimerId;
  /** Cancels a timer; unknown or already fired ids are ignored. */
  clearTimer(id: TimerId): void;
}

/**
 * The real clock: `Date.now()` and the runtime's `setTimeout`.
 *
 * @example
 * ```ts
 * import { systemClock } from "./clock.ts";
 * console.log(systemClock.now() > 0);
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (callback, ms) => setTimeout(callback, Math.max(0, ms)),
  clearTimer: (id) => clearTimeout(id),
};

interface PendingTimer {
  id: TimerId;
  due: number;
  callback: () => void;
}

/**
 * A clock that only moves when told to. {@linkcode ManualClock.advance} fires every timer
 * that falls due in order of due time (ties in creation order), setting `now()` to each
 * timer's due time while its callback runs, so timers scheduled by callbacks fire too when
 * they fall inside the advanced span.
 *
 * @example
 * ```ts
 * import { ManualClock } from "./clock.ts";
 * const clock = new ManualClock(1_000);
 * const fired: number[] = [];
 * clock.setTimer(() => fired.push(clock.now()), 50);
 * clock.advance(100);
 * console.log(fired, clock.now(), clock.pending); // [1050] 1100 0
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: PendingTimer[] = [];

  /** Starts at `start` ms since the epoch (default 1 700 000 000 000, a fixed instant). */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  /** The current manual time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `callback` at `now() + ms` (negative delays count as 0). */
  setTimer(callback: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.push({ id, due: this.#now + Math.max(0, ms), callback });
    return id;
  }

  /** Cancels a pending timer. */
  clearTimer(id: TimerId): void {
    const index = this.#timers.findIndex((t) => t.id === id);
    if (index >= 0) this.#timers.splice(index, 1);
  }

  /** How many timers are waiting to fire: rooms that were disposed must leave none. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing every timer due up to the new time. */
  advance(ms: number): void {
    const target = this.#now + Math.max(0, ms);
    for (;;) {
      const next = this.#earliest(target);
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.due;
      next.callback();
    }
    this.#now = target;
  }

  // Linear scan: tests hold a handful of timers, and ids break ties in creation order.
  #earliest(limit: number): PendingTimer | undefined {
    let best: PendingTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.due > limit) continue;
      if (!best || timer.due < best.due || (timer.due === best.due && timer.id < best.id)) {
        best = timer;
      }
    }
    return best;
  }
}

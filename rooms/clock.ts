/**
 * Time as the rooms see it. Every timer a room uses (ticks, turn clocks, grace windows,
 * disposal) goes through a {@linkcode Clock}, so tests can drive time by hand with
 * {@linkcode ManualClock} instead of sleeping.
 *
 * @module
 */

/**
 * The longest delay a timer can have, ms (about 24.8 days): Deno's `setTimeout`, like
 * browsers' and Node's, fires at once for a longer one, so game clocks must stay within it.
 *
 * @example
 * ```ts
 * import { MAX_TIMER_MS } from "./clock.ts";
 * console.log(MAX_TIMER_MS); // 2147483647
 * ```
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An opaque timer handle returned by {@linkcode Clock.setTimer}: a number from
 * {@linkcode ManualClock}, whatever the runtime's `setTimeout` returns from
 * {@linkcode systemClock} (a number in Deno 2.5, a `Timeout` object where Node's types apply).
 */
export type TimerId = number | ReturnType<typeof setTimeout>;

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

/** A subscription to {@linkcode everyTick}. */
export interface TickHandle {
  /** Stops the callbacks; the shared timer stops with its last subscriber. */
  stop(): void;
}

/**
 * Lanes per tick interval: rooms are spread over up to this many evenly spaced phases, each
 * with one timer, so a thousand rooms cost a handful of timers per tick without all of their
 * broadcasts landing in one burst.
 */
const TICK_LANES = 8;
/**
 * Subscribers a lane takes before another lane opens. Every lane's timer wakes the process
 * once per tick, which costs more than a few rooms' ticks: a lane only pays for itself once
 * its burst of ticks would be long (measured: 25 arena rooms at 20 Hz spent 10 % more CPU on
 * 8 lanes than on 2, with the same latency).
 */
const ROOMS_PER_LANE = 16;
/** Lane indexes in the order they open: each new phase halves the largest gap. */
const LANE_ORDER = [0, 4, 2, 6, 1, 5, 3, 7];

interface Lane {
  /** Phase of this lane, as a fraction of the period after the group's origin. */
  readonly phase: number;
  readonly callbacks: Set<() => void>;
  timer: TimerId | null;
  /** Periods since the origin of the tick the timer is armed for. */
  count: number;
}

/** Every subscriber of one clock and tick interval. */
interface TickGroup {
  readonly clock: Clock;
  readonly period: number;
  readonly lanes: Lane[];
  /** When tick 0 was (ms); ticks fall at `origin + round((n + phase) × period)`. */
  origin: number;
  size: number;
}

const tickGroups = new WeakMap<Clock, Map<number, TickGroup>>();

/**
 * Calls `callback` every `periodMs` ms on `clock` until stopped, sharing timers with every
 * other subscriber of the same clock and interval: each room arming its own timer per tick
 * cost thousands of timers a second under load. A subscriber joins the least busy of the
 * lanes in use, each lane a phase of the period with one timer; a new lane opens (up to
 * {@linkcode TICK_LANES}) once each has {@linkcode ROOMS_PER_LANE} subscribers. The first
 * subscriber of an interval fixes the phases, so
 * on its own it ticks exactly `periodMs` after subscribing, then every `periodMs` (rounded to
 * whole ms, without drift). After a stall, missed ticks are skipped, not run in a burst.
 *
 * With a {@linkcode ManualClock} the order is deterministic: lanes fire in due-time order and
 * a lane's subscribers in subscription order.
 *
 * @example
 * ```ts
 * import { everyTick, ManualClock } from "./clock.ts";
 * const clock = new ManualClock(0);
 * const times: number[] = [];
 * const handle = everyTick(clock, 50, () => times.push(clock.now()));
 * clock.advance(120);
 * handle.stop();
 * console.log(times, clock.pending); // [50, 100] 0
 * ```
 */
export function everyTick(clock: Clock, periodMs: number, callback: () => void): TickHandle {
  if (!(periodMs > 0) || !Number.isFinite(periodMs)) {
    throw new RangeError(`everyTick: period must be a positive number, got ${periodMs}`);
  }
  let groups = tickGroups.get(clock);
  if (!groups) tickGroups.set(clock, groups = new Map());
  let group = groups.get(periodMs);
  if (!group) {
    group = {
      clock,
      period: periodMs,
      lanes: Array.from({ length: TICK_LANES }, (_, i) => ({
        phase: i / TICK_LANES,
        callbacks: new Set<() => void>(),
        timer: null,
        count: 0,
      })),
      origin: Math.floor(clock.now()),
      size: 0,
    };
    groups.set(periodMs, group);
  }
  const lane = pickLane(group.lanes);
  // A function of its own per subscription, so one callback may subscribe twice.
  const entry = () => callback();
  lane.callbacks.add(entry);
  group.size++;
  if (lane.timer === null) armLane(group, lane, false);
  const target = lane;
  const owner = group;
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      target.callbacks.delete(entry);
      owner.size--;
      if (target.callbacks.size === 0 && target.timer !== null) {
        owner.clock.clearTimer(target.timer);
        target.timer = null;
      }
      // The next subscriber starts the phases afresh (and a test clock is left with no timer).
      if (owner.size === 0) groups!.delete(owner.period);
    },
  };
}

/**
 * The least busy open lane, or the next closed one (in {@linkcode LANE_ORDER}) once every
 * open lane has {@linkcode ROOMS_PER_LANE} subscribers.
 */
function pickLane(lanes: readonly Lane[]): Lane {
  let best: Lane | null = null;
  let closed: Lane | null = null;
  for (const index of LANE_ORDER) {
    const lane = lanes[index];
    if (lane.callbacks.size === 0) closed ??= lane;
    else if (best === null || lane.callbacks.size < best.callbacks.size) best = lane;
  }
  if (best === null || (best.callbacks.size >= ROOMS_PER_LANE && closed !== null)) return closed!;
  return best;
}

/** Arms `lane` for its next tick after now (`fired`: right after one fired, the one after it). */
function armLane(group: TickGroup, lane: Lane, fired: boolean): void {
  const now = Math.floor(group.clock.now());
  const at = (n: number) => group.origin + Math.round((n + lane.phase) * group.period);
  let n = fired ? lane.count + 1 : Math.max(1, Math.ceil((now - group.origin) / group.period));
  if (!fired) {
    while (at(n) <= now) n++;
    while (n > 1 && at(n - 1) > now) n--;
  } else if (at(n) < now) {
    // Fell behind (a long pause): skip the missed ticks rather than run them in a burst.
    n = Math.ceil((now - group.origin) / group.period - lane.phase);
    while (at(n) <= now) n++;
  }
  lane.count = n;
  lane.timer = group.clock.setTimer(() => fire(group, lane), at(n) - now);
}

function fire(group: TickGroup, lane: Lane): void {
  lane.timer = null;
  if (lane.callbacks.size === 0) return;
  // Re-armed first: a callback that throws must not stop the others' ticks.
  armLane(group, lane, true);
  // A copy: callbacks may stop (their room ended) or others subscribe meanwhile.
  for (const callback of [...lane.callbacks]) {
    if (lane.callbacks.has(callback)) callback();
  }
}

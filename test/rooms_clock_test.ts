import { deepEqual, equal, throws } from "node:assert/strict";
import { everyTick, ManualClock, systemClock } from "../rooms/clock.ts";

Deno.test("ManualClock fires due timers in time order, at their due time", () => {
  const clock = new ManualClock(1000);
  const fired: [string, number][] = [];
  clock.setTimer(() => fired.push(["b", clock.now()]), 20);
  clock.setTimer(() => fired.push(["a", clock.now()]), 10);
  clock.setTimer(() => fired.push(["c", clock.now()]), 20);
  clock.setTimer(() => fired.push(["late", clock.now()]), 100);
  clock.advance(50);
  deepEqual(fired, [["a", 1010], ["b", 1020], ["c", 1020]]);
  equal(clock.now(), 1050);
  equal(clock.pending, 1);
});

Deno.test("ManualClock fires timers scheduled by timers within the same advance", () => {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  const every = () => {
    fired.push(clock.now());
    clock.setTimer(every, 30);
  };
  clock.setTimer(every, 30);
  clock.advance(100);
  deepEqual(fired, [30, 60, 90]);
  equal(clock.pending, 1);
});

Deno.test("ManualClock clearTimer cancels; unknown ids are ignored", () => {
  const clock = new ManualClock(0);
  let fired = false;
  const id = clock.setTimer(() => (fired = true), 5);
  clock.clearTimer(id);
  clock.clearTimer(12345);
  clock.advance(10);
  equal(fired, false);
  equal(clock.pending, 0);
});

Deno.test("systemClock tells the time and cancels timers", () => {
  equal(Math.abs(systemClock.now() - Date.now()) < 1000, true);
  const id = systemClock.setTimer(() => {
    throw new Error("must not fire");
  }, 10);
  systemClock.clearTimer(id);
});

Deno.test("everyTick: alone, ticks a period after subscribing and every period after, without drift", () => {
  const clock = new ManualClock(1000);
  const times: number[] = [];
  const handle = everyTick(clock, 1000 / 60, () => times.push(clock.now()));
  equal(clock.pending, 1);
  clock.advance(70);
  deepEqual(times, [1017, 1033, 1050, 1067]);
  handle.stop();
  handle.stop();
  equal(clock.pending, 0, "the last subscriber's stop clears the timer");
  clock.advance(100);
  equal(times.length, 4);
});

Deno.test("everyTick: subscribers of one interval share a few timers, spread over phases", () => {
  const clock = new ManualClock(0);
  const ticks = new Map<number, number[]>();
  const subscribe = (i: number) => {
    ticks.set(i, []);
    return everyTick(clock, 80, () => ticks.get(i)!.push(clock.now()));
  };
  // A lane takes 16 subscribers before the next opens (each timer wakes the process).
  const handles = Array.from({ length: 16 }, (_, i) => subscribe(i));
  equal(clock.pending, 1, "one lane for a few rooms");
  handles.push(subscribe(16));
  equal(clock.pending, 2, "a second lane, half a period after the first");
  clock.advance(160);
  const early = new Set([...ticks.values()].map((times) => times[0] % 80));
  equal([...early].sort((a, b) => a - b).join(), "0,40");
  for (const times of ticks.values()) times.length = 0;
  for (let i = 17; i < 128; i++) handles.push(subscribe(i));
  equal(clock.pending, 8, "one timer per lane, not per subscriber");
  clock.advance(400);
  for (const [i, times] of ticks) {
    equal(times.length >= 4 && times.length <= 5, true, `subscriber ${i}: ${times}`);
    // Each subscriber keeps its own phase: exactly one period between its ticks.
    for (let k = 1; k < times.length; k++) equal(times[k] - times[k - 1], 80);
  }
  const phases = new Set([...ticks.values()].map((times) => times[0] % 80));
  equal(phases.size, 8, "subscribers are spread over 8 phases");
  // Another interval is another group.
  const other = everyTick(clock, 50, () => {});
  equal(clock.pending, 9);
  other.stop();
  for (const handle of handles) handle.stop();
  equal(clock.pending, 0);
});

Deno.test("everyTick: a callback that stops itself or another does not break the lane", () => {
  const clock = new ManualClock(0);
  const calls: string[] = [];
  // deno-lint-ignore prefer-const
  let b: ReturnType<typeof everyTick>;
  const a = everyTick(clock, 10, () => {
    calls.push("a");
    b.stop();
    a.stop();
  });
  b = everyTick(clock, 10, () => calls.push("b"));
  const c = everyTick(clock, 10, () => calls.push("c"));
  clock.advance(25);
  equal(calls.filter((x) => x === "a").length, 1);
  equal(calls.filter((x) => x === "c").length, 2);
  c.stop();
  equal(clock.pending, 0);
  throws(() => everyTick(clock, 0, () => {}), RangeError);
});

Deno.test("everyTick: after a stall, missed ticks are skipped rather than run in a burst", () => {
  let now = 0;
  const timers: { due: number; fn: () => void }[] = [];
  // A clock whose time jumps ahead of its timers, like an event loop blocked for a while.
  const clock = {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => timers.push({ due: now + ms, fn }),
    clearTimer: () => {},
  };
  const times: number[] = [];
  everyTick(clock, 10, () => times.push(now));
  now = 10;
  timers.shift()!.fn();
  now = 95; // blocked for 85 ms
  timers.shift()!.fn();
  deepEqual(times, [10, 95]);
  equal(timers.length, 1);
  equal(timers[0].due, 100, "back on the grid, one tick later");
});

import { deepEqual, equal } from "node:assert/strict";
import { ManualClock, systemClock } from "../rooms/clock.ts";

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

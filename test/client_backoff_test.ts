/**
 * Reconnect backoff: the cap grows by `factor` per attempt up to `maxMs`, and each delay is
 * drawn from `[cap / 2, cap]` (equal jitter): never below half the cap, spread across the
 * upper half.
 */
import assert from "node:assert/strict";
import { backoffDelay } from "../client/mod.ts";

Deno.test("backoff: the random draw maps onto [cap / 2, cap] and the cap grows to maxMs", () => {
  const options = { baseMs: 100, maxMs: 5_000, factor: 2 };
  const caps = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000];
  caps.forEach((cap, attempt) => {
    assert.equal(backoffDelay(attempt, options, () => 0), cap / 2, `attempt ${attempt}, low`);
    assert.equal(backoffDelay(attempt, options, () => 0.5), cap * 0.75, `attempt ${attempt}, mid`);
    // Math.random() is below 1; its largest value lands just under the cap.
    const high = backoffDelay(attempt, options, () => 1 - Number.EPSILON);
    assert.ok(high <= cap && high > cap * 0.999, `attempt ${attempt}, high: ${high}`);
  });
  // Other growth factors, and a huge attempt number, stay within maxMs.
  assert.equal(backoffDelay(2, { baseMs: 10, maxMs: 1_000, factor: 3 }, () => 0), 45);
  assert.equal(backoffDelay(1_000, options, () => 0.5), 3_750);
});

Deno.test("backoff: defaults are 250 ms base, 10 s cap, factor 2", () => {
  assert.equal(backoffDelay(0, {}, () => 0), 125);
  assert.equal(backoffDelay(0, undefined, () => 1 - Number.EPSILON) <= 250, true);
  assert.equal(backoffDelay(3, {}, () => 0), 1_000);
  assert.equal(backoffDelay(5, {}, () => 0), 4_000);
  assert.equal(backoffDelay(7, {}, () => 0), 5_000, "capped at 10 s: half is 5 s");
  assert.equal(backoffDelay(7, {}, () => 0.5), 7_500);
});

Deno.test("backoff: with Math.random, delays stay in bounds and are spread out (jitter)", () => {
  const options = { baseMs: 100, maxMs: 5_000 };
  for (const [attempt, cap] of [[0, 100], [3, 800], [10, 5_000]]) {
    const samples = Array.from({ length: 2_000 }, () => backoffDelay(attempt, options));
    for (const ms of samples) {
      assert.ok(
        ms >= cap / 2 && ms <= cap,
        `attempt ${attempt}: ${ms} not in [${cap / 2}, ${cap}]`,
      );
    }
    // Not one fixed delay: the draws cover both quarters of the jitter range. The chance that
    // 2 000 uniform draws all miss one of them is 2^-2000.
    const low = samples.filter((ms) => ms < cap * 0.75).length;
    assert.ok(low > 0 && low < samples.length, `attempt ${attempt}: ${low} of 2000 below 3/4`);
    assert.ok(new Set(samples).size > 100, `attempt ${attempt}: distinct delays`);
  }
});

import { equal } from "node:assert/strict";
import { TokenBucket } from "../protocol/mod.ts";

Deno.test("token bucket: a burst, then the rate", () => {
  let now = 0;
  const bucket = new TokenBucket(10, 2, () => now);
  equal(bucket.take(), true);
  equal(bucket.take(), true);
  equal(bucket.take(), false, "the burst is spent");
  now = 100;
  equal(bucket.take(), true, "one token per 100 ms at 10/s");
  equal(bucket.take(), false);
  now = 10_000;
  equal(bucket.take(), true);
  equal(bucket.take(), true);
  equal(bucket.take(), false, "at most a burst is stored");
});

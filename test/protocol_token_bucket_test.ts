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

Deno.test("token bucket: a time earlier than the last counts as the last, so handling inputs out of arrival order costs no tokens", () => {
  // A session answers a ping (at 1000) while actions that arrived before it (at 500) wait for
  // the room's tick; they are taken after the ping, with their own arrival times.
  const bucket = new TokenBucket(10, 2, () => 0);
  equal(bucket.take(0), true);
  equal(bucket.take(0), true);
  equal(bucket.take(1000), true, "refilled to the burst, one taken");
  equal(bucket.take(500), true, "the token left is there at an earlier time too");
  equal(bucket.take(1000), false, "and not twice");
  equal(bucket.take(1100), true);
});

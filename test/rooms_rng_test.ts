import { deepEqual, equal, notDeepEqual, throws } from "node:assert/strict";
import { Random } from "../rooms/rng.ts";

Deno.test("same seed, same sequence; different seeds differ", () => {
  const a = new Random("seed");
  const b = new Random("seed");
  const c = new Random("other");
  const xs = Array.from({ length: 20 }, () => a.next());
  deepEqual(xs, Array.from({ length: 20 }, () => b.next()));
  notDeepEqual(xs, Array.from({ length: 20 }, () => c.next()));
  for (const x of xs) equal(x >= 0 && x < 1, true);
});

Deno.test("state() round-trips through JSON and fromState()", () => {
  const a = new Random(42);
  for (let i = 0; i < 7; i++) a.next();
  const b = Random.fromState(JSON.parse(JSON.stringify(a.state())));
  deepEqual(
    Array.from({ length: 10 }, () => a.int(1000)),
    Array.from({ length: 10 }, () => b.int(1000)),
  );
  throws(() => Random.fromState([1, 2, 3] as never), TypeError);
  throws(() => Random.fromState([1, 2, 3, -1]), TypeError);
});

Deno.test("int(n) covers [0, n) roughly uniformly", () => {
  const r = new Random("uniform");
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
  for (const count of counts) equal(count > 9_400 && count < 10_600, true, `count ${count}`);
  throws(() => r.int(0), RangeError);
  throws(() => r.int(2.5), RangeError);
});

Deno.test("shuffle returns a permutation and leaves the input alone; pick picks", () => {
  const r = new Random("cards");
  const input = Array.from({ length: 52 }, (_, i) => i);
  const shuffled = r.shuffle(input);
  deepEqual(input, Array.from({ length: 52 }, (_, i) => i));
  deepEqual([...shuffled].sort((x, y) => x - y), input);
  notDeepEqual(shuffled, input);
  equal(["a", "b", "c"].includes(r.pick(["a", "b", "c"])), true);
  throws(() => r.pick([]), RangeError);
});

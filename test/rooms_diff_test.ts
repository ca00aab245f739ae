import { deepEqual, equal, notEqual, throws } from "node:assert/strict";
import { applyOps, DeltaDecoder, DeltaEncoder, freezeValue, type Value } from "../protocol/mod.ts";
import { clone, diff, Mirror } from "../rooms/diff.ts";
import { Random } from "../rooms/rng.ts";

Deno.test("objects: per-key set and delete; undefined counts as absent", () => {
  deepEqual(
    diff({ a: 1, b: { c: 2 }, gone: 1 }, { a: 1, b: { c: 3 }, add: [1], skip: undefined } as never),
    [
      { op: "set", path: ["b", "c"], value: 3 },
      { op: "set", path: ["add"], value: [1] },
      { op: "delete", path: ["gone"] },
    ],
  );
});

Deno.test("arrays: per-index changes, push for an appended tail, splice for a removed tail", () => {
  deepEqual(diff([1, 2, 3], [1, 5, 3, 4, 5]), [
    { op: "set", path: [1], value: 5 },
    { op: "push", path: [], values: [4, 5] },
  ]);
  deepEqual(diff({ l: [{ x: 1 }, { x: 2 }, { x: 3 }] }, { l: [{ x: 9 }] }), [
    { op: "set", path: ["l", 0, "x"], value: 9 },
    { op: "splice", path: ["l"], index: 1, count: 2 },
  ]);
});

Deno.test("type changes replace; the root can be replaced; equal values give no ops", () => {
  deepEqual(diff({ a: [1] }, { a: { 0: 1 } }), [{ op: "set", path: ["a"], value: { 0: 1 } }]);
  deepEqual(diff([1], { x: 1 }), [{ op: "set", path: [], value: { x: 1 } }]);
  deepEqual(diff({ n: NaN, b: new Uint8Array([1, 2]) }, { n: NaN, b: new Uint8Array([1, 2]) }), []);
  deepEqual(diff({ b: new Uint8Array([1]) }, { b: new Uint8Array([2]) }), [
    { op: "set", path: ["b"], value: new Uint8Array([2]) },
  ]);
});

Deno.test("keys named like Object.prototype members diff as plain keys", () => {
  deepEqual(diff({ toString: 1 } as Value, {}), [{ op: "delete", path: ["toString"] }]);
  deepEqual(diff({}, { valueOf: 2 } as Value), [{ op: "set", path: ["valueOf"], value: 2 }]);
});

Deno.test("diff does not modify its inputs; Mirror keeps its own copy", () => {
  const prev = { a: [1, 2], b: { c: 1 } };
  const next = { a: [1], b: { c: 2 }, d: { e: [3] } };
  const before = structuredClone(prev);
  diff(prev, next);
  deepEqual(prev, before);

  const state = { list: [{ x: 1 }] };
  const mirror = new Mirror(state);
  notEqual(mirror.value, state);
  state.list.push({ x: 2 });
  deepEqual(mirror.update(state), [{ op: "push", path: ["list"], values: [{ x: 2 }] }]);
  state.list[1].x = 3; // must not reach the mirror through a shared reference
  deepEqual(mirror.value, { list: [{ x: 1 }, { x: 2 }] });
  deepEqual(mirror.update(state), [{ op: "set", path: ["list", 1, "x"], value: 3 }]);
  deepEqual(mirror.update(state), []);
});

Deno.test("clone copies data deeply and refuses what is not data, naming where", () => {
  const value = { a: [1, { b: new Uint8Array([1]) }], u: undefined, n: null };
  const copy = clone(value);
  deepEqual(copy, { a: [1, { b: new Uint8Array([1]) }], n: null });
  notEqual(copy.a, value.a);
  deepEqual(clone([undefined]), [null]);
  throws(() => clone({ a: [{ m: new Map() }] }), /state\.a\[0\]\.m: a Map is not data/);
  throws(() => clone({ f: () => 1 }), /state\.f: a function is not data/);
  throws(() => clone({ d: new Date() }), /a Date is not data/);
});

Deno.test("clone refuses NaN, infinities and keys no peer accepts, naming where", () => {
  // `best: Infinity` passed room creation, then made every welcome fail to encode.
  throws(
    () => clone({ best: Infinity }),
    /^TypeError: state\.best: Infinity is not a finite number/,
  );
  throws(() => clone({ a: [1, -Infinity] }), /state\.a\[1\]: -Infinity is not a finite number/);
  throws(() => clone(NaN), /^TypeError: state: NaN is not a finite number/);
  throws(() => clone({ o: { constructor: 1 } }), /state\.o\.constructor: the key constructor/);
  // An own `__proto__` key (as JSON.parse makes) must not become the copy's prototype.
  throws(() => clone(JSON.parse('{"__proto__": {"x": 1}}')), /state\.__proto__: the key __proto__/);
});

Deno.test("Mirror.update names the path of a value that is not data, however it was added", () => {
  const state: { [k: string]: Value } = { deep: { n: 1 }, list: [1] };
  const mirror = new Mirror(state);
  (state.deep as { n: number }).n = NaN;
  throws(() => mirror.update(state), /^TypeError: state\.deep\.n: NaN is not a finite number/);
  const cases: [(s: typeof state) => void, RegExp][] = [
    [(s) => s.fresh = { x: [Infinity] }, /state\.fresh\.x\[0\]: Infinity/],
    [(s) => (s.list as number[]).push(2, NaN), /state\.list\[2\]: NaN/],
    [
      (s) => s["constructor"] = 1 as never,
      /state\.constructor: the key constructor is not allowed/,
    ],
  ];
  for (const [spoil, expected] of cases) {
    const spoiled: { [k: string]: Value } = { list: [1] };
    const m = new Mirror(spoiled);
    spoil(spoiled);
    throws(() => m.update(spoiled), expected);
    // Through an encoder, the mirror's error comes first: it names the path, the encoder would not.
    const again = new Mirror({ list: [1] });
    const encoder = new DeltaEncoder();
    encoder.begin();
    throws(() => again.updateInto(spoiled, encoder), expected);
    encoder.abort();
  }
});

// --- property test -----------------------------------------------------------------------

function randomValue(r: Random, depth: number): Value {
  const roll = r.int(depth > 3 ? 4 : 7);
  switch (roll) {
    case 0:
      return r.int(5);
    case 1:
      return ["a", "b", "", "long string"][r.int(4)];
    case 2:
      return r.int(2) === 0;
    case 3:
      return null;
    case 4:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    case 5:
      return new Uint8Array([r.int(3)]);
    default: {
      const o: { [k: string]: Value } = {};
      for (let i = r.int(4); i > 0; i--) {
        o[["x", "y", "z", "w", "toString"][r.int(5)]] = randomValue(r, depth + 1);
      }
      return o;
    }
  }
}

/** Changes a few random spots of `v` in place (or returns a replacement). */
function mutate(r: Random, v: Value, depth = 0): Value {
  if (typeof v !== "object" || v === null || v instanceof Uint8Array || r.int(8) === 0) {
    return r.int(2) === 0 ? v : randomValue(r, depth);
  }
  if (Array.isArray(v)) {
    const action = r.int(4);
    if (action === 0) v.push(randomValue(r, depth + 1));
    else if (action === 1 && v.length > 0) v.length = r.int(v.length);
    else if (v.length > 0) {
      const i = r.int(v.length);
      v[i] = mutate(r, v[i], depth + 1);
    }
    return v;
  }
  const keys = Object.keys(v);
  const action = r.int(3);
  if (action === 0 || keys.length === 0) {
    v[["x", "y", "q", "toString"][r.int(4)]] = randomValue(r, depth + 1);
  } else if (action === 1) delete v[keys[r.int(keys.length)]];
  else {
    const k = keys[r.int(keys.length)];
    v[k] = mutate(r, v[k], depth + 1);
  }
  return v;
}

Deno.test("property: applying diff(prev, next) to prev gives next, through the wire codec too", () => {
  const r = new Random("diff-property");
  for (let round = 0; round < 300; round++) {
    let state: Value = { root: randomValue(r, 0), list: [] };
    const mirror = new Mirror(state);
    const encoder = new DeltaEncoder();
    encoder.learnKeys(mirror.value);
    const decoder = new DeltaDecoder(encoder.keys(), encoder.refs());
    let client: Value = clone(mirror.value);
    // As the client library keeps it: frozen, each step a new root.
    let frozen: Value = freezeValue(clone(mirror.value));
    for (let step = 0; step < 10; step++) {
      const before: Value = clone(state);
      state = mutate(r, state);
      const ops = diff(before, state);
      deepEqual(applyOps(clone(before), ops), state, `diff round ${round} step ${step}`);
      const mirrored = mirror.update(state);
      deepEqual(mirrored, ops);
      deepEqual(mirror.value, state);
      const frame = encoder.encode(mirrored);
      const decoded = decoder.decode(frame);
      client = applyOps(client, decoded);
      deepEqual(client, state, `wire round ${round} step ${step}`);
      const previous = frozen;
      const previousCopy = clone(previous);
      frozen = applyOps(frozen, structuredClone(decoded), { immutable: true });
      deepEqual(frozen, state, `immutable round ${round} step ${step}`);
      deepEqual(previous, previousCopy, `the state before stays as it was, round ${round}`);
    }
  }
});

Deno.test("diff of equal trees with shared subtrees takes no time per shared subtree", () => {
  const big = { rows: Array.from({ length: 10_000 }, (_, i) => ({ i, tags: ["a", "b"] })) };
  const next = { ...big, extra: 1 };
  deepEqual(diff(big, next), [{ op: "set", path: ["extra"], value: 1 }]);
  equal(diff(big, big).length, 0);
});

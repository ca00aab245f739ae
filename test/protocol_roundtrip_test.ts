// Property round-trips with a seeded PRNG: every message kind, every value form, and the delta
// encoder/decoder/applyOps pipeline including table growth up to the caps.
import assert from "node:assert/strict";
import { decode as cborxDecode } from "cbor-x/decode";
import { Encoder as CborxEncoder } from "cbor-x/encode";
import {
  applyOps,
  decodeClientMessage,
  decodeServerMessage,
  decodeValue,
  DeltaDecoder,
  DeltaEncoder,
  encodeClientMessage,
  encodeServerMessage,
  encodeValue,
  ProtocolError,
  type Value,
} from "../protocol/mod.ts";
import {
  randomClientMessage,
  randomOps,
  randomServerMessage,
  randomValue,
  Rng,
} from "../tools/protocol_fixtures.ts";

const SEED = 0x5eed;

Deno.test("client messages round-trip", () => {
  const rng = new Rng(SEED);
  for (let i = 0; i < 5000; i++) {
    const msg = randomClientMessage(rng);
    const frame = encodeClientMessage(msg);
    assert.deepStrictEqual(decodeClientMessage(frame, { maxFrameBytes: 1 << 20 }), msg);
  }
});

Deno.test("server messages round-trip", () => {
  const rng = new Rng(SEED + 1);
  for (let i = 0; i < 5000; i++) {
    const msg = randomServerMessage(rng);
    const frame = encodeServerMessage(msg);
    assert.deepStrictEqual(decodeServerMessage(frame), msg);
  }
});

Deno.test("a welcome's action limits are whole numbers of at least 1, both ways", () => {
  const welcome = (limits: unknown) => ({ ...randomServerMessage(new Rng(1)), limits });
  const base = randomServerMessage(new Rng(1));
  assert.equal(base.kind, "welcome");
  const frame = encodeServerMessage(welcome({ rate: 30, burst: 60 }) as typeof base);
  assert.deepEqual((decodeServerMessage(frame) as { limits?: unknown }).limits, {
    rate: 30,
    burst: 60,
  });
  for (const bad of [{ rate: 0, burst: 60 }, { rate: 30, burst: 1.5 }, [30, 60]]) {
    assert.throws(
      () => encodeServerMessage(welcome(bad) as typeof base),
      (e) => e instanceof ProtocolError && e.code === "bad_field",
    );
  }
});

Deno.test("values round-trip exactly, -0 and number forms included", () => {
  const rng = new Rng(SEED + 2);
  for (let i = 0; i < 5000; i++) {
    const v = randomValue(rng, 5);
    assert.deepStrictEqual(decodeValue(encodeValue(v)), v);
  }
});

// cbor-x reads -0 as 0, 64-bit integers as bigints and byte strings as Buffers: compare modulo
// those.
function normalize(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Uint8Array) return Array.from(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === "number") return v === 0 ? 0 : v;
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x);
    return out;
  }
  return v;
}

Deno.test("our CBOR is standard: cbor-x reads it, and we read cbor-x's", () => {
  const rng = new Rng(SEED + 3);
  const cborx = new CborxEncoder({
    useRecords: false,
    variableMapSize: true,
    tagUint8Array: false,
    mapsAsObjects: true,
  });
  for (let i = 0; i < 2000; i++) {
    const v = randomValue(rng, 4);
    assert.deepStrictEqual(normalize(cborxDecode(encodeValue(v))), normalize(v));
    assert.deepStrictEqual(normalize(decodeValue(cborx.encode(v))), normalize(v));
  }
});

Deno.test("numbers use the smallest exact form", () => {
  const size = (n: number) => encodeValue(n).length;
  assert.equal(size(0), 1);
  assert.equal(size(23), 1);
  assert.equal(size(24), 2);
  assert.equal(size(-24), 1);
  assert.equal(size(65535), 3);
  assert.equal(size(2 ** 32), 9);
  assert.equal(size(1.5), 3); // float16
  assert.equal(size(-0), 3); // float16 negative zero, to stay exact
  assert.equal(size(2 ** -24), 3); // smallest float16 subnormal
  assert.equal(size(65504), 3); // an integer, not a float
  assert.equal(size(100000.5), 5); // float32
  assert.equal(size(Math.fround(0.1)), 5);
  assert.equal(size(0.1), 9); // float64
  assert.equal(size(2 ** 60), 5); // beyond 2^53: a float, here float32-exact
  assert.ok(Object.is(decodeValue(encodeValue(-0)), -0));
});

type Mirror = { dec: DeltaDecoder; state: Value };

function deltaRun(seed: number, caps: { maxKeys?: number; maxRefs?: number }, ticks: number) {
  const rng = new Rng(seed);
  let server: Value = randomValue(rng, 4);
  if (typeof server !== "object" || server === null) server = { root: server };
  const enc = new DeltaEncoder(caps);
  if (rng.chance(0.5)) enc.learnKeys(server);
  const mirrors: Mirror[] = [{
    dec: new DeltaDecoder(enc.keys(), enc.refs(), undefined, caps),
    state: structuredClone(server),
  }];
  for (let t = 0; t < ticks; t++) {
    const made = randomOps(rng, server, 1 + rng.int(6));
    server = made.state;
    const body = enc.encode(made.ops);
    for (const m of mirrors) {
      const ops = m.dec.decode(body);
      assert.deepStrictEqual(ops, made.ops);
      m.state = applyOps(m.state, ops);
      assert.deepStrictEqual(m.state, server);
      assert.deepStrictEqual(m.dec.keys(), enc.keys());
      assert.deepStrictEqual(m.dec.refs(), enc.refs());
    }
    // A late joiner starts from the encoder's tables, as a welcome would carry them.
    if (rng.chance(0.05) && mirrors.length < 4) {
      mirrors.push({
        dec: new DeltaDecoder(enc.keys(), enc.refs(), undefined, caps),
        state: structuredClone(server),
      });
    }
  }
  return enc;
}

Deno.test("DeltaEncoder → DeltaDecoder → applyOps reproduces the state", () => {
  for (let s = 0; s < 40; s++) deltaRun(SEED + 100 + s, {}, 150);
});

Deno.test("tables grow to their caps and then stop, in lockstep", () => {
  for (let s = 0; s < 40; s++) {
    const enc = deltaRun(SEED + 200 + s, { maxKeys: 5, maxRefs: 3 }, 150);
    assert.ok(enc.keys().length <= 5);
    assert.ok(enc.refs().length <= 3);
  }
  // With default caps, many distinct keys fill the key table to exactly 1024.
  const enc = new DeltaEncoder();
  const dec = new DeltaDecoder();
  let state: Value = {};
  for (let i = 0; i < 1500; i++) {
    const ops = [{ op: "set" as const, path: ["k" + i], value: i }];
    state = applyOps(state, dec.decode(enc.encode(ops)));
  }
  assert.equal(enc.keys().length, 1024);
  assert.deepStrictEqual(dec.keys(), enc.keys());
  assert.equal(Object.keys(state as object).length, 1500);
});

Deno.test("a failed encode leaves the tables untouched", () => {
  const enc = new DeltaEncoder();
  enc.encode([{ op: "set", path: ["a", "b"], value: 1 }]);
  const keys = enc.keys();
  const refs = enc.refs();
  assert.throws(
    () =>
      enc.encode([
        { op: "set", path: ["new", "path"], value: 1 },
        { op: "set", path: ["c"], value: NaN },
      ]),
    ProtocolError,
  );
  assert.deepStrictEqual(enc.keys(), keys);
  assert.deepStrictEqual(enc.refs(), refs);
});

Deno.test("a failed decode leaves the tables untouched", () => {
  const enc = new DeltaEncoder();
  const dec = new DeltaDecoder();
  const body = enc.encode([{ op: "set", path: ["a", "b"], value: 1 }]);
  const truncated = body.subarray(0, body.length - 1);
  assert.throws(() => dec.decode(truncated), ProtocolError);
  assert.deepStrictEqual(dec.keys(), []);
  assert.deepStrictEqual(dec.refs(), []);
  dec.decode(body);
  assert.deepStrictEqual(dec.keys(), enc.keys());
});

Deno.test("integer-looking keys stay strings and indices stay numbers", () => {
  const enc = new DeltaEncoder();
  const dec = new DeltaDecoder();
  const ops = [
    { op: "set" as const, path: ["m", "3"], value: 1 },
    { op: "set" as const, path: ["a", 3], value: 2 },
    { op: "set" as const, path: ["3", 3, "3"], value: 3 },
  ];
  assert.deepStrictEqual(dec.decode(enc.encode(ops)), ops);
  assert.deepStrictEqual(dec.decode(enc.encode(ops)), ops);
});

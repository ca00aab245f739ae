// One test per hardening rule of PROTOCOL.md: what hostile or broken peers send must fail with
// the right ProtocolError code, fast, without side effects.
import assert from "node:assert/strict";
import { Encoder as CborxEncoder } from "cbor-x/encode";
import {
  ActionPayloadError,
  applyOps,
  checkOutboundOps,
  decodeClientMessage,
  decodeServerMessage,
  decodeValue,
  DEFAULT_INBOUND_LIMITS,
  DEFAULT_OUTBOUND_LIMITS,
  DeltaDecoder,
  DeltaEncoder,
  type DeltaOp,
  encodeClientMessage,
  encodeDeltaFrame,
  encodeServerMessage,
  encodeValue,
  freezeValue,
  PROTOCOL_VERSION,
  ProtocolError,
  type Value,
} from "../protocol/mod.ts";
import { fromHex } from "../tools/protocol_fixtures.ts";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${e}`);
    return e.code;
  }
  assert.fail("did not throw");
}

const client = (hex: string) => () => decodeClientMessage(fromHex(hex));
const server = (hex: string) => () => decodeServerMessage(fromHex(hex));
const value = (bytes: Uint8Array | string) => () =>
  decodeValue(typeof bytes === "string" ? fromHex(bytes) : bytes);
/** An action frame (seq 1, name 0) whose payload is `payload`. */
function action(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + payload.length);
  out.set([0x02, 0x01, 0x00]);
  out.set(payload, 3);
  return out;
}

Deno.test("frame size is checked before anything else", () => {
  const big = new Uint8Array(DEFAULT_INBOUND_LIMITS.maxFrameBytes + 1).fill(0xff);
  assert.equal(code(() => decodeClientMessage(big)), "frame_too_large");
  assert.equal(
    code(() => decodeClientMessage(new Uint8Array(100), { maxFrameBytes: 99 })),
    "frame_too_large",
  );
  assert.equal(code(() => decodeServerMessage(new Uint8Array(5 << 20))), "frame_too_large");
  assert.equal(
    code(() => new DeltaDecoder([], [], { maxFrameBytes: 4 }).decode(new Uint8Array(5))),
    "frame_too_large",
  );
  assert.equal(code(client("")), "empty_frame");
  assert.equal(code(server("")), "empty_frame");
});

Deno.test("a server's ops check passes what a client decodes and refuses a frame over its limit", () => {
  // Over 1 MiB, with opcodes and key ids: a plain CBOR reading would refuse what the decoder takes.
  const encoder = new DeltaEncoder();
  encoder.begin();
  encoder.set(["pile"], Array(300_000).fill("abcd"));
  encoder.push(["pile"], ["efgh"]);
  const ops = encoder.finish();
  assert.ok(ops.length > 1 << 20);
  checkOutboundOps(ops, encoder);
  new DeltaDecoder().decode(ops);
  // Ops that fit the frame limit alone, but not with the delta's header.
  const header = 25;
  const limit = DEFAULT_OUTBOUND_LIMITS.maxFrameBytes;
  const tables = { keys: () => [], refs: () => [] };
  assert.equal(
    code(() => checkOutboundOps(new Uint8Array(limit - header + 1), tables)),
    "frame_too_large",
  );
});

Deno.test("unknown kinds, including the other direction's", () => {
  for (const k of ["00", "05", "0f", "10", "11", "16", "7f", "ff"]) {
    assert.equal(code(client(k)), "unknown_kind", k);
  }
  for (const k of ["00", "01", "02", "03", "04", "17", "ff"]) {
    assert.equal(code(server(k)), "unknown_kind", k);
  }
});

Deno.test("varints: truncated, overlong, too long, too large", () => {
  assert.equal(code(client("03")), "bad_varint");
  assert.equal(code(client("03 80")), "bad_varint");
  assert.equal(code(client("03 80 00")), "bad_varint");
  assert.equal(code(client("03 ff 80 00")), "bad_varint");
  assert.equal(code(client("03 ff ff ff ff ff ff ff ff 01")), "bad_varint");
  assert.equal(code(client("03 80 80 80 80 80 80 80 10")), "bad_varint"); // 2^53
  assert.deepStrictEqual(decodeClientMessage(fromHex("03 ff ff ff ff ff ff ff 0f")), {
    kind: "ping",
    time: Number.MAX_SAFE_INTEGER,
  });
  assert.equal(code(server("11 01 02")), "bad_varint"); // delta missing ackDelta
  assert.equal(code(server("15 01")), "bad_varint");
});

Deno.test("trailing bytes after a complete message", () => {
  assert.equal(code(client("03 05 00")), "trailing_bytes");
  assert.equal(code(client("04 00")), "trailing_bytes");
  assert.equal(code(client("02 01 00 00 00")), "trailing_bytes"); // name, payload, extra
  assert.equal(code(server("15 01 02 03")), "trailing_bytes");
  assert.equal(code(server("16 61 78 61 79 00")), "trailing_bytes");
  assert.equal(code(server("14 a1 61 64 f5 00")), "trailing_bytes");
  assert.equal(code(value("00 00")), "trailing_bytes");
});

Deno.test("depth bombs", () => {
  const nested = (n: number) => {
    const b = new Uint8Array(n + 1).fill(0x81);
    b[n] = 0x00;
    return b;
  };
  assert.doesNotThrow(() => decodeClientMessage(action(nested(32))));
  // In an action's payload, too deep is that action's `bad_payload` (the connection stays).
  assert.equal(code(() => decodeClientMessage(action(nested(33)))), "bad_payload");
  assert.equal(code(() => decodeClientMessage(action(nested(10_000)))), "bad_payload");
  assert.equal(code(value(nested(65))), "bad_cbor");
  assert.equal(code(() => decodeValue(nested(100_000), { maxDepth: 1e9 })), "bad_cbor");
  // Maps count too.
  const maps = new Uint8Array(40 * 3 + 1);
  for (let i = 0; i < 40; i++) maps.set([0xa1, 0x61, 0x61], i * 3);
  assert.equal(code(() => decodeClientMessage(action(maps))), "bad_payload");
  // The writer refuses cycles instead of overflowing the stack.
  const cyclic: { [key: string]: Value } = {};
  cyclic.self = cyclic;
  assert.equal(code(() => encodeValue(cyclic)), "bad_field");
});

Deno.test("length bombs fail before allocating", () => {
  const t0 = performance.now();
  for (
    const hex of [
      "9b 00 00 01 00 00 00 00 00", // array of 2^40
      "9a ff ff ff ff",
      "bb 00 00 00 ff 00 00 00 00", // map
      "5a ff ff ff ff", // bytes
      "7a 7f ff ff ff 61", // text
      "82 00", // array of 2 with 1 item
      "a1 61 61", // map missing its value
      "9b 00 1f ff ff ff ff ff ff",
    ]
  ) {
    assert.equal(code(value(hex)), "bad_cbor", hex);
  }
  assert.ok(performance.now() - t0 < 100);
  // An 8-byte length above 2^53 - 1.
  assert.equal(code(value("9b 00 20 00 00 00 00 00 00")), "bad_cbor");
});

Deno.test("item and string budgets", () => {
  const many = new Uint8Array(3 + 5000);
  many.set([0x99, 0x13, 0x88]); // array of 5000 zeros
  assert.equal(code(() => decodeClientMessage(action(many))), "bad_payload");
  assert.doesNotThrow(() => decodeValue(many));
  assert.equal(code(() => decodeValue(many, { maxItems: 100 })), "bad_cbor");
  const text = encodeValue("x".repeat(9000));
  assert.equal(code(() => decodeClientMessage(action(text))), "bad_payload");
  assert.equal(code(() => decodeValue(text, { maxStringBytes: 8999 })), "bad_cbor");
  assert.equal(decodeValue(text, { maxStringBytes: 9000 }), "x".repeat(9000));
});

Deno.test("an action too large to read is refused under its seq; other frames close", () => {
  const thrown = (frame: Uint8Array) => {
    try {
      decodeClientMessage(frame);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${e}`);
      return e instanceof ActionPayloadError ? [e.seq, e.code] : e.code;
    }
    assert.fail("did not throw");
  };
  const action300 = (payload: Uint8Array) => new Uint8Array([0x02, 0xac, 0x02, 0x00, ...payload]);
  const deep = new Uint8Array(41).fill(0x81);
  deep[40] = 0x00;
  assert.deepEqual(thrown(action300(encodeValue("x".repeat(9000)))), [300, "bad_payload"]);
  assert.deepEqual(thrown(action300(deep)), [300, "bad_payload"]);
  assert.deepEqual(thrown(action300(new Uint8Array(17_000))), [300, "frame_too_large"]);
  // A name over the string limit names no action: refused as unknown, the connection stays.
  const named = (name: Value) => new Uint8Array([0x02, 0xac, 0x02, ...encodeValue(name)]);
  assert.deepEqual(thrown(named("n".repeat(9000))), [300, "unknown_action"]);
  // A name of the wrong type is a broken frame, and the message says what a name may be.
  for (const name of [new Uint8Array([1]), false, -1, 1.5]) {
    assert.throws(
      () => decodeClientMessage(named(name)),
      /action\.name must be an action name \(text\) or index \(an integer in \[0, 2\^53 - 1\]\)/,
    );
  }
  // Broken rather than too large, or not an action: the frame's error, which closes.
  assert.equal(thrown(action300(fromHex("bf ff"))), "bad_cbor");
  assert.equal(thrown(new Uint8Array(17_000).fill(0x03)), "frame_too_large");
});

Deno.test("a join string over the string budget is refused as its field, still unread", () => {
  const join = (body: Record<string, Value>, limits?: { maxStringBytes: number }) => () =>
    decodeClientMessage(new Uint8Array([0x01, 0x01, ...encodeValue(body)]), limits);
  const refusal = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${e}`);
      return `${e.code}: ${e.message}`;
    }
    assert.fail("did not throw");
  };
  const long = "x".repeat(9000);
  const text = (field: string) =>
    `bad_field: ${field} must be a string of at most 8192 bytes (UTF-8), not 9000`;
  assert.equal(refusal(join({ m: 1, g: "g", n: long })), text("join.name (n)"));
  assert.equal(refusal(join({ m: 0, r: long })), text("join.room (r)"));
  assert.equal(refusal(join({ m: 1, g: long })), text("join.game (g)"));
  assert.equal(refusal(join({ m: 1, g: "g", t: long })), text("join.token (t)"));
  assert.equal(
    refusal(join({ m: 1, g: "g", k: long })),
    "bad_field: join.key (k) must be 16 to 64 characters of [A-Za-z0-9_-]",
  );
  assert.equal(
    refusal(join({ m: long })),
    "bad_field: join.mode (m) must be 0 (join), 1 (create) or 2 (join_or_create)",
  );
  assert.equal(
    refusal(join({ m: 0, r: "r", w: long })),
    "bad_field: join.spectator (w) must be a boolean",
  );
  assert.equal(
    refusal(join({ m: 1, g: "g", p: long })),
    "bad_field: join.private (p) must be a boolean",
  );
  const inside = (field: string) =>
    `bad_field: ${field} must be free of strings over 8192 bytes (UTF-8); one has 9000`;
  assert.equal(refusal(join({ m: 0, r: "r", s: [long, 1] })), inside("join.resume (s)"));
  assert.equal(refusal(join({ m: 1, g: "g", o: { a: [long] } })), inside("join.options (o)"));
  assert.equal(refusal(join({ m: 1, g: "g", o: { [long]: 1 } })), inside("join.options (o)"));
  assert.equal(
    refusal(join({ m: 1, g: "g", n: new Uint8Array(9000) })),
    text("join.name (n)"),
    "byte strings too",
  );
  // The limit is the decoder's: a lower one is named as such.
  assert.equal(
    refusal(join({ m: 1, g: "g", n: "x".repeat(101) }, { maxStringBytes: 100 })),
    "bad_field: join.name (n) must be a string of at most 100 bytes (UTF-8), not 101",
  );
  // Keys nobody knows (and map keys of the body) stay bad_cbor, as everywhere else.
  assert.equal(
    refusal(join({ m: 1, g: "g", z: long })),
    "bad_cbor: string of 9000 bytes exceeds 8192",
  );
  assert.equal(
    refusal(join({ m: 1, g: "g", [long]: 1 })),
    "bad_cbor: string of 9000 bytes exceeds 8192",
  );
  // Within the budget, strings decode as ever; a null o is no options.
  assert.equal(
    (decodeClientMessage(
      new Uint8Array([1, 1, ...encodeValue({ m: 1, g: "g", n: "x".repeat(8192) })]),
    ) as { name: string }).name.length,
    8192,
  );
  assert.deepStrictEqual(join({ m: 1, g: "g", o: null })(), {
    kind: "join",
    version: 1,
    mode: "create",
    game: "g",
  });
});

Deno.test("indefinite lengths, reserved values and breaks", () => {
  for (
    const hex of [
      "9f ff",
      "bf ff",
      "5f ff",
      "7f ff",
      "ff",
      "1c",
      "1d",
      "1e",
      "3c",
      "fc",
      "fd",
      "fe",
    ]
  ) {
    assert.equal(code(value(hex)), "bad_cbor", hex);
  }
});

Deno.test("tags are forbidden, whatever they wrap", () => {
  for (const hex of ["c0 60", "c1 00", "d8 40 41 00", "d9 d9 f7 00", "c2 41 01", "d8 1c 00"]) {
    assert.equal(code(value(hex)), "forbidden_tag", hex);
  }
  // cbor-x's default encoding of a Uint8Array is tag 64: refused.
  const tagged = new CborxEncoder({ tagUint8Array: true }).encode(new Uint8Array([1]));
  assert.equal(code(() => decodeValue(tagged)), "forbidden_tag");
  // Also where a join's body map belongs (read field by field, not as one value).
  const joinBody = (hex: string) =>
    client(`01 ${PROTOCOL_VERSION.toString(16).padStart(2, "0")} ${hex}`);
  assert.equal(code(joinBody("c0 a1 61 6d 00")), "forbidden_tag");
  assert.equal(code(joinBody("a1 61 6d c1 00")), "forbidden_tag");
  assert.equal(code(joinBody("81 00")), "bad_field");
});

Deno.test("simple values other than false/true/null, and non-finite floats", () => {
  for (
    const hex of [
      "f7",
      "e0",
      "f3",
      "f8 20",
      "f8 ff",
      "f8 14",
      "f9 7c 00",
      "f9 fc 00",
      "f9 7e 00",
      "fa 7f c0 00 00",
      "fb 7f f0 00 00 00 00 00 00",
    ]
  ) {
    assert.equal(code(value(hex)), "bad_cbor", hex);
  }
  assert.equal(code(() => encodeValue(NaN)), "bad_field");
  assert.equal(code(() => encodeValue(Infinity)), "bad_field");
  assert.deepStrictEqual(decodeValue(fromHex("83 f4 f5 f6")), [false, true, null]);
});

Deno.test("map keys: text only, no duplicates, no prototype keys", () => {
  assert.equal(code(value("a1 01 02")), "bad_cbor");
  assert.equal(code(value("a1 40 02")), "bad_cbor");
  assert.equal(code(value("a1 80 02")), "bad_cbor");
  assert.equal(code(value("a2 61 61 01 61 61 02")), "bad_cbor");
  for (const key of ["__proto__", "constructor", "prototype"]) {
    const bytes = new Uint8Array([0xa1, 0x60 + key.length, ...new TextEncoder().encode(key), 0xa0]);
    assert.equal(code(value(bytes)), "forbidden_key", key);
    assert.equal(code(() => decodeClientMessage(action(bytes))), "forbidden_key", key);
    assert.equal(code(() => encodeValue(JSON.parse(`{"${key}": 1}`))), "forbidden_key", key);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // Look-alikes are fine and stay own data properties.
  const ok = decodeValue(encodeValue({ toString: 1, hasOwnProperty: 2, __proto: 3 })) as {
    [key: string]: Value;
  };
  assert.equal(ok.toString, 1);
  assert.equal(Object.getPrototypeOf(ok), Object.prototype);
});

Deno.test("text must be valid UTF-8", () => {
  for (
    const hex of [
      "62 c0 80", // overlong NUL
      "63 e0 80 80", // overlong
      "63 ed a0 80", // surrogate D800
      "64 f4 90 80 80", // above U+10FFFF
      "64 f8 88 80 80", // 5-byte form
      "61 80", // lone continuation
      "62 c3 28", // bad continuation
      "61 c3", // truncated sequence
      "61 ff",
    ]
  ) {
    assert.equal(code(value(hex)), "bad_cbor", hex);
  }
  assert.equal(decodeValue(fromHex("64 f0 9f 98 80")), "😀");
  assert.equal(decodeValue(fromHex("63 ef bf bd")), "\ufffd");
  // A lone surrogate is written as U+FFFD.
  assert.equal(decodeValue(encodeValue("a\ud800b")), "a\ufffdb");
});

Deno.test("integers stay within ±(2^53 - 1)", () => {
  assert.equal(decodeValue(fromHex("1b 00 1f ff ff ff ff ff ff")), Number.MAX_SAFE_INTEGER);
  assert.equal(decodeValue(fromHex("3b 00 1f ff ff ff ff ff fe")), -Number.MAX_SAFE_INTEGER);
  assert.equal(code(value("3b 00 1f ff ff ff ff ff ff")), "bad_cbor");
  assert.equal(code(value("1b ff ff ff ff ff ff ff ff")), "bad_cbor");
});

Deno.test("fields of the wrong type, text in the wrong place", () => {
  assert.equal(code(client("01 01 a1 61 6d 63 6a 6f 69")), "bad_field"); // mode as text
  assert.equal(code(client("01 01 a0")), "bad_field"); // no mode
  assert.throws(client("01 01 a0"), /join\.mode \(m\) must be 0 \(join\), 1 \(create\) or 2/);
  assert.equal(code(client("01 01 80")), "bad_field"); // body not a map
  assert.equal(code(client("01 01")), "bad_field"); // no body
  assert.equal(code(client("01 01 a2 61 6d 00 61 72 01")), "bad_field"); // room as int
  assert.equal(code(client("01 01 a2 61 6d 00 61 6f 80")), "bad_field"); // options as array
  assert.equal(code(client("01 01 a2 61 6d 00 61 73 81 60")), "bad_field"); // resume of 1
  assert.equal(code(client("02 01")), "bad_field"); // action without name
  assert.equal(code(client("02 01 20")), "bad_field"); // name -1
  assert.equal(code(client("02 01 f5")), "bad_field"); // name true
  assert.equal(code(server("12 01 61 78")), "bad_field"); // reject without message
  assert.equal(code(server("12 01 01 60")), "bad_field"); // code not text
  assert.equal(code(server("16 61 41 60")), "bad_field"); // code "A"
  assert.equal(code(server("13")), "bad_field"); // event without type
  assert.equal(code(server("13 01")), "bad_field");
  assert.equal(code(server("14 a0")), "bad_field"); // outcome without winners
  assert.equal(code(server("14 a2 61 64 f5 61 77 80")), "bad_field"); // draw with winners
  assert.equal(code(server("10 00 00 a0")), "bad_field"); // empty welcome
  const long = "16 78 41 " + "61 ".repeat(65) + "60";
  assert.equal(code(server(long)), "bad_field"); // code of 65 bytes
  // Unknown but well-formed codes pass: clients treat them generically.
  assert.deepStrictEqual(decodeServerMessage(fromHex("16 63 6e 65 77 60")), {
    kind: "error",
    code: "new",
    message: "",
  });
});

Deno.test("welcome: key ids in the state need the key table first", () => {
  const msg = {
    kind: "welcome" as const,
    seq: 1,
    time: 2,
    room: "r",
    game: "g",
    player: null,
    session: "",
    ack: 0,
    state: { a: { b: 1 } },
    players: [],
    actions: [],
    keys: ["a", "b"],
    refs: [],
    resumed: false,
  };
  const frame = encodeServerMessage(msg);
  assert.deepStrictEqual(decodeServerMessage(frame), msg);
  // The state uses key ids: a1 00 a1 01 01.
  assert.ok(frame.join(",").includes([0xa1, 0x00, 0xa1, 0x01, 0x01].join(",")));
  // A key id beyond the table is refused.
  const bad = encodeServerMessage({ ...msg, keys: ["a", "b"], state: { a: 1 } });
  const i = bad.lastIndexOf(0x76); // "v"
  bad[i + 2] = 0x05; // key id 5
  assert.equal(code(() => decodeServerMessage(bad)), "bad_cbor");
  assert.equal(code(() => encodeServerMessage({ ...msg, keys: ["__proto__"] })), "forbidden_key");
});

Deno.test("join with another version is refused before its body", () => {
  assert.equal(code(client("01 02 ff ff")), "unsupported_version");
  assert.equal(code(client("01 00")), "unsupported_version");
});

Deno.test("encoders refuse what decoders would refuse", () => {
  assert.equal(code(() => encodeClientMessage({ kind: "ping", time: 1.5 })), "bad_field");
  assert.equal(code(() => encodeClientMessage({ kind: "ping", time: -1 })), "bad_field");
  assert.equal(
    code(() => encodeClientMessage({ kind: "action", seq: 2 ** 53, name: "a", payload: 1 })),
    "bad_field",
  );
  assert.equal(
    code(() => encodeClientMessage({ kind: "action", seq: 1, name: -1, payload: 1 })),
    "bad_field",
  );
  assert.equal(code(() => encodeValue([undefined as unknown as Value])), "bad_field");
  assert.equal(code(() => encodeValue(new Date() as unknown as Value)), "bad_field");
  assert.equal(code(() => encodeValue(new Map() as unknown as Value)), "bad_field");
  assert.equal(code(() => encodeValue((() => 1) as unknown as Value)), "bad_field");
  assert.equal(
    code(() => encodeServerMessage({ kind: "error", code: "Bad Code" as "internal", message: "" })),
    "bad_field",
  );
  assert.equal(code(() => encodeDeltaFrame(1, -5, 0, new Uint8Array())), "bad_field");
  assert.equal(
    code(() => encodeClientMessage({ kind: "nope" } as unknown as { kind: "leave" })),
    "unknown_kind",
  );
  // undefined object properties are skipped, as in JSON.
  assert.deepStrictEqual(decodeValue(encodeValue({ a: 1, b: undefined } as unknown as Value)), {
    a: 1,
  });
});

Deno.test("delta decoder: strict about ids, types and truncation", () => {
  const dec = () => new DeltaDecoder(["x"], [["a"]]);
  const bad = (hex: string) => code(() => dec().decode(fromHex(hex)));
  assert.equal(bad("01 00"), "bad_delta"); // unknown key id
  assert.equal(bad("21"), "bad_delta"); // unknown ref 1
  assert.equal(bad("81 21 00 00"), "bad_delta"); // unknown key id in a path
  assert.equal(bad("00"), "bad_delta"); // set without value
  assert.equal(bad("61 79"), "bad_delta"); // text key without value
  assert.equal(bad("f9 3c 00"), "bad_delta"); // float in field position
  assert.equal(bad("40"), "bad_delta"); // byte string
  assert.equal(bad("a0"), "bad_delta"); // map
  assert.equal(bad("f5"), "bad_delta"); // true
  assert.equal(bad("c1 00"), "bad_delta"); // tag
  assert.equal(bad("e5"), "bad_delta"); // unknown opcode
  assert.equal(bad("f8 20"), "bad_delta");
  assert.equal(bad("81 f9 3c 00"), "bad_delta"); // float path segment
  assert.equal(bad("81 80"), "bad_delta"); // array path segment
  assert.equal(bad("e1 1a 00 01 00 00"), "bad_delta"); // push count bomb
  assert.equal(bad("e1 61"), "bad_delta"); // push count not uint
  assert.equal(bad("e2 00"), "bad_delta"); // splice missing count
  assert.equal(bad("e4 00"), "bad_delta"); // index set missing value
  assert.equal(bad("e0 f6"), "bad_delta"); // delete needs a key
  assert.equal(bad("9b 00 00 01 00 00 00 00 00"), "bad_delta"); // path length bomb
  assert.equal(bad("69 5f 5f 70 72 6f 74 6f 5f 5f 00"), "bad_delta"); // __proto__ field
  assert.equal(bad("81 6b 63 6f 6e 73 74 72 75 63 74 6f 72"), "bad_delta"); // constructor path
  assert.equal(bad("00 a1 05 00"), "bad_delta"); // key id 5 inside a value
  assert.equal(bad("00 c1 00"), "bad_delta"); // tag inside a value
  assert.equal(code(() => new DeltaDecoder(["__proto__"])), "bad_delta");
  assert.equal(code(() => new DeltaDecoder([], [["a", -1]])), "bad_delta");
  assert.equal(
    code(() => new DeltaDecoder(["a", "b"], [], undefined, { maxKeys: 1 })),
    "bad_delta",
  );
  // Valid: key 0 of ref 0, and a text key learned then used by id in the same body.
  assert.deepStrictEqual(dec().decode(fromHex("20 00 01 61 79 02 01 03")), [
    { op: "set", path: ["a", "x"], value: 1 },
    { op: "set", path: ["a", "y"], value: 2 },
    { op: "set", path: ["a", "y"], value: 3 },
  ]);
});

Deno.test("delta encoder refuses malformed ops", () => {
  const enc = new DeltaEncoder();
  const bad = (op: unknown) => code(() => enc.encode([op as DeltaOp]));
  assert.equal(bad({ op: "delete", path: [] }), "bad_delta");
  assert.equal(bad({ op: "delete", path: ["a", 1] }), "bad_delta");
  assert.equal(bad({ op: "set", path: ["a", -1], value: 1 }), "bad_delta");
  assert.equal(bad({ op: "set", path: ["a", 1.5], value: 1 }), "bad_delta");
  assert.equal(bad({ op: "set", path: ["a"] }), "bad_delta");
  assert.equal(bad({ op: "splice", path: ["a"], index: 0, count: -1 }), "bad_delta");
  assert.equal(bad({ op: "push", path: ["a"] }), "bad_delta");
  assert.equal(bad({ op: "move", path: ["a"] }), "bad_delta");
  assert.equal(bad({ op: "set", path: ["__proto__", "x"], value: 1 }), "forbidden_key");
  assert.equal(bad({ op: "set", path: ["prototype"], value: 1 }), "forbidden_key");
  assert.equal(bad({ op: "set", path: ["a"], value: NaN }), "bad_field");
  assert.deepStrictEqual(enc.keys(), []);
});

Deno.test("applyOps semantics and refusals", () => {
  const state = () => ({ list: [1, 2, 3], obj: { a: 1 }, bytes: new Uint8Array(2) }) as Value;
  const apply = (ops: DeltaOp[]) => applyOps(state(), ops);
  assert.deepStrictEqual(apply([{ op: "set", path: [], value: 5 }]), 5);
  assert.deepStrictEqual(
    (apply([{ op: "set", path: ["list", 3], value: 4 }]) as { list: Value }).list,
    [1, 2, 3, 4],
  );
  assert.deepStrictEqual(
    (apply([{ op: "splice", path: ["list"], index: 1, count: 2 }]) as { list: Value }).list,
    [1],
  );
  assert.deepStrictEqual((apply([{ op: "delete", path: ["obj", "a"] }]) as { obj: Value }).obj, {});
  const bad = (ops: DeltaOp[]) => {
    // Refused alike when applied to a copy, which leaves the state untouched.
    const before = freezeValue(state());
    const immutable = code(() => applyOps(before, ops, { immutable: true }));
    assert.deepStrictEqual(before, state());
    assert.equal(code(() => apply(ops)), immutable);
    return immutable;
  };
  assert.equal(bad([{ op: "set", path: ["list", 5], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["missing", "x"], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["list", "x"], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["obj", 0], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["bytes", 0], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "delete", path: ["list", 0] }]), "bad_delta");
  assert.equal(bad([{ op: "delete", path: ["obj", "zz"] }]), "bad_delta");
  assert.equal(bad([{ op: "delete", path: ["obj", "toString"] }]), "bad_delta");
  assert.equal(bad([{ op: "push", path: ["obj"], values: [1] }]), "bad_delta");
  assert.equal(bad([{ op: "splice", path: ["list"], index: 2, count: 2 }]), "bad_delta");
  assert.equal(bad([{ op: "splice", path: ["obj"], index: 0, count: 0 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["obj", "toString", "x"], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["__proto__", "polluted"], value: 1 }]), "bad_delta");
  assert.equal(bad([{ op: "set", path: ["obj", "constructor"], value: 1 }]), "bad_delta");
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

Deno.test("applyOps immutable: a new root, changed paths copied, the rest shared, all frozen", () => {
  const before = freezeValue({
    players: { p1: { x: 0, y: 0 }, p2: { x: 5, y: 5 } },
    log: ["a"],
    bytes: new Uint8Array([1]),
  } as Value) as {
    players: { p1: { x: number }; p2: { x: number } };
    log: string[];
    bytes: Uint8Array;
  };
  const after = applyOps(before, [
    { op: "set", path: ["players", "p1", "x"], value: 1 },
    { op: "set", path: ["players", "p1", "y"], value: 2 },
    { op: "push", path: ["log"], values: [{ said: "b" }] },
  ], { immutable: true }) as typeof before & { log: unknown[] };
  assert.deepStrictEqual(before.players.p1, { x: 0, y: 0 });
  assert.deepStrictEqual(before.log, ["a"]);
  assert.deepStrictEqual(after.players.p1, { x: 1, y: 2 });
  assert.deepStrictEqual(after.log, ["a", { said: "b" }]);
  assert.notEqual(after, before);
  assert.notEqual(after.players, before.players);
  assert.equal(after.players.p2, before.players.p2, "what did not change is shared");
  assert.equal(after.bytes, before.bytes);
  for (const node of [after, after.players, after.players.p1, after.log, after.log[1]]) {
    assert.ok(Object.isFrozen(node));
  }
  assert.throws(() => (after.log as unknown[]).push("c"), TypeError);
  // The default changes the state in place.
  const mutable = { n: 1 } as Value;
  assert.equal(applyOps(mutable, [{ op: "set", path: ["n"], value: 2 }]), mutable);
  assert.deepStrictEqual(mutable, { n: 2 });
});

Deno.test("delta decoder: a target path longer than maxDepth is bad_delta (no path amplification)", () => {
  /** A literal path of `len` zero segments, then `ops` pushes of nothing onto it. */
  const body = (len: number, ops: number) => {
    const b = new Uint8Array(5 + len + 2 * ops);
    b.set([0x9a, len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255]);
    for (let i = 0; i < ops; i++) b.set([0xe1, 0x00], 5 + len + 2 * i);
    return b;
  };
  // 9 KB that decoded to 9 million path segments, each op copying the 3000-segment target.
  assert.equal(code(() => new DeltaDecoder().decode(body(3000, 3000))), "bad_delta");
  assert.equal(code(() => new DeltaDecoder().decode(body(65, 1))), "bad_delta");
  assert.equal(new DeltaDecoder().decode(body(64, 2)).length, 2); // 64 = maxDepth: fine
  assert.equal(
    code(() => new DeltaDecoder([], [], { maxDepth: 4 }).decode(body(5, 1))),
    "bad_delta",
  );
  // A welcome's refs are targets too: one too long cannot be selected once per op instead.
  const long = Array.from({ length: 65 }, () => 0);
  assert.equal(code(() => new DeltaDecoder([], [long])), "bad_delta");
  assert.equal(code(() => new DeltaDecoder([], [long.slice(0, 5)], { maxDepth: 4 })), "bad_delta");
  assert.deepStrictEqual(new DeltaDecoder([], [long.slice(1)]).refs(), [long.slice(1)]);
});

import { deepEqual, equal } from "node:assert/strict";
import { type Infer, t } from "../rooms/schema.ts";

function error(result: { ok: boolean; error?: string }): string | undefined {
  return result.ok ? undefined : result.error;
}

Deno.test("t.number accepts finite numbers within bounds only", () => {
  const s = t.number({ min: -1, max: 1 });
  deepEqual(s.parse(0.5), { ok: true, value: 0.5 });
  deepEqual(s.parse(-1), { ok: true, value: -1 });
  equal(error(s.parse(7)), "payload: expected a number between -1 and 1, got 7");
  equal(error(s.parse(NaN)), "payload: expected a number between -1 and 1, got NaN");
  equal(error(t.number().parse(Infinity)), "payload: expected a number, got Infinity");
  equal(
    error(t.number({ min: 0 }).parse("3")),
    'payload: expected a number of at least 0, got "3"',
  );
  equal(error(t.number({ max: 0 }).parse(1)), "payload: expected a number of at most 0, got 1");
});

Deno.test("t.int refuses fractions and unsafe integers", () => {
  const s = t.int({ min: 0, max: 6 });
  equal(s.parse(6).ok, true);
  equal(error(s.parse(1.5)), "payload: expected an integer between 0 and 6, got 1.5");
  equal(error(s.parse(-1)), "payload: expected an integer between 0 and 6, got -1");
  equal(t.int().parse(2 ** 53).ok, false);
  equal(error(t.int().parse(null)), "payload: expected an integer, got null");
});

Deno.test("t.string checks type and length", () => {
  const s = t.string({ maxLength: 3 });
  equal(s.parse("abc").ok, true);
  equal(
    error(s.parse("abcd")),
    "payload: expected a string of at most 3 characters, got a string of 4 characters",
  );
  equal(
    error(t.string({ minLength: 2, maxLength: 2 }).parse("a")),
    "payload: expected a string of exactly 2 characters, got a string of 1 characters",
  );
  equal(error(s.parse(3)), "payload: expected a string of at most 3 characters, got 3");
});

Deno.test("t.boolean, t.literal and t.enum", () => {
  equal(t.boolean().parse(false).ok, true);
  equal(error(t.boolean().parse(0)), "payload: expected true or false, got 0");
  equal(t.literal("x").parse("x").ok, true);
  equal(error(t.literal("x").parse("y")), 'payload: expected "x", got "y"');
  const hand = t.enum(["rock", "paper", "scissors"]);
  equal(hand.parse("paper").ok, true);
  equal(
    error(hand.parse("lizard")),
    'payload: expected one of "rock", "paper", "scissors", got "lizard"',
  );
});

Deno.test("t.object names the failing path and refuses missing and unknown keys", () => {
  const move = t.object({ dx: t.number({ min: -1, max: 1 }), dy: t.number({ min: -1, max: 1 }) });
  equal(
    error(move.parse({ dx: 7, dy: 0 })),
    "payload.dx: expected a number between -1 and 1, got 7",
  );
  equal(
    error(move.parse({ dx: 0 })),
    "payload.dy: expected a number between -1 and 1, got nothing",
  );
  equal(
    error(move.parse({ dx: 0, dy: 0, dz: 1 })),
    "payload.dz: expected no such key (known keys: dx, dy), got 1",
  );
  equal(error(move.parse([1, 2])), "payload: expected an object, got an array of 2 items");
  equal(error(move.parse(null)), "payload: expected an object, got null");
  equal(error(move.parse(new Uint8Array(2))), "payload: expected an object, got 2 bytes");
  const nested = t.object({ a: t.object({ "b-c": t.array(t.int(), { maxLength: 3 }) }) });
  equal(
    error(nested.parse({ a: { "b-c": [1, 2, "x"] } })),
    'payload.a["b-c"][2]: expected an integer, got "x"',
  );
  equal(
    error(nested.parse({ a: { "b-c": [1, 2, 3, 4] } })),
    'payload.a["b-c"]: expected an array of at most 3 items, got an array of 4 items',
  );
});

Deno.test("t.optional keys may be absent; t.nullable accepts null", () => {
  const s = t.object({ name: t.optional(t.string()), note: t.nullable(t.string()) });
  equal(s.parse({ note: null }).ok, true);
  equal(s.parse({ name: "a", note: "b" }).ok, true);
  equal(error(s.parse({ name: 1, note: null })), "payload.name: expected a string, got 1");
  equal(error(s.parse({ note: 1 })), "payload.note: expected a string or null, got 1");
  equal(error(s.parse({})), "payload.note: expected a string or null, got nothing");
  // A nested failure inside a nullable keeps the inner message.
  const n = t.nullable(t.object({ x: t.int() }));
  equal(error(n.parse({ x: "1" })), 'payload.x: expected an integer, got "1"');
});

Deno.test("parse uses the given root name, and valid input is passed on unchanged", () => {
  const s = t.object({ turnMs: t.optional(t.int({ min: 100 })) });
  equal(
    error(s.parse({ turnMs: 5 }, "options")),
    "options.turnMs: expected an integer of at least 100, got 5",
  );
  const input = { turnMs: 500 };
  const result = s.parse(input);
  equal(result.ok && result.value, input);
});

Deno.test("schema types are inferred", () => {
  const s = t.object({
    dx: t.number(),
    tag: t.optional(t.enum(["a", "b"])),
    list: t.array(t.boolean()),
    maybe: t.nullable(t.literal(3)),
  });
  type S = Infer<typeof s>;
  const value: S = { dx: 1, list: [true], maybe: null };
  const full: S = { dx: 1, tag: "b", list: [], maybe: 3 };
  // @ts-expect-error tag must be "a" or "b"
  const wrong: S = { dx: 1, tag: "c", list: [], maybe: null };
  deepEqual([value.dx, full.tag, wrong.dx], [1, "b", 1]);
});

Deno.test("builders refuse nonsensical bounds", () => {
  let thrown = false;
  try {
    t.int({ min: Number.NaN });
  } catch (e) {
    thrown = e instanceof TypeError;
  }
  equal(thrown, true);
});

/**
 * The golden example frames of `protocol/PROTOCOL.md`. `deno run -A tools/golden_vectors.ts`
 * prints the vectors section; with `--write` it replaces the section in PROTOCOL.md between
 * the `golden:start` / `golden:end` markers. `test/protocol_golden_test.ts` then checks the
 * file byte for byte in both directions.
 *
 * Vector blocks are fenced code blocks whose info string is `golden <type> <name>`:
 *
 * - `client` / `server`: line 1 is the message as JSON, line 2 the frame in hex.
 * - `value`: line 1 is the value as JSON, line 2 its CBOR in hex.
 * - `delta`: line 1 is `{"keys": [...], "bodies": [[op, ...], ...]}`: the key table the
 *   welcome carried (the target table starts empty), then one hex line per body.
 * - `invalid-client` / `invalid-server` / `invalid-value`: the name is the expected error
 *   code, the single line the frame in hex.
 *
 * JSON cannot hold byte strings or -0, so `{"$bytes": "0a0b"}` stands for a `Uint8Array` and
 * `{"$number": "-0"}` for negative zero.
 *
 * @module
 */
import {
  type ClientMessage,
  DeltaEncoder,
  type DeltaOp,
  encodeClientMessage,
  encodeServerMessage,
  encodeValue,
  type ServerMessage,
  type Value,
} from "../protocol/mod.ts";
import { fromHex, toHex } from "./protocol_fixtures.ts";

/** One parsed vector block. */
export interface GoldenBlock {
  /** `client`, `server`, `value`, `delta` or `invalid-*`. */
  type: string;
  /** The vector's name (for `invalid-*`: the expected error code). */
  name: string;
  /** The block's lines, trimmed, empty lines dropped. */
  lines: string[];
}

/**
 * `JSON.parse` reviver for the `$bytes` / `$number` escapes.
 *
 * @example
 * ```ts
 * import { goldenReviver } from "./golden_vectors.ts";
 * console.log(JSON.parse('{"$bytes":"0a"}', goldenReviver)); // Uint8Array(1) [ 10 ]
 * ```
 */
export function goldenReviver(_key: string, v: unknown): unknown {
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && typeof o.$bytes === "string") return fromHex(o.$bytes);
    if (keys.length === 1 && o.$number === "-0") return -0;
  }
  return v;
}

/**
 * `JSON.stringify` replacer for the `$bytes` / `$number` escapes.
 *
 * @example
 * ```ts
 * import { goldenReplacer } from "./golden_vectors.ts";
 * console.log(JSON.stringify(new Uint8Array([10]), goldenReplacer)); // {"$bytes":"0a"}
 * ```
 */
export function goldenReplacer(this: unknown, key: string, v: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Uint8Array) return { $bytes: toHex(raw).replace(/ /g, "") };
  if (Object.is(raw, -0)) return { $number: "-0" };
  return v;
}

/**
 * Every golden block of a markdown text.
 *
 * @example
 * ```ts
 * import { parseGoldenBlocks } from "./golden_vectors.ts";
 * const fence = "`".repeat(3);
 * const md = `${fence}golden value one\n1\n01\n${fence}\n`;
 * console.log(parseGoldenBlocks(md)); // [ { type: "value", name: "one", lines: ["1", "01"] } ]
 * ```
 */
export function parseGoldenBlocks(markdown: string): GoldenBlock[] {
  const blocks: GoldenBlock[] = [];
  const re = /^```golden ([a-z-]+) ([a-z0-9_-]+)\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(re)) {
    const lines = m[3].split("\n").map((l) => l.trim()).filter((l) => l !== "");
    blocks.push({ type: m[1], name: m[2], lines });
  }
  return blocks;
}

const CLIENT: [string, ClientMessage][] = [
  ["join-create", {
    kind: "join",
    version: 1,
    mode: "create",
    game: "tictactoe",
    name: "ada",
    options: { size: 3 },
  }],
  ["join-resume", {
    kind: "join",
    version: 1,
    mode: "join",
    room: "r1",
    resume: { session: "s3cr3t", seq: 41 },
  }],
  ["join-spectator", {
    kind: "join",
    version: 1,
    mode: "join",
    room: "r1",
    spectator: true,
    token: "tok",
  }],
  ["join-key", {
    kind: "join",
    version: 1,
    mode: "join",
    room: "r1",
    name: "bob",
    key: "Jk3-x_9QvM2pLr7TzA0bWc",
  }],
  ["action-indexed", { kind: "action", seq: 7, name: 0, payload: { cell: 4 } }],
  ["action-named-no-payload", { kind: "action", seq: 300, name: "pass", payload: null }],
  ["action-float-payload", { kind: "action", seq: 8, name: 1, payload: [1.5, 0.1] }],
  ["ping", { kind: "ping", time: 1760000000123 }],
  ["leave", { kind: "leave" }],
];

const SERVER: [string, ServerMessage][] = [
  ["welcome", {
    kind: "welcome",
    seq: 5,
    time: 1760000000000,
    room: "r1",
    game: "tictactoe",
    player: "p1",
    session: "s3cr3t",
    ack: 2,
    state: { board: ["x", null, "o"], turn: "p2" },
    players: [
      { id: "p1", name: "ada", seat: 0, presence: "connected" },
      { id: "p2", name: "bob", seat: 1, presence: "disconnected" },
    ],
    actions: ["place"],
    keys: ["board", "turn"],
    refs: [["board"]],
    resumed: false,
  }],
  ["welcome-replay", {
    kind: "welcome",
    seq: 9,
    time: 1760000000500,
    room: "r1",
    game: "tictactoe",
    player: "p1",
    session: "s3cr3t",
    ack: 0,
    state: null,
    players: [],
    actions: ["place"],
    keys: [],
    refs: [],
    resumed: true,
    replay: true,
    rejected: [{ seq: 3, code: "not_your_turn", message: "wait" }],
  }],
  ["welcome-spectator-over", {
    kind: "welcome",
    seq: 0,
    time: 0,
    room: "r2",
    game: "g",
    player: null,
    session: "",
    ack: 0,
    state: {},
    players: [],
    actions: [],
    keys: [],
    refs: [],
    resumed: false,
    outcome: { draw: true, reason: "board full" },
  }],
  ["delta", {
    kind: "delta",
    seq: 300,
    dt: 50,
    ackDelta: 1,
    ops: new Uint8Array([0x25, 0x01, 0x0c, 0x02, 0x18, 0x28]),
  }],
  ["delta-empty", { kind: "delta", seq: 6, dt: 1000, ackDelta: 0, ops: new Uint8Array() }],
  ["reject", { kind: "reject", seq: 7, code: "not_your_turn", message: "wait" }],
  ["event", { kind: "event", type: "player_joined", player: "p2", data: { name: "bob", seat: 1 } }],
  ["event-data-only", { kind: "event", type: "boom", data: 3 }],
  ["event-type-only", { kind: "event", type: "tick" }],
  ["game-over", { kind: "game_over", outcome: { winners: ["p1"], reason: "three in a row" } }],
  ["game-over-draw", { kind: "game_over", outcome: { draw: true } }],
  ["pong", { kind: "pong", clientTime: 1760000000123, serverTime: 1760000000150 }],
  ["error", { kind: "error", code: "unsupported_version", message: "speaks 1" }],
];

const VALUES: [string, Value][] = [
  ["uint", 500],
  ["negative", -500],
  ["float16", 1.5],
  ["negative-zero", -0],
  ["float32", Math.fround(0.1)],
  ["float64", 0.1],
  ["beyond-2-53", 2 ** 53],
  ["text", "héllo 😀"],
  ["bytes", new Uint8Array([1, 2, 255])],
  ["map", { a: [true, false, null], "3": {} }],
];

const DELTAS: [string, string[], DeltaOp[][]][] = [
  ["arena-moves", ["players", "x", "y"], [
    [
      { op: "set", path: ["players", 3, "x"], value: 12 },
      { op: "set", path: ["players", 3, "y"], value: 40 },
    ],
    [
      { op: "set", path: ["players", 3, "x"], value: 13.5 },
      { op: "set", path: ["players", 3, "y"], value: Math.fround(40.1) },
    ],
    [
      { op: "set", path: ["players", 3, "hp"], value: 90 },
      { op: "set", path: ["players", 2, "hp"], value: 80 },
    ],
    [
      { op: "set", path: ["players", 2, "hp"], value: 70 },
      { op: "set", path: ["players", 4], value: { x: 0, y: 0, hp: 100, name: "eve" } },
    ],
  ]],
  ["all-ops", [], [
    [
      { op: "set", path: [], value: { log: [], board: [null, null], meta: { v: 1 } } },
      { op: "push", path: ["log"], values: ["start", 1] },
      { op: "set", path: ["board", 1], value: "x" },
      { op: "splice", path: ["log"], index: 0, count: 1 },
      { op: "delete", path: ["meta", "v"] },
      { op: "set", path: ["meta", "3"], value: 3 },
    ],
    [
      { op: "delete", path: ["meta", "3"] },
      { op: "push", path: ["log"], values: [] },
      { op: "set", path: ["board", 2], value: "o" },
    ],
  ]],
];

const INVALID: [string, string, string][] = [
  ["invalid-client", "empty_frame", ""],
  ["invalid-client", "unknown_kind", "10"],
  ["invalid-client", "unknown_kind", "7f"],
  ["invalid-client", "bad_varint", "03 80 00"],
  ["invalid-client", "bad_varint", "03 80"],
  ["invalid-client", "bad_varint", "03 ff ff ff ff ff ff ff ff 01"],
  ["invalid-client", "bad_varint", "03 80 80 80 80 80 80 80 10"],
  ["invalid-client", "trailing_bytes", "03 05 00"],
  ["invalid-client", "trailing_bytes", "04 00"],
  ["invalid-client", "unsupported_version", "01 02 a1 61 6d 00"],
  ["invalid-client", "bad_field", "01 01 a1 61 6d 03"],
  ["invalid-client", "bad_field", "01 01 a3 61 6d 00 61 72 62 72 31 61 6b 65 73 68 6f 72 74"],
  ["invalid-client", "bad_field", "02 01 f9 3e 00"],
  ["invalid-client", "bad_cbor", "02 01 00 9f ff"],
  ["invalid-client", "bad_cbor", "02 01 00 9b 00 00 01 00 00 00 00 00"],
  ["invalid-client", "bad_cbor", "02 01 00 a2 61 61 01 61 61 02"],
  ["invalid-client", "bad_cbor", "02 01 00 a1 01 02"],
  ["invalid-client", "bad_cbor", "02 01 00 62 c0 80"],
  ["invalid-client", "bad_cbor", "02 01 00 f7"],
  ["invalid-client", "bad_cbor", "02 01 00 f9 7c 00"],
  ["invalid-client", "forbidden_tag", "02 01 00 c1 00"],
  ["invalid-client", "forbidden_key", "02 01 00 a1 69 5f 5f 70 72 6f 74 6f 5f 5f 00"],
  ["invalid-server", "unknown_kind", "01 01"],
  ["invalid-server", "bad_field", "12 01 66 4e 6f 43 6f 64 65 60"],
  ["invalid-server", "trailing_bytes", "15 01 02 03"],
  ["invalid-value", "bad_cbor", "1b 00 20 00 00 00 00 00 00"],
  ["invalid-value", "trailing_bytes", "00 00"],
  ["invalid-delta", "bad_delta", "01 01"],
  ["invalid-delta", "bad_delta", "20"],
  ["invalid-delta", "bad_delta", "e5"],
  ["invalid-delta", "bad_delta", "61 78"],
  ["invalid-delta", "bad_delta", "69 5f 5f 70 72 6f 74 6f 5f 5f 00"],
];

function json(v: unknown): string {
  return JSON.stringify(v, goldenReplacer);
}

/**
 * The vectors section of PROTOCOL.md, freshly encoded.
 *
 * @example
 * ```ts
 * import { goldenSection } from "./golden_vectors.ts";
 * console.log(goldenSection().includes("golden client ping")); // true
 * ```
 */
export function goldenSection(): string {
  const out: string[] = [];
  const block = (type: string, name: string, lines: string[]) => {
    out.push("```golden " + type + " " + name, ...lines, "```", "");
  };
  out.push("### Client frames", "");
  for (const [name, msg] of CLIENT) {
    block("client", name, [json(msg), toHex(encodeClientMessage(msg))]);
  }
  out.push("### Server frames", "");
  for (const [name, msg] of SERVER) {
    block("server", name, [json(msg), toHex(encodeServerMessage(msg))]);
  }
  out.push("### Values", "");
  for (const [name, v] of VALUES) block("value", name, [json(v), toHex(encodeValue(v))]);
  out.push(
    "### Delta bodies",
    "",
    "Each body is encoded by one encoder in sequence, so later bodies use what earlier ones",
    "taught the tables. Line 1 gives the key table the welcome carried; the target table starts",
    "empty.",
    "",
  );
  for (const [name, keys, bodies] of DELTAS) {
    const enc = new DeltaEncoder();
    enc.learnKeys(Object.fromEntries(keys.map((k) => [k, null])));
    block("delta", name, [
      json({ keys, bodies }),
      ...bodies.map((ops) => toHex(enc.encode(ops))),
    ]);
  }
  out.push(
    "### Invalid frames",
    "",
    "The block name is the error code the decoder must throw. `invalid-delta` bodies are",
    'decoded with the key table `["x"]` and an empty target table.',
    "",
  );
  for (const [type, code, hex] of INVALID) {
    // The empty frame gets a visible marker instead of an empty line.
    block(type, code, [hex === "" ? "(empty)" : hex]);
  }
  return out.join("\n").trimEnd() + "\n";
}

/** Replaces the golden section of `markdown`. */
export function replaceGoldenSection(markdown: string, section: string): string {
  const start = "<!-- golden:start -->";
  const end = "<!-- golden:end -->";
  const a = markdown.indexOf(start);
  const b = markdown.indexOf(end);
  if (a < 0 || b < a) throw new Error("PROTOCOL.md lacks the golden markers");
  return markdown.slice(0, a + start.length) + "\n\n" + section + "\n" + markdown.slice(b);
}

if (import.meta.main) {
  const section = goldenSection();
  if (Deno.args.includes("--write")) {
    const path = new URL("../protocol/PROTOCOL.md", import.meta.url);
    Deno.writeTextFileSync(path, replaceGoldenSection(Deno.readTextFileSync(path), section));
  } else {
    console.log(section);
  }
}

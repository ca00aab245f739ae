/**
 * Shared inputs for the protocol's tests, fuzzer, benchmark and size table: a seeded PRNG,
 * random values, messages and delta ops, and the 8-player arena state the size targets are
 * measured on.
 *
 * @module
 */
import type {
  ClientMessage,
  DeltaOp,
  ErrorCode,
  Outcome,
  Path,
  PlayerInfo,
  ServerMessage,
  Value,
} from "../protocol/mod.ts";
import { ERROR_CODES, PROTOCOL_VERSION } from "../protocol/mod.ts";

/**
 * A small, fast, seeded PRNG (sfc32), so every failure reproduces from its seed.
 *
 * @example
 * ```ts
 * import { Rng } from "./protocol_fixtures.ts";
 * const rng = new Rng(42);
 * console.log(rng.int(6)); // the same number on every run
 * ```
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Creates a generator from a 32-bit seed. */
  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A uniform element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

const ASCII_KEYS = ["x", "y", "hp", "name", "score", "items", "a", "b", "3", "0", "", "10"];
const WEIRD_STRINGS = [
  "",
  "héllo",
  "日本語",
  "😀 emoji",
  "a\u0000b",
  "\u{10ffff}",
  "tab\tnew\nline",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "__proto",
  "proto__",
];

/**
 * A random string: mostly short ASCII, sometimes non-ASCII or long.
 *
 * @example
 * ```ts
 * import { randomString, Rng } from "./protocol_fixtures.ts";
 * console.log(typeof randomString(new Rng(1))); // "string"
 * ```
 */
export function randomString(rng: Rng): string {
  const r = rng.next();
  if (r < 0.3) return rng.pick(ASCII_KEYS);
  if (r < 0.5) return rng.pick(WEIRD_STRINGS);
  const len = rng.chance(0.9) ? rng.int(12) : rng.int(300);
  let s = "";
  for (let i = 0; i < len; i++) {
    const k = rng.next();
    if (k < 0.85) s += String.fromCharCode(0x20 + rng.int(95));
    else if (k < 0.95) s += String.fromCharCode(0xa0 + rng.int(0xd000));
    else s += String.fromCodePoint(0x10000 + rng.int(0xfffff));
  }
  return s;
}

/**
 * A random object key (never `__proto__`, `constructor` or `prototype`).
 *
 * @example
 * ```ts
 * import { randomKey, Rng } from "./protocol_fixtures.ts";
 * console.log(typeof randomKey(new Rng(1))); // "string"
 * ```
 */
export function randomKey(rng: Rng): string {
  // Cut by code points: a split surrogate pair would (correctly) encode as U+FFFD.
  return rng.chance(0.7) ? rng.pick(ASCII_KEYS) : [...randomString(rng)].slice(0, 20).join("");
}

const F32 = new Float32Array(1);

/**
 * A random number covering every wire form: small and large integers, -0, float16-, float32-
 * and float64-exact fractions, and integers beyond 2^53.
 *
 * @example
 * ```ts
 * import { randomNumber, Rng } from "./protocol_fixtures.ts";
 * console.log(Number.isFinite(randomNumber(new Rng(1)))); // true
 * ```
 */
export function randomNumber(rng: Rng): number {
  switch (rng.int(10)) {
    case 0:
      return rng.int(24);
    case 1:
      return rng.int(70000) - 35000;
    case 2:
      return rng.pick([
        0,
        -0,
        -1,
        23,
        24,
        255,
        256,
        65535,
        65536,
        2 ** 32 - 1,
        2 ** 32,
        Number.MAX_SAFE_INTEGER,
        -Number.MAX_SAFE_INTEGER,
        2 ** 53,
        -(2 ** 60),
        1e300,
        5e-324,
        65504,
        2 ** -24,
        -(2 ** -14),
        0.5,
        1.5,
      ]);
    case 3:
      return (rng.int(4000) - 2000) / 4; // float16-exact
    case 4:
      F32[0] = (rng.next() - 0.5) * 2000;
      return F32[0]; // float32-exact
    case 5:
      return (rng.next() - 0.5) * 1e6; // float64
    case 6:
      return rng.int(2 ** 31) * 2 ** 22 + rng.int(2 ** 22); // up to 2^53
    case 7:
      F32[0] = rng.next() * 2 ** -20; // small float32, some float16 subnormals
      return F32[0];
    case 8:
      return rng.int(1024) * 2 ** -24 * (rng.chance(0.5) ? 1 : -1);
    default:
      return -rng.int(2 ** 40);
  }
}

/**
 * A random {@linkcode Value} at most `depth` containers deep.
 *
 * @example
 * ```ts
 * import { randomValue, Rng } from "./protocol_fixtures.ts";
 * console.log(randomValue(new Rng(1), 3) !== undefined); // true
 * ```
 */
export function randomValue(rng: Rng, depth = 4): Value {
  const r = rng.int(depth > 0 ? 10 : 6);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
    case 3:
      return randomNumber(rng);
    case 4:
      return randomString(rng);
    case 5: {
      const b = new Uint8Array(rng.chance(0.9) ? rng.int(8) : rng.int(100));
      for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
      return b;
    }
    case 6:
    case 7: {
      const n = rng.chance(0.9) ? rng.int(5) : rng.int(30);
      const out: Value[] = [];
      for (let i = 0; i < n; i++) out.push(randomValue(rng, depth - 1));
      return out;
    }
    default: {
      const n = rng.chance(0.9) ? rng.int(5) : rng.int(30);
      const out: { [key: string]: Value } = {};
      for (let i = 0; i < n; i++) out[randomKey(rng)] = randomValue(rng, depth - 1);
      return out;
    }
  }
}

function maybe<T>(rng: Rng, make: () => T): T | undefined {
  return rng.chance(0.5) ? make() : undefined;
}

function uint(rng: Rng): number {
  return rng.pick([0, 1, 127, 128, 16383, 16384, 2 ** 32, Number.MAX_SAFE_INTEGER]) *
      (rng.chance(0.3) ? 1 : 0) + rng.int(100000);
}

function safeUint(rng: Rng): number {
  const n = uint(rng);
  return n > Number.MAX_SAFE_INTEGER ? rng.int(1000) : n;
}

function randomObject(rng: Rng): { [key: string]: Value } {
  const out: { [key: string]: Value } = {};
  const n = rng.int(4);
  for (let i = 0; i < n; i++) out[randomKey(rng)] = randomValue(rng, 3);
  return out;
}

/**
 * A random client message (every optional field sometimes present).
 *
 * @example
 * ```ts
 * import { randomClientMessage, Rng } from "./protocol_fixtures.ts";
 * console.log(typeof randomClientMessage(new Rng(1)).kind); // "string"
 * ```
 */
export function randomClientMessage(rng: Rng): ClientMessage {
  switch (rng.int(4)) {
    case 0: {
      const msg: ClientMessage = {
        kind: "join",
        version: PROTOCOL_VERSION,
        mode: rng.pick(["join", "create", "join_or_create"] as const),
      };
      const room = maybe(rng, () => randomString(rng));
      if (room !== undefined) msg.room = room;
      const game = maybe(rng, () => randomString(rng));
      if (game !== undefined) msg.game = game;
      const options = maybe(rng, () => randomObject(rng));
      if (options !== undefined) msg.options = options;
      const name = maybe(rng, () => randomString(rng));
      if (name !== undefined) msg.name = name;
      const token = maybe(rng, () => randomString(rng));
      if (token !== undefined) msg.token = token;
      const resume = maybe(rng, () => ({ session: randomString(rng), seq: safeUint(rng) }));
      if (resume !== undefined) msg.resume = resume;
      const spectator = maybe(rng, () => rng.chance(0.5));
      if (spectator !== undefined) msg.spectator = spectator;
      return msg;
    }
    case 1:
      return {
        kind: "action",
        seq: safeUint(rng),
        name: rng.chance(0.5) ? rng.int(300) : randomString(rng),
        payload: rng.chance(0.2) ? null : randomValue(rng, 3),
      };
    case 2:
      return { kind: "ping", time: safeUint(rng) };
    default:
      return { kind: "leave" };
  }
}

function randomOutcome(rng: Rng): Outcome {
  const reason = maybe(rng, () => randomString(rng));
  const outcome: Outcome = rng.chance(0.3)
    ? { draw: true }
    : { winners: Array.from({ length: rng.int(3) }, () => randomString(rng)) };
  if (outcome.draw !== true && rng.chance(0.3)) outcome.draw = false;
  if (reason !== undefined) outcome.reason = reason;
  return outcome;
}

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

function randomPath(rng: Rng): Path {
  return Array.from({ length: rng.int(4) }, () => rng.chance(0.5) ? rng.int(40) : randomKey(rng));
}

/**
 * A random server message (every optional field sometimes present).
 *
 * @example
 * ```ts
 * import { randomServerMessage, Rng } from "./protocol_fixtures.ts";
 * console.log(typeof randomServerMessage(new Rng(1)).kind); // "string"
 * ```
 */
export function randomServerMessage(rng: Rng): ServerMessage {
  switch (rng.int(7)) {
    case 0: {
      const replay = rng.chance(0.2) ? true : rng.chance(0.2) ? false : undefined;
      const players: PlayerInfo[] = Array.from({ length: rng.int(5) }, (_, i) => ({
        id: "p" + i,
        name: randomString(rng),
        seat: i,
        presence: rng.pick(["connected", "disconnected", "left"] as const),
      }));
      const msg: ServerMessage = {
        kind: "welcome",
        seq: safeUint(rng),
        time: safeUint(rng),
        room: randomString(rng),
        game: randomString(rng),
        player: rng.chance(0.2) ? null : randomString(rng),
        session: randomString(rng),
        ack: safeUint(rng),
        state: replay ? null : randomValue(rng, 4),
        players,
        actions: Array.from({ length: rng.int(4) }, () => randomString(rng)),
        keys: replay ? [] : Array.from({ length: rng.int(6) }, () => randomKey(rng)),
        refs: replay ? [] : Array.from({ length: rng.int(4) }, () => randomPath(rng)),
        resumed: rng.chance(0.5),
      };
      if (replay !== undefined) msg.replay = replay;
      if (rng.chance(0.2)) msg.outcome = randomOutcome(rng);
      if (rng.chance(0.3)) msg.limits = { rate: 1 + rng.int(1000), burst: 1 + rng.int(1000) };
      return msg;
    }
    case 1: {
      const ops = new Uint8Array(rng.int(20));
      for (let i = 0; i < ops.length; i++) ops[i] = rng.int(256);
      return { kind: "delta", seq: safeUint(rng), dt: rng.int(200), ackDelta: rng.int(5), ops };
    }
    case 2:
      return {
        kind: "reject",
        seq: safeUint(rng),
        code: rng.pick(CODES),
        message: randomString(rng),
      };
    case 3: {
      const msg: ServerMessage = { kind: "event", type: randomString(rng) };
      const player = maybe(rng, () => randomString(rng));
      if (player !== undefined) msg.player = player;
      if (rng.chance(0.5)) msg.data = randomValue(rng, 3);
      return msg;
    }
    case 4:
      return { kind: "game_over", outcome: randomOutcome(rng) };
    case 5:
      return { kind: "pong", clientTime: safeUint(rng), serverTime: safeUint(rng) };
    default:
      return { kind: "error", code: rng.pick(CODES), message: randomString(rng) };
  }
}

/** One player of {@linkcode arenaState}. */
export interface ArenaPlayer {
  [key: string]: Value;
  id: string;
  name: string;
  x: number;
  y: number;
  score: number;
  lastSeq: number;
}

/**
 * The arena state the size targets are measured on: 8 players and a few coins, as a typical
 * real-time game keeps it.
 *
 * @example
 * ```ts
 * import { arenaState } from "./protocol_fixtures.ts";
 * console.log(arenaState().players.length); // 8
 * ```
 */
export function arenaState(): {
  players: ArenaPlayer[];
  coins: { x: number; y: number }[];
  tick: number;
} {
  const names = ["ada", "brian", "chloe", "dmitri", "eve", "farah", "gus", "hiro"];
  return {
    players: names.map((name, i) => ({
      id: "p" + (i + 1),
      name,
      x: 40 + i * 53.25,
      y: 300 - i * 17.5,
      score: i * 3,
      lastSeq: 10 + i,
    })),
    coins: [
      { x: 120, y: 80 },
      { x: 410, y: 95 },
      { x: 233, y: 310 },
      { x: 77, y: 402 },
      { x: 500, y: 12 },
    ],
    tick: 1200,
  };
}

/** The ops of one player's move in {@linkcode arenaState}. */
export function moveOps(player: number, x: number, y: number): DeltaOp[] {
  return [
    { op: "set", path: ["players", player, "x"], value: x },
    { op: "set", path: ["players", player, "y"], value: y },
  ];
}

/** Returns a copy of `path` as a mutable array. */
function copyPath(path: Path): (string | number)[] {
  return path.slice();
}

/**
 * Random valid ops against `state`, applied to `state` as they are made (by direct mutation,
 * independently of `applyOps`), returning the ops and the new root. Values are deep-copied
 * into the state, so the returned ops never alias it.
 *
 * @example
 * ```ts
 * import { randomOps, Rng } from "./protocol_fixtures.ts";
 * const { ops } = randomOps(new Rng(1), { a: [1, 2] }, 3);
 * console.log(ops.length); // 3
 * ```
 */
export function randomOps(
  rng: Rng,
  state: Value,
  count: number,
): { ops: DeltaOp[]; state: Value } {
  const ops: DeltaOp[] = [];
  let root = state;
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.01)) {
      const value = randomValue(rng, 3);
      ops.push({ op: "set", path: [], value });
      root = structuredClone(value);
      continue;
    }
    // Walk down a random path to a container.
    const path: (string | number)[] = [];
    let node: Value = root;
    while (true) {
      const stop = rng.chance(0.35);
      if (Array.isArray(node)) {
        if (node.length === 0 || stop) break;
        const idx = rng.int(node.length);
        const child: Value = node[idx];
        if (typeof child !== "object" || child === null || child instanceof Uint8Array) break;
        path.push(idx);
        node = child;
      } else if (typeof node === "object" && node !== null && !(node instanceof Uint8Array)) {
        const keys = Object.keys(node);
        if (keys.length === 0 || stop) break;
        const key = rng.pick(keys);
        const child: Value = node[key];
        if (typeof child !== "object" || child === null || child instanceof Uint8Array) break;
        path.push(key);
        node = child;
      } else {
        break;
      }
    }
    if (Array.isArray(node)) {
      const r = rng.int(4);
      if (r === 0 && node.length > 0) {
        const index = rng.int(node.length);
        const value = randomValue(rng, 2);
        ops.push({ op: "set", path: [...path, index], value });
        node[index] = structuredClone(value);
      } else if (r === 1) {
        const value = randomValue(rng, 2);
        ops.push({ op: "set", path: [...path, node.length], value });
        node.push(structuredClone(value));
      } else if (r === 2 || node.length === 0) {
        const values = Array.from({ length: rng.int(3) }, () => randomValue(rng, 2));
        ops.push({ op: "push", path: copyPath(path), values });
        for (const v of values) node.push(structuredClone(v));
      } else {
        const index = rng.int(node.length + 1);
        const count = rng.int(node.length - index + 1);
        ops.push({ op: "splice", path: copyPath(path), index, count });
        node.splice(index, count);
      }
    } else if (typeof node === "object" && node !== null && !(node instanceof Uint8Array)) {
      const keys = Object.keys(node);
      if (keys.length > 0 && rng.chance(0.2)) {
        const key = rng.pick(keys);
        ops.push({ op: "delete", path: [...path, key] });
        delete node[key];
      } else {
        const key = keys.length > 0 && rng.chance(0.6) ? rng.pick(keys) : randomKey(rng);
        const value = randomValue(rng, 2);
        ops.push({ op: "set", path: [...path, key], value });
        node[key] = structuredClone(value);
      }
    } else {
      // The root is a scalar: replace it with a container so later ops have somewhere to go.
      const value = rng.chance(0.5) ? {} : [];
      ops.push({ op: "set", path: [], value });
      root = structuredClone(value);
    }
  }
  return { ops, state: root };
}

/**
 * Hex of bytes, space separated (`"0a ff"`).
 *
 * @example
 * ```ts
 * import { toHex } from "./protocol_fixtures.ts";
 * console.log(toHex(new Uint8Array([10, 255]))); // "0a ff"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/**
 * Bytes of a hex string; whitespace is ignored.
 *
 * @example
 * ```ts
 * import { fromHex } from "./protocol_fixtures.ts";
 * console.log(fromHex("0a ff")); // Uint8Array(2) [ 10, 255 ]
 * ```
 */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex: ${hex}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

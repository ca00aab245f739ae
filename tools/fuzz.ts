/**
 * A mutation fuzzer for every decoder of the protocol: valid frames (random messages, delta
 * bodies, values) bit-flipped, truncated, spliced, padded, re-kinded, plus plain garbage. A
 * decoder may accept or throw {@linkcode ProtocolError}; anything else is an escape. Accepted
 * input must also survive a re-encode round trip, and decoded delta ops must apply or fail with
 * `bad_delta` only.
 *
 * `deno task fuzz [frames] [seed]` (or `FUZZ_FRAMES` / `FUZZ_SEED`) runs a long campaign and
 * exits non-zero on an escape; `test/protocol_fuzz_test.ts` runs a short one.
 *
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import {
  applyOps,
  decodeClientMessage,
  type DecodeLimits,
  decodeServerMessage,
  decodeValue,
  DeltaDecoder,
  DeltaEncoder,
  encodeClientMessage,
  encodeServerMessage,
  encodeValue,
  type Path,
  ProtocolError,
  type Value,
} from "../protocol/mod.ts";
import {
  randomClientMessage,
  randomOps,
  randomServerMessage,
  randomValue,
  Rng,
  toHex,
} from "./protocol_fixtures.ts";
import { concatBytes } from "../protocol/bytes.ts";

/** A decoder input that was not handled as the protocol requires. */
export interface Escape {
  /** Which decoder. */
  target: string;
  /** The input, in hex. */
  hex: string;
  /** What went wrong. */
  error: string;
}

/** Counts of one campaign. */
export interface FuzzReport {
  /** Inputs tried. */
  frames: number;
  /** Inputs a decoder accepted (and that passed the round-trip checks). */
  accepted: number;
  /** Rejections by error code. */
  rejected: Record<string, number>;
  /** Escapes found (the campaign stops at 20). */
  escapes: Escape[];
}

interface DeltaSeed {
  keys: string[];
  refs: Path[];
  body: Uint8Array;
  state: Value;
}

const INTERESTING = [
  0x00,
  0x01,
  0x17,
  0x18,
  0x19,
  0x1a,
  0x1b,
  0x1c,
  0x1f,
  0x20,
  0x3b,
  0x40,
  0x5f,
  0x60,
  0x7b,
  0x7f,
  0x80,
  0x9b,
  0x9f,
  0xa0,
  0xbb,
  0xbf,
  0xc0,
  0xd8,
  0xe0,
  0xe4,
  0xe5,
  0xf4,
  0xf5,
  0xf6,
  0xf7,
  0xf8,
  0xf9,
  0xfa,
  0xfb,
  0xff,
  0xed,
  0xf0,
  0xc3,
];

const TIGHT: DecodeLimits = { maxDepth: 4, maxItems: 40, maxStringBytes: 16, maxFrameBytes: 200 };

function corpus(rng: Rng, n: number) {
  const client: Uint8Array[] = [];
  const server: Uint8Array[] = [];
  const values: Uint8Array[] = [];
  const deltas: DeltaSeed[] = [];
  for (let i = 0; i < n; i++) {
    client.push(encodeClientMessage(randomClientMessage(rng)));
    server.push(encodeServerMessage(randomServerMessage(rng)));
    values.push(encodeValue(randomValue(rng, 4)));
  }
  for (let run = 0; deltas.length < n; run++) {
    let state: Value = randomValue(rng, 4);
    if (typeof state !== "object" || state === null) state = { v: state };
    const caps = run % 3 === 0 ? { maxKeys: 4, maxRefs: 2 } : {};
    const enc = new DeltaEncoder(caps);
    if (rng.chance(0.5)) enc.learnKeys(state);
    for (let t = 0; t < 20; t++) {
      const before = { keys: enc.keys(), refs: enc.refs(), state: structuredClone(state) };
      const made = randomOps(rng, state, 1 + rng.int(5));
      state = made.state;
      deltas.push({ ...before, body: enc.encode(made.ops) });
    }
  }
  return { client, server, values, deltas };
}

function mutate(rng: Rng, base: Uint8Array, pool: Uint8Array[]): Uint8Array {
  let b: Uint8Array = base.slice();
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(9)) {
      case 0: { // bit flips
        if (b.length === 0) break;
        for (let i = 1 + rng.int(4); i > 0; i--) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      }
      case 1: { // interesting bytes
        if (b.length === 0) break;
        for (let i = 1 + rng.int(3); i > 0; i--) b[rng.int(b.length)] = rng.pick(INTERESTING);
        break;
      }
      case 2: // truncate
        b = b.slice(0, rng.int(b.length + 1));
        break;
      case 3: { // splice with another frame
        const other = rng.pick(pool);
        const cut = rng.int(b.length + 1);
        b = concatBytes([b.subarray(0, cut), other.subarray(rng.int(other.length + 1))]);
        break;
      }
      case 4: { // insert random bytes
        const at = rng.int(b.length + 1);
        const ins = new Uint8Array(1 + rng.int(4)).map(() => rng.int(256));
        b = concatBytes([b.subarray(0, at), ins, b.subarray(at)]);
        break;
      }
      case 5: { // delete a range
        const at = rng.int(b.length + 1);
        b = concatBytes([b.subarray(0, at), b.subarray(at + 1 + rng.int(4))]);
        break;
      }
      case 6: { // duplicate a chunk
        const at = rng.int(b.length + 1);
        const len = rng.int(8);
        b = concatBytes([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
        break;
      }
      case 7: // append garbage
        b = concatBytes([b, new Uint8Array(1 + rng.int(6)).map(() => rng.int(256))]);
        break;
      default: // another kind byte
        if (b.length > 0) b[0] = rng.pick([0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12, 0x16]);
    }
  }
  return b;
}

function garbage(rng: Rng): Uint8Array {
  const b = new Uint8Array(rng.int(48));
  for (let i = 0; i < b.length; i++) b[i] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
  return b;
}

/**
 * Runs a campaign of `frames` inputs from `seed`.
 *
 * @example
 * ```ts
 * import { fuzz } from "./fuzz.ts";
 * const report = fuzz({ frames: 1000, seed: 1 });
 * console.log(report.escapes.length); // 0
 * ```
 */
export function fuzz(options: { frames: number; seed: number }): FuzzReport {
  const rng = new Rng(options.seed);
  const c = corpus(rng, 300);
  const pool = [...c.client, ...c.server, ...c.values, ...c.deltas.map((d) => d.body)];
  const report: FuzzReport = { frames: 0, accepted: 0, rejected: {}, escapes: [] };
  for (let i = 0; i < options.frames && report.escapes.length < 20; i++) {
    const which = rng.int(4);
    const limits = rng.chance(0.1) ? TIGHT : undefined;
    const fresh = rng.chance(0.05);
    let input: Uint8Array;
    let target: string;
    let run: () => void;
    if (which === 0 || which === 1) {
      const seeds = which === 0 ? c.client : c.server;
      input = fresh
        ? garbage(rng)
        : rng.chance(0.02)
        ? rng.pick(seeds)
        : mutate(rng, rng.pick(seeds), pool);
      target = which === 0 ? "decodeClientMessage" : "decodeServerMessage";
      const frame = input;
      run = which === 0
        ? () => {
          const msg = decodeClientMessage(frame, limits);
          const again = decodeClientMessage(encodeClientMessage(msg), { maxFrameBytes: 1 << 20 });
          if (!isDeepStrictEqual(again, msg)) throw new Error("re-encode changed the message");
        }
        : () => {
          const msg = decodeServerMessage(frame, limits);
          const again = decodeServerMessage(encodeServerMessage(msg));
          if (!isDeepStrictEqual(again, msg)) throw new Error("re-encode changed the message");
        };
    } else if (which === 2) {
      input = fresh ? garbage(rng) : mutate(rng, rng.pick(c.values), pool);
      target = "decodeValue";
      const bytes = input;
      run = () => {
        const v = decodeValue(bytes, limits);
        if (!isDeepStrictEqual(decodeValue(encodeValue(v)), v)) {
          throw new Error("re-encode changed the value");
        }
      };
    } else {
      const seed = rng.pick(c.deltas);
      input = fresh ? garbage(rng) : rng.chance(0.02) ? seed.body : mutate(rng, seed.body, pool);
      target = "DeltaDecoder.decode";
      const body = input;
      run = () => {
        const ops = new DeltaDecoder(seed.keys, seed.refs, limits).decode(body);
        // Whatever decodes must encode again, and apply cleanly or fail as bad_delta.
        new DeltaEncoder().encode(ops);
        try {
          applyOps(structuredClone(seed.state), ops);
        } catch (e) {
          if (!(e instanceof ProtocolError) || e.code !== "bad_delta") throw e;
        }
      };
    }
    report.frames++;
    try {
      run();
      report.accepted++;
    } catch (e) {
      if (e instanceof ProtocolError) {
        report.rejected[e.code] = (report.rejected[e.code] ?? 0) + 1;
      } else {
        report.escapes.push({
          target,
          hex: toHex(input),
          error: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
        });
      }
    }
  }
  return report;
}

if (import.meta.main) {
  const frames = Number(Deno.args[0] ?? Deno.env.get("FUZZ_FRAMES") ?? 2_000_000);
  const seed = Number(Deno.args[1] ?? Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 32);
  console.log(`fuzzing ${frames} frames, seed ${seed}`);
  const started = performance.now();
  const chunk = 100_000;
  const total: FuzzReport = { frames: 0, accepted: 0, rejected: {}, escapes: [] };
  // Chunks with derived seeds: progress output, and each chunk reproduces on its own.
  for (let done = 0, n = 0; done < frames && total.escapes.length === 0; n++) {
    const size = Math.min(chunk, frames - done);
    const r = fuzz({ frames: size, seed: (seed + n * 0x9e3779b9) >>> 0 });
    total.frames += r.frames;
    total.accepted += r.accepted;
    for (const [k, v] of Object.entries(r.rejected)) {
      total.rejected[k] = (total.rejected[k] ?? 0) + v;
    }
    total.escapes.push(...r.escapes);
    done += size;
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`  ${done} frames, ${total.accepted} accepted, ${secs} s`);
  }
  console.log(JSON.stringify(total, null, 2));
  if (total.escapes.length > 0) {
    console.error(`${total.escapes.length} escape(s)`);
    Deno.exit(1);
  }
}

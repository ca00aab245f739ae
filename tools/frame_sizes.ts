/**
 * Prints a markdown table of frame sizes for the 8-player arena state next to the same content
 * as JSON: `deno task sizes`.
 *
 * @module
 */
import {
  DeltaDecoder,
  DeltaEncoder,
  type DeltaOp,
  encodeClientMessage,
  encodeDeltaFrame,
  encodeServerMessage,
  encodeValue,
  type WelcomeMessage,
} from "../protocol/mod.ts";
import { arenaState, moveOps } from "./protocol_fixtures.ts";

/** One row of the table. */
export interface SizeRow {
  /** What was measured. */
  what: string;
  /** Arbiter frame bytes. */
  bytes: number;
  /** The same content as JSON text (UTF-8 bytes). */
  json: number;
}

function jsonBytes(v: unknown): number {
  return new TextEncoder().encode(JSON.stringify(v)).length;
}

/** The welcome the arena measurements use, with the tables of `enc`. */
export function arenaWelcome(enc: DeltaEncoder): WelcomeMessage {
  const state = arenaState();
  return {
    kind: "welcome",
    seq: 1200,
    time: 1_760_000_000_000,
    room: "r-7Kq2",
    game: "arena",
    player: "p1",
    session: "s-3c9f1e0a7b2d4c6e8f10a2b4",
    ack: 10,
    state,
    players: state.players.map((p, seat) => ({
      id: p.id,
      name: p.name,
      seat,
      presence: "connected",
    })),
    actions: ["move", "shoot"],
    keys: enc.keys(),
    refs: enc.refs(),
    resumed: false,
  };
}

/**
 * Measures the frames of a running arena: deltas after every target is known (steady state),
 * as a server tick would send them at seq ~1200 with dt 50 ms.
 *
 * @example
 * ```ts
 * import { measureSizes } from "./frame_sizes.ts";
 * console.log(measureSizes()[0].bytes <= 12); // true
 * ```
 */
export function measureSizes(): SizeRow[] {
  const state = arenaState();
  const enc = new DeltaEncoder();
  enc.learnKeys(state);
  const welcome = arenaWelcome(enc);
  const welcomeFrame = encodeServerMessage(welcome);
  const dec = new DeltaDecoder(enc.keys(), enc.refs());
  // Warm up: every player moves once, so each [players, i] is a known target.
  for (let i = 0; i < 8; i++) dec.decode(enc.encode(moveOps(i, 1, 1)));
  const delta = (ops: DeltaOp[]) => {
    const body = enc.encode(ops);
    dec.decode(body);
    return { frame: encodeDeltaFrame(1201, 50, 1, body), ops };
  };
  const asJson = (ops: DeltaOp[]) => ({ type: "delta", seq: 1201, dt: 50, ackDelta: 1, ops });
  const rows: SizeRow[] = [];
  const add = (what: string, d: { frame: Uint8Array; ops: DeltaOp[] }) =>
    rows.push({ what, bytes: d.frame.length, json: jsonBytes(asJson(d.ops)) });
  add("delta: 1 player moved, small ints", delta(moveOps(3, 12, 40)));
  add("delta: 1 player moved, float16-exact", delta(moveOps(3, 12.5, 40.25)));
  add(
    "delta: 1 player moved, float32",
    delta(moveOps(3, Math.fround(123.456), Math.fround(78.9))),
  );
  add("delta: 1 player moved, float64", delta(moveOps(3, 123.456, 78.9)));
  const all: DeltaOp[] = [];
  for (let i = 0; i < 8; i++) all.push(...moveOps(i, 100 + i * 7, 200 - i * 3));
  add("delta: all 8 moved, small ints", delta(all));
  const allF: DeltaOp[] = [];
  for (let i = 0; i < 8; i++) {
    allF.push(...moveOps(i, Math.fround(100.1 + i), Math.fround(200.2 - i)));
  }
  add("delta: all 8 moved, float32", delta(allF));
  add("delta: empty (ack/time only)", delta([]));
  rows.push({
    what: "full state (value only)",
    bytes: encodeValue(state).length,
    json: jsonBytes(state),
  });
  rows.push({ what: "welcome (full state)", bytes: welcomeFrame.length, json: jsonBytes(welcome) });
  rows.push({
    what: "welcome vs the bare state as JSON",
    bytes: welcomeFrame.length,
    json: jsonBytes(state),
  });
  const join = {
    kind: "join" as const,
    version: 1,
    mode: "join_or_create" as const,
    game: "arena",
    name: "ada",
  };
  rows.push({ what: "join", bytes: encodeClientMessage(join).length, json: jsonBytes(join) });
  const action = {
    kind: "action" as const,
    seq: 41,
    name: 0,
    payload: { dx: 1, dy: -1 },
  };
  rows.push({
    what: "action (indexed name)",
    bytes: encodeClientMessage(action).length,
    json: jsonBytes({ ...action, name: "move" }),
  });
  const ping = { kind: "ping" as const, time: 1_760_000_000_123 };
  rows.push({ what: "ping", bytes: encodeClientMessage(ping).length, json: jsonBytes(ping) });
  return rows;
}

/**
 * The table as markdown.
 *
 * @example
 * ```ts
 * import { measureSizes, sizeTable } from "./frame_sizes.ts";
 * console.log(sizeTable(measureSizes()).startsWith("|")); // true
 * ```
 */
export function sizeTable(rows: SizeRow[]): string {
  const lines = ["| frame | bytes | JSON bytes | ratio |", "| --- | ---: | ---: | ---: |"];
  for (const r of rows) {
    lines.push(`| ${r.what} | ${r.bytes} | ${r.json} | ${(r.bytes / r.json).toFixed(2)} |`);
  }
  return lines.join("\n");
}

if (import.meta.main) console.log(sizeTable(measureSizes()));

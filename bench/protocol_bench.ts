// Codec throughput: encode and decode of every message kind, and the server's per-tick delta work
// for the 8-player arena (`deno task bench:protocol`). JSON rows are a baseline, not a target.
import {
  applyOps,
  type ClientMessage,
  decodeClientMessage,
  decodeServerMessage,
  decodeValue,
  DeltaDecoder,
  DeltaEncoder,
  type DeltaOp,
  encodeClientMessage,
  encodeDeltaFrame,
  encodeServerMessage,
  encodeValue,
  type ServerMessage,
  type Value,
} from "../protocol/mod.ts";
import { arenaWelcome } from "../tools/frame_sizes.ts";
import { arenaState, moveOps } from "../tools/protocol_fixtures.ts";

const state = arenaState();
const encoder = new DeltaEncoder();
encoder.learnKeys(state);
for (let p = 0; p < 8; p++) encoder.encode(moveOps(p, 0, 0));

const client: [string, ClientMessage][] = [
  ["join", { kind: "join", version: 1, mode: "join_or_create", game: "arena", name: "ada" }],
  ["action", { kind: "action", seq: 41, name: 0, payload: { dx: 1, dy: -1 } }],
  ["ping", { kind: "ping", time: 1_760_000_000_123 }],
  ["leave", { kind: "leave" }],
];
const server: [string, ServerMessage][] = [
  ["welcome (arena)", arenaWelcome(encoder)],
  ["delta", {
    kind: "delta",
    seq: 1201,
    dt: 50,
    ackDelta: 1,
    ops: encoder.encode(moveOps(3, 12, 40)),
  }],
  ["reject", { kind: "reject", seq: 7, code: "not_your_turn", message: "wait for p2" }],
  ["event", { kind: "event", type: "player_joined", player: "p2", data: { name: "bob" } }],
  ["game_over", { kind: "game_over", outcome: { winners: ["p1"], reason: "score" } }],
  ["pong", { kind: "pong", clientTime: 1_760_000_000_123, serverTime: 1_760_000_000_150 }],
  ["error", { kind: "error", code: "room_full", message: "2 of 2 seats taken" }],
];

for (const [name, msg] of client) {
  const frame = encodeClientMessage(msg);
  Deno.bench(`encode ${name}`, { group: `client ${name}` }, () => {
    encodeClientMessage(msg);
  });
  Deno.bench(`decode ${name}`, { group: `client ${name}` }, () => {
    decodeClientMessage(frame);
  });
}
for (const [name, msg] of server) {
  const frame = encodeServerMessage(msg);
  Deno.bench(`encode ${name}`, { group: `server ${name}` }, () => {
    encodeServerMessage(msg);
  });
  Deno.bench(`decode ${name}`, { group: `server ${name}` }, () => {
    decodeServerMessage(frame);
  });
}
{
  const msg = arenaWelcome(encoder);
  const json = JSON.stringify(msg);
  Deno.bench("JSON.stringify welcome (baseline)", { group: "server welcome (arena)" }, () => {
    JSON.stringify(msg);
  });
  Deno.bench("JSON.parse welcome (baseline)", { group: "server welcome (arena)" }, () => {
    JSON.parse(json);
  });
}

// One arena tick: every player moves by a float32 step.
let tick = 0;
function tickOps(): DeltaOp[] {
  tick++;
  const ops: DeltaOp[] = [];
  for (let p = 0; p < 8; p++) {
    ops.push(...moveOps(p, Math.fround(100 + ((tick + p) % 50) * 0.3), Math.fround(tick % 97)));
  }
  return ops;
}
const ticks = Array.from({ length: 64 }, tickOps);
let t = 0;
Deno.bench("DeltaEncoder.encode: 8 players moved", { group: "arena tick" }, () => {
  encoder.encode(ticks[t++ & 63]);
});
Deno.bench("DeltaEncoder.encode: 1 player moved", { group: "arena tick" }, () => {
  encoder.encode(moveOps(t++ & 7, 12, 40));
});
const body = encoder.encode(ticks[0]);
Deno.bench("encodeDeltaFrame: per-recipient header + shared body", { group: "arena tick" }, () => {
  encodeDeltaFrame(1201 + (t++ & 1023), 50, t & 1, body);
});
Deno.bench("JSON.stringify of the same ops (baseline)", { group: "arena tick" }, () => {
  JSON.stringify({ seq: 1201, dt: 50, ackDelta: 1, ops: ticks[t++ & 63] });
});

{
  const enc = new DeltaEncoder();
  enc.learnKeys(state);
  const bodies = ticks.map((ops) => enc.encode(ops));
  let mirror: Value = structuredClone(state);
  let dec = new DeltaDecoder(new DeltaEncoder().keys());
  let i = 0;
  Deno.bench("DeltaDecoder.decode + applyOps: 8 players moved", { group: "client tick" }, (b) => {
    if (i === 0) {
      const fresh = new DeltaEncoder();
      fresh.learnKeys(state);
      dec = new DeltaDecoder(fresh.keys());
      mirror = structuredClone(state);
    }
    b.start();
    mirror = applyOps(mirror, dec.decode(bodies[i]));
    b.end();
    i = (i + 1) & 63;
  });
}

{
  const bytes = encodeValue(state);
  Deno.bench("encodeValue arena state", { group: "value" }, () => {
    encodeValue(state);
  });
  Deno.bench("decodeValue arena state", { group: "value" }, () => {
    decodeValue(bytes);
  });
}

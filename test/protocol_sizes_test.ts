// The size targets of the wire format, measured on the 8-player arena state.
import assert from "node:assert/strict";
import { DeltaDecoder, DeltaEncoder, encodeDeltaFrame } from "../protocol/mod.ts";
import { measureSizes } from "../tools/frame_sizes.ts";
import { arenaState, moveOps } from "../tools/protocol_fixtures.ts";
import { ManualClock, RoomManager } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { arena } from "../games/mod.ts";

const rows = new Map(measureSizes().map((r) => [r.what, r]));
const row = (what: string) => {
  const r = rows.get(what);
  assert.ok(r, what);
  return r;
};

Deno.test("one player's x,y: ≤ 12 bytes as small ints, ≤ 18 as float32", () => {
  assert.ok(row("delta: 1 player moved, small ints").bytes <= 12);
  assert.ok(row("delta: 1 player moved, float16-exact").bytes <= 18);
  assert.ok(row("delta: 1 player moved, float32").bytes <= 18);
});

Deno.test("the targets hold for every player and for values up to 255", () => {
  const enc = new DeltaEncoder();
  enc.learnKeys(arenaState());
  const dec = new DeltaDecoder(enc.keys(), enc.refs());
  for (let p = 0; p < 8; p++) dec.decode(enc.encode(moveOps(p, 0, 0)));
  for (let p = 0; p < 8; p++) {
    for (const [x, y] of [[0, 0], [255, 255], [23, 24]]) {
      const frame = encodeDeltaFrame(16383, 127, 127, enc.encode(moveOps(p, x, y)));
      assert.ok(frame.length <= 12, `player ${p} (${x}, ${y}): ${frame.length} bytes`);
    }
    const f = [Math.fround(-1234.567), Math.fround(9876.54321)];
    const frame = encodeDeltaFrame(16383, 127, 127, enc.encode(moveOps(p, f[0], f[1])));
    assert.ok(frame.length <= 18, `player ${p} float32: ${frame.length} bytes`);
  }
});

Deno.test("the full-state welcome is smaller than the bare state as JSON", () => {
  const welcome = row("welcome vs the bare state as JSON");
  assert.ok(welcome.bytes <= welcome.json, `${welcome.bytes} > ${welcome.json}`);
  const state = row("full state (value only)");
  assert.ok(state.bytes <= state.json);
});

Deno.test("every frame is smaller than its JSON", () => {
  for (const r of rows.values()) assert.ok(r.bytes < r.json, `${r.what}: ${r.bytes} ≥ ${r.json}`);
});

Deno.test("the shipped arena: what one real move costs the other players", async () => {
  // The fixtures above measure x,y alone; the real game also echoes the mover's `lastSeq`.
  const clock = new ManualClock();
  const manager = new RoomManager({ games: [arena], clock, seed: "sizes" });
  const members = Array.from({ length: 8 }, () => new TestMember());
  const seats = [await manager.join({ mode: "create", game: "arena" }, members[0])];
  for (const member of members.slice(1)) {
    seats.push(await manager.join({ mode: "join", room: seats[0].room.id }, member));
  }
  clock.advance(50);
  const watcher = members[7];
  const sizes: number[] = [];
  for (let i = 1; i <= 20; i++) {
    seats[0].act(i, "move", { dx: i % 2 ? 0.25 : -0.25, dy: 0.5, seq: i });
    await seats[0].room.idle();
    const before = watcher.frames.length;
    clock.advance(50);
    const deltas = watcher.frames.slice(before).filter((frame) => frame[0] === 0x11);
    assert.equal(deltas.length, 1, "one delta per tick");
    sizes.push(deltas[0].byteLength);
  }
  assert.deepEqual(watcher.problems, []);
  // The first move also teaches the receivers a reference to the mover's path; after that,
  // x and y (float32-exact after the clamp) and lastSeq (a small int) stay within the target.
  assert.ok(sizes[0] <= 28, `the first move cost ${sizes[0]} bytes`);
  const worst = Math.max(...sizes.slice(1));
  assert.ok(worst <= 18, `a real move cost the others ${worst} bytes: ${sizes}`);
  manager.dispose();
});

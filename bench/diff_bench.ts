/**
 * What it costs to find out what changed. Arbiter diffs each audience's view against a
 * private mirror after every step instead of tracking writes; these benchmarks measure that
 * on the arena's state (the realtime workload) and on a 1 MiB state, next to a minimal
 * proxy-based write tracker as the alternative's baseline.
 *
 * Run with `deno bench bench/diff_bench.ts`.
 *
 * @module
 */
import { DeltaEncoder, type DeltaOp, type Value } from "../protocol/mod.ts";
import { clone, Mirror } from "../rooms/diff.ts";
import { Random } from "../rooms/rng.ts";
import type { ArenaState } from "../games/arena.ts";

const random = new Random("bench");

function arenaState(players: number): ArenaState {
  const state: ArenaState = { players: {}, coins: [], winner: null };
  for (let i = 1; i <= players; i++) {
    state.players[`p${i}`] = {
      name: `player ${i}`,
      x: Math.fround(random.next() * 1000),
      y: Math.fround(random.next() * 1000),
      score: random.int(10),
      lastSeq: random.int(1000),
    };
  }
  for (let i = 0; i < 5; i++) state.coins.push({ x: random.int(1001), y: random.int(1001) });
  return state;
}

/** Every player moves once: what one busy 20 Hz tick of an 8-player arena does. */
function moveAll(state: ArenaState): void {
  for (const id in state.players) {
    const p = state.players[id];
    p.x = Math.fround(Math.min(1000, Math.max(0, p.x + random.next() * 2 - 1)));
    p.y = Math.fround(Math.min(1000, Math.max(0, p.y + random.next() * 2 - 1)));
    p.lastSeq++;
  }
}

/** About 1 MiB as JSON: 6 000 records of a board-game-ish shape. */
function bigState(): {
  rows: { id: number; name: string; tags: string[]; pos: number[]; hp: number }[];
} {
  const rows = [];
  for (let i = 0; i < 6_000; i++) {
    rows.push({
      id: i,
      name: `unit-${i.toString(36)}-${"x".repeat(100)}`,
      tags: ["infantry", "veteran", i % 2 ? "red" : "blue"],
      pos: [random.int(100), random.int(100)],
      hp: 100,
    });
  }
  return { rows };
}

const big = bigState();
const bigBytes = new TextEncoder().encode(JSON.stringify(big)).length;
if (bigBytes < 1_000_000 || bigBytes > 1_200_000) throw new Error(`big state is ${bigBytes} bytes`);

// --- a minimal write tracker, the alternative to diffing --------------------------------

/** Wraps `target` so that every write is recorded as an op (the bare minimum a tracker does). */
function track<T extends object>(target: T, ops: DeltaOp[], path: (string | number)[] = []): T {
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value = Reflect.get(obj, key, receiver);
      if (typeof key === "string" && typeof value === "object" && value !== null) {
        return track(value, ops, [...path, Array.isArray(obj) ? Number(key) : key]);
      }
      return value;
    },
    set(obj, key, value) {
      if (typeof key === "string") {
        const segment = Array.isArray(obj) ? Number(key) : key;
        ops.push({ op: "set", path: [...path, segment], value: value as Value });
      }
      return Reflect.set(obj, key, value);
    },
  });
}

// --- arena ------------------------------------------------------------------------------

const arena = arenaState(8);
const arenaMirror = new Mirror(arena);
const arenaEncoder = new DeltaEncoder();
arenaEncoder.learnKeys(arenaMirror.value);

Deno.bench("arena (8 players): diff after a busy tick", { group: "arena", baseline: true }, () => {
  moveAll(arena);
  arenaMirror.update(arena);
});

Deno.bench("arena (8 players): diff after a quiet tick (no change)", { group: "arena" }, () => {
  arenaMirror.update(arena);
});

const tracked = arenaState(8);
Deno.bench("arena (8 players): proxy tracking of a busy tick", { group: "arena" }, () => {
  const ops: DeltaOp[] = [];
  moveAll(track(tracked, ops));
});

Deno.bench("arena (8 players): diff + encode a busy tick", { group: "arena" }, () => {
  moveAll(arena);
  arenaEncoder.encode(arenaMirror.update(arena));
});

// --- 1 MiB -------------------------------------------------------------------------------

const bigMirror = new Mirror(big);

Deno.bench("1 MiB state: diff after one field changed", { group: "1mib", baseline: true }, () => {
  big.rows[random.int(big.rows.length)].hp--;
  bigMirror.update(big);
});

Deno.bench("1 MiB state: diff with no change", { group: "1mib" }, () => {
  bigMirror.update(big);
});

const bigTracked = bigState();
Deno.bench("1 MiB state: proxy tracking of one field changed", { group: "1mib" }, () => {
  const ops: DeltaOp[] = [];
  track(bigTracked, ops).rows[random.int(bigTracked.rows.length)].hp--;
});

Deno.bench("1 MiB state: clone (what a new audience or snapshot costs)", { group: "1mib" }, () => {
  clone(big);
});

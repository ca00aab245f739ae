/**
 * Arena: a realtime coin chase for 2-8 players on a 1000×1000 field, and Arbiter's benchmark
 * workload. Players send `move { dx, dy, seq }` with `dx`, `dy` in [-1, 1]; each move shifts
 * them by up to {@linkcode ARENA_STEP} units, clamped to the field. Every tick (50 ms by
 * default; the room option `tickMs` sets it, e.g. 16 for 60 Hz) collects coins a player
 * touches (each worth a point, respawned at a seeded random spot), and all changes of the tick
 * go out as one broadcast. First to {@linkcode ARENA_WIN_SCORE} coins wins.
 *
 * The state is small and flat so per-tick work and deltas stay cheap: positions are float32
 * values (`Math.fround`), so they survive a float32 encoding exactly, coins are integers, and
 * `lastSeq` echoes each player's latest move `seq` for client-side reconciliation.
 *
 * @module
 */
import { defineGame, type GameContext, t } from "../rooms/mod.ts";

/** Width and height of the field. */
export const ARENA_SIZE = 1000;
/** Largest distance one move covers along each axis. */
export const ARENA_STEP = 10;
/** Coins on the field at any time. */
export const ARENA_COINS = 5;
/** A player within this distance of a coin takes it. */
export const ARENA_PICKUP_RADIUS = 20;
/** Coins needed to win. */
export const ARENA_WIN_SCORE = 10;
/** Tick (and broadcast) interval of a room created without the `tickMs` option, ms. */
export const ARENA_TICK_MS = 50;

/** One player in the arena. */
export interface ArenaPlayer {
  name: string;
  x: number;
  y: number;
  score: number;
  lastSeq: number;
}

/** The state of an arena game. */
export interface ArenaState {
  players: { [id: string]: ArenaPlayer };
  coins: { x: number; y: number }[];
  winner: string | null;
}

function clamp(value: number): number {
  return value < 0 ? 0 : value > ARENA_SIZE ? ARENA_SIZE : value;
}

function randomSpot(ctx: { random: { int(n: number): number } }): { x: number; y: number } {
  return { x: ctx.random.int(ARENA_SIZE + 1), y: ctx.random.int(ARENA_SIZE + 1) };
}

function addPlayer(state: ArenaState, player: string, ctx: GameContext): void {
  const name = ctx.players.find((p) => p.id === player)?.name ?? player;
  const { x, y } = randomSpot(ctx);
  state.players[player] = { name, x, y, score: 0, lastSeq: 0 };
}

function removePlayer(state: ArenaState, player: string): void {
  delete state.players[player];
}

/**
 * The arena game definition. Room options: `tickMs`, the tick and broadcast interval (10 to
 * 1000 ms, default {@linkcode ARENA_TICK_MS}): shorter ticks lower latency and cost more
 * frames and CPU.
 *
 * @example
 * ```ts
 * import { ManualClock, Room } from "../rooms/mod.ts";
 * import { arena } from "./arena.ts";
 * const clock = new ManualClock();
 * const room = new Room({ id: "a", game: arena, clock });
 * const quiet = { send: () => {}, close: () => {} };
 * const p1 = await room.join({ name: "ann" }, quiet);
 * await room.join({ name: "bob" }, quiet);
 * p1.act(1, "move", { dx: 1, dy: 0, seq: 1 });
 * clock.advance(50); // one tick: the move goes out
 * room.dispose();
 * ```
 */
export const arena = defineGame({
  name: "arena",
  players: { min: 2, max: 8 },
  options: t.object({ tickMs: t.optional(t.int({ min: 10, max: 1000 })) }),
  setup: (ctx): ArenaState => ({
    players: {},
    coins: Array.from({ length: ARENA_COINS }, () => randomSpot(ctx)),
    winner: null,
  }),
  actions: {
    move: {
      payload: t.object({
        dx: t.number({ min: -1, max: 1 }),
        dy: t.number({ min: -1, max: 1 }),
        seq: t.int({ min: 0 }),
      }),
      apply(state, { dx, dy, seq }, ctx) {
        const me = state.players[ctx.player];
        if (!me) return;
        me.x = Math.fround(clamp(me.x + dx * ARENA_STEP));
        me.y = Math.fround(clamp(me.y + dy * ARENA_STEP));
        me.lastSeq = seq;
      },
    },
  },
  tick: {
    hz: (options) => 1000 / (options.tickMs ?? ARENA_TICK_MS),
    update(state, _dtMs, ctx) {
      const r2 = ARENA_PICKUP_RADIUS * ARENA_PICKUP_RADIUS;
      for (const id in state.players) {
        const p = state.players[id];
        for (let i = 0; i < state.coins.length; i++) {
          const coin = state.coins[i];
          const dx = coin.x - p.x;
          const dy = coin.y - p.y;
          if (dx * dx + dy * dy > r2) continue;
          p.score++;
          state.coins[i] = randomSpot(ctx);
          ctx.emit("coin", { player: id, score: p.score });
          if (p.score >= ARENA_WIN_SCORE && state.winner === null) state.winner = id;
        }
      }
    },
  },
  outcome: (state) =>
    state.winner ? { winners: [state.winner], reason: `${ARENA_WIN_SCORE} coins` } : undefined,
  onJoin: addPlayer,
  onLeave: removePlayer,
  onSeatExpired: removePlayer,
});

/**
 * Small games that only tests register.
 *
 * @module
 */
import { defineGame, t } from "../../rooms/mod.ts";

/**
 * Its `spoil` action makes the state non-finite (0 / 0), which no peer can receive; `mend`
 * and a player's reconnect make it data again, as a game that heals itself would.
 *
 * @example
 * ```ts ignore
 * const room = new Room({ id: "r", game: gauge });
 * ```
 */
export const gauge = defineGame({
  name: "gauge",
  players: { min: 1, max: 2 },
  setup: () => ({ level: 0, samples: [] as number[] }),
  actions: {
    spoil: {
      apply(state) {
        state.level = state.samples.length / state.samples.length; // 0 / 0
      },
    },
    mend: {
      apply(state) {
        state.samples.push(1);
        state.level = 1;
      },
    },
  },
  onReconnect(state) {
    if (Number.isNaN(state.level)) state.level = -1;
  },
});

/**
 * Players `say` lines of text (a chat): payloads as large as a player cares to type.
 *
 * @example
 * ```ts ignore
 * await room.send("say", { text: "hello" });
 * ```
 */
export const chat = defineGame({
  name: "chat",
  players: { min: 1, max: 8 },
  setup: () => ({ lines: [] as string[] }),
  actions: {
    say: {
      payload: t.object({ text: t.string() }),
      apply(state, payload) {
        state.lines.push(payload.text);
      },
    },
  },
});

/**
 * Two players pass a turn back and forth under a 60 s turn clock (a timeout passes it too),
 * in `log` durability. Out of turn (`anyTurn`), either may `chat`, which leaves the turn as it
 * is, or `take` the turn.
 *
 * @example
 * ```ts ignore
 * seat.act(1, "chat", null); // whoever's turn it is
 * ```
 */
export const relay = defineGame({
  name: "relay",
  players: { min: 2, max: 2 },
  durability: "log",
  setup: () => ({ next: "p1", passes: 0, chats: 0 }),
  turn: (state) => state.next,
  actions: {
    pass: {
      apply(state) {
        state.next = state.next === "p1" ? "p2" : "p1";
        state.passes++;
      },
    },
    chat: {
      anyTurn: true,
      apply(state) {
        state.chats++;
      },
    },
    take: {
      anyTurn: true,
      apply(state, _payload, ctx) {
        state.next = ctx.player;
      },
    },
  },
  turnClock: {
    ms: 60_000,
    onTimeout(state) {
      state.next = state.next === "p1" ? "p2" : "p1";
    },
  },
});

/**
 * A realtime game that notes times: `lap` stores when the room applied it (`actedAt`), every
 * tick when it ran (`tickedAt`); `stall` is always refused. Room option `tickMs` (default 500).
 *
 * @example
 * ```ts ignore
 * const room = await client.create("stopwatch", { tickMs: 400 });
 * await room.send("lap");
 * ```
 */
export const stopwatch = defineGame({
  name: "stopwatch",
  players: { min: 1, max: 2 },
  options: t.object({ tickMs: t.optional(t.int({ min: 10, max: 5000 })) }),
  setup: () => ({ actedAt: 0, tickedAt: 0, laps: 0 }),
  actions: {
    lap: {
      apply(state, _payload, ctx) {
        state.actedAt = ctx.now;
        state.laps++;
      },
    },
    stall: {
      validate: () => "stall is always refused",
      apply() {},
    },
  },
  tick: {
    hz: (options) => 1000 / (options.tickMs ?? 500),
    update(state, _dt, ctx) {
      state.tickedAt = ctx.now;
    },
  },
});

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

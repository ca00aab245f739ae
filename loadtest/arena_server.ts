/**
 * Arbiter exactly as `main.ts` starts it, except that the arena game's tick rate and broadcast
 * mode come from the environment, so the benchmark can match the reference's patch interval:
 *
 * - `ARENA_TICK_MS`: tick (and broadcast) interval in ms, e.g. 16 or 50 (default: the game's
 *   20 Hz).
 * - `ARENA_BROADCAST`: `tick` (default: changes go out once per tick) or `immediate` (every
 *   applied move is broadcast at once; ticks still run).
 *
 * The arena's tick rate is a property of the game definition (`tick.hz`), not a room option,
 * so a variant of the definition is registered under the same name instead.
 *
 * ```sh
 * ARENA_TICK_MS=16 PORT=8000 deno run -A loadtest/arena_server.ts
 * ```
 *
 * @module
 */
import { arena, exampleGames } from "../games/mod.ts";
import { defineGame } from "../rooms/mod.ts";
import { loadConfig, startServer } from "../server/mod.ts";

/**
 * The arena game with another tick interval and/or broadcast mode.
 *
 * @example
 * ```ts
 * import { arenaVariant } from "./arena_server.ts";
 * console.log(arenaVariant(16, "tick").tick?.hz); // 62.5
 * ```
 */
export function arenaVariant(tickMs: number, broadcast: "tick" | "immediate"): typeof arena {
  if (!(tickMs >= 1 && tickMs <= 1000)) throw new RangeError("ARENA_TICK_MS must be 1-1000");
  return defineGame({ ...arena, tick: { ...arena.tick!, hz: 1000 / tickMs }, broadcast });
}

if (import.meta.main) {
  const env = Deno.env.toObject();
  const tickMs = Number(env.ARENA_TICK_MS || 1000 / arena.tick!.hz);
  const broadcast = env.ARENA_BROADCAST === "immediate" ? "immediate" : "tick";
  const games = exampleGames.map((game) =>
    game.name === "arena" ? arenaVariant(tickMs, broadcast) : game
  );
  const server = await startServer({ config: loadConfig(env), games });
  const stop = async () => {
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

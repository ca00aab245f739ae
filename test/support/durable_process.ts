/**
 * One server "process" for durability tests: a store and a room manager with durable hooks on
 * a KV, restored from it, that can stop gracefully or crash.
 *
 * @module
 */
import { exampleGames } from "../../games/mod.ts";
import { DurableRooms, type DurableRoomsOptions, KvRoomStore } from "../../persistence/mod.ts";
import { type AnyGame, type Clock, RoomManager } from "../../rooms/mod.ts";

/** What a durability test sets besides the store. */
export type DurableSetup = Omit<DurableRoomsOptions, "store">;

/**
 * Starts a "process" on `kv` and restores what it holds.
 *
 * @example
 * ```ts ignore
 * const first = await durableProcess(kv);
 * await first.stop(); // or first.crash()
 * const second = await durableProcess(kv); // second.report: what came back
 * ```
 */
export async function durableProcess(
  kv: Deno.Kv,
  setup: DurableSetup = {},
  games: readonly AnyGame[] = exampleGames,
  clock?: Clock,
  store: KvRoomStore = new KvRoomStore(kv, { now: setup.now }),
) {
  const durable = new DurableRooms({ store, ...setup });
  const manager = new RoomManager({ games, clock, ...durable.hooks(), onError: () => {} });
  const report = await durable.restore(manager);
  return {
    durable,
    manager,
    report,
    /** Stops like a graceful shutdown: rooms stopped, everything saved. */
    async stop() {
      manager.dispose("server_restart");
      await durable.flush();
      await durable.close();
    },
    /** Stops like a crash: nothing more is written (timers and writes in flight are dropped). */
    async crash() {
      await durable.close();
      manager.dispose("server_restart");
    },
  };
}

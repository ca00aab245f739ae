/**
 * Persistence: everything Arbiter keeps in Deno KV (room snapshots and action logs), when it
 * is written ({@linkcode DurableRooms}), how rooms come back after a restart, and the expiry
 * that keeps storage bounded.
 *
 * @example
 * ```ts
 * import { DurableRooms, KvRoomStore, openKv } from "./mod.ts";
 * import { RoomManager } from "../rooms/mod.ts";
 * import { exampleGames } from "../games/mod.ts";
 * const kv = await openKv(":memory:");
 * const durable = new DurableRooms({ store: new KvRoomStore(kv) });
 * const manager = new RoomManager({ games: exampleGames, ...durable.hooks() });
 * console.log((await durable.restore(manager)).restored); // []
 * manager.dispose("server_restart");
 * await durable.flush();
 * await durable.close();
 * kv.close();
 * ```
 *
 * @module
 */
export * from "./kv_store.ts";
export * from "./durable_rooms.ts";
export * from "./snapshot_codec.ts";
export * from "./open_kv.ts";
export * from "./kv_retry.ts";
export * from "./owner_claim.ts";

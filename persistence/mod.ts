/**
 * Persistence: everything Arbiter keeps in Deno KV (room snapshots, action logs, resume
 * sessions) and the expiry that keeps it bounded.
 *
 * @example
 * ```ts
 * import { KvRoomStore } from "./mod.ts";
 * const kv = await Deno.openKv(":memory:");
 * const store = new KvRoomStore(kv);
 * console.log(await store.listRooms()); // []
 * kv.close();
 * ```
 *
 * @module
 */
export * from "./kv_store.ts";

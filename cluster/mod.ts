/**
 * Clustering: several Arbiter instances (Deno Deploy isolates, `deno serve --parallel`
 * workers, processes behind a load balancer) share one Deno KV as the truth. Each room has
 * one owner, chosen by a lease in KV; a player connected anywhere plays through a relay to
 * the owner; when an owner dies another instance adopts its rooms from their snapshots and
 * action logs; a directory lists every room. See docs/DEPLOYMENT.md.
 *
 * @example
 * ```ts ignore
 * import { Cluster, combineHooks } from "./mod.ts";
 * const cluster = new Cluster({ kv, leaseMs: 10_000, pollMs: 1000 });
 * const store = new KvRoomStore(kv, { fence: cluster.fence });
 * const durable = new DurableRooms({ store, keep: cluster.keep });
 * const manager = new RoomManager({ games, ...combineHooks(cluster.hooks(), durable.hooks()) });
 * await cluster.start(manager, durable);
 * ```
 *
 * @module
 */
export * from "./cluster.ts";
export * from "./directory.ts";
export * from "./heartbeat.ts";
export * from "./keys.ts";
export * from "./leases.ts";
export * from "./mail.ts";
export * from "./messages.ts";
export * from "./owner_endpoint.ts";
export * from "./relay.ts";
export * from "./router.ts";

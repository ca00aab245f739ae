/**
 * Where the cluster keeps its records in Deno KV: one place for the whole key layout, so
 * that docs/ARCHITECTURE.md and the code cannot drift apart.
 *
 * | key (under the prefix, default `["arbiter"]`) | value |
 * | --- | --- |
 * | `cluster, owner, <room>` | {@linkcode OwnerRecord}: who owns the room; changes only when the room changes hands (the fence every room write checks) |
 * | `cluster, lease, <room>` | {@linkcode LeaseRecord}: the owner and the stored expiry, renewed by the owner |
 * | `cluster, rooms, <room>` | a directory entry: the room's summary and its owner |
 * | `cluster, instances, <instance>` | an instance's heartbeat: alive until its stored expiry |
 * | `cluster, mail, <target>, <source>, <n>` | bytes `n` of the message stream from `source` to `target` |
 * | `cluster, bell, <target>` | a counter bumped with every mail to `target` (watched) |
 *
 * @module
 */

/** Who owns a room: written only by a claim, so its versionstamp fences every owner write. */
export interface OwnerRecord {
  instance: string;
  /** Claims of this room so far (1 for its first owner). */
  epoch: number;
}

/** A room's lease: the owner and until when, ms since the epoch (KV's `expireIn` is lax). */
export interface LeaseRecord {
  instance: string;
  epoch: number;
  expiresAt: number;
}

/**
 * Builds the cluster's keys under a prefix.
 *
 * @example
 * ```ts
 * import { ClusterKeys } from "./keys.ts";
 * const keys = new ClusterKeys();
 * console.log(keys.lease("ab3k9mzq")); // ["arbiter", "cluster", "lease", "ab3k9mzq"]
 * ```
 */
export class ClusterKeys {
  readonly #base: Deno.KvKey;

  /** `prefix` must match the room store's (default `["arbiter"]`). */
  constructor(prefix: Deno.KvKey = ["arbiter"]) {
    this.#base = [...prefix, "cluster"];
  }

  /** The owner record (fence) of a room. */
  owner(room: string): Deno.KvKey {
    return [...this.#base, "owner", room];
  }

  /** The lease of a room. */
  lease(room: string): Deno.KvKey {
    return [...this.#base, "lease", room];
  }

  /** Every lease (a prefix). */
  leases(): Deno.KvKey {
    return [...this.#base, "lease"];
  }

  /** A room's directory entry. */
  room(room: string): Deno.KvKey {
    return [...this.#base, "rooms", room];
  }

  /** The directory (a prefix). */
  rooms(): Deno.KvKey {
    return [...this.#base, "rooms"];
  }

  /** An instance's heartbeat. */
  instance(id: string): Deno.KvKey {
    return [...this.#base, "instances", id];
  }

  /** Every heartbeat (a prefix). */
  instances(): Deno.KvKey {
    return [...this.#base, "instances"];
  }

  /** The mailbox of `target` (a prefix), or one entry of it. */
  mail(target: string, source?: string, n?: number): Deno.KvKey {
    const key: Deno.KvKeyPart[] = [...this.#base, "mail", target];
    if (source !== undefined) key.push(source);
    if (n !== undefined) key.push(n);
    return key;
  }

  /** The counter that rings when `target` has mail. */
  bell(target: string): Deno.KvKey {
    return [...this.#base, "bell", target];
  }

  /** Every bell (a prefix). */
  bells(): Deno.KvKey {
    return [...this.#base, "bell"];
  }
}

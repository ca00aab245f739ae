/**
 * Room leases: which instance runs a room's actor. A claim is one atomic check-and-set of the
 * room's owner record and lease; the owner renews the stored expiry; an instance that cannot
 * renew in time, or finds that someone else claimed the room, gives it up at once.
 *
 * Two keys per room (see `keys.ts`): the lease holds the expiry and changes on every renewal;
 * the owner record changes only when the room changes hands, so its versionstamp is a fence
 * that every write of the owner (action log, snapshots) checks: a deposed owner that has not
 * noticed yet cannot write.
 *
 * Expiry is decided from the stored `expiresAt`, never from KV's `expireIn` (only a lower
 * bound). Clocks of instances are assumed to agree within a fraction of the lease time: an
 * owner stops `ttlMs / 5` before its stored expiry, which is the skew tolerated.
 *
 * @module
 */
import type { ClusterKeys, LeaseRecord, OwnerRecord } from "./keys.ts";
import { retryLocked } from "../persistence/kv_retry.ts";

/** The result of {@linkcode Leases.claim}. */
export type ClaimResult =
  | { ok: true; epoch: number }
  | { ok: false; holder: LeaseRecord | null };

/** Why a lease was given up. */
export type LostReason = "taken" | "expired";

/** Options of {@linkcode Leases}. */
export interface LeasesOptions {
  kv: Deno.Kv;
  keys: ClusterKeys;
  /** This instance's id. */
  instance: string;
  /** Lease time, ms. Renewed every third of it. */
  ttlMs: number;
  /** Called once when a held lease is lost: stop acting for the room at once. */
  onLost: (room: string, reason: LostReason) => void;
  /** Reports failed renewals (KV errors). */
  onError?: (error: unknown) => void;
  /** Wall clock, ms since the epoch. */
  now?: () => number;
}

interface Held {
  epoch: number;
  /** Versionstamp of the owner record this instance wrote. */
  fence: string;
  expiresAt: number;
}

/** Rooms per renewal commit: KV allows 10 checks per atomic operation. */
const RENEW_BATCH = 10;

/**
 * Whether a stored lease still binds other instances at `now`.
 *
 * @example
 * ```ts
 * import { leaseIsLive } from "./leases.ts";
 * console.log(leaseIsLive({ instance: "a", epoch: 1, expiresAt: 2000 }, 1000)); // true
 * console.log(leaseIsLive(null, 1000)); // false
 * ```
 */
export function leaseIsLive(lease: LeaseRecord | null | undefined, now: number): boolean {
  return lease !== null && lease !== undefined && lease.expiresAt > now;
}

/**
 * The leases one instance holds, and the claims it makes.
 *
 * @example
 * ```ts
 * import { ClusterKeys } from "./keys.ts";
 * import { Leases } from "./leases.ts";
 * const kv = await Deno.openKv(":memory:");
 * const keys = new ClusterKeys();
 * const a = new Leases({ kv, keys, instance: "a", ttlMs: 5000, onLost: () => {} });
 * const b = new Leases({ kv, keys, instance: "b", ttlMs: 5000, onLost: () => {} });
 * console.log((await a.claim("room1")).ok, (await b.claim("room1")).ok); // true false
 * await a.release("room1");
 * console.log((await b.claim("room1")).ok); // true
 * kv.close();
 * ```
 */
export class Leases {
  readonly instance: string;
  readonly ttlMs: number;
  readonly #kv: Deno.Kv;
  readonly #keys: ClusterKeys;
  readonly #onLost: LeasesOptions["onLost"];
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  readonly #claims = new Map<string, Promise<ClaimResult>>();
  #renewTimer: ReturnType<typeof setInterval> | null = null;
  #watchdog: ReturnType<typeof setInterval> | null = null;
  #renewing: Promise<void> | null = null;

  /** Holds nothing until {@linkcode claim}; call {@linkcode start} to renew. */
  constructor(options: LeasesOptions) {
    this.instance = options.instance;
    this.ttlMs = options.ttlMs;
    this.#kv = options.kv;
    this.#keys = options.keys;
    this.#onLost = options.onLost;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /** How long before its stored expiry an owner stops (the clock skew tolerated). */
  get marginMs(): number {
    return Math.floor(this.ttlMs / 5);
  }

  /** Rooms whose lease this instance holds. */
  get rooms(): string[] {
    return [...this.#held.keys()];
  }

  /**
   * Claims `room` unless another instance holds a live lease on it. `fresh` claims only a
   * room nobody ever owned (a new room id). Exactly one of any number of concurrent claims
   * succeeds: each checks both records' versionstamps.
   */
  claim(room: string, options: { fresh?: boolean } = {}): Promise<ClaimResult> {
    const pending = this.#claims.get(room);
    if (pending) return pending;
    const claim = this.#claim(room, options.fresh ?? false).finally(() => {
      if (this.#claims.get(room) === claim) this.#claims.delete(room);
    });
    this.#claims.set(room, claim);
    return claim;
  }

  async #claim(room: string, fresh: boolean): Promise<ClaimResult> {
    const held = this.#held.get(room);
    if (held && this.holds(room)) return { ok: true, epoch: held.epoch };
    const ownerKey = this.#keys.owner(room);
    const leaseKey = this.#keys.lease(room);
    const [owner, lease] = await this.#kv.getMany<[OwnerRecord, LeaseRecord]>([
      ownerKey,
      leaseKey,
    ]);
    const now = this.#now();
    const taken = fresh
      ? owner.versionstamp !== null || lease.versionstamp !== null
      : leaseIsLive(lease.value, now) && lease.value!.instance !== this.instance;
    if (taken) return { ok: false, holder: lease.value };
    const epoch = (owner.value?.epoch ?? 0) + 1;
    const expiresAt = now + this.ttlMs;
    const atomic = this.#kv.atomic()
      .check(owner)
      .check(lease)
      .set(ownerKey, { instance: this.instance, epoch } satisfies OwnerRecord)
      .set(leaseKey, { instance: this.instance, epoch, expiresAt } satisfies LeaseRecord);
    const result = await retryLocked(() => atomic.commit());
    if (!result.ok) {
      // Someone else's claim (or the owner's renewal) landed between the read and the commit.
      return { ok: false, holder: (await this.#kv.get<LeaseRecord>(leaseKey)).value };
    }
    this.#held.set(room, { epoch, fence: result.versionstamp, expiresAt });
    return { ok: true, epoch };
  }

  /** Whether this instance holds `room`'s lease with time to spare. */
  holds(room: string): boolean {
    const held = this.#held.get(room);
    return held !== undefined && this.#now() < held.expiresAt - this.marginMs;
  }

  /** Whether a claim of `room` by this instance is in flight. */
  claiming(room: string): boolean {
    return this.#claims.has(room);
  }

  /**
   * The check that fences a write of `room`'s owner, or null when this instance neither holds
   * nor is claiming the room. Waits for a claim in flight; throws when that claim failed.
   */
  fence(room: string): Deno.AtomicCheck | null | Promise<Deno.AtomicCheck> {
    const held = this.#held.get(room);
    if (held) return { key: this.#keys.owner(room), versionstamp: held.fence };
    const pending = this.#claims.get(room);
    if (!pending) return null;
    return pending.then((result) => {
      const now = this.#held.get(room);
      if (!result.ok || !now) throw new Error(`This instance does not own room ${room}.`);
      return { key: this.#keys.owner(room), versionstamp: now.fence };
    });
  }

  /** The stored lease of `room` (live or not), or null. */
  async read(room: string): Promise<LeaseRecord | null> {
    return (await this.#kv.get<LeaseRecord>(this.#keys.lease(room))).value;
  }

  /** Stored leases of up to 10 rooms at once, in order. */
  async readMany(rooms: readonly string[]): Promise<(LeaseRecord | null)[]> {
    const entries = await this.#kv.getMany<LeaseRecord[]>(rooms.map((r) => this.#keys.lease(r)));
    return entries.map((entry) => entry.value);
  }

  /**
   * Gives `room` up so another instance can claim it at once (a graceful shutdown). Does
   * nothing when the room changed hands meanwhile.
   */
  async release(room: string): Promise<void> {
    const held = this.#held.get(room);
    if (!held) return;
    this.#held.delete(room);
    const atomic = this.#kv.atomic()
      .check({ key: this.#keys.owner(room), versionstamp: held.fence })
      .set(this.#keys.lease(room), { instance: this.instance, epoch: held.epoch, expiresAt: 0 });
    await retryLocked(() => atomic.commit());
  }

  /** Deletes `room`'s owner record and lease (the room is gone for good), if still its owner. */
  async drop(room: string): Promise<void> {
    const held = this.#held.get(room);
    if (!held) return;
    this.#held.delete(room);
    const atomic = this.#kv.atomic()
      .check({ key: this.#keys.owner(room), versionstamp: held.fence })
      .delete(this.#keys.owner(room))
      .delete(this.#keys.lease(room));
    await retryLocked(() => atomic.commit());
  }

  /** Forgets `room` without writing (its actor stopped here). */
  forget(room: string): void {
    this.#held.delete(room);
  }

  /** Renews every held lease every third of the lease time and watches their expiry. */
  start(): void {
    if (this.#renewTimer !== null) return;
    this.#renewTimer = setInterval(() => void this.renew(), Math.max(10, this.ttlMs / 3));
    // An owner that could not renew stops before its lease runs out, not a renewal later.
    this.#watchdog = setInterval(() => this.#expire(), Math.max(5, this.ttlMs / 10));
  }

  /** Stops renewing (held leases then run out unless released). */
  async stop(): Promise<void> {
    if (this.#renewTimer !== null) clearInterval(this.#renewTimer);
    if (this.#watchdog !== null) clearInterval(this.#watchdog);
    this.#renewTimer = this.#watchdog = null;
    await this.#renewing;
    await Promise.allSettled([...this.#claims.values()]);
  }

  /** One renewal round of every held lease (the timer calls it; tests may too). */
  renew(): Promise<void> {
    return this.#renewing ??= this.#renewAll().finally(() => this.#renewing = null);
  }

  async #renewAll(): Promise<void> {
    const rooms = [...this.#held.keys()];
    for (let i = 0; i < rooms.length; i += RENEW_BATCH) {
      const batch = rooms.slice(i, i + RENEW_BATCH);
      try {
        await this.#renewBatch(batch);
      } catch (error) {
        // Storage trouble: the watchdog gives the rooms up if it lasts until their expiry.
        this.#onError(error);
      }
    }
  }

  async #renewBatch(rooms: readonly string[]): Promise<void> {
    const expiresAt = this.#now() + this.ttlMs;
    const atomic = this.#kv.atomic();
    const helds: [string, Held][] = [];
    for (const room of rooms) {
      const held = this.#held.get(room);
      if (!held) continue;
      helds.push([room, held]);
      atomic
        .check({ key: this.#keys.owner(room), versionstamp: held.fence })
        .set(this.#keys.lease(room), { instance: this.instance, epoch: held.epoch, expiresAt });
    }
    if (helds.length === 0) return;
    const result = await retryLocked(() => atomic.commit());
    if (result.ok) {
      for (const [room, held] of helds) {
        if (this.#held.get(room) === held) held.expiresAt = expiresAt;
      }
      return;
    }
    // At least one room changed hands: find which, renew the rest one by one.
    for (const [room, held] of helds) {
      const owner = await this.#kv.get(this.#keys.owner(room));
      if (this.#held.get(room) !== held) continue;
      if (owner.versionstamp !== held.fence) {
        this.#lose(room, "taken");
      } else {
        await this.#renewBatch([room]);
      }
    }
  }

  #expire(): void {
    const now = this.#now();
    for (const [room, held] of this.#held) {
      if (now >= held.expiresAt - this.marginMs) this.#lose(room, "expired");
    }
  }

  #lose(room: string, reason: LostReason): void {
    if (!this.#held.delete(room)) return;
    try {
      this.#onLost(room, reason);
    } catch (error) {
      this.#onError(error);
    }
  }
}

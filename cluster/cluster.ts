/**
 * One instance's membership in a cluster of Arbiter instances sharing one Deno KV: it wires
 * the leases (one owner per room), the mail and the relay (any instance serves any player),
 * the directory (listings and join-or-create see every room), heartbeats, and the adoption
 * of rooms whose owner died (failover: claim the lease, restore from the snapshot and the
 * action log).
 *
 * @module
 */
import { type DurableRooms, retryLocked, type SnapshotMeta } from "../persistence/mod.ts";
import { ArbiterError } from "../protocol/mod.ts";
import type {
  DisposeReason,
  JoinRequest,
  Member,
  Room,
  RoomChange,
  RoomManager,
  RoomManagerOptions,
  RoomSummary,
  Seat,
} from "../rooms/mod.ts";
import { Directory, type DirectoryEntry } from "./directory.ts";
import { Heartbeat } from "./heartbeat.ts";
import { ClusterKeys, type LeaseRecord } from "./keys.ts";
import { leaseIsLive, Leases, type LostReason } from "./leases.ts";
import { KvMail } from "./mail.ts";
import { asToOwner, asToRelay } from "./messages.ts";
import { OwnerEndpoint } from "./owner_endpoint.ts";
import { Relay, type RelayedSeat } from "./relay.ts";
import { type AdoptResult, Router } from "./router.ts";

/** Where the cluster reports what it does (a `Logger` from `server/log.ts` fits). */
export interface ClusterLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@linkcode Cluster}. */
export interface ClusterOptions {
  /** The Deno KV every instance shares. */
  kv: Deno.Kv;
  /** Key prefix; the room store's (default `["arbiter"]`). */
  prefix?: Deno.KvKey;
  /** This instance's id. Default: a random UUID (a restarted process is a new instance). */
  instance?: string;
  /** Lease time, ms: how long a dead owner's rooms wait before another instance takes them. */
  leaseMs: number;
  /** How often mailboxes are polled where `kv.watch` does not fire, ms. */
  pollMs: number;
  /** A relayed join not answered within this long fails with `server_restart`, ms. */
  joinTimeoutMs?: number;
  log?: ClusterLog;
  /** Wall clock, ms since the epoch (instances' clocks must agree within `leaseMs / 5`). */
  now?: () => number;
}

/** How long after its heartbeat ran out an instance's records are deleted (its mail expires). */
const DEAD_INSTANCE_MS = 10 * 60 * 1000;

/** A check that never holds: fences writes for a room this instance runs without its lease. */
const NO_VERSION = "ffffffffffffffffffff";

/**
 * Runs this instance as one of many. Give {@linkcode Cluster.fence} to the room store,
 * {@linkcode Cluster.hooks} to the room manager (before the durable layer's), then call
 * {@linkcode Cluster.start} instead of restoring every stored room, and route joins through
 * {@linkcode Cluster.join}.
 *
 * @example
 * ```ts ignore
 * const cluster = new Cluster({ kv, leaseMs: 10_000, pollMs: 1000, log });
 * const store = new KvRoomStore(kv, { fence: cluster.fence });
 * const durable = new DurableRooms({ store, keep: cluster.keep });
 * const manager = new RoomManager({ games, ...combineHooks(cluster.hooks(), durable.hooks()) });
 * await cluster.start(manager, durable);
 * const seat = await cluster.join({ mode: "join_or_create", game: "tic_tac_toe" }, member);
 * ```
 */
export class Cluster {
  readonly instance: string;
  readonly keys: ClusterKeys;
  readonly leases: Leases;
  readonly mail: KvMail;
  readonly directory: Directory;
  readonly heartbeat: Heartbeat;
  readonly relay: Relay;
  readonly endpoint: OwnerEndpoint;
  readonly #kv: Deno.Kv;
  readonly #leaseMs: number;
  readonly #log: ClusterLog | undefined;
  readonly #now: () => number;
  readonly #adopting = new Map<string, Promise<AdoptResult>>();
  /** Leases as of the last scan (for the expiry sweep, which must not delete live rooms). */
  #leaseCache = new Map<string, LeaseRecord>();
  /** What the directory last got for each room here (to write only on change). */
  readonly #published = new Map<string, string>();
  #manager: RoomManager | null = null;
  #durable: DurableRooms | null = null;
  #router: Router | null = null;
  #scanner: ReturnType<typeof setTimeout> | null = null;
  #scanning: Promise<void> | null = null;
  #stopped = false;
  /** {@linkcode Cluster.hooks}' `remoteRooms`, for the directory listing it was built from. */
  #summarized: {
    entries: readonly DirectoryEntry[] | null;
    rooms: ReadonlyMap<string, RoomSummary>;
  } = { entries: null, rooms: new Map() };

  /** Prepares the parts; nothing runs until {@linkcode start}. */
  constructor(options: ClusterOptions) {
    const kv = options.kv;
    this.#kv = kv;
    this.instance = options.instance ?? crypto.randomUUID();
    this.keys = new ClusterKeys(options.prefix);
    this.#leaseMs = options.leaseMs;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    const now = this.#now;
    const instance = this.instance;
    const keys = this.keys;
    const onError = (what: string) => (error: unknown) =>
      this.#log?.error(what, { error: String((error as Error)?.stack ?? error) });
    this.leases = new Leases({
      kv,
      keys,
      instance,
      ttlMs: options.leaseMs,
      now,
      onLost: (room, reason) => this.#lost(room, reason),
      onError: onError("lease renewal failed"),
    });
    this.mail = new KvMail({
      kv,
      keys,
      instance,
      pollMs: options.pollMs,
      onMail: (source, mail) => {
        const toOwner = asToOwner(mail);
        if (toOwner) return this.endpoint.handle(source, toOwner);
        const toRelay = asToRelay(mail);
        if (toRelay) return this.relay.handle(source, toRelay);
      },
      onError: onError("cluster mail failed"),
    });
    this.directory = new Directory({
      kv,
      keys,
      instance,
      refreshMs: Math.min(1000, options.leaseMs),
      fence: (room) => this.leases.fence(room),
      now,
      onError: onError("room directory write failed"),
    });
    this.heartbeat = new Heartbeat({
      kv,
      keys,
      instance,
      ttlMs: options.leaseMs,
      now,
      onError: onError("heartbeat failed"),
    });
    this.relay = new Relay({
      mail: this.mail,
      readLeases: (rooms) => this.leases.readMany(rooms),
      joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
      checkMs: Math.max(10, Math.floor(options.leaseMs / 4)),
      now,
      onError: onError("relay lease check failed"),
    });
    this.endpoint = new OwnerEndpoint({
      mail: this.mail,
      join: (request, member) => this.#joinHere(request, member),
      onError: onError("relayed join failed"),
    });
  }

  /**
   * The room store's `fence` option: owner writes of a room commit only while this instance
   * holds its lease; a room run here without one cannot write at all.
   */
  readonly fence = (room: string): Deno.AtomicCheck | null | Promise<Deno.AtomicCheck> => {
    const fence = this.leases.fence(room);
    if (fence !== null) return fence;
    // The expiry sweep deletes rooms nobody runs: it needs no fence.
    return this.#manager?.get(room)
      ? { key: this.keys.owner(room), versionstamp: NO_VERSION }
      : null;
  };

  /** The durable layer's `keep` option: rooms with a live lease are not expired by the sweep. */
  readonly keep = (room: string): boolean =>
    leaseIsLive(this.#leaseCache.get(room), this.#now()) || this.leases.rooms.includes(room);

  /** The room manager options that connect it to the cluster (compose before durability's). */
  hooks(): Pick<
    RoomManagerOptions,
    "onRoomCreated" | "onRoomChanged" | "onRoomDisposed" | "remoteRooms"
  > {
    return {
      onRoomCreated: (room) => this.#created(room),
      onRoomChanged: (room, change) => this.#changed(room, change),
      onRoomDisposed: (room, reason) => this.#disposed(room, reason),
      remoteRooms: () => this.#remoteRooms(),
    };
  }

  /**
   * Resolves once a room just created here is registered: its lease is stored, so its id
   * works on every instance. Rejects with `server_restart` when the claim failed (the room is
   * then closed). Answer with a new room's id only after this (`POST /api/rooms` does).
   */
  readonly registered = async (room: string): Promise<void> => {
    try {
      await this.leases.fence(room);
    } catch {
      throw new ArbiterError("server_restart", `Room ${room} could not be registered; retry.`);
    }
  };

  /** Routes a join to wherever its room runs (the socket sessions' `join`). */
  readonly join = (request: JoinRequest, member: Member): Promise<Seat | RelayedSeat> => {
    if (!this.#router) {
      return Promise.reject(new ArbiterError("server_restart", "The server is starting."));
    }
    return this.#router.join(request, member);
  };

  /**
   * Starts the instance: heartbeat, mail, lease renewals, directory, and a first scan that
   * adopts rooms nobody runs (a fresh cluster over a single instance's data takes them all).
   * Resolves with the rooms adopted by that scan.
   */
  async start(manager: RoomManager, durable: DurableRooms): Promise<string[]> {
    this.#manager = manager;
    this.#durable = durable;
    this.#router = new Router({
      manager,
      instance: this.instance,
      leases: this.leases,
      relay: this.relay,
      directory: this.directory,
      adopt: (room) => this.adopt(room),
      claimed: this.registered,
      now: this.#now,
    });
    await this.heartbeat.start();
    this.mail.start();
    this.leases.start();
    this.relay.start();
    this.directory.start();
    const adopted = await this.scan();
    this.#scheduleScan();
    this.#log?.info("cluster instance started", {
      instance: this.instance,
      leaseMs: this.#leaseMs,
      adoptedRooms: adopted.length,
    });
    return adopted;
  }

  /**
   * Leaves the cluster: gives up every lease (so others take the rooms at once, not after the
   * lease time), stops the loops and deletes the heartbeat. Stop the rooms and save them first.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#scanner !== null) clearTimeout(this.#scanner);
    this.#scanner = null;
    await this.#scanning;
    await Promise.allSettled([...this.#adopting.values()]);
    await this.relay.stop();
    await this.leases.stop();
    await Promise.allSettled(this.leases.rooms.map((room) => this.leases.release(room)));
    await this.directory.stop();
    await this.mail.stop();
    await this.heartbeat.stop();
    // Nobody mails a stopped instance: its bell goes too.
    await retryLocked(() => this.#kv.delete(this.keys.bell(this.instance)));
  }

  /**
   * Makes `room` run here if nobody runs it: claims its lease, then restores it from KV.
   * Concurrent calls for one room share one attempt; across instances exactly one claim wins.
   */
  adopt(room: string): Promise<AdoptResult> {
    const pending = this.#adopting.get(room);
    if (pending) return pending;
    const attempt = this.#adopt(room).finally(() => {
      if (this.#adopting.get(room) === attempt) this.#adopting.delete(room);
    });
    this.#adopting.set(room, attempt);
    return attempt;
  }

  async #adopt(room: string): Promise<AdoptResult> {
    const manager = this.#manager!;
    const durable = this.#durable!;
    if (manager.get(room) && this.leases.holds(room)) return "here";
    if (this.#stopped) return "taken";
    if (!(await durable.store.readMeta(room))) return "missing";
    const claim = await this.leases.claim(room);
    if (!claim.ok) return "taken";
    try {
      const stale = manager.get(room);
      if (stale) {
        durable.forget(room);
        stale.dispose("server_restart");
      }
      const restored = await durable.restoreRoom(manager, room);
      if (!restored || restored.disposed) {
        await this.leases.release(room);
        return "missing";
      }
      this.#log?.info("room adopted", { room, epoch: claim.epoch });
      return "here";
    } catch (error) {
      await this.leases.release(room);
      throw error;
    }
  }

  /**
   * One scan: refreshes the lease cache, adopts stored rooms nobody runs, drops relayed
   * players whose instance died, and deletes what dead instances and vanished rooms left
   * behind. Resolves with the rooms adopted.
   */
  scan(): Promise<string[]> {
    let adopted: string[] = [];
    const run = (async () => {
      const leases = new Map<string, Deno.KvEntry<LeaseRecord>>();
      for await (const entry of this.#kv.list<LeaseRecord>({ prefix: this.keys.leases() })) {
        leases.set(entry.key[entry.key.length - 1] as string, entry);
      }
      this.#leaseCache = new Map([...leases].map(([room, entry]) => [room, entry.value]));
      const metas = await this.#durable!.store.listRooms();
      adopted = await this.#adoptOrphans(metas);
      await this.#dropDeadRelays();
      await this.#cleanUp(leases, new Set(metas.map((meta) => meta.room)));
    })().catch((error) => {
      this.#log?.error("cluster scan failed", { error: String(error) });
    });
    this.#scanning = run;
    return run.then(() => adopted);
  }

  async #adoptOrphans(metas: readonly SnapshotMeta[]): Promise<string[]> {
    const adopted: string[] = [];
    const manager = this.#manager!;
    const now = this.#now();
    for (const meta of metas) {
      if (this.#stopped) break;
      if (manager.get(meta.room) || leaseIsLive(this.#leaseCache.get(meta.room), now)) continue;
      // Expired data is the sweep's; a room whose game ended is not worth moving.
      if (meta.expiresAt <= now || meta.status === "finished") continue;
      try {
        if (await this.adopt(meta.room) === "here") adopted.push(meta.room);
      } catch (error) {
        this.#log?.error("room not adopted", { room: meta.room, error: String(error) });
      }
    }
    return adopted;
  }

  /** Relayed players of an instance whose heartbeat ran out wait for a resume, as after a drop. */
  async #dropDeadRelays(): Promise<void> {
    const sources = this.endpoint.sources();
    if (sources.size === 0) return;
    const alive = await this.heartbeat.alive(sources);
    for (const source of sources) {
      if (alive.has(source)) continue;
      this.#log?.warn("relay instance gone", { instance: source });
      this.endpoint.dropSource(source);
    }
  }

  /**
   * Deletes the directory entries, leases and owner records of rooms whose data is gone
   * (expired while nobody ran them), the heartbeats and bells of instances long dead, and the
   * bells of instances that stopped.
   */
  async #cleanUp(
    leases: ReadonlyMap<string, Deno.KvEntry<LeaseRecord>>,
    stored: ReadonlySet<string>,
  ): Promise<void> {
    const now = this.#now();
    const manager = this.#manager!;
    const rooms = new Set([...leases.keys(), ...this.directory.cached().map((e) => e.id)]);
    for (const room of rooms) {
      if (this.#stopped) return;
      const lease = leases.get(room);
      if (stored.has(room) || manager.get(room) || leaseIsLive(lease?.value, now)) continue;
      // Checked against the lease as read: a claim meanwhile keeps everything.
      const atomic = this.#kv.atomic()
        .check({ key: this.keys.lease(room), versionstamp: lease?.versionstamp ?? null })
        .delete(this.keys.lease(room))
        .delete(this.keys.owner(room))
        .delete(this.keys.room(room));
      await retryLocked(() => atomic.commit());
    }
    const instances = await this.heartbeat.list();
    for (const record of instances) {
      if (record.expiresAt > now - DEAD_INSTANCE_MS || record.id === this.instance) continue;
      const atomic = this.#kv.atomic()
        .delete(this.keys.instance(record.id))
        .delete(this.keys.bell(record.id));
      await retryLocked(() => atomic.commit());
    }
    // A bell rung after its instance stopped (mail sent late) has no heartbeat left to go with;
    // bells cannot expire (KV's counters take no `expireIn`).
    const known = new Set(instances.map((record) => record.id));
    for await (const bell of this.#kv.list({ prefix: this.keys.bells() })) {
      const id = bell.key[bell.key.length - 1] as string;
      if (known.has(id) || id === this.instance || this.#stopped) continue;
      const atomic = this.#kv.atomic()
        .check({ key: this.keys.instance(id), versionstamp: null })
        .check(bell)
        .delete(bell.key);
      await retryLocked(() => atomic.commit());
    }
  }

  #scheduleScan(): void {
    if (this.#stopped) return;
    // Jitter spreads the instances' scans, so they rarely race for the same orphan.
    const delay = this.#leaseMs * (0.75 + Math.random() / 2);
    this.#scanner = setTimeout(async () => {
      await this.scan();
      this.#scheduleScan();
    }, delay);
  }

  async #joinHere(request: JoinRequest, member: Member): Promise<Seat> {
    const manager = this.#manager!;
    const room = request.room ?? "";
    await this.#adopting.get(room);
    if (!manager.get(room) || !this.leases.holds(room)) {
      throw new ArbiterError("server_restart", `Room ${room} does not run on this instance.`);
    }
    return await manager.join({ ...request, mode: "join" }, member);
  }

  #created(room: Room): void {
    if (this.leases.holds(room.id)) {
      this.#publish(room);
      return;
    }
    // A new room: its id must be new to the whole cluster. The durable layer's first save
    // waits for this claim through the fence.
    this.leases.claim(room.id, { fresh: true }).then((claim) => {
      if (claim.ok) return this.#publish(room);
      this.#log?.error("room id taken by another instance", { room: room.id });
      this.#durable?.forget(room.id);
      room.dispose("room_closed");
    }, (error) => {
      this.#log?.error("room lease not claimed", { room: room.id, error: String(error) });
      this.#durable?.forget(room.id);
      room.dispose("room_closed");
    });
  }

  #changed(room: Room, change: RoomChange): void {
    // Neither changes what the directory shows.
    if (change === "tick" || change === "refusal") return;
    if (this.leases.holds(room.id)) this.#publish(room);
  }

  #publish(room: Room): void {
    const summary = room.summary();
    const key = `${summary.players}/${summary.spectators}/${summary.status}/${room.acceptsPlayers}`;
    if (this.#published.get(room.id) === key) return;
    this.#published.set(room.id, key);
    this.directory.publish(room);
  }

  #disposed(room: Room, reason: DisposeReason): void {
    this.#published.delete(room.id);
    // Stopped for a restart or because the lease was lost: the next owner takes it from here.
    if (reason !== "room_closed" || !this.leases.holds(room.id)) return;
    // Closed for good: once the durable layer deleted its data, the cluster forgets it.
    void (async () => {
      await this.#durable?.idle();
      await this.directory.remove(room.id);
      await this.leases.drop(room.id);
    })().catch((error) =>
      this.#log?.error("room not removed from the cluster", { room: room.id, error: String(error) })
    );
  }

  #lost(room: string, reason: LostReason): void {
    this.#log?.warn("room lease lost; the room stops here", { room, reason });
    this.#published.delete(room);
    this.#durable?.forget(room);
    this.#manager?.get(room)?.dispose("server_restart");
  }

  /** The directory's rooms as summaries, by id: rebuilt once per refresh, not per request. */
  #remoteRooms(): ReadonlyMap<string, RoomSummary> {
    const entries = this.directory.cached();
    if (this.#summarized.entries !== entries) {
      const rooms = new Map<string, RoomSummary>();
      for (const entry of entries) {
        const { owner: _owner, updatedAt: _updatedAt, ...summary } = entry;
        // Written by an older release (no `open`): judged from what it has.
        summary.open ??= summary.status !== "finished" && summary.players < summary.maxPlayers;
        rooms.set(summary.id, summary);
      }
      this.#summarized = { entries, rooms };
    }
    return this.#summarized.rooms;
  }
}

/**
 * Composes room manager hooks: creation and change callbacks run the first set's, then the
 * second's; disposal callbacks run in reverse (the durable layer has started deleting a room's
 * data before the cluster lets go of it).
 *
 * @example
 * ```ts
 * import { combineHooks } from "./cluster.ts";
 * const calls: string[] = [];
 * const hooks = combineHooks(
 *   { onRoomChanged: () => void calls.push("cluster") },
 *   { onRoomChanged: () => void calls.push("durable") },
 * );
 * hooks.onRoomChanged?.({} as never, "seats");
 * console.log(calls); // ["cluster", "durable"]
 * ```
 */
export function combineHooks(
  first: Partial<RoomManagerOptions>,
  second: Partial<RoomManagerOptions>,
): Partial<RoomManagerOptions> {
  const both = <A extends unknown[]>(
    a: ((...args: A) => void) | undefined,
    b: ((...args: A) => void) | undefined,
  ) => (a && b ? (...args: A) => (a(...args), b(...args)) : a ?? b);
  return {
    ...first,
    ...second,
    onRoomCreated: both(first.onRoomCreated, second.onRoomCreated),
    onRoomChanged: both(first.onRoomChanged, second.onRoomChanged),
    onRoomDisposed: both(second.onRoomDisposed, first.onRoomDisposed),
  };
}

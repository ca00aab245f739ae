/**
 * Join routing in a cluster: a join for a room runs here when this instance owns the room,
 * goes through the relay when a live instance owns it, and adopts the room (claim the lease,
 * restore it from KV) when nobody does. Join-or-create looks at this instance's rooms first,
 * then at the directory, and creates a room here only when no open room exists anywhere.
 *
 * @module
 */
import { ArbiterError } from "../protocol/mod.ts";
import {
  checkJoinFields,
  type JoinRequest,
  KeyedSerializer,
  type Member,
  type RoomManager,
  type Seat,
} from "../rooms/mod.ts";
import type { Directory } from "./directory.ts";
import { leaseIsLive, type Leases } from "./leases.ts";
import type { Relay, RelayedSeat } from "./relay.ts";

/** What adopting a room did: it runs here now, another instance took it, or it does not exist. */
export type AdoptResult = "here" | "taken" | "missing";

/** Options of {@linkcode Router}. */
export interface RouterOptions {
  manager: RoomManager;
  instance: string;
  leases: Leases;
  relay: Relay;
  directory: Directory;
  /** Claims `room` and restores it here (single-flight per room). */
  adopt: (room: string) => Promise<AdoptResult>;
  /** Resolves once a room just created here is claimed (visible to other instances). */
  claimed: (room: string) => Promise<void>;
  now?: () => number;
}

/** How often a join follows a room that keeps changing hands before giving up. */
const MAX_HOPS = 4;
/** Room ids are 8 characters; past this length an id is not looked up in KV at all. */
const MAX_ROOM_ID_LENGTH = 256;

/** A join's failures after which join-or-create tries the next room. */
const NEXT_ROOM: ReadonlySet<string> = new Set([
  "room_full",
  "game_started",
  "room_closed",
  "game_over",
  "room_not_found",
  "server_restart",
]);

/**
 * Routes joins to wherever their room runs.
 *
 * @example
 * ```ts ignore
 * const router = new Router({ manager, instance, leases, relay, directory, adopt });
 * const seat = await router.join({ mode: "join", room: "ab3k9mzq", name: "ann" }, member);
 * ```
 */
export class Router {
  readonly #o: RouterOptions;
  readonly #now: () => number;
  /** Join-or-create calls per game, one at a time (see {@linkcode KeyedSerializer}). */
  readonly #joinOrCreateQueue = new KeyedSerializer();
  /**
   * Creates with a join key, one at a time per key: a retry that arrives while the first one
   * is still claiming its room's lease waits for it, then finds that room by the key.
   */
  readonly #keyedCreates = new KeyedSerializer();

  /** Routes with the cluster's parts. */
  constructor(options: RouterOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Joins as `RoomManager.join` does, wherever the room runs. Resolves once the `welcome` went
   * to `member`; rejects with an {@linkcode ArbiterError}.
   */
  async join(request: JoinRequest, member: Member): Promise<Seat | RelayedSeat> {
    const { manager } = this.#o;
    checkJoinFields(request);
    if (request.mode === "join_or_create" && !request.resume) {
      const game = request.game;
      if (typeof game !== "string" || !manager.games.has(game)) {
        return await manager.join(request, member);
      }
      return await this.#joinOrCreateQueue.run(game, async () => {
        const seat = await this.#joinKeyed(game, request, member) ??
          await this.#joinOrCreate(game, request, member);
        manager.rememberJoinKey(request, game, seat.room.id);
        return seat;
      });
    }
    if (request.mode === "create") {
      const create = async () =>
        await this.#joinKeyed(request.game!, request, member) ??
          await this.#create(request, member);
      return request.key === undefined
        ? await create()
        : await this.#keyedCreates.run(request.key, create);
    }
    // A token-only resume can only be looked up among local rooms.
    if (typeof request.room !== "string") return await manager.join(request, member);
    return await this.#joinRoom(request.room, request, member);
  }

  async #joinRoom(
    room: string,
    request: JoinRequest,
    member: Member,
  ): Promise<Seat | RelayedSeat> {
    const { manager, leases, relay, instance } = this.#o;
    // No room has such an id, and KV keys could not hold it (2 KiB): answered as alone.
    if (room.length > MAX_ROOM_ID_LENGTH) {
      throw new ArbiterError("room_not_found", `No room "${room.slice(0, 64)}…".`);
    }
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      // A room just created or being adopted here is ours once its claim lands.
      if (leases.claiming(room)) await this.#o.claimed(room).catch(() => {});
      if (manager.get(room) && leases.holds(room)) return await manager.join(request, member);
      const lease = await leases.read(room);
      if (leaseIsLive(lease, this.#now()) && lease!.instance !== instance) {
        return await relay.join(room, lease!, request, member);
      }
      // Nobody runs it: run it here (or learn who won the race to).
      if (await this.#o.adopt(room) === "missing") {
        throw new ArbiterError("room_not_found", `No room ${room}.`);
      }
    }
    throw new ArbiterError("server_restart", `Room ${room} is changing instances; retry.`);
  }

  async #joinOrCreate(
    game: string,
    request: JoinRequest,
    member: Member,
  ): Promise<Seat | RelayedSeat> {
    const { manager, leases, directory } = this.#o;
    const join = (room: string): JoinRequest => ({
      ...request,
      mode: "join",
      room,
      spectator: undefined,
      resume: undefined,
    });
    for (const summary of manager.list({ game, publicOnly: true, localOnly: true })) {
      const room = manager.get(summary.id);
      if (!room?.acceptsPlayers || !leases.holds(room.id)) continue;
      try {
        return await manager.join(join(room.id), member);
      } catch (error) {
        if (!(error instanceof ArbiterError && NEXT_ROOM.has(error.code))) throw error;
      }
    }
    const elsewhere = (await directory.list(game))
      .filter((entry) => entry.open && !entry.private && !manager.get(entry.id))
      .sort((a, b) => a.createdAt - b.createdAt);
    for (const entry of elsewhere) {
      try {
        return await this.#joinRoom(entry.id, join(entry.id), member);
      } catch (error) {
        if (!(error instanceof ArbiterError && NEXT_ROOM.has(error.code))) throw error;
      }
    }
    return await this.#create(request, member);
  }

  /**
   * Joins the room an earlier `create` / `join_or_create` with the request's join key went to,
   * where the key gets back the seat that join took (PROTOCOL.md 6.1). Null when this instance
   * remembers no such room (keys are remembered per instance: a retry that lands on another one
   * is not recognized) or the room no longer takes the player: the caller goes on as for a new
   * join.
   */
  async #joinKeyed(
    game: string,
    request: JoinRequest,
    member: Member,
  ): Promise<Seat | RelayedSeat | null> {
    const room = this.#o.manager.joinKeyRoom(request, game);
    if (room === undefined) return null;
    const join: JoinRequest = {
      ...request,
      mode: "join",
      room,
      spectator: undefined,
      resume: undefined,
    };
    try {
      return await this.#joinRoom(room, join, member);
    } catch (error) {
      if (error instanceof ArbiterError && NEXT_ROOM.has(error.code)) return null;
      throw error;
    }
  }

  /**
   * Creates a room here; its first player gets the `welcome` only once the room's lease is
   * stored, so that the room id they share works on every instance at once.
   */
  async #create(request: JoinRequest, member: Member): Promise<Seat> {
    const { manager } = this.#o;
    const room = manager.create(request.game!, request.options, { private: request.private });
    await this.#o.claimed(room.id);
    // Remembered before the join lands (a retry racing it then queues behind it in the room),
    // but only once claimed: routing to a room whose lease is not stored yet would adopt it.
    manager.rememberJoinKey(request, room.game.name, room.id);
    return await room.join({ name: request.name, user: request.user, key: request.key }, member);
  }
}

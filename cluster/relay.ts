/**
 * The relay's end at the instance holding a player's socket when the player's room runs on
 * another instance: the join, the actions, a leave or a drop go to the owner by mail, and the
 * owner's frames come back to the socket. The relay watches the room's lease: when the owner
 * dies or the room changes hands, it closes its players' sockets with 1012 (service restart),
 * and the clients resume by themselves, routed to wherever the room runs then.
 *
 * @module
 */
import { ArbiterError, closeCodeFor, encodeServerMessage } from "../protocol/mod.ts";
import type { JoinRequest, Member, Seat } from "../rooms/mod.ts";
import type { LeaseRecord } from "./keys.ts";
import { leaseIsLive } from "./leases.ts";
import type { KvMail } from "./mail.ts";
import { toMail, type ToRelay } from "./messages.ts";

/**
 * A seat in a room another instance runs: what a socket session needs of a seat.
 *
 * @example
 * ```ts ignore
 * const seat: RelayedSeat = await relay.join("ab3k9mzq", lease, request, member);
 * seat.act(1, "place", { cell: 4 });
 * ```
 */
export type RelayedSeat = Omit<Seat, "room"> & { readonly room: { readonly id: string } };

/** Options of {@linkcode Relay}. */
export interface RelayOptions {
  mail: KvMail;
  /** Reads the stored leases of up to 10 rooms. */
  readLeases: (rooms: readonly string[]) => Promise<(LeaseRecord | null)[]>;
  /** A relayed join not answered within this long fails with `server_restart`, ms. */
  joinTimeoutMs: number;
  /** How often the leases of relayed rooms are checked, ms. */
  checkMs: number;
  /** Wall clock, ms since the epoch. */
  now?: () => number;
  onError?: (error: unknown) => void;
}

interface Conn {
  c: number;
  room: string;
  owner: string;
  epoch: number;
  member: Member;
  joining: { resolve: (seat: RelayedSeat) => void; reject: (error: ArbiterError) => void } | null;
  /**
   * Frames that arrived before the owner's `joined` (the welcome): they reach the socket only
   * once the session has its seat, or the client could act before the session knows it joined.
   */
  held: Uint8Array[];
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves the `leave` sent, once the owner closed the connection (or gave no sign). */
  left: (() => void) | null;
}

/**
 * Relays players to rooms on other instances.
 *
 * @example
 * ```ts ignore
 * const relay = new Relay({ mail, readLeases, joinTimeoutMs: 10_000, checkMs: 1000 });
 * relay.start();
 * const seat = await relay.join(room, lease, { mode: "join", room }, member);
 * ```
 */
export class Relay {
  readonly #mail: KvMail;
  readonly #readLeases: RelayOptions["readLeases"];
  readonly #joinTimeoutMs: number;
  readonly #checkMs: number;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #conns = new Map<number, Conn>();
  #next = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #checking: Promise<void> | null = null;

  /** Relays nothing until {@linkcode join}; call {@linkcode start} to watch leases. */
  constructor(options: RelayOptions) {
    this.#mail = options.mail;
    this.#readLeases = options.readLeases;
    this.#joinTimeoutMs = options.joinTimeoutMs;
    this.#checkMs = options.checkMs;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
  }

  /** Relayed connections. */
  get size(): number {
    return this.#conns.size;
  }

  /**
   * Joins `room`, run by `lease.instance`, for `member` (the socket). Resolves once the owner
   * accepted (its `welcome` already went to `member`); rejects with the owner's
   * `ArbiterError`, or `server_restart` when the owner does not answer or the room moves.
   */
  join(
    room: string,
    lease: LeaseRecord,
    request: JoinRequest,
    member: Member,
  ): Promise<RelayedSeat> {
    const c = ++this.#next;
    return new Promise<RelayedSeat>((resolve, reject) => {
      const conn: Conn = {
        c,
        room,
        owner: lease.instance,
        epoch: lease.epoch,
        member,
        joining: { resolve, reject },
        held: [],
        left: null,
        timer: setTimeout(
          () => this.#fail(conn, `Room ${room}'s instance did not answer; retry.`),
          this.#joinTimeoutMs,
        ),
      };
      this.#conns.set(c, conn);
      this.#mail.send(conn.owner, toMail({ t: "join", c, request: { ...request, room } }));
    });
  }

  /** Handles one message from the owner `source`. */
  handle(source: string, message: ToRelay): void {
    const conn = this.#conns.get(message.c);
    // A deposed owner's late frames are not the room's anymore.
    if (!conn || conn.owner !== source) {
      // A seat taken after this relay gave up on the join (timed out, closed): nobody holds
      // it here, so the owner must start its grace window rather than keep it "connected".
      if (message.t === "joined") this.#mail.send(source, toMail({ t: "drop", c: message.c }));
      return;
    }
    switch (message.t) {
      case "frame":
        if (conn.joining) conn.held.push(message.frame);
        else conn.member.send(message.frame);
        return;
      case "close": {
        const joining = conn.joining;
        this.#forget(conn);
        conn.left?.();
        // Closed before its join settled: the session waiting on the join must hear of it.
        joining?.reject(new ArbiterError("server_restart", `Room ${conn.room} closed; retry.`));
        conn.member.close(message.code, message.reason);
        return;
      }
      case "joined": {
        const joining = conn.joining;
        if (!joining) return;
        conn.joining = null;
        clearTimeout(conn.timer);
        joining.resolve(this.#seat(conn, message));
        // The session takes its seat in the microtasks after this; the client's first action
        // can only arrive in a later task, after it read these frames.
        for (const frame of conn.held.splice(0)) conn.member.send(frame);
        return;
      }
      case "refused": {
        const joining = conn.joining;
        this.#forget(conn);
        joining?.reject(new ArbiterError(message.code, message.message));
        return;
      }
    }
  }

  /** Checks the leases of relayed rooms every `checkMs`. */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => void this.check(), this.#checkMs);
  }

  /** Stops checking; relayed sockets are the server's to close. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#checking;
    for (const conn of this.#conns.values()) clearTimeout(conn.timer);
  }

  /**
   * One check of the relayed rooms' leases: the players of a room whose owner changed or
   * whose lease ran out are sent away to resume.
   */
  check(): Promise<void> {
    return this.#checking ??= this.#check().catch((error) => this.#onError(error))
      .finally(() => this.#checking = null);
  }

  async #check(): Promise<void> {
    const rooms = [...new Set([...this.#conns.values()].map((conn) => conn.room))];
    for (let i = 0; i < rooms.length; i += 10) {
      const batch = rooms.slice(i, i + 10);
      const leases = await this.#readLeases(batch);
      const now = this.#now();
      batch.forEach((room, j) => {
        const lease = leases[j];
        for (const conn of [...this.#conns.values()]) {
          if (conn.room !== room) continue;
          const same = leaseIsLive(lease, now) && lease!.instance === conn.owner &&
            lease!.epoch === conn.epoch;
          if (!same) this.#fail(conn, `Room ${room} moved to another instance; resume.`);
        }
      });
    }
  }

  #seat(conn: Conn, joined: ToRelay & { t: "joined" }): RelayedSeat {
    const send = (message: Parameters<typeof toMail>[0]) => {
      if (this.#conns.get(conn.c) === conn) this.#mail.send(conn.owner, toMail(message));
    };
    return {
      room: { id: joined.room },
      player: joined.player,
      session: joined.session,
      act: (seq, name, payload, refused) =>
        send({ t: "act", c: conn.c, seq, name, payload, refused }),
      // The connection stays until the owner closes it: the acks of actions sent before the
      // leave still reach the client. An owner that says nothing is given up on.
      leave: () =>
        new Promise<void>((resolve) => {
          send({ t: "leave", c: conn.c });
          clearTimeout(conn.timer);
          conn.left = () => {
            this.#forget(conn);
            resolve();
          };
          conn.timer = setTimeout(conn.left, this.#joinTimeoutMs);
        }),
      disconnect: () => {
        send({ t: "drop", c: conn.c });
        this.#forget(conn);
      },
    };
  }

  /** Ends a relayed connection: a pending join fails, a joined socket is closed to resume. */
  #fail(conn: Conn, message: string): void {
    if (this.#conns.get(conn.c) !== conn) return;
    this.#forget(conn);
    if (conn.joining) {
      conn.joining.reject(new ArbiterError("server_restart", message));
      return;
    }
    try {
      conn.member.send(encodeServerMessage({ kind: "error", code: "server_restart", message }));
      conn.member.close(closeCodeFor("server_restart"), "server_restart");
    } catch (error) {
      this.#onError(error);
    }
  }

  #forget(conn: Conn): void {
    clearTimeout(conn.timer);
    if (this.#conns.get(conn.c) === conn) this.#conns.delete(conn.c);
  }
}

/**
 * The owner's end of the relay: players whose sockets are on other instances join this
 * instance's rooms through mail. Each becomes an ordinary room member whose frames go back
 * by mail; its inputs (actions, leave, drop) arrive by mail and go to its seat.
 *
 * @module
 */
import { ArbiterError, CLOSE_CODES } from "../protocol/mod.ts";
import type { JoinRequest, Member, Seat } from "../rooms/mod.ts";
import type { KvMail } from "./mail.ts";
import { toMail, type ToOwner } from "./messages.ts";

/** Options of {@linkcode OwnerEndpoint}. */
export interface OwnerEndpointOptions {
  mail: KvMail;
  /**
   * Joins a room live on this instance; throws an `ArbiterError` (e.g. `server_restart` when
   * the room is not run here, so the player retries and is routed again).
   */
  join: (request: JoinRequest, member: Member) => Promise<Seat>;
  /** Reports unexpected failures. */
  onError?: (error: unknown) => void;
}

interface Relayed {
  source: string;
  c: number;
  seat: Seat | null;
  /** The relay said leave or drop while the join was in flight. */
  gone: "leave" | "drop" | null;
  closed: boolean;
}

/**
 * Serves relayed players of this instance's rooms.
 *
 * @example
 * ```ts ignore
 * const endpoint = new OwnerEndpoint({ mail, join: (request, member) => manager.join(request, member) });
 * endpoint.handle("relay-instance", { t: "join", c: 1, request: { mode: "join", room: "ab3k9mzq" } });
 * ```
 */
export class OwnerEndpoint {
  readonly #mail: KvMail;
  readonly #join: OwnerEndpointOptions["join"];
  readonly #onError: (error: unknown) => void;
  readonly #relayed = new Map<string, Relayed>();

  /** Serves nothing until mail arrives. */
  constructor(options: OwnerEndpointOptions) {
    this.#mail = options.mail;
    this.#join = options.join;
    this.#onError = options.onError ?? (() => {});
  }

  /** Relayed connections attached here. */
  get size(): number {
    return this.#relayed.size;
  }

  /** Instances with relayed players here. */
  sources(): Set<string> {
    return new Set([...this.#relayed.values()].map((r) => r.source));
  }

  /** Handles one message from the relay `source`. */
  handle(source: string, message: ToOwner): void {
    const key = `${source}/${message.c}`;
    switch (message.t) {
      case "join":
        void this.#joinRelayed(key, source, message.c, message.request);
        return;
      case "act": {
        const relayed = this.#relayed.get(key);
        if (relayed) {
          relayed.seat?.act(message.seq, message.name, message.payload, message.refused);
          return;
        }
        // Not (or no longer) a member here, e.g. dropped when this relay's heartbeat lapsed:
        // its socket is closed so the client resumes, instead of waiting on acks forever.
        this.#closeRelayed(source, message.c);
        return;
      }
      case "leave":
      case "drop": {
        const relayed = this.#relayed.get(key);
        if (!relayed) return;
        if (!relayed.seat) {
          relayed.gone = message.t;
          return;
        }
        this.#relayed.delete(key);
        if (message.t === "leave") this.#leave(relayed, relayed.seat);
        else relayed.seat.disconnect();
        return;
      }
    }
  }

  /**
   * The relay `source` seems dead (its heartbeat lapsed): its players' seats wait for their
   * resumes, as after a drop. Should it be alive after all, it is told to close their sockets,
   * so that they resume rather than wait on a room that no longer hears them.
   */
  dropSource(source: string): void {
    for (const [key, relayed] of this.#relayed) {
      if (relayed.source !== source) continue;
      this.#relayed.delete(key);
      relayed.seat?.disconnect();
      if (!relayed.seat) relayed.gone = "drop";
      this.#closeRelayed(source, relayed.c);
    }
  }

  /**
   * Gives the seat up, then closes the relayed connection as a local session closes its
   * socket: once the room processed the leave, after the acks of the actions before it.
   */
  #leave(relayed: Relayed, seat: Seat): void {
    const close = () => {
      if (relayed.closed) return;
      relayed.closed = true;
      this.#mail.send(
        relayed.source,
        toMail({ t: "close", c: relayed.c, code: CLOSE_CODES.normal, reason: "left" }),
      );
    };
    Promise.resolve(seat.leave()).then(close, close);
  }

  /** Tells relay `source` to close its connection `c` with 1012, as a restart would. */
  #closeRelayed(source: string, c: number): void {
    this.#mail.send(
      source,
      toMail({ t: "close", c, code: CLOSE_CODES.service_restart, reason: "server_restart" }),
    );
  }

  async #joinRelayed(
    key: string,
    source: string,
    c: number,
    request: JoinRequest,
  ): Promise<void> {
    if (this.#relayed.has(key)) return;
    const relayed: Relayed = { source, c, seat: null, gone: null, closed: false };
    this.#relayed.set(key, relayed);
    const member: Member = {
      send: (frame) => {
        if (!relayed.closed) this.#mail.send(source, toMail({ t: "frame", c, frame }));
      },
      close: (code, reason) => {
        if (relayed.closed) return;
        relayed.closed = true;
        if (this.#relayed.get(key) === relayed) this.#relayed.delete(key);
        this.#mail.send(source, toMail({ t: "close", c, code, reason }));
      },
    };
    try {
      const seat = await this.#join(request, member);
      relayed.seat = seat;
      this.#mail.send(
        source,
        toMail({ t: "joined", c, room: seat.room.id, player: seat.player, session: seat.session }),
      );
      if (relayed.gone === "leave") this.#leave(relayed, seat);
      else if (relayed.gone === "drop") seat.disconnect();
      if (relayed.gone) this.#relayed.delete(key);
    } catch (error) {
      if (this.#relayed.get(key) === relayed) this.#relayed.delete(key);
      const known = error instanceof ArbiterError;
      if (!known) this.#onError(error);
      this.#mail.send(
        source,
        toMail({
          t: "refused",
          c,
          code: known ? error.code : "internal",
          message: known ? error.message : "Unexpected server error.",
        }),
      );
    }
  }
}

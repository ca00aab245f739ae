/**
 * The two faces of a room connection: the {@linkcode Member} a transport gives a room (where
 * frames go), and the {@linkcode Seat} a room gives back (how the transport passes inputs on).
 * Rooms never see sockets, so they are tested with plain objects.
 *
 * @module
 */
import type { SettledReject, Value } from "../protocol/types.ts";
import type { HeldInputHandler } from "./mailbox.ts";
import type { Room } from "./room.ts";

/**
 * Where a room sends one connection's frames.
 *
 * @example
 * ```ts
 * import type { Member } from "./member.ts";
 * const frames: Uint8Array[] = [];
 * const member: Member = {
 *   send: (frame) => frames.push(frame),
 *   close: (code, reason) => console.log("closed", code, reason),
 * };
 * ```
 */
export interface Member {
  /** Sends one binary protocol frame. */
  send(frame: Uint8Array): void;
  /** Closes the connection (the room already sent an `error` frame saying why). */
  close(code: number, reason: string): void;
}

/**
 * A joined connection's handle on its room. Inputs go through the room's mailbox; their
 * results go out as frames to the member. Calls on a handle whose connection was replaced
 * (a resume from another socket), left or dropped are ignored.
 *
 * @example
 * ```ts ignore
 * const seat = await manager.join({ mode: "join_or_create", game: "tic_tac_toe" }, member);
 * seat.act(1, "place", { cell: 4 }); // accepted → a delta; refused → a reject frame
 * seat.disconnect(); // the socket went away: the seat waits out the grace window
 * ```
 */
export interface Seat {
  /** The room joined. */
  readonly room: Room;
  /** This connection's player id, or null for a spectator. */
  readonly player: string | null;
  /** The seat's resume token (empty for spectators). */
  readonly session: string;
  /**
   * Submits an action; `clientSeq` must increase from one action to the next.
   * `refusedBefore`: this seat's actions the transport refused itself since its previous
   * `act` (over the rate limit, or not decodable). The room remembers them like refusals of
   * its own, so a resume settles them as refused even once this action is acknowledged.
   */
  act(
    clientSeq: number,
    name: string | number,
    payload: Value,
    refusedBefore?: readonly SettledReject[],
  ): void;
  /**
   * Gives up the seat deliberately (spectators just stop watching). May return a promise that
   * resolves once the room has processed it, every action submitted before it settled.
   */
  leave(): void | Promise<void>;
  /** The connection is gone without a leave: the seat is held for the grace window. */
  disconnect(): void;
  /**
   * Holds one of the connection's inputs (for a socket session, a frame) until the room's
   * next tick, when it goes back to `handler` with its `arrivedAt`, in arrival order with
   * every other connection's: a room that broadcasts per tick applies what arrived between two
   * ticks together, just before the tick, rather than waking for each (its effects would not
   * go out before that tick anyway). Returns false, holding nothing, when the room does not
   * broadcast per tick now: handle the input at once. A seat that never holds (one relayed to
   * another instance) leaves this out.
   */
  hold?(handler: HeldInputHandler, input: unknown, arrivedAt: number): boolean;
  /**
   * Hands back every input the room holds now, this connection's and the others', in arrival
   * order: e.g. before the connection goes, since what arrived before a close still counts.
   */
  release?(): void;
}

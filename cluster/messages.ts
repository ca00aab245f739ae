/**
 * The relay's messages between an instance holding a player's socket (the relay) and the
 * instance running the player's room (the owner). They carry the two interfaces a room has
 * with a transport, `Seat` (inputs) and `Member` (frames out), so a relayed player is, for
 * the room, a member like any other.
 *
 * Every message names the connection `c`: a number unique on the relay instance.
 *
 * @module
 */
import type { ErrorCode, SettledReject, Value } from "../protocol/mod.ts";
import type { JoinRequest } from "../rooms/mod.ts";
import type { Mail } from "./mail.ts";

/**
 * A message from a relay to a room's owner.
 *
 * @example
 * ```ts
 * import type { ToOwner } from "./messages.ts";
 * const act: ToOwner = { t: "act", c: 7, seq: 3, name: 0, payload: { cell: 4 } };
 * ```
 */
export type ToOwner =
  | { t: "join"; c: number; request: JoinRequest }
  | {
    t: "act";
    c: number;
    seq: number;
    name: string | number;
    payload: Value;
    /** Refused at the relay since the previous action (`Seat.act`'s `refusedBefore`). */
    refused?: readonly SettledReject[];
  }
  | { t: "leave"; c: number }
  | { t: "drop"; c: number };

/**
 * A message from a room's owner to a relay.
 *
 * @example
 * ```ts
 * import type { ToRelay } from "./messages.ts";
 * const frame: ToRelay = { t: "frame", c: 7, frame: new Uint8Array([1, 2]) };
 * ```
 */
export type ToRelay =
  | { t: "joined"; c: number; room: string; player: string | null; session: string }
  | { t: "refused"; c: number; code: ErrorCode; message: string }
  | { t: "frame"; c: number; frame: Uint8Array }
  | { t: "close"; c: number; code: number; reason: string };

/**
 * Turns a message into mail (CBOR has no `undefined`: absent fields are left out).
 *
 * @example
 * ```ts
 * import { toMail } from "./messages.ts";
 * console.log(toMail({ t: "drop", c: 1 })); // { t: "drop", c: 1 }
 * ```
 */
export function toMail(message: ToOwner | ToRelay): Mail {
  return strip(message) as Mail;
}

/**
 * Reads mail as a message to an owner, or null when it is not one.
 *
 * @example
 * ```ts
 * import { asToOwner } from "./messages.ts";
 * console.log(asToOwner({ t: "leave", c: 2 })?.t); // "leave"
 * ```
 */
export function asToOwner(mail: Mail): ToOwner | null {
  if (typeof mail.c !== "number") return null;
  switch (mail.t) {
    case "join":
      return isMap(mail.request) ? mail as unknown as ToOwner : null;
    case "act":
      return typeof mail.seq === "number" &&
          (typeof mail.name === "string" || typeof mail.name === "number") &&
          (mail.refused === undefined || isRefusalList(mail.refused))
        ? mail as unknown as ToOwner
        : null;
    case "leave":
    case "drop":
      return mail as unknown as ToOwner;
    default:
      return null;
  }
}

/**
 * Reads mail as a message to a relay, or null when it is not one.
 *
 * @example
 * ```ts
 * import { asToRelay } from "./messages.ts";
 * console.log(asToRelay({ t: "frame", c: 1, frame: new Uint8Array(1) })?.t); // "frame"
 * ```
 */
export function asToRelay(mail: Mail): ToRelay | null {
  if (typeof mail.c !== "number") return null;
  switch (mail.t) {
    case "joined":
      return typeof mail.room === "string" && typeof mail.session === "string"
        ? mail as unknown as ToRelay
        : null;
    case "refused":
      return typeof mail.code === "string" ? mail as unknown as ToRelay : null;
    case "frame":
      return mail.frame instanceof Uint8Array ? mail as unknown as ToRelay : null;
    case "close":
      return typeof mail.code === "number" ? mail as unknown as ToRelay : null;
    default:
      return null;
  }
}

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value === null || typeof value !== "object" || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== undefined) out[key] = strip(item);
  }
  return out;
}

function isRefusalList(value: unknown): boolean {
  return Array.isArray(value) &&
    value.every((item) =>
      isMap(item) && typeof item.seq === "number" && typeof item.code === "string" &&
      typeof item.message === "string"
    );
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

/**
 * The baseline relay's framing: the fewest bytes that still let the load generator measure
 * latency exactly as it does against Arbiter (send → the frame acknowledging that sequence).
 *
 * Client → server (told apart by length):
 * - join, 4 bytes: room number, u32 little-endian.
 * - move, 6 bytes: client sequence u32 LE, then dx and dy as int8 (value × 127).
 *
 * Server → client (told apart by length modulo 3):
 * - welcome, 2 bytes: `[slot, 0xff]` (length % 3 == 2).
 * - moves, 3n bytes: n entries `[slot, dx, dy]` relayed from the other players (length % 3 == 0).
 * - ack + moves, 4 + 3n bytes: the highest applied sequence of this client (u32 LE), then n
 *   entries (length % 3 == 1). Without a tick the ack goes alone (4 bytes) and each move is
 *   relayed on its own (3 bytes); with a tick both are batched per tick.
 *
 * @module
 */

/** Length of a join frame. */
export const JOIN_BYTES = 4;
/** Length of a move frame. */
export const MOVE_BYTES = 6;
/** Length of one relayed move entry. */
export const ENTRY_BYTES = 3;

/**
 * Encodes a join for `room`.
 *
 * @example
 * ```ts
 * import { encodeJoin } from "./baseline_protocol.ts";
 * console.log(encodeJoin(3)); // Uint8Array(4) [ 3, 0, 0, 0 ]
 * ```
 */
export function encodeJoin(room: number): Uint8Array {
  const bytes = new Uint8Array(JOIN_BYTES);
  new DataView(bytes.buffer).setUint32(0, room, true);
  return bytes;
}

/**
 * Encodes a move: sequence, then dx and dy in [-1, 1] scaled to int8.
 *
 * @example
 * ```ts
 * import { encodeMove } from "./baseline_protocol.ts";
 * console.log(encodeMove(1, 1, -1)); // Uint8Array(6) [ 1, 0, 0, 0, 127, 129 ]
 * ```
 */
export function encodeMove(seq: number, dx: number, dy: number): Uint8Array {
  const bytes = new Uint8Array(MOVE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, seq, true);
  view.setInt8(4, Math.round(dx * 127));
  view.setInt8(5, Math.round(dy * 127));
  return bytes;
}

/** A server frame as the load generator reads it. */
export type BaselineFrame =
  | { kind: "welcome"; slot: number }
  | { kind: "moves"; ack: number | null; entries: number };

/**
 * Reads a server frame: a welcome, or relayed moves with this client's ack when present.
 *
 * @example
 * ```ts
 * import { decodeServerFrame } from "./baseline_protocol.ts";
 * console.log(decodeServerFrame(new Uint8Array([2, 0xff]))); // { kind: "welcome", slot: 2 }
 * console.log(decodeServerFrame(new Uint8Array([7, 0, 0, 0, 1, 5, 5])));
 * // { kind: "moves", ack: 7, entries: 1 }
 * ```
 */
export function decodeServerFrame(bytes: Uint8Array): BaselineFrame {
  const n = bytes.length;
  if (n === 2) return { kind: "welcome", slot: bytes[0] };
  if (n % 3 === 0) return { kind: "moves", ack: null, entries: n / 3 };
  if (n % 3 === 1) {
    const ack = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16)) + bytes[3] * 0x1000000;
    return { kind: "moves", ack, entries: (n - 4) / 3 };
  }
  throw new RangeError(`Not a baseline frame: ${n} bytes.`);
}

/**
 * The ack a server frame carries, without allocating: -1 for none, -2 for a welcome.
 *
 * @example
 * ```ts
 * import { frameAck } from "./baseline_protocol.ts";
 * console.log(frameAck(new Uint8Array([9, 0, 0, 0])), frameAck(new Uint8Array([0, 1, 1]))); // 9 -1
 * ```
 */
export function frameAck(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n === 2) return -2;
  if (n % 3 !== 1) return -1;
  return (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16)) + bytes[3] * 0x1000000;
}

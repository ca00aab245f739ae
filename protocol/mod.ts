/**
 * Arbiter's wire protocol v1: the message types, the binary frame codec, the delta encoding
 * and the hardened CBOR value codec, in pure TypeScript without Deno-only APIs (it runs in
 * Deno, browsers, Deno Deploy and k6). `PROTOCOL.md` beside this file specifies every byte.
 *
 * @example
 * ```ts
 * import { decodeClientMessage, encodeClientMessage } from "./mod.ts";
 * const frame = encodeClientMessage({ kind: "ping", time: 1000 });
 * console.log(decodeClientMessage(frame)); // { kind: "ping", time: 1000 }
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export {
  type DecodeLimits,
  DEFAULT_INBOUND_LIMITS,
  DEFAULT_OUTBOUND_LIMITS,
  REMEMBERED_REFUSALS,
} from "./limits.ts";
export { FRAME_KINDS } from "./frame.ts";
export { closeCodeFor } from "./close_codes.ts";
export { ActionPayloadError, decodeClientMessage, encodeClientMessage } from "./client_messages.ts";
export {
  checkOutboundFrame,
  checkOutboundOps,
  decodeServerMessage,
  encodeDeltaFrame,
  encodeServerMessage,
} from "./server_messages.ts";
export { DELTA_MAX_KEYS, DELTA_MAX_REFS, type DeltaTableCaps } from "./delta_format.ts";
export { DeltaEncoder } from "./delta_encoder.ts";
export { DeltaDecoder } from "./delta_decoder.ts";
export { applyOps, type ApplyOptions, freezeValue } from "./apply_ops.ts";
export { decodeValue, encodeValue } from "./value.ts";
export { TokenBucket } from "./token_bucket.ts";
export {
  parseRoomListQuery,
  ROOM_LIST_LIMITS,
  ROOM_STATUSES,
  roomListParams,
  type RoomListQuery,
  type RoomStatus,
  type RoomSummary,
} from "./room_list.ts";

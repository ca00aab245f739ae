/**
 * Which WebSocket close code follows an `error` message with a given error code.
 *
 * @module
 */
import { CLOSE_CODES, type CloseCode, type ErrorCode } from "./types.ts";

const CLOSE_CODE_BY_ERROR: Partial<Record<ErrorCode, CloseCode>> = {
  frame_too_large: CLOSE_CODES.message_too_big,
  text_frame: CLOSE_CODES.unsupported_data,
  policy_violation: CLOSE_CODES.policy_violation,
  rate_limited: CLOSE_CODES.policy_violation,
  unauthorized: CLOSE_CODES.unauthorized,
  room_not_found: CLOSE_CODES.join_failed,
  game_not_found: CLOSE_CODES.join_failed,
  room_full: CLOSE_CODES.join_failed,
  game_started: CLOSE_CODES.join_failed,
  // A player join to a finished game (an action after the end is a reject, with no close).
  game_over: CLOSE_CODES.join_failed,
  spectators_not_allowed: CLOSE_CODES.join_failed,
  bad_options: CLOSE_CODES.join_failed,
  bad_session: CLOSE_CODES.join_failed,
  too_many_rooms: CLOSE_CODES.join_failed,
  join_timeout: CLOSE_CODES.join_timeout,
  heartbeat_timeout: CLOSE_CODES.heartbeat_timeout,
  slow_consumer: CLOSE_CODES.slow_consumer,
  session_replaced: CLOSE_CODES.session_replaced,
  room_closed: CLOSE_CODES.room_closed,
  server_restart: CLOSE_CODES.service_restart,
  internal: CLOSE_CODES.internal_error,
};

/**
 * The close code the server uses after an `error` with `code`: decoding errors and other
 * protocol misuse close with 1002, join failures with 4000, and so on (PROTOCOL.md lists all).
 *
 * @example
 * ```ts
 * import { closeCodeFor } from "./close_codes.ts";
 * console.log(closeCodeFor("frame_too_large")); // 1009
 * console.log(closeCodeFor("bad_cbor")); // 1002
 * ```
 */
export function closeCodeFor(code: ErrorCode): CloseCode {
  return CLOSE_CODE_BY_ERROR[code] ?? CLOSE_CODES.protocol_error;
}

/**
 * Typed errors: every failure Arbiter reports carries an {@linkcode ErrorCode} and a message a
 * developer can act on.
 *
 * @module
 */
import { ERROR_CODES, type ErrorCode } from "./types.ts";

/**
 * An error with a stable code. The server sends these to clients as `reject` or `error`
 * messages; the client library rejects promises with them.
 *
 * @example
 * ```ts
 * import { ArbiterError } from "./errors.ts";
 * const err = new ArbiterError("room_full", "Room r1 has 2 of 2 seats taken.");
 * console.log(err.code); // "room_full"
 * ```
 */
export class ArbiterError extends Error {
  /** The stable error code. */
  readonly code: ErrorCode;

  /** Creates an error; the message defaults to the code's description in `ERROR_CODES`. */
  constructor(code: ErrorCode, message: string = ERROR_CODES[code]) {
    super(message);
    this.name = "ArbiterError";
    this.code = code;
  }
}

/**
 * The only error a decoder throws: the bytes are not a valid message.
 *
 * @example
 * ```ts
 * import { ProtocolError } from "./errors.ts";
 * try {
 *   throw new ProtocolError("unknown_kind", "Kind 0x7f is not defined.");
 * } catch (e) {
 *   if (e instanceof ProtocolError) console.log(e.code);
 * }
 * ```
 */
export class ProtocolError extends ArbiterError {
  /** Creates a decoding error. */
  constructor(code: ErrorCode, message?: string) {
    super(code, message);
    this.name = "ProtocolError";
  }
}

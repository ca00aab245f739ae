/**
 * The typed failure of the persistence layer.
 *
 * @module
 */

/**
 * A typed failure of the store: a snapshot written by a newer release, stored data that does
 * not read back, a second writer, an action too large to log, or a room whose state is not data
 * (game code wrote `NaN`, say) and so cannot be stored.
 *
 * @example
 * ```ts
 * import { PersistenceError } from "./errors.ts";
 * const error = new PersistenceError("snapshot_corrupt", "Room r1 has 3 of 5 chunks.");
 * console.log(error.code); // "snapshot_corrupt"
 * ```
 */
export class PersistenceError extends Error {
  /** `snapshot_version`, `snapshot_corrupt`, `log_conflict`, `log_entry_too_large` or `state_not_data`. */
  readonly code:
    | "snapshot_version"
    | "snapshot_corrupt"
    | "log_conflict"
    | "log_entry_too_large"
    | "state_not_data";
  /** Creates the error. */
  constructor(code: PersistenceError["code"], message: string) {
    super(message);
    this.name = "PersistenceError";
    this.code = code;
  }
}

/**
 * Constants of the delta ops format, shared by {@linkcode DeltaEncoder} and
 * {@linkcode DeltaDecoder}: both grow their tables by the same rules up to the same caps.
 *
 * @module
 */

/**
 * Largest key table: once full, new keys are sent as text every time and never learned.
 *
 * @example
 * ```ts
 * import { DELTA_MAX_KEYS } from "./delta_format.ts";
 * console.log(DELTA_MAX_KEYS); // 1024
 * ```
 */
export const DELTA_MAX_KEYS = 1024;

/**
 * Largest target table: once full, new targets are sent as literal paths every time.
 *
 * @example
 * ```ts
 * import { DELTA_MAX_REFS } from "./delta_format.ts";
 * console.log(DELTA_MAX_REFS); // 1024
 * ```
 */
export const DELTA_MAX_REFS = 1024;

/** Opcodes: CBOR simple values 0-4 (one byte each, 0xe0-0xe4) in field position. */
export const OP_DELETE = 0;
/** `push <count> <value>...` onto the target array. */
export const OP_PUSH = 1;
/** `splice <index> <count>` on the target array. */
export const OP_SPLICE = 2;
/** `replace <value>`: set the target itself (the root when the target is `[]`). */
export const OP_REPLACE = 3;
/** `index <i> <value>`: set index `i` of the target array. */
export const OP_INDEX = 4;

/** Caps both sides must agree on; tests shrink them to reach the caps quickly. */
export interface DeltaTableCaps {
  /** Key table cap; default {@linkcode DELTA_MAX_KEYS}. */
  maxKeys?: number;
  /** Target table cap; default {@linkcode DELTA_MAX_REFS}. */
  maxRefs?: number;
}

/**
 * A string that identifies a path prefix exactly (`"3"` and `3` differ): the table lookup key.
 */
export function pathKey(path: readonly (string | number)[], len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) {
    const seg = path[i];
    // Length-prefixed strings and '#'-marked numbers cannot run into each other.
    s += typeof seg === "number" ? "#" + seg + "," : seg.length + ":" + seg;
  }
  return s;
}

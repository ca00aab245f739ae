/**
 * Frame memory. Allocating a typed array costs far more than filling it (about 0.5 µs each in
 * Deno, more than encoding a whole delta frame), so short frames are carved out of shared slabs,
 * as Node's `Buffer` pool does. A slab is never written again once handed out, so views stay
 * valid forever; the price is that one retained frame keeps its whole slab alive, which is why
 * only transient outputs (encoded frames) come from here and never delta bodies or values.
 *
 * @module
 */

/** Bytes of one slab. */
const SLAB_BYTES = 16 * 1024;
/** Frames larger than this get their own buffer. */
const MAX_SLAB_FRAME = 1024;

let slab = new Uint8Array(SLAB_BYTES);
let offset = 0;

/**
 * `n` zeroed bytes for a frame: a view into a shared slab when small. Use the view, never its
 * `.buffer` (which holds other frames).
 *
 * @example
 * ```ts
 * import { frameBytes } from "./slab.ts";
 * const frame = frameBytes(5);
 * console.log(frame.length); // 5
 * ```
 */
export function frameBytes(n: number): Uint8Array {
  if (n > MAX_SLAB_FRAME) return new Uint8Array(n);
  if (offset + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    offset = 0;
  }
  const out = slab.subarray(offset, offset + n);
  // Keep views 8-byte aligned, so a DataView over one is never slower than needed.
  offset = (offset + n + 7) & ~7;
  return out;
}

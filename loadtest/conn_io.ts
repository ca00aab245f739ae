/**
 * Raw TCP helpers for the clients that speak WebSocket over `Deno.connect` themselves (the load
 * generator's `ws_client.ts`, the tests' raw socket and TCP proxy).
 *
 * @module
 */

/**
 * Writes all of `bytes` (`conn.write` may take only part of them).
 *
 * @example
 * ```ts ignore
 * import { writeAll } from "./conn_io.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8000 });
 * await writeAll(conn, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
 * ```
 */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/**
 * Where an HTTP head ends: the index of its blank line's `\r\n\r\n`, or -1 when not yet read.
 *
 * @example
 * ```ts
 * import { headEnd } from "./conn_io.ts";
 * console.log(headEnd(new TextEncoder().encode("HTTP/1.1 101 OK\r\n\r\nrest"))); // 15
 * ```
 */
export function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

/** What {@linkcode closeQuietly} closed: each resource is closed once. */
const closed = new WeakSet<Deno.Conn | Deno.Listener>();

/**
 * Closes a connection or listener that may already be closed.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./conn_io.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * closeQuietly(listener);
 * closeQuietly(listener); // no error the second time
 * ```
 */
export function closeQuietly(resource: Deno.Conn | Deno.Listener): void {
  if (closed.has(resource)) return;
  closed.add(resource);
  try {
    resource.close();
  } catch {
    // Already closed.
  }
}

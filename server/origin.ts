/**
 * The WebSocket origin check that stops cross-site WebSocket hijacking: a page on another
 * site must not open a socket with the user's cookies.
 *
 * @module
 */

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * True when a WebSocket upgrade from `origin` may proceed. With no allowlist (development)
 * localhost origins and clients that send no Origin (native and server clients, k6) pass;
 * `["*"]` allows every origin; otherwise the origin must be listed exactly
 * (scheme://host[:port]). Production must set `ALLOWED_ORIGINS`.
 *
 * @example
 * ```ts
 * import { originAllowed } from "./origin.ts";
 * console.log(originAllowed("http://localhost:5173", null)); // true
 * console.log(originAllowed("https://evil.example", null)); // false
 * console.log(originAllowed("https://game.example", ["https://game.example"])); // true
 * ```
 */
export function originAllowed(origin: string | null, allowlist: string[] | null): boolean {
  if (allowlist === null) {
    if (origin === null) return true;
    try {
      return LOCAL_HOSTS.has(new URL(origin).hostname);
    } catch {
      return false;
    }
  }
  if (allowlist.includes("*")) return true;
  // Non-browser clients send no Origin; they cannot carry a victim's cookies.
  if (origin === null) return true;
  return allowlist.includes(origin);
}

/**
 * Opens the Deno KV database a server keeps its rooms in.
 *
 * @module
 */

/**
 * Opens Deno KV at `path`: `""` for the platform's default (Deno Deploy's managed database),
 * `":memory:"` for a throwaway one (tests), an `http(s)://` URL for a KV server (denokv), or a
 * file path, whose folder is created first.
 *
 * @example
 * ```ts
 * import { openKv } from "./open_kv.ts";
 * const kv = await openKv(":memory:");
 * await kv.set(["hello"], "world");
 * kv.close();
 * ```
 */
export async function openKv(path: string): Promise<Deno.Kv> {
  if (path === "") return await Deno.openKv();
  const url = /^https?:\/\//i.test(path);
  if (path !== ":memory:" && !url) {
    const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
    if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  }
  // Deno takes only a lower-case scheme for a KV server; `HTTP://` would be a file name.
  return await Deno.openKv(url ? path.replace(/^https?/i, (scheme) => scheme.toLowerCase()) : path);
}

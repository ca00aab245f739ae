/**
 * The static files the server serves: pages, styles and the browser build of the client
 * library (`/client.js`, generated from `client/` by `deno task build:client`).
 *
 * @module
 */

/** One file served at `path`. */
export interface WebAsset {
  path: string;
  contentType: string;
  body: Uint8Array;
}

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
};

// Route path → file under web/public. Read once at startup: they are small and immutable.
const FILES: Record<string, string> = {
  // Pages
  "/": "index.html",
  "/dashboard": "dashboard.html",
  "/play/tic_tac_toe": "tic_tac_toe.html",
  "/play/connect_four": "connect_four.html",
  "/play/arena": "arena.html",
  "/play/room": "room.html",
  // Scripts and styles the pages load
  "/client.js": "client.js",
  "/ui.js": "ui.js",
  "/lobby.js": "lobby.js",
  "/dashboard.js": "dashboard.js",
  "/tic_tac_toe.js": "tic_tac_toe.js",
  "/connect_four.js": "connect_four.js",
  "/arena.js": "arena.js",
  "/room.js": "room.js",
  "/style.css": "style.css",
  "/favicon.svg": "favicon.svg",
};

/**
 * Every static asset, read from `web/public/` when this module loads.
 *
 * @example
 * ```ts
 * import { webAssets } from "./mod.ts";
 * console.log(webAssets.map((a) => a.path).includes("/client.js")); // true
 * ```
 */
export const webAssets: readonly WebAsset[] = Object.entries(FILES).map(([path, file]) => ({
  path,
  contentType: CONTENT_TYPES[file.slice(file.lastIndexOf(".") + 1)] ?? "application/octet-stream",
  body: Deno.readFileSync(new URL(`./public/${file}`, import.meta.url)),
}));

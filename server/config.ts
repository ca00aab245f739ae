/**
 * Server settings: every one is an environment variable with an embedded default, so
 * `deno task dev` needs nothing else. The README's configuration table lists them.
 *
 * @module
 */

/** Log verbosity, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Everything the server can be told. Build it with {@linkcode loadConfig}. Numbers are whole and
 * at most 2 147 483 647 (in ms, about 24.8 days: the longest delay Deno's timers keep) unless a
 * field says less.
 */
export interface ServerConfig {
  /** TCP port; 0 picks a free one. `PORT`, default 8000. */
  port: number;
  /** Interface to listen on: an IP address or a host name. `HOST`, default 127.0.0.1 (0.0.0.0 on Deno Deploy). */
  host: string;
  /** Deno KV location: a file path, `:memory:`, or `""` for the platform default (Deno Deploy). `ARBITER_KV_PATH`, default `data/arbiter.kv`. */
  kvPath: string;
  /** `snapshot` (saved every N actions or T ms) or `log` (every action stored before it is acknowledged); a game's own setting wins. `ARBITER_DURABILITY`, default snapshot. */
  durability: "snapshot" | "log";
  /** Save a room after this many accepted actions. `SNAPSHOT_EVERY_ACTIONS`, default 500 (realtime moves are many and cheap to lose; `SNAPSHOT_EVERY_MS` bounds the rest). */
  snapshotEveryActions: number;
  /** Save a changed room within this long, ms. `SNAPSHOT_EVERY_MS`, default 5000. */
  snapshotEveryMs: number;
  /** Stored data of a room not saved for this long is deleted (rooms orphaned by a crash), ms. `ROOM_DATA_TTL_MS`, default 86 400 000 (24 h). */
  roomDataTtlMs: number;
  /** Origins allowed to open a WebSocket (each `scheme://host[:port]`, as browsers send it); `["*"]` allows any. `ALLOWED_ORIGINS` (comma separated), default: localhost origins and clients that send no Origin. */
  allowedOrigins: string[] | null;
  /** How long a disconnected player's seat is held, ms. `GRACE_MS`, default 30 000. */
  graceMs: number;
  /** How long a finished room stays readable, ms. `FINISHED_RETENTION_MS`, default 60 000. */
  finishedRetentionMs: number;
  /**
   * Rooms no player holds a seat in are disposed after this long, ms. `IDLE_ROOM_MS`, default
   * 60 000.
   */
  idleRoomMs: number;
  /** `LOG_LEVEL`, default info. */
  logLevel: LogLevel;
  /** Largest inbound frame, bytes (larger: close 1009). `MAX_FRAME_BYTES`, default 16 384, at most {@linkcode MAX_FRAME_BYTES_CAP}. */
  maxFrameBytes: number;
  /** A socket that has not joined within this is closed, ms. `JOIN_TIMEOUT_MS`, default 10 000. */
  joinTimeoutMs: number;
  /** A peer that answers no WebSocket ping for this long is dropped, s. `HEARTBEAT_S`, default 30, at most 4 294 967. */
  heartbeatSeconds: number;
  /** Sustained actions per second per connection. `ACTION_RATE`, default 30. */
  actionRate: number;
  /** Action burst allowance per connection. `ACTION_BURST`, default 60. */
  actionBurst: number;
  /** Rate-limited actions in a row that close the socket with 1008. `ABUSE_LIMIT`, default 200. */
  abuseLimit: number;
  /** Open sockets per client IP, and twice as many plain HTTP connections (upgraded ones aside). `MAX_CONNECTIONS_PER_IP`, default 256. */
  maxConnectionsPerIp: number;
  /** Rooms per process. `MAX_ROOMS`, default 10 000. */
  maxRooms: number;
  /** Bytes queued to a socket before it counts as a slow consumer and is dropped. `MAX_BUFFERED_BYTES`, default 1 MiB. */
  maxBufferedBytes: number;
  /** Recent broadcasts kept per room audience for resumes. `RESUME_RING`, default 256. */
  ringSize: number;
  /** Spectators per room; one more gets `room_full`. `MAX_SPECTATORS`, default 1 000. */
  maxSpectators: number;
  /** HMAC secret for the built-in signed tokens; when set, joins need a valid token. `ARBITER_SECRET`; unset, null (sign-in off); set but blank, shorter than {@linkcode MIN_SECRET_BYTES} bytes or with surrounding whitespace is a configuration error. */
  secret: string | null;
  /** Turn Nagle's algorithm off on accepted connections (lower latency for small frames). `TCP_NODELAY`, default on (off on Deno Deploy, whose edge terminates TCP). */
  tcpNoDelay: boolean;
  /** `kv`: run as one instance of a cluster sharing Deno KV (`cluster/`); `off`: alone. `ARBITER_CLUSTER`, default kv on Deno Deploy, else off. */
  cluster: "off" | "kv";
  /** Room lease time in a cluster, ms: a dead instance's rooms move after this. `ARBITER_LEASE_MS`, default 10 000. */
  leaseMs: number;
  /** How often a cluster instance polls its mailbox where `kv.watch` cannot see other processes' writes, ms. `ARBITER_CLUSTER_POLL_MS`, default 25 with a KV file, 1000 otherwise. */
  clusterPollMs: number;
  /** True on Deno Deploy (`DENO_DEPLOYMENT_ID` is set). */
  onDeploy: boolean;
}

/**
 * The largest `MAX_FRAME_BYTES` allowed: in `log` durability an action's payload is stored in
 * one KV commit (≤ 800 KiB, `persistence/log_entry_codec.ts` takes up to 660 KiB), so every
 * action a frame can carry can be logged.
 */
export const MAX_FRAME_BYTES_CAP = 512 * 1024;

/** Reads a map of environment variables (a `Deno.env.toObject()` or a test's record). */
export type Env = Record<string, string | undefined>;

/**
 * Builds the configuration from environment variables, with defaults for each. Throws a
 * `TypeError` naming the variable when a value cannot be used.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig({ PORT: "0", ARBITER_KV_PATH: ":memory:" });
 * console.log(config.port, config.kvPath, config.graceMs); // 0 ":memory:" 30000
 * ```
 */
export function loadConfig(env: Env = {}): ServerConfig {
  const onDeploy = Boolean(env.DENO_DEPLOYMENT_ID);
  const kvPath = env.ARBITER_KV_PATH ?? (onDeploy ? "" : "data/arbiter.kv");
  // Processes sharing a SQLite file do not see each other's writes through kv.watch.
  const kvFile = kvPath !== "" && kvPath !== ":memory:" && !/^https?:/.test(kvPath);
  return {
    port: int(env, "PORT", 8000, 0, 65535),
    host: host(env.HOST, onDeploy),
    kvPath,
    durability: choice(env, "ARBITER_DURABILITY", "snapshot", ["snapshot", "log"]),
    snapshotEveryActions: int(env, "SNAPSHOT_EVERY_ACTIONS", 500, 1),
    snapshotEveryMs: int(env, "SNAPSHOT_EVERY_MS", 5000, 1),
    roomDataTtlMs: int(env, "ROOM_DATA_TTL_MS", 86_400_000, 1000),
    allowedOrigins: allowedOrigins(env.ALLOWED_ORIGINS),
    graceMs: int(env, "GRACE_MS", 30_000, 0),
    finishedRetentionMs: int(env, "FINISHED_RETENTION_MS", 60_000, 0),
    idleRoomMs: int(env, "IDLE_ROOM_MS", 60_000, 0),
    logLevel: choice(env, "LOG_LEVEL", "info", ["debug", "info", "warn", "error"]),
    maxFrameBytes: frameBytes(env),
    joinTimeoutMs: int(env, "JOIN_TIMEOUT_MS", 10_000, 1, 10_000),
    heartbeatSeconds: int(env, "HEARTBEAT_S", 30, 1, MAX_HEARTBEAT_S),
    actionRate: int(env, "ACTION_RATE", 30, 1),
    actionBurst: int(env, "ACTION_BURST", 60, 1),
    abuseLimit: int(env, "ABUSE_LIMIT", 200, 1),
    maxConnectionsPerIp: int(env, "MAX_CONNECTIONS_PER_IP", 256, 1),
    maxRooms: int(env, "MAX_ROOMS", 10_000, 1),
    maxBufferedBytes: int(env, "MAX_BUFFERED_BYTES", 1 << 20, 1024),
    ringSize: int(env, "RESUME_RING", 256, 1),
    maxSpectators: int(env, "MAX_SPECTATORS", 1000, 1),
    secret: secret(env.ARBITER_SECRET),
    tcpNoDelay: flag(env, "TCP_NODELAY", !onDeploy),
    // Deno Deploy may run several isolates at once: alone, each would restore every room.
    cluster: choice(env, "ARBITER_CLUSTER", onDeploy ? "kv" : "off", ["off", "kv"]),
    leaseMs: int(env, "ARBITER_LEASE_MS", 10_000, 100),
    clusterPollMs: int(env, "ARBITER_CLUSTER_POLL_MS", kvFile ? 25 : 1000, 5),
    onDeploy,
  };
}

/** Deno's `setTimeout` fires at once for a longer delay: every ms setting stays within it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Deno pings a WebSocket after half of `idleTimeout` seconds of silence with one `setTimeout`;
 * past this, that timer fires at once and every socket is closed as unresponsive.
 */
const MAX_HEARTBEAT_S = Math.floor(MAX_TIMER_MS * 2 / 1000);

function int(env: Env, name: string, fallback: number, min: number, max = MAX_TIMER_MS): number {
  const raw = env[name];
  const text = raw?.trim();
  // Blank means unset; Number() would read it (and "1e3", "0x10") as a number.
  if (text === undefined || text === "") return fallback;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** A DNS name or an IPv4 address: dot-separated labels of letters, digits and inner hyphens. */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?)*\.?$/i;

function host(raw: string | undefined, onDeploy: boolean): string {
  const value = raw?.trim();
  if (value === undefined || value === "") return onDeploy ? "0.0.0.0" : "127.0.0.1";
  if (HOST_NAME.test(value) || ipv6(value)) return value;
  // Deno.listen would throw a URIError that names neither the variable nor the value's use.
  throw new TypeError(
    `HOST must be an IP address or a host name of this machine (the interface to listen on), got "${raw}"`,
  );
}

function ipv6(value: string): boolean {
  const bare = value.startsWith("[") && value.endsWith("]") ? value.slice(1, -1) : value;
  if (!bare.includes(":")) return false;
  try {
    new URL(`http://[${bare}]/`);
    return true;
  } catch {
    return false;
  }
}

function allowedOrigins(raw: string | undefined): string[] | null {
  const list = (raw ?? "").split(",").map((o) => o.trim()).filter(Boolean);
  if (list.length === 0) return null;
  for (const origin of list) {
    if (origin === "*" || canonicalOrigin(origin) === origin) continue;
    // The upgrade compares the browser's Origin header exactly: such an entry never matches.
    const hint = canonicalOrigin(origin);
    throw new TypeError(
      `ALLOWED_ORIGINS entries must be origins as browsers send them (scheme://host[:port], no path or trailing slash) or *, got "${origin}"` +
        (hint ? `; did you mean "${hint}"?` : ""),
    );
  }
  return list;
}

/** `value`'s origin as a browser would send it (`https://game.example`), or null if none. */
function canonicalOrigin(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.origin !== "null") return url.origin;
  // Other schemes have an opaque URL origin, yet apps on them (capacitor://localhost,
  // tauri://localhost, chrome-extension://<id>) send `scheme://host` as their Origin.
  return url.host ? `${url.protocol}//${url.host}` : null;
}

/** Fewest bytes an HS256 key may have: RFC 7518 §3.2 requires at least the hash's 256 bits. */
export const MIN_SECRET_BYTES = 32;

/**
 * Unset, sign-in is off. Set but blank (a secret file that was missing or empty, a template
 * placeholder left empty) must not turn it off too: that would run an open server. A short
 * secret can be guessed offline from any one token, and surrounding whitespace (a secret
 * file's trailing newline) would make every token fail to verify, so both stop the start.
 */
function secret(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (raw.trim() === "") {
    throw new TypeError(
      "ARBITER_SECRET is set but blank: set it to the HMAC secret your login service signs tokens with, or unset it to run without sign-in",
    );
  }
  if (raw.trim() !== raw) {
    throw new TypeError(
      "ARBITER_SECRET starts or ends with whitespace (a trailing newline from a secret file?): remove it, or tokens your login service signs with the trimmed secret would all be refused",
    );
  }
  const bytes = new TextEncoder().encode(raw).length;
  if (bytes < MIN_SECRET_BYTES) {
    throw new TypeError(
      `ARBITER_SECRET is ${bytes} bytes; an HS256 secret needs at least ${MIN_SECRET_BYTES} (RFC 7518 §3.2), or one token is enough to guess it offline: generate one with \`openssl rand -base64 32\``,
    );
  }
  return raw;
}

function frameBytes(env: Env): number {
  const value = int(env, "MAX_FRAME_BYTES", 16_384, 64, Number.MAX_SAFE_INTEGER);
  if (value > MAX_FRAME_BYTES_CAP) {
    throw new TypeError(
      `MAX_FRAME_BYTES must be at most ${MAX_FRAME_BYTES_CAP} (512 KiB), got "${env.MAX_FRAME_BYTES}": in log durability every action is stored in one Deno KV commit, which holds at most 800 KiB`,
    );
  }
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "on", "yes"].includes(raw)) return true;
  if (["0", "false", "off", "no"].includes(raw)) return false;
  throw new TypeError(`${name} must be 1 or 0 (true/false), got "${env[name]}"`);
}

/**
 * A setting that takes one of `allowed`, whatever its case and surrounding spaces; unset or
 * blank, `fallback` (as for every other setting).
 */
function choice<T extends string>(
  env: Env,
  name: string,
  fallback: T,
  allowed: readonly T[],
): T {
  const value = env[name]?.trim().toLowerCase() || fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const names = `${allowed.slice(0, -1).join(", ")} or ${allowed.at(-1)}`;
  throw new TypeError(`${name} must be ${names}, got "${env[name]}"`);
}

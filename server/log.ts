/**
 * Structured logs: one JSON object per line, with a level set by `LOG_LEVEL`. Room and
 * session ids go in fields (`room`, `session`), so a log query can follow one game.
 *
 * @module
 */
import type { LogLevel } from "./config.ts";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Writes log lines at or above its level; `child` adds fixed fields (e.g. the room id). */
export interface Logger {
  /** Verbose detail for debugging. */
  debug(msg: string, fields?: LogFields): void;
  /** Normal operation. */
  info(msg: string, fields?: LogFields): void;
  /** Something was refused or went wrong for one client. */
  warn(msg: string, fields?: LogFields): void;
  /** Something went wrong for the server. */
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

/**
 * Creates a JSON-lines logger. `write` defaults to `console.log` (stdout).
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const log = createLogger("info", (line) => lines.push(line));
 * log.child({ room: "r1" }).info("room created", { game: "arena" });
 * log.debug("not written");
 * console.log(JSON.parse(lines[0]).room); // "r1"
 * ```
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = console.log,
  base: LogFields = {},
): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

/** A logger that writes nothing (tests, embedding). */
export const silentLogger: Logger = createLogger("error", () => {});

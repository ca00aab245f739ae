/**
 * The HTTP/WebSocket edge of Arbiter: configuration from the environment, Hono routes, one
 * protocol session per socket, metrics, logging and auth.
 *
 * @example
 * ```ts ignore
 * import { loadConfig, startServer } from "./mod.ts";
 * import { exampleGames } from "../games/mod.ts";
 * const server = await startServer({ config: loadConfig(Deno.env.toObject()), games: exampleGames });
 * ```
 *
 * @module
 */
export { type Env, loadConfig, type LogLevel, type ServerConfig } from "./config.ts";
export {
  KvOpenError,
  ListenError,
  type RunningServer,
  type StartOptions,
  startServer,
} from "./server.ts";
export { REPEAT_SIGNAL_MS, type RunOptions, runServer } from "./run.ts";
export { type AppOptions, createApp } from "./app.ts";
export { createLogger, type LogFields, type Logger, silentLogger } from "./log.ts";
export { Histogram, Metrics } from "./metrics.ts";
export { type AuthUser, SocketSession } from "./socket_session.ts";
export { signedTokenVerifier, signToken } from "./tokens.ts";
export { originAllowed } from "./origin.ts";
export { TokenBucket } from "../protocol/mod.ts";

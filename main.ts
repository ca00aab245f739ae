/**
 * `deno task dev` and Deno Deploy start here: the example games, served by
 * {@linkcode runServer} (settings from the environment, a graceful stop on SIGINT/SIGTERM).
 * To serve your own games, write a file like this one with your list.
 *
 * @module
 */
import { exampleGames } from "./games/mod.ts";
import { runServer } from "./server/mod.ts";

if (import.meta.main) await runServer({ games: exampleGames });

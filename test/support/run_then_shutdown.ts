/**
 * A program that embeds the server as the README shows (`runServer`) and then stops it itself
 * with `shutdown()`: it must go on past the `await` and exit as it chooses (here 0, after
 * printing `after shutdown`), not be cut short as a server that stopped by itself.
 *
 * @module
 */
import { exampleGames } from "../../games/mod.ts";
import { runServer } from "../../server/mod.ts";

const server = await runServer({
  games: exampleGames,
  env: { PORT: "0", HOST: "127.0.0.1", ARBITER_KV_PATH: ":memory:", LOG_LEVEL: "error" },
});
await server.shutdown();
// A moment for anything that would still cut the program short.
await new Promise((resolve) => setTimeout(resolve, 200));
console.log("after shutdown");

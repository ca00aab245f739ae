/**
 * A scenario shared by the single-server and cluster tests: an action the server's transport
 * refuses (over the rate limit) is followed by an applied one, and both answers are lost with
 * the connection. The resume must settle the refused action as refused, not as applied.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Room } from "../../client/mod.ts";
import type { arena } from "../../games/mod.ts";
import type { TestNetwork } from "./test_network.ts";
import { waitFor } from "./test_server.ts";

/** Server settings for the scenario: a budget of two actions, refilled at two a second. */
export const TWO_ACTIONS_A_SECOND = { ACTION_RATE: "2", ACTION_BURST: "2" };

/**
 * Runs the scenario. `bob` uses `network`, `paceActions: false` (a pacing client is never
 * refused) and a server started with {@linkcode TWO_ACTIONS_A_SECOND}; `ann` watches from
 * another connection.
 */
export async function lostTransportRefusal(
  ann: Room<typeof arena>,
  bob: Room<typeof arena>,
  network: TestNetwork,
): Promise<void> {
  const move = (seq: number) =>
    bob.send("move", { dx: 1, dy: 0, seq }).then(() => "applied", (e) => e.code);
  // From here every answer to Bob is lost, as if in flight when his connection drops.
  network.deaf = true;
  const first = [move(1), move(2), move(3)]; // the third is over the budget
  // A token comes back after half a second; this action is applied, and its acknowledgement
  // covers the refused one.
  await new Promise((resolve) => setTimeout(resolve, 700));
  const fourth = move(4);
  const bobsLastSeq = () => ann.state.players[bob.player!]?.lastSeq;
  await waitFor(() => bobsLastSeq() === 4, "bob's fourth move applied");
  bob.dropConnection();
  network.deaf = false;
  assert.deepEqual(await Promise.all([...first, fourth]), [
    "applied",
    "applied",
    "rate_limited",
    "applied",
  ]);
}

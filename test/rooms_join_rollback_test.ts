/**
 * A join that fails halfway (the game's view throws, or its state cannot be sent) leaves
 * nothing behind: no phantom seat counted as a player, no dead connection keeping the room
 * alive.
 */
import assert from "node:assert/strict";
import { ArbiterError } from "../client/mod.ts";
import type { Value } from "../protocol/mod.ts";
import { defineGame } from "../rooms/mod.ts";
import { startTestServer } from "./support/test_server.ts";

// `view` runs before `onJoin` deals the newcomer's hand, so every join's view throws.
const hands = defineGame({
  name: "hands",
  players: { min: 2, max: 2 },
  setup: () => ({ hands: {} as Record<string, number[]> }),
  actions: { noop: { apply: () => {} } },
  onJoin: (state, player) => {
    state.hands[player] = [1, 2, 3];
  },
  view: (state, viewer) => ({
    mine: viewer === null ? [] : state.hands[viewer].slice() as Value[],
  }),
});

Deno.test("join rollback: a join whose view throws fails `internal` and leaves no seat", async () => {
  await using t = await startTestServer({}, { games: [hands] });
  const client = t.client({ reconnect: false });
  for (let i = 0; i < 3; i++) {
    const error = await client.joinOrCreate("hands").then(() => null, (e: ArbiterError) => e);
    assert.equal(error?.code, "internal");
  }
  const rooms = t.server.manager.list();
  assert.equal(rooms.length, 1, "one room, reused by every attempt");
  const room = t.server.manager.get(rooms[0].id)!;
  assert.equal(room.playerCount, 0, "no phantom players");
  assert.deepEqual(room.snapshot().seats.filter((s) => s.presence !== "left"), []);
});

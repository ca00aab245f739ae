/**
 * How a session times its actions from the frames it sends: acknowledgements settle a prefix,
 * rejects remove the action they name, sequences the room will refuse are not tracked.
 */
import assert from "node:assert/strict";
import { encodeDeltaFrame, encodeServerMessage } from "../protocol/mod.ts";
import { deltaAckDelta, PendingActions, readWelcome } from "../server/pending_actions.ts";

function sink() {
  const timed: number[] = [];
  return { timed, actionAccepted: (ms: number) => void timed.push(ms) };
}

Deno.test("pending actions: an ack settles the covered prefix, in order, with each one's wait", () => {
  const pending = new PendingActions();
  pending.reset(10);
  pending.track(11, 100);
  pending.track(13, 110);
  pending.track(14, 120);
  const s = sink();
  pending.ack(3, 130, s); // ack 13: covers 11 and 13
  assert.deepEqual(s.timed, [30, 20]);
  assert.equal(pending.size, 1);
  pending.ack(1, 150, s);
  assert.deepEqual(s.timed, [30, 20, 30]);
  assert.equal(pending.size, 0);
});

Deno.test("pending actions: a reject removes its action; out-of-order sequences are not tracked", () => {
  const pending = new PendingActions();
  pending.reset(0);
  pending.track(1, 0);
  pending.track(2, 0);
  pending.track(2, 5); // a repeat: the room refuses it as out_of_order
  pending.track(1, 5);
  assert.equal(pending.size, 2);
  assert.equal(pending.reject(2), true);
  assert.equal(pending.reject(2), false, "only one was waiting");
  const s = sink();
  pending.ack(2, 10, s); // ack 2 covers 1 only (2 was refused)
  assert.deepEqual(s.timed, [10]);
  assert.equal(pending.size, 0);
});

Deno.test("pending actions: a welcome starts over from its ack", () => {
  const pending = new PendingActions();
  pending.reset(0);
  pending.track(1, 0);
  pending.reset(7);
  pending.track(5, 0); // at or below the resumed ack: refused by the room
  assert.equal(pending.size, 0);
  pending.track(8, 0);
  const s = sink();
  pending.ack(1, 4, s);
  assert.deepEqual(s.timed, [4]);
});

Deno.test("deltaAckDelta reads the header of any delta frame", () => {
  for (
    const [seq, dt, ack] of [[1, 0, 0], [300, 50, 2], [2 ** 40, 2 ** 20, 129], [5, 1, 2 ** 35]]
  ) {
    assert.equal(deltaAckDelta(encodeDeltaFrame(seq, dt, ack, new Uint8Array([1, 2, 3]))), ack);
  }
});

Deno.test("readWelcome reads the ack and whether the state follows, full or replaying", () => {
  const common = {
    kind: "welcome" as const,
    seq: 9,
    time: 1_700_000_000_000,
    room: "room",
    game: "arena",
    player: null,
    session: "",
    players: [{ id: "p1", name: "ann", seat: 0, presence: "connected" as const }],
    actions: ["move"],
    resumed: true,
  };
  const full = encodeServerMessage({
    ...common,
    ack: 300,
    state: { big: "x".repeat(5000) },
    keys: ["big"],
    refs: [],
  });
  assert.deepEqual(readWelcome(full), { ack: 300, fullState: true });
  const replay = encodeServerMessage({
    ...common,
    ack: 12,
    state: null,
    keys: [],
    refs: [],
    replay: true,
  });
  assert.deepEqual(readWelcome(replay), { ack: 12, fullState: false });
});

/**
 * The relay's end of a relayed seat, driven message by message with a mailbox that records
 * what it sends: the order of an owner's answers against the player's leave does not depend
 * on how fast KV delivers mail here (the cluster tests over real instances cover the rest).
 */
import assert from "node:assert/strict";
import { type KvMail, type Mail, Relay } from "../cluster/mod.ts";
import type { Member } from "../rooms/mod.ts";

const OWNER = "owner-instance";
const ROOM = "relayroom";

/** A relay whose mail is recorded, and one joined seat on it. */
async function relayedSeat(joinTimeoutMs = 10_000) {
  const mailed: Mail[] = [];
  const mail = { send: (_target: string, message: Mail) => void mailed.push(message) };
  const relay = new Relay({
    mail: mail as unknown as KvMail,
    readLeases: () => Promise.resolve([]),
    joinTimeoutMs,
    checkMs: 60_000,
  });
  const member = { frames: [] as number[][], closed: [] as number[] };
  const socket: Member = {
    send: (frame) => void member.frames.push([...frame]),
    close: (code) => void member.closed.push(code),
  };
  const lease = { instance: OWNER, epoch: 1, expiresAt: Date.now() + 60_000 };
  const joining = relay.join(ROOM, lease, { mode: "join", room: ROOM }, socket);
  const c = mailed[0].c as number;
  relay.handle(OWNER, { t: "joined", c, room: ROOM, player: "p2", session: "token" });
  const seat = await joining;
  return { relay, seat, member, mailed, c };
}

Deno.test("relay: the owner's acks after a leave still reach the player, until the owner closes", async () => {
  const { relay, seat, member, mailed, c } = await relayedSeat();
  seat.act(1, "place", { cell: 4 });
  let left = false;
  const leaving = Promise.resolve(seat.leave()).then(() => left = true);
  assert.deepEqual(mailed.map((m) => m.t), ["join", "act", "leave"]);
  // The owner applied the action before it read the leave: its delta comes after the leave.
  relay.handle(OWNER, { t: "frame", c, frame: new Uint8Array([7, 7]) });
  assert.deepEqual(member.frames, [[7, 7]]);
  await Promise.resolve();
  assert.equal(left, false, "the leave waits for the owner's close");
  relay.handle(OWNER, { t: "close", c, code: 1000, reason: "left" });
  await leaving;
  assert.deepEqual(member.closed, [1000]);
  assert.equal(relay.size, 0);
  // Nothing the deposed connection's owner sends afterwards reaches the socket.
  relay.handle(OWNER, { t: "frame", c, frame: new Uint8Array([8]) });
  assert.deepEqual(member.frames, [[7, 7]]);
  await relay.stop();
});

Deno.test("relay: a leave the owner never answers is given up after the join timeout", async () => {
  const { relay, seat, member } = await relayedSeat(50);
  await seat.leave();
  // The session closes the socket itself once the leave settles; the relay only forgets it.
  assert.deepEqual(member.closed, []);
  assert.equal(relay.size, 0);
  await relay.stop();
});

/**
 * Join keys (PROTOCOL.md 6.1): a first join retried because its welcome was lost with the
 * connection gets the seat, and for `create` / `join_or_create` the room, that the lost attempt
 * took, never a second one. On the wire, through the manager and the room, and end to end with
 * the client library retrying by itself.
 */
import assert from "node:assert/strict";
import { exampleGames, ticTacToe } from "../games/mod.ts";
import {
  type ArbiterError,
  CLOSE_CODES,
  decodeClientMessage,
  encodeClientMessage,
  encodeValue,
  type JoinMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type Value,
  type WelcomeMessage,
} from "../protocol/mod.ts";
import { checkJoinFields, ManualClock, Room, RoomManager } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { openRaw, type RawSocket } from "./support/raw_socket.ts";
import { startTestServer, waitFor } from "./support/test_server.ts";

const KEY = "Jk3-x_9QvM2pLr7TzA0bWc";
const OTHER_KEY = "another_key-0123456789";
/** Fast retries, so that the retried join follows the lost one quickly. */
const RECONNECT = { reconnect: { baseMs: 20, maxMs: 100 } } as const;

/** A join frame with the body given as is (the encoder would refuse a malformed key). */
function rawJoinFrame(body: { [key: string]: Value }): Uint8Array {
  const encoded = encodeValue(body);
  const frame = new Uint8Array(2 + encoded.length);
  frame.set([0x01, PROTOCOL_VERSION]);
  frame.set(encoded, 2);
  return frame;
}

/** Sends a join and returns once the server took it, without reading the welcome. */
async function joinAndVanish(url: string, join: Omit<JoinMessage, "kind" | "version">) {
  const socket = await openRaw(url);
  await socket.send({ kind: "join", version: PROTOCOL_VERSION, ...join });
  return socket;
}

function presenceOf(players: { id: string; presence: string }[], id: string) {
  return players.find((p) => p.id === id)?.presence;
}

Deno.test("join key: travels as k and round-trips; a malformed one is bad_field", () => {
  const join: JoinMessage = {
    kind: "join",
    version: PROTOCOL_VERSION,
    mode: "create",
    game: "tic_tac_toe",
    key: KEY,
  };
  assert.deepEqual(decodeClientMessage(encodeClientMessage(join)), join);
  const longest = "a".repeat(64);
  assert.equal(decodeClientMessage(rawJoinFrame({ m: 0, r: "r1", k: longest })).kind, "join");
  const bad: Value[] = ["a".repeat(15), "a".repeat(65), "a".repeat(15) + "!", "ключ".repeat(4), 7];
  for (const k of bad) {
    assert.throws(
      () => decodeClientMessage(rawJoinFrame({ m: 0, r: "r1", k })),
      (e: unknown) =>
        e instanceof ProtocolError && e.code === "bad_field" && e.message.includes("join.key (k)"),
      `k = ${JSON.stringify(k)}`,
    );
  }
  assert.throws(
    () => encodeClientMessage({ ...join, key: "short" }),
    (e: unknown) => e instanceof ProtocolError && e.code === "bad_field",
  );
  // The manager's own entry (programmatic joins, relayed joins) checks it the same way.
  assert.throws(
    () => checkJoinFields({ mode: "create", game: "tic_tac_toe", key: "no spaces allowed!!" }),
    (e: ArbiterError) => e.code === "bad_field" && e.message.includes("(k)"),
  );
});

Deno.test("join key: a repeated join by room id gets the same seat, not a second one or room_full", async () => {
  await using t = await startTestServer();
  const { manager, wsUrl } = t.server;
  const ann = await t.client({ name: "ann", reconnect: false }).create<typeof ticTacToe>(
    "tic_tac_toe",
  );
  const room = manager.get(ann.roomId)!;
  // The server took the seat; the welcome is lost with the connection.
  const first = await joinAndVanish(wsUrl, {
    mode: "join",
    room: ann.roomId,
    name: "bob",
    key: KEY,
  });
  await waitFor(() => ann.players.length === 2, "bob's seat");
  first.abort();
  await waitFor(() => presenceOf(ann.players, "p2") === "disconnected", "bob's drop");

  using second = await openRaw(wsUrl);
  const welcome = await second.join({ mode: "join", room: ann.roomId, name: "bob", key: KEY });
  assert.equal(welcome.player, "p2");
  assert.equal(welcome.resumed, true);
  assert.ok(!welcome.replay, "a full-state welcome");
  assert.ok(welcome.state !== null && welcome.keys.length > 0);
  assert.equal(room.playerCount, 2);
  await waitFor(() => presenceOf(ann.players, "p2") === "connected", "bob back");

  // Still a two-seat room with both seats held: a third player is refused.
  using third = await openRaw(wsUrl);
  await assert.rejects(third.join({ mode: "join", room: ann.roomId, name: "cy" }), /room_full/);
  assert.equal(room.playerCount, 2);
  // And the seat plays as p2.
  await ann.send("place", { cell: 0 });
  await second.send({ kind: "action", seq: 1, name: "place", payload: { cell: 4 } });
  await waitFor(() => ann.state.board[4] === "p2", "bob's move");
  ann.leave();
});

Deno.test("join key: a repeated join while the first connection still holds the seat replaces it", async () => {
  await using t = await startTestServer();
  const { wsUrl } = t.server;
  using first = await openRaw(wsUrl);
  const created = await first.join({ mode: "create", game: "tic_tac_toe", key: KEY });
  using second = await openRaw(wsUrl);
  const again = await second.join({ mode: "create", game: "tic_tac_toe", key: KEY });
  assert.equal(again.room, created.room);
  assert.equal(again.player, "p1");
  const close = await first.closedWithin(5000);
  assert.equal(close.code, CLOSE_CODES.session_replaced);
  assert.equal(close.errors[0]?.code, "session_replaced");
  assert.equal(t.server.manager.size, 1);
  second.abort();
});

for (const mode of ["create", "join_or_create"] as const) {
  Deno.test(`join key: a repeated ${mode} gets back the seat and room the first one took`, async () => {
    await using t = await startTestServer();
    const { manager, wsUrl } = t.server;
    const join = { mode, game: "tic_tac_toe", name: "ann", key: KEY };
    const first = await joinAndVanish(wsUrl, join);
    await waitFor(() => manager.list()[0]?.players === 1, "the room and ann's seat");
    first.abort();
    const id = manager.list()[0].id;

    // Without the key, create would make a second room, and join_or_create would seat ann as
    // p2 of her own room (playing against herself).
    using second = await openRaw(wsUrl);
    const welcome = await second.join(join);
    assert.deepEqual([welcome.room, welcome.player, welcome.resumed], [id, "p1", true]);
    assert.equal(manager.size, 1);
    assert.equal(manager.get(id)!.playerCount, 1);
    // Someone else's join_or_create still finds the free seat.
    using bob = await openRaw(wsUrl);
    const bobs = await bob.join({ mode: "join_or_create", game: "tic_tac_toe", key: OTHER_KEY });
    assert.deepEqual([bobs.room, bobs.player], [id, "p2"]);
    second.abort();
    bob.abort();
  });
}

Deno.test("join key: another key takes another seat, and another create another room", async () => {
  await using t = await startTestServer();
  const { manager, wsUrl } = t.server;
  const sockets: RawSocket[] = [];
  const join = async (fields: Omit<JoinMessage, "kind" | "version">): Promise<WelcomeMessage> => {
    const socket = await openRaw(wsUrl);
    sockets.push(socket);
    return await socket.join(fields);
  };
  try {
    const ann = await join({ mode: "create", game: "tic_tac_toe", key: KEY });
    const bob = await join({ mode: "join", room: ann.room, key: OTHER_KEY });
    assert.deepEqual([bob.player, bob.resumed], ["p2", false]);
    const other = await join({ mode: "create", game: "tic_tac_toe", key: OTHER_KEY });
    assert.notEqual(other.room, ann.room);
    assert.equal(manager.size, 2);
    // Without a key, a join is new every time.
    const plain = await join({ mode: "create", game: "tic_tac_toe" });
    assert.equal(manager.size, 3);
    assert.equal(plain.player, "p1");
  } finally {
    for (const socket of sockets) socket.abort();
  }
});

Deno.test("join key: a malformed key is refused with bad_field over the wire", async () => {
  await using t = await startTestServer();
  const { manager, wsUrl } = t.server;
  const room = manager.create("tic_tac_toe");
  for (const k of ["tooShort", "has spaces in it!!", "x".repeat(65)]) {
    using socket = await openRaw(wsUrl);
    await socket.sendBinary(rawJoinFrame({ m: 0, r: room.id, k }));
    const close = await socket.closedWithin(5000);
    assert.equal(close.errors[0]?.code, "bad_field", k);
    assert.match(close.errors[0].message, /join\.key \(k\)/);
    assert.equal(close.code, CLOSE_CODES.protocol_error);
  }
  assert.equal(room.playerCount, 0);
});

Deno.test("join key: the room matches the user too, and a seat given up forgets its key", async () => {
  const clock = new ManualClock();
  const room = new Room({ id: "r", game: ticTacToe, clock });
  const ann = new TestMember();
  await room.join({ user: { userId: "u1", name: "ann" }, key: KEY }, ann);
  // Same key, another user: not ann's seat.
  const bob = new TestMember();
  await room.join({ user: { userId: "u2", name: "bob" }, key: KEY }, bob);
  assert.deepEqual([ann.player, bob.player], ["p1", "p2"]);
  await assert.rejects(
    room.join({ name: "anon", key: KEY }, new TestMember()),
    (e: ArbiterError) => e.code === "room_full",
  );
  room.dispose();

  const again = new Room({ id: "r2", game: ticTacToe, clock });
  const first = await again.join({ name: "cy", key: KEY }, new TestMember());
  first.leave();
  await again.idle();
  const next = new TestMember();
  await again.join({ name: "cy", key: KEY }, next);
  assert.equal(next.welcomes[0].resumed, false, "a new seat, not the one given up");
  again.dispose();
});

Deno.test("join key: a seat forgets its key once its holder acts or resumes by session token", async () => {
  const clock = new ManualClock();
  const room = new Room({ id: "r", game: ticTacToe, clock });
  const ann = await room.join({ name: "ann", key: KEY }, new TestMember());
  const bob = await room.join({ name: "bob", key: OTHER_KEY }, new TestMember());
  ann.act(1, "place", { cell: 0 });
  await room.idle();
  // Bob's key still works (he has not shown that his welcome arrived); ann's no longer does.
  const bobAgain = new TestMember();
  await room.join({ name: "bob", key: OTHER_KEY }, bobAgain);
  assert.deepEqual([bobAgain.player, bobAgain.welcomes[0].resumed], ["p2", true]);
  await assert.rejects(
    room.join({ name: "ann", key: KEY }, new TestMember()),
    (e: ArbiterError) => e.code === "room_full",
  );
  // A resume by session token retires the key too.
  const bobBack = new TestMember();
  await room.join({ resume: { session: bob.session, seq: 0 } }, bobBack);
  await assert.rejects(
    room.join({ name: "bob", key: OTHER_KEY }, new TestMember()),
    (e: ArbiterError) => e.code === "room_full",
  );
  room.dispose();
});

Deno.test("join key: two creates with one key in the same tick make one room", async () => {
  const manager = new RoomManager({ games: exampleGames, seed: "same-tick" });
  const create = { mode: "create", game: "tic_tac_toe", key: KEY } as const;
  const [a, b] = await Promise.all([
    manager.join(create, new TestMember()),
    manager.join(create, new TestMember()),
  ]);
  assert.equal(b.room, a.room);
  assert.equal(b.player, a.player, "the retry takes the first one's seat");
  assert.equal(manager.size, 1);
  manager.dispose();
});

Deno.test("join key: the manager remembers a key's room for 60 s and at most 10 000 keys", async () => {
  const clock = new ManualClock();
  const manager = new RoomManager({ games: exampleGames, clock, seed: "keys" });
  const create = { mode: "create", game: "tic_tac_toe", key: KEY } as const;
  const a = await manager.join(create, new TestMember());
  const b = await manager.join(create, new TestMember());
  assert.equal(b.room, a.room);
  assert.equal(manager.size, 1);
  assert.equal(manager.joinKeyRoom({ key: KEY }, "tic_tac_toe"), a.room.id);
  // A create of another game with the same key is not sent to the tic_tac_toe room.
  assert.equal(manager.joinKeyRoom({ key: KEY }, "connect_four"), undefined);
  const c4 = await manager.join({ ...create, game: "connect_four" }, new TestMember());
  assert.notEqual(c4.room, a.room);
  assert.equal(manager.size, 2);

  clock.advance(59_000);
  assert.equal(manager.joinKeyRoom({ key: KEY }, "connect_four"), c4.room.id);
  clock.advance(1_001);
  assert.equal(
    manager.joinKeyRoom({ key: KEY }, "connect_four"),
    undefined,
    "forgotten after 60 s",
  );
  const later = await manager.join({ ...create, game: "connect_four" }, new TestMember());
  assert.notEqual(later.room, c4.room);
  assert.equal(manager.size, 3);

  // The same key from another user is that user's own join: another room.
  const rooms = manager.size;
  const ones = { ...create, key: OTHER_KEY, user: { userId: "u1", name: "one" } };
  const one = await manager.join(ones, new TestMember());
  const two = await manager.join(
    { ...ones, user: { userId: "u2", name: "two" } },
    new TestMember(),
  );
  assert.notEqual(two.room, one.room);
  assert.equal(manager.size, rooms + 2);

  manager.rememberJoinKey({ key: OTHER_KEY }, "tic_tac_toe", a.room.id);
  for (let i = 0; i < 10_000; i++) {
    manager.rememberJoinKey({ key: `key-${String(i).padStart(12, "0")}` }, "tic_tac_toe", "x");
  }
  assert.equal(
    manager.joinKeyRoom({ key: OTHER_KEY }, "tic_tac_toe"),
    undefined,
    "the oldest went",
  );
  assert.equal(manager.joinKeyRoom({ key: "key-000000009999" }, "tic_tac_toe"), "x");
  assert.equal(manager.joinKeyRoom({ key: "key-000000000000" }, "tic_tac_toe"), "x");
  manager.dispose();
});

/**
 * A `WebSocket` for the client that records every join it sends; with `loseFirstWelcome`, the
 * first socket closes as the welcome arrives, before the client reads it.
 */
function recordingSockets(loseFirstWelcome: boolean) {
  const joins: JoinMessage[] = [];
  let opened = 0;
  const handler = Object.getOwnPropertyDescriptor(WebSocket.prototype, "onmessage")!;
  class Recording extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      if (opened++ > 0 || !loseFirstWelcome) return;
      Object.defineProperty(this, "onmessage", {
        configurable: true,
        get: () => null,
        set: (callback: WebSocket["onmessage"]) => {
          handler.set!.call(this, callback === null ? null : () => this.close(4100, "lost"));
        },
      });
    }
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (data instanceof Uint8Array) {
        const message = decodeClientMessage(data);
        if (message.kind === "join") joins.push(message);
      }
      super.send(data);
    }
  }
  return { joins, WebSocket: Recording };
}

Deno.test("join key: the client retries a first join with the same key and ends up with one seat", async () => {
  await using t = await startTestServer();
  const { manager } = t.server;
  const ann = await t.client({ name: "ann", reconnect: false }).create<typeof ticTacToe>(
    "tic_tac_toe",
  );
  const net = recordingSockets(true);
  const bob = await t.client({ name: "bob", WebSocket: net.WebSocket, ...RECONNECT })
    .join<typeof ticTacToe>(ann.roomId);
  assert.equal(bob.player, "p2");
  assert.equal(net.joins.length, 2, "the first join and its retry");
  const [first, retry] = net.joins;
  assert.match(first.key ?? "", /^[A-Za-z0-9_-]{22,64}$/);
  assert.equal(retry.key, first.key);
  assert.equal(manager.get(ann.roomId)!.playerCount, 2);
  assert.equal(manager.size, 1);

  // A resume carries no key.
  bob.dropConnection();
  await waitFor(() => net.joins.length === 3 && bob.status === "connected", "bob's resume");
  assert.ok(net.joins[2].resume);
  assert.equal(net.joins[2].key, undefined);
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  await waitFor(() => ann.state.board[4] === "p2", "bob's move at ann's");

  // A create retried the same way makes one room; a spectator join carries no key.
  const creator = recordingSockets(true);
  const cy = await t.client({ name: "cy", WebSocket: creator.WebSocket, ...RECONNECT })
    .create("tic_tac_toe");
  assert.equal(creator.joins.length, 2);
  assert.equal(creator.joins[1].key, creator.joins[0].key);
  assert.notEqual(creator.joins[0].key, first.key, "one key per join, not per client");
  assert.equal(manager.size, 2);
  assert.equal(manager.get(cy.roomId)!.playerCount, 1);
  const watching = recordingSockets(false);
  const watcher = await t.client({ WebSocket: watching.WebSocket }).spectate(ann.roomId);
  assert.equal(watching.joins[0].key, undefined);
  for (const room of [ann, bob, cy, watcher]) room.leave();
});

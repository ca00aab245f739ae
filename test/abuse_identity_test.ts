/**
 * Abuse suite, identity: a connection acts only for the seat its own join gave it, in the room
 * that join chose; tokens of other seats, rooms or users never attach to a seat; signed
 * tokens, the `authenticate` option and the Origin allowlist guard the door.
 */
import assert from "node:assert/strict";
import { sign } from "hono/jwt";
import type { ticTacToe } from "../games/mod.ts";
import { exampleGames } from "../games/mod.ts";
import type { RejectMessage, WelcomeMessage } from "../protocol/mod.ts";
import { loadConfig, signToken, silentLogger, startServer } from "../server/mod.ts";
import { startAbuseServer } from "./support/abuse_harness.ts";
import { openRaw, type RawSocket, rawUpgrade } from "./support/raw_socket.ts";
import { waitFor } from "./support/test_server.ts";

async function rejectOf(socket: RawSocket, seq: number, name: string, payload: unknown) {
  const from = socket.messages.length;
  // deno-lint-ignore no-explicit-any
  await socket.send({ kind: "action", seq, name, payload: payload as any });
  return await socket.next(
    (m) => m.kind === "reject" && m.seq === seq,
    5000,
    from,
  ) as RejectMessage;
}

Deno.test("identity: not_joined before a join, not_a_player for spectators, game_over after the end", async () => {
  await using s = await startAbuseServer();
  const url = s.t.server.wsUrl;
  using stranger = await openRaw(url);
  assert.equal((await rejectOf(stranger, 1, "place", { cell: 4 })).code, "not_joined");
  assert.equal(stranger.close, null, "a reject does not close the connection");

  const ann = await s.t.client({ name: "ann", reconnect: false }).create<typeof ticTacToe>(
    "tic_tac_toe",
  );
  const bob = await s.t.client({ name: "bob", reconnect: false }).join<typeof ticTacToe>(
    ann.roomId,
  );
  using watcher = await openRaw(url);
  await watcher.join({ mode: "join", room: ann.roomId, spectator: true });
  assert.equal((await rejectOf(watcher, 1, "place", { cell: 4 })).code, "not_a_player");

  // Actions carry no identity: the seat is the session's. A payload that names a player is
  // refused by the game's schema, and bob's moves are recorded as p2's whatever he sends.
  using bobRaw = await openRaw(url);
  await assert.rejects(bobRaw.join({ mode: "join", room: ann.roomId }), /room_full/);
  await ann.send("place", { cell: 0 });
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    bob.send("place", { cell: 1, player: "p1" } as any),
    (e: Error & { code?: string }) => e.code === "bad_payload",
  );
  await assert.rejects(
    ann.send("place", { cell: 1 }),
    (e: Error & { code?: string }) => e.code === "not_your_turn",
  );
  await bob.send("place", { cell: 3 });
  assert.deepEqual(bob.state.board.slice(0, 4), ["p1", null, null, "p2"]);
  for (const [player, cell] of [[ann, 1], [bob, 4], [ann, 2]] as const) {
    await player.send("place", { cell });
  }
  await waitFor(() => ann.outcome !== null && bob.outcome !== null, "game over");
  await assert.rejects(
    bob.send("place", { cell: 8 }),
    (e: Error & { code?: string }) => e.code === "game_over",
  );
  assert.equal((await rejectOf(watcher, 2, "place", { cell: 8 })).code, "not_a_player");
  ann.leave();
  bob.leave();
  watcher.abort();
  stranger.abort();
  await s.finish();
});

Deno.test("identity: a seat in room A never affects room B, and a connection cannot switch rooms", async () => {
  await using s = await startAbuseServer();
  const { manager } = s.t.server;
  const url = s.t.server.wsUrl;
  using a1 = await openRaw(url);
  const roomA = (await a1.join({ mode: "create", game: "tic_tac_toe" })).room;
  using a2 = await openRaw(url);
  await a2.join({ mode: "join", room: roomA });
  const b1 = await s.t.client({ reconnect: false }).create<typeof ticTacToe>("tic_tac_toe");
  const b2 = await s.t.client({ reconnect: false }).join<typeof ticTacToe>(b1.roomId);
  const before = JSON.stringify(manager.get(b1.roomId)!.state);
  const seqB = manager.get(b1.roomId)!.summary().seq;

  // There is no room field in an action: whatever the payload says, it goes to the sender's
  // own room, and the game's schema refuses extra keys.
  assert.equal(
    (await rejectOf(a1, 1, "place", { cell: 4, room: b1.roomId })).code,
    "bad_payload",
  );
  const from = a1.messages.length;
  await a1.send({ kind: "action", seq: 2, name: "place", payload: { cell: 4 } });
  await a1.next((m) => m.kind === "delta", 5000, from);
  assert.equal((manager.get(roomA)!.state as { board: unknown[] }).board[4], "p1");
  // The action index works the same way: index 0 is "place" in a1's own room.
  assert.equal((await rejectOf(a1, 3, 0 as unknown as string, { cell: 0 })).code, "not_your_turn");
  assert.equal(JSON.stringify(manager.get(b1.roomId)!.state), before);
  assert.equal(manager.get(b1.roomId)!.summary().seq, seqB);

  // A second join on the same connection (to get into room B) is refused and closes it.
  await a2.send({ kind: "join", version: 1, mode: "join", room: b1.roomId });
  const close = await a2.closedWithin(5000);
  assert.equal(close.code, 1002);
  assert.deepEqual(close.errors.map((e) => e.code), ["already_joined"]);
  assert.equal(manager.get(b1.roomId)!.summary().players, 2);
  assert.equal(JSON.stringify(manager.get(b1.roomId)!.state), before);
  b1.leave();
  b2.leave();
  a1.abort();
  await s.finish({ roomsDrain: false });
});

Deno.test("identity: foreign, forged, left and cross-room resume tokens get bad_session and attach nowhere", async () => {
  await using s = await startAbuseServer({ GRACE_MS: "10000" });
  const url = s.t.server.wsUrl;
  const { manager } = s.t.server;
  using ann = await openRaw(url);
  const annWelcome = await ann.join({ mode: "create", game: "tic_tac_toe", name: "ann" });
  using bob = await openRaw(url);
  const bobWelcome = await bob.join({ mode: "join", room: annWelcome.room, name: "bob" });
  using cat = await openRaw(url);
  const catWelcome = await cat.join({ mode: "create", game: "connect_four", name: "cat" });
  using leaver = await openRaw(url);
  const leaverWelcome = await leaver.join({ mode: "join", room: catWelcome.room });
  await leaver.send({ kind: "leave" });
  await leaver.closedWithin(5000);

  const attempts: { what: string; room?: string; session: string }[] = [
    { what: "room A with room B's token", room: annWelcome.room, session: catWelcome.session },
    { what: "room B with room A's token", room: catWelcome.room, session: bobWelcome.session },
    { what: "a random token", session: crypto.randomUUID() },
    { what: "a token one character off", session: flipLastChar(bobWelcome.session) },
    { what: "a token prefix", session: bobWelcome.session.slice(0, 8) },
    { what: "an empty token", room: annWelcome.room, session: "" },
    { what: "a left seat's token", room: catWelcome.room, session: leaverWelcome.session },
    { what: "no room and a left seat's token", session: leaverWelcome.session },
    { what: "a spectator's (empty) token", room: catWelcome.room, session: "" },
  ];
  for (const attempt of attempts) {
    using thief = await openRaw(url);
    await assert.rejects(
      thief.join({
        mode: "join",
        room: attempt.room,
        resume: { session: attempt.session, seq: 0 },
      }),
      /bad_session/,
      attempt.what,
    );
    const close = await thief.closedWithin(5000);
    assert.equal(close.code, 4000, attempt.what);
  }
  // Nobody was displaced: no session_replaced, every seat still held by its owner.
  for (const owner of [ann, bob, cat]) {
    assert.equal(owner.close, null);
    assert.ok(owner.errors.length === 0);
  }
  assert.deepEqual(
    manager.get(annWelcome.room)!.summary().players,
    2,
  );
  // The rightful owner resumes fine (and the old connection is told it was replaced).
  using bobAgain = await openRaw(url);
  const resumed = await bobAgain.join({
    mode: "join",
    room: annWelcome.room,
    resume: { session: bobWelcome.session, seq: bobWelcome.seq },
  });
  assert.equal(resumed.player, "p2");
  const replaced = await bob.closedWithin(5000);
  assert.equal(replaced.code, 4004);
  assert.deepEqual(replaced.errors.map((e) => e.code), ["session_replaced"]);
  for (const socket of [ann, bobAgain, cat]) {
    await socket.send({ kind: "leave" });
    await socket.closedWithin(5000);
  }
  await s.finish();
});

function flipLastChar(token: string): string {
  const last = token.at(-1)!;
  return token.slice(0, -1) + (last === "A" ? "B" : "A");
}

const SECRET = "abuse-suite-secret-0123456789abcdef";

Deno.test("identity: with ARBITER_SECRET, joins need a valid token (4006) and a seat belongs to its user", async () => {
  await using s = await startAbuseServer({ ARBITER_SECRET: SECRET, GRACE_MS: "10000" });
  const url = s.t.server.wsUrl;
  const now = Math.floor(Date.now() / 1000);
  const forged = [
    { what: "no token", token: undefined },
    { what: "garbage", token: "not-a-token" },
    { what: "expired", token: await signToken(SECRET, { userId: "u1", name: "ann" }, -60) },
    { what: "another secret", token: await signToken("wrong-secret", { userId: "u1", name: "a" }) },
    {
      what: "alg none",
      token: `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "u1", exp: now + 60 })}.`,
    },
    { what: "no expiry", token: await sign({ sub: "u1", name: "ann" }, SECRET) },
    {
      what: "tampered payload",
      token: await tamper(await signToken(SECRET, { userId: "u1", name: "ann" }), "u2"),
    },
  ];
  for (const { what, token } of forged) {
    using raw = await openRaw(url);
    await assert.rejects(
      raw.join({ mode: "create", game: "tic_tac_toe", token }),
      /unauthorized/,
      what,
    );
    const close = await raw.closedWithin(5000);
    assert.equal(close.code, 4006, what);
    assert.deepEqual(close.errors.map((e) => e.code), ["unauthorized"], what);
  }
  assert.equal(s.t.server.manager.size, 0, "refused joins create no room");
  // Creating a room over HTTP needs a valid token too (as a bearer token).
  for (const { what, token } of forged) {
    const response = await fetch(new URL("/api/rooms", s.t.server.url), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ game: "tic_tac_toe" }),
    });
    assert.equal(response.status, 401, what);
    assert.equal((await response.json()).code, "unauthorized", what);
  }
  assert.equal(s.t.server.manager.size, 0, "refused creations create no room");

  const annToken = await signToken(SECRET, { userId: "u-ann", name: "Ann" });
  const bobToken = await signToken(SECRET, { userId: "u-bob", name: "Bob" });
  const malloryToken = await signToken(SECRET, { userId: "u-mallory", name: "Mallory" });
  const created = await fetch(new URL("/api/rooms", s.t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${annToken}` },
    body: JSON.stringify({ game: "tic_tac_toe" }),
  });
  assert.equal(created.status, 201, "a valid bearer token may create a room");
  await created.body?.cancel();
  using ann = await openRaw(url);
  const annWelcome = await ann.join({
    mode: "create",
    game: "tic_tac_toe",
    name: "ignored",
    token: annToken,
  });
  assert.equal(annWelcome.players[0].name, "Ann", "the name comes from the token");
  using bob = await openRaw(url);
  const bobWelcome = await bob.join({ mode: "join", room: annWelcome.room, token: bobToken });

  // Another user holding bob's session token cannot resume his seat.
  for (const token of [malloryToken, annToken]) {
    using thief = await openRaw(url);
    await assert.rejects(
      thief.join({
        mode: "join",
        room: annWelcome.room,
        token,
        resume: { session: bobWelcome.session, seq: 0 },
      }),
      /bad_session/,
    );
    assert.equal((await thief.closedWithin(5000)).code, 4000);
  }
  assert.equal(bob.close, null, "bob was not displaced");
  // Mallory cannot take a seat either: the room is full.
  using mallory = await openRaw(url);
  await assert.rejects(
    mallory.join({ mode: "join", room: annWelcome.room, token: malloryToken }),
    /room_full/,
  );
  // Bob himself comes back from another device without the session token: same seat.
  using bobPhone = await openRaw(url);
  const phone: WelcomeMessage = await bobPhone.join({
    mode: "join",
    room: annWelcome.room,
    token: bobToken,
  });
  assert.equal(phone.player, bobWelcome.player);
  assert.equal((await bob.closedWithin(5000)).code, 4004);
  for (const socket of [ann, bobPhone]) {
    await socket.send({ kind: "leave" });
    await socket.closedWithin(5000);
  }
  await s.finish({
    players: [
      { token: await signToken(SECRET, { userId: "u-x", name: "X" }) },
      { token: () => signToken(SECRET, { userId: "u-y", name: "Y" }) },
    ],
  });
});

function b64(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

function tamper(token: string, sub: string): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
  return [header, b64({ ...claims, sub }), signature].join(".");
}

Deno.test("identity: the authenticate option refuses the upgrade with 401 JSON and names the user", async () => {
  const users: Record<string, { userId: string; name: string }> = {
    "Bearer good-1": { userId: "1", name: "Uno" },
    "Bearer good-2": { userId: "2", name: "Dos" },
  };
  const server = await startServer({
    config: loadConfig({ PORT: "0", ARBITER_KV_PATH: ":memory:" }),
    games: exampleGames,
    log: silentLogger,
    authenticate: (request) => users[request.headers.get("authorization") ?? ""] ?? null,
  });
  try {
    for (const authorization of [undefined, "Bearer bad", "Basic good-1"]) {
      const result = await rawUpgrade(server.wsUrl, {
        headers: authorization ? { authorization } : {},
      });
      assert.equal(result.ok, false);
      if (result.ok) continue;
      assert.equal(result.refused.status, 401);
      assert.deepEqual(JSON.parse(result.refused.body), {
        code: "unauthorized",
        message: "Authentication failed.",
      });
    }
    const upgrade = async (authorization: string) => {
      const result = await rawUpgrade(server.wsUrl, { headers: { authorization } });
      assert.ok(result.ok, authorization);
      return result.socket;
    };
    const one = await upgrade("Bearer good-1");
    const two = await upgrade("Bearer good-2");
    const welcome = await one.join({ mode: "create", game: "tic_tac_toe", name: "x" });
    const twoWelcome = await two.join({ mode: "join", room: welcome.room, name: "y" });
    const players = server.manager.get(welcome.room)!.players.map((p) => p.name);
    assert.deepEqual(players, ["Uno", "Dos"]);

    // The seat belongs to its user: Uno holding Dos's session token cannot resume it ...
    const thief = await upgrade("Bearer good-1");
    await assert.rejects(
      thief.join({
        mode: "join",
        room: welcome.room,
        resume: { session: twoWelcome.session, seq: 0 },
      }),
      /bad_session/,
    );
    assert.equal((await thief.closedWithin(5000)).code, 4000);
    assert.equal(two.close, null, "Dos was not displaced");
    // ... while Dos, from another connection, gets the same seat back.
    const twoAgain = await upgrade("Bearer good-2");
    assert.equal((await twoAgain.join({ mode: "join", room: welcome.room })).player, "p2");
    assert.equal((await two.closedWithin(5000)).code, 4004);

    // Creating rooms over HTTP needs the same authentication.
    const create = (headers: Record<string, string>) =>
      fetch(new URL("/api/rooms", server.url), {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ game: "tic_tac_toe" }),
      });
    const anonymous = await create({});
    assert.equal(anonymous.status, 401);
    assert.equal((await anonymous.json()).code, "unauthorized");
    const signedIn = await create({ authorization: "Bearer good-1" });
    assert.equal(signedIn.status, 201);
    await signedIn.body?.cancel();

    for (const socket of [one, twoAgain]) socket.abort();
    await waitFor(() => server.metrics.connections === 0, "closed");
  } finally {
    await server.shutdown();
  }
});

Deno.test("identity: the Origin check at the upgrade (dev default, allowlist, wildcard)", async () => {
  const cases: { env: Record<string, string>; origin?: string; allowed: boolean }[] = [
    // Development default: localhost pages and clients without an Origin.
    { env: {}, origin: undefined, allowed: true },
    { env: {}, origin: "http://localhost:5173", allowed: true },
    { env: {}, origin: "http://127.0.0.1:8000", allowed: true },
    { env: {}, origin: "http://[::1]:8000", allowed: true },
    { env: {}, origin: "https://evil.example", allowed: false },
    { env: {}, origin: "http://localhost.evil.example", allowed: false },
    { env: {}, origin: "null", allowed: false },
    // Production: only the listed origins (and non-browser clients, which send none).
    {
      env: { ALLOWED_ORIGINS: "https://game.example" },
      origin: "https://game.example",
      allowed: true,
    },
    { env: { ALLOWED_ORIGINS: "https://game.example" }, origin: undefined, allowed: true },
    {
      env: { ALLOWED_ORIGINS: "https://game.example" },
      origin: "http://game.example",
      allowed: false,
    },
    {
      env: { ALLOWED_ORIGINS: "https://game.example" },
      origin: "https://game.example.evil.example",
      allowed: false,
    },
    {
      env: { ALLOWED_ORIGINS: "https://game.example" },
      origin: "http://localhost:8000",
      allowed: false,
    },
    { env: { ALLOWED_ORIGINS: "*" }, origin: "https://anyone.example", allowed: true },
  ];
  for (const env of [{}, { ALLOWED_ORIGINS: "https://game.example" }, { ALLOWED_ORIGINS: "*" }]) {
    await using s = await startAbuseServer(env);
    for (const c of cases.filter((c) => JSON.stringify(c.env) === JSON.stringify(env))) {
      const what = `${JSON.stringify(env)} origin ${c.origin}`;
      const result = await rawUpgrade(s.t.server.wsUrl, { origin: c.origin });
      assert.equal(result.ok, c.allowed, what);
      if (result.ok) {
        await result.socket.join({ mode: "create", game: "tic_tac_toe" });
        result.socket.abort();
      } else {
        assert.equal(result.refused.status, 403, what);
        assert.equal(JSON.parse(result.refused.body).code, "forbidden_origin", what);
        assert.equal(result.refused.headers.get("x-content-type-options"), "nosniff");
      }
    }
    if (!("ALLOWED_ORIGINS" in env) || env.ALLOWED_ORIGINS !== "*") {
      // Deno's own WebSocket can send an Origin too (`{ headers }`): same refusal.
      const browserLike = new WebSocket(s.t.server.wsUrl, {
        headers: { origin: "https://evil.example" },
      } as unknown as string[]);
      const failed = await new Promise<boolean>((resolve) => {
        browserLike.onopen = () => resolve(false);
        browserLike.onerror = () => resolve(true);
      });
      assert.ok(failed, "the handshake failed");
    }
    await s.finish();
  }
});

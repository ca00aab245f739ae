/**
 * End-to-end: a real server on port 0, in-memory KV, real WebSockets and the client library.
 */
import assert from "node:assert/strict";
import { ArbiterError, connect, type Room } from "../client/mod.ts";
import { type arena, type connectFour, exampleGames, type ticTacToe } from "../games/mod.ts";
import { defineGame, RoomManager } from "../rooms/mod.ts";
import { createApp, createLogger, loadConfig, Metrics, silentLogger } from "../server/mod.ts";
import { openRaw } from "./support/raw_socket.ts";
import { closedPort, startTestServer, waitFor } from "./support/test_server.ts";
import { gauge } from "./support/test_games.ts";

async function ticTacToePair(t: Awaited<ReturnType<typeof startTestServer>>) {
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  return { ann, bob };
}

interface Mirror {
  readonly seq: number;
  readonly state: unknown;
}

function sameView(a: Mirror, b: Mirror, what: string): Promise<void> {
  return waitFor(
    () => a.seq === b.seq && JSON.stringify(a.state) === JSON.stringify(b.state),
    what,
  );
}

Deno.test("tic-tac-toe: a full game to a win, seen the same by both players", async () => {
  await using t = await startTestServer();
  const { ann, bob } = await ticTacToePair(t);
  assert.equal(ann.player, "p1");
  assert.equal(bob.player, "p2");
  const outcomes: unknown[] = [];
  ann.onGameOver((o) => outcomes.push(o));
  bob.onGameOver((o) => outcomes.push(o));
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 3 });
  await ann.send("place", { cell: 1 });
  await bob.send("place", { cell: 4 });
  await ann.send("place", { cell: 2 });
  // The acknowledged state already holds the winning move.
  assert.deepEqual(ann.state.line, [0, 1, 2]);
  await waitFor(() => outcomes.length === 2, "game_over on both sides");
  assert.deepEqual(ann.outcome?.winners, ["p1"]);
  assert.deepEqual(bob.outcome?.winners, ["p1"]);
  await sameView(ann, bob, "identical final states");
  const server = t.server.manager.get(ann.roomId)!;
  assert.deepEqual(JSON.parse(JSON.stringify(server.state)), ann.state);
  await assert.rejects(
    bob.send("place", { cell: 8 }),
    (e) => e instanceof ArbiterError && e.code === "game_over",
  );
  ann.leave();
  bob.leave();
});

Deno.test("connect four: clients see the turn clock's deadline, also after joining late", async () => {
  await using t = await startTestServer();
  const ann = await t.client({ name: "ann", pingIntervalMs: 50 }).create<typeof connectFour>(
    "connect_four",
    { turnMs: 5000 },
  );
  assert.equal(ann.turnDeadline, null, "no clock before the second player sits down");
  const bob = await t.client({ name: "bob" }).join<typeof connectFour>(ann.roomId);
  await waitFor(() => ann.turnDeadline !== null && bob.turnDeadline !== null, "clock started");
  const first = ann.turnDeadline!;
  assert.equal(bob.turnDeadline, first);
  const left = first - ann.serverNow();
  assert.ok(left > 0 && left <= 5000 + 100, `${left} ms left of 5000`);
  await ann.send("drop", { column: 3 });
  // Bob's turn: a new deadline, no earlier than the first.
  await waitFor(() => ann.turnDeadline !== first, "clock re-armed");
  assert.ok(ann.turnDeadline! >= first);
  // A spectator who arrives mid-turn learns the running clock right after its welcome.
  const watcher = await t.client().spectate<typeof connectFour>(ann.roomId);
  await waitFor(() => watcher.turnDeadline === ann.turnDeadline, "spectator sees the clock");
  // Bob leaves: the game ends by forfeit and the clock stops for everyone.
  bob.leave();
  await waitFor(() => ann.outcome !== null && ann.turnDeadline === null, "clock stopped");
  ann.leave();
  watcher.leave();
});

Deno.test("connect four: the player not to move can resign (an anyTurn action)", async () => {
  await using t = await startTestServer();
  const ann = await t.client({ name: "ann" }).create<typeof connectFour>(
    "connect_four",
    { turnMs: 60_000 },
  );
  const bob = await t.client({ name: "bob" }).join<typeof connectFour>(ann.roomId);
  await ann.send("drop", { column: 3 });
  await waitFor(() => bob.state.next === "p2" && bob.turnDeadline !== null, "bob to move");
  // Ann is not to move: a drop is refused, a resign goes through (no payload to give).
  await assert.rejects(
    ann.send("drop", { column: 4 }),
    (e) => e instanceof ArbiterError && e.code === "not_your_turn",
  );
  await ann.send("resign");
  await waitFor(() => ann.outcome !== null && bob.outcome !== null, "game over on both sides");
  assert.deepEqual(bob.outcome, { winners: ["p2"], reason: "resigned" });
  assert.deepEqual(ann.outcome, bob.outcome);
  assert.equal(bob.state.reason, "resigned");
  await assert.rejects(
    bob.send("resign"),
    (e) => e instanceof ArbiterError && e.code === "game_over",
  );
  ann.leave();
  bob.leave();
});

Deno.test("connect four: a full board ends in a draw", async () => {
  await using t = await startTestServer();
  const ann = await t.client({ name: "ann" }).create<typeof connectFour>("connect_four");
  const bob = await t.client({ name: "bob" }).join<typeof connectFour>(ann.roomId);
  // A legal 42-move game in which nobody ever gets four in a row.
  const columns = [
    1,
    4,
    4,
    2,
    6,
    5,
    1,
    4,
    5,
    2,
    4,
    6,
    0,
    1,
    6,
    6,
    5,
    1,
    3,
    5,
    3,
    2,
    5,
    1,
    3,
    6,
    1,
    0,
    4,
    0,
    4,
    3,
    2,
    0,
    0,
    3,
    3,
    6,
    0,
    5,
    2,
    2,
  ];
  for (const [i, column] of columns.entries()) {
    await (i % 2 === 0 ? ann : bob).send("drop", { column });
  }
  await waitFor(() => ann.outcome !== null && bob.outcome !== null, "game_over");
  assert.equal(ann.outcome?.draw, true);
  assert.equal(bob.outcome?.draw, true);
  assert.ok(ann.state.board.every((row) => row.every((cell) => cell !== null)));
  await sameView(ann, bob, "identical boards");
  ann.leave();
  bob.leave();
});

Deno.test("arena: 8 clients chase coins until one of them wins", async () => {
  await using t = await startTestServer({ ACTION_RATE: "200", ACTION_BURST: "200" });
  const client = t.client();
  const first = await client.create<typeof arena>("arena", undefined, { name: "bot1" });
  const bots = [first];
  for (let i = 2; i <= 8; i++) {
    bots.push(await client.join<typeof arena>(first.roomId, { name: `bot${i}` }));
  }
  assert.equal(new Set(bots.map((b) => b.player)).size, 8);
  let done = false;
  const seqs = new Map(bots.map((b) => [b, 0]));
  const steer = async (bot: Room<typeof arena>) => {
    while (!done && bot.outcome === null) {
      const me = bot.state.players[bot.player!];
      const coin = me &&
        bot.state.coins.reduce((best, c) =>
          Math.hypot(c.x - me.x, c.y - me.y) < Math.hypot(best.x - me.x, best.y - me.y) ? c : best
        );
      if (me && coin) {
        const dx = Math.max(-1, Math.min(1, (coin.x - me.x) / 10));
        const dy = Math.max(-1, Math.min(1, (coin.y - me.y) / 10));
        const seq = seqs.get(bot)! + 1;
        seqs.set(bot, seq);
        await bot.send("move", { dx, dy, seq }).catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const running = bots.map(steer);
  try {
    await waitFor(() => bots.every((b) => b.outcome !== null), "an arena winner", 60_000);
  } finally {
    done = true;
    await Promise.all(running);
  }
  const winner = bots[0].outcome!.winners![0];
  assert.ok(bots.every((b) => b.outcome?.winners?.[0] === winner));
  const server = t.server.manager.get(first.roomId)!;
  const serverState = server.state as { players: Record<string, { score: number }> };
  assert.ok(serverState.players[winner].score >= 10);
  // Every bot's mirror ends identical to the server's view.
  for (const bot of bots) {
    await waitFor(() => bot.seq === server.seq, "mirror caught up");
    assert.deepEqual(bot.state, JSON.parse(JSON.stringify(serverState)));
  }
  for (const bot of bots) bot.leave();
});

Deno.test("invalid actions are rejected with their codes and change nothing", async () => {
  await using t = await startTestServer();
  const { ann, bob } = await ticTacToePair(t);
  const codeOf = (p: Promise<unknown>) =>
    p.then(() => "accepted", (e) => e instanceof ArbiterError ? e.code : String(e));
  assert.equal(await codeOf(bob.send("place", { cell: 0 })), "not_your_turn");
  await ann.send("place", { cell: 4 });
  const seq = ann.seq;
  assert.equal(await codeOf(bob.send("place", { cell: 4 })), "invalid_action");
  assert.equal(await codeOf(bob.send("place", { cell: 9 })), "bad_payload");
  // deno-lint-ignore no-explicit-any
  assert.equal(await codeOf((bob as any).send("resign", null)), "unknown_action");
  assert.equal(ann.seq, seq, "rejections never advance the sequence");
  const rejected: string[] = [];
  bob.onReject((e) => rejected.push(e.message));
  await codeOf(bob.send("place", { cell: 4 }));
  assert.match(rejected[0], /cell 4/);
  ann.leave();
  bob.leave();
});

Deno.test("a dropped player resumes mid-game and gets exactly the deltas it missed", async () => {
  await using t = await startTestServer();
  const { ann, bob } = await ticTacToePair(t);
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  const statuses: string[] = [];
  bob.onStatus((s) => statuses.push(s));
  const seen: number[] = [];
  bob.onState(() => seen.push(bob.seq));
  bob.dropConnection();
  await waitFor(() => bob.status !== "connected", "bob dropped");
  // Ann plays while Bob is away: these deltas must reach him on resume.
  await ann.send("place", { cell: 1 }).catch(() => {});
  await waitFor(() => bob.status === "connected", "bob resumed");
  await sameView(ann, bob, "bob caught up");
  assert.deepEqual(bob.resumes, { replayed: 1, full: 0 });
  assert.deepEqual(statuses.slice(0, 1), ["reconnecting"]);
  assert.equal(bob.player, "p2", "same seat after resume");
  await bob.send("place", { cell: 8 });
  await sameView(ann, bob, "play continues");
  ann.leave();
  bob.leave();
});

Deno.test("a dropped player's seat expires and the opponent wins by forfeit", async () => {
  await using t = await startTestServer({ GRACE_MS: "200" });
  const ann = await t.client({ name: "ann" }).create<typeof ticTacToe>("tic_tac_toe");
  const bob = await t.client({ name: "bob", reconnect: false }).join<typeof ticTacToe>(
    ann.roomId,
  );
  await ann.send("place", { cell: 0 });
  const events: string[] = [];
  ann.onEvent((e) => events.push(`${e.type}:${e.player}`));
  bob.dropConnection();
  await waitFor(() => ann.outcome !== null, "forfeit");
  assert.deepEqual(ann.outcome?.winners, ["p1"]);
  // Disconnected first (grace window), then gone when the seat expired.
  assert.deepEqual(events.filter((e) => e.endsWith(":p2")).slice(0, 1), ["player_disconnected:p2"]);
  assert.equal(ann.players.find((p) => p.id === "p2")?.presence, "left");
  ann.leave();
});

Deno.test("spectators see the game but cannot act", async () => {
  await using t = await startTestServer();
  const { ann, bob } = await ticTacToePair(t);
  const eve = await t.client({ name: "eve" }).spectate<typeof ticTacToe>(ann.roomId);
  assert.equal(eve.player, null);
  await ann.send("place", { cell: 4 });
  await sameView(ann, eve, "spectator sees the move");
  // Its handle's type has no action to send; a client without types still gets the refusal.
  await assert.rejects(
    (eve as Room).send("place", { cell: 0 }),
    (e) => e instanceof ArbiterError && e.code === "not_a_player",
  );
  assert.equal(ann.state.board[0], null);
  for (const room of [ann, bob, eve]) room.leave();
});

Deno.test("two concurrent join-or-create calls land in one room", async () => {
  await using t = await startTestServer();
  const [a, b] = await Promise.all([
    t.client({ name: "a" }).joinOrCreate<typeof ticTacToe>("tic_tac_toe"),
    t.client({ name: "b" }).joinOrCreate<typeof ticTacToe>("tic_tac_toe"),
  ]);
  assert.equal(a.roomId, b.roomId);
  assert.deepEqual([a.player, b.player].sort(), ["p1", "p2"]);
  assert.equal(t.server.manager.list({ game: "tic_tac_toe" }).length, 1);
  a.leave();
  b.leave();
});

Deno.test("the client's state is frozen and new with each change (listeners keep what they saw)", async () => {
  await using t = await startTestServer();
  const { ann, bob } = await ticTacToePair(t);
  const seen: (typeof ann.state)[] = [];
  ann.onState((state) => seen.push(state));
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 3 });
  await waitFor(() => seen.length === 2, "two states");
  assert.notEqual(seen[0], seen[1]);
  assert.deepEqual(seen[0].board.slice(0, 4), ["p1", null, null, null]);
  assert.deepEqual(seen[1].board.slice(0, 4), ["p1", null, null, "p2"]);
  assert.equal(ann.state, seen[1]);
  // Changing it in place throws rather than parting the mirror from the server's state.
  assert.ok(Object.isFrozen(ann.state) && Object.isFrozen(ann.state.board));
  assert.throws(() => ann.state.board.reverse(), TypeError);
  assert.throws(() => (ann.state as { next: string }).next = "p1", TypeError);
  await ann.send("place", { cell: 1 });
  await waitFor(() => bob.seq === ann.seq, "bob to catch up");
  assert.deepEqual(ann.state, bob.state);
  ann.leave();
  bob.leave();
});

Deno.test("the room list filters and pages over HTTP and through the client's listRooms", async () => {
  await using t = await startTestServer();
  const { ann, bob } = await ticTacToePair(t); // full: playing, no free seat
  const waiting = await t.client({ name: "cy" }).create<typeof ticTacToe>("tic_tac_toe");
  const hidden = await t.server.manager.create("tic_tac_toe", undefined, { private: true });
  const arenas = [];
  for (let i = 0; i < 3; i++) arenas.push((await t.server.manager.create("arena")).id);
  const get = (query: string, headers: HeadersInit = {}) =>
    fetch(new URL(`/api/rooms${query}`, t.server.url), { headers });
  const ids = async (query: string) => {
    const response = await get(query);
    assert.equal(response.status, 200, query);
    const rooms = (await response.json()) as { id: string; open: boolean }[];
    return { ids: rooms.map((r) => r.id), total: Number(response.headers.get("x-total-count")) };
  };

  // Oldest first, private rooms left out; open is a free seat now.
  assert.deepEqual(await ids(""), { ids: [ann.roomId, waiting.roomId, ...arenas], total: 5 });
  assert.deepEqual(await ids("?game=tic_tac_toe&open=true"), { ids: [waiting.roomId], total: 1 });
  assert.deepEqual(await ids("?game=tic_tac_toe&open=false"), { ids: [ann.roomId], total: 1 });
  assert.deepEqual(await ids("?status=playing"), { ids: [ann.roomId], total: 1 });
  assert.deepEqual(await ids("?game=arena&limit=2"), { ids: arenas.slice(0, 2), total: 3 });
  assert.deepEqual(await ids("?game=arena&limit=2&offset=2"), { ids: arenas.slice(2), total: 3 });
  assert.deepEqual(await ids("?game=arena&offset=9"), { ids: [], total: 3 });

  // A query the server cannot read is refused, saying what to fix; a misspelt filter included.
  for (
    const [query, message] of [
      ["?limit=0", 'limit must be a whole number from 1 to 1000, not "0".'],
      ["?limit=1001", 'limit must be a whole number from 1 to 1000, not "1001".'],
      ["?offset=-1", 'offset must be a whole number from 0 to 999999999, not "-1".'],
      ["?open=yes", 'open must be true or false, not "yes".'],
      ["?status=over", 'status must be waiting, playing, finished or left out, not "over".'],
      ["?game=a&game=b", "Give game once."],
      [
        "?gmae=arena",
        'Unknown parameter "gmae": filter with game, status and open; page with ' +
        "limit and offset.",
      ],
    ]
  ) {
    const response = await get(query);
    assert.equal(response.status, 400, query);
    assert.deepEqual(await response.json(), { code: "bad_request", message }, query);
  }

  // Pages of allowed origins may read the list and its total; others get no CORS grant.
  const local = await get("?limit=1", { origin: "http://localhost:5173" });
  assert.equal(local.headers.get("access-control-allow-origin"), "http://localhost:5173");
  assert.equal(local.headers.get("access-control-expose-headers"), "x-total-count");
  await local.body?.cancel();
  // Refusals too, so that a browser client reads the bad_request rather than a network error.
  const refused = await get("?limit=0", { origin: "http://localhost:5173" });
  assert.equal(refused.status, 400);
  assert.equal(refused.headers.get("access-control-allow-origin"), "http://localhost:5173");
  await refused.body?.cancel();
  const foreign = await get("?limit=1", { origin: "https://evil.example" });
  assert.equal(foreign.headers.get("access-control-allow-origin"), null);
  await foreign.body?.cancel();

  // The client: same list, typed; a query the server would refuse fails before any request.
  const client = t.client({ name: "dee" });
  const open = await client.listRooms({ game: "tic_tac_toe", open: true });
  assert.deepEqual(open.rooms.map((r) => [r.id, r.players, r.maxPlayers, r.open]), [
    [waiting.roomId, 1, 2, true],
  ]);
  assert.equal(open.total, 1);
  const joined = await client.join<typeof ticTacToe>(open.rooms[0].id);
  assert.equal(joined.player, "p2");
  assert.deepEqual(await client.listRooms({ game: "tic_tac_toe", open: true }), {
    rooms: [],
    total: 0,
  });
  const page = await client.listRooms({ game: "arena", limit: 1, offset: 1 });
  assert.deepEqual([page.rooms.map((r) => r.id), page.total], [[arenas[1]], 3]);
  await assert.rejects(() => client.listRooms({ limit: 0 }), TypeError);
  await assert.rejects(
    () => client.listRooms({ status: "over" as "playing" }),
    /status must be waiting, playing, finished or left out/,
  );
  const nowhere = connect(`http://127.0.0.1:${closedPort()}`);
  await assert.rejects(() => nowhere.listRooms(), { code: "unreachable" });
  assert.ok(hidden.private);
  for (const room of [ann, bob, waiting, joined]) room.leave();
});

Deno.test("a client creates a private room over its socket: unlisted, not matched, joined by id", async () => {
  await using t = await startTestServer();
  const ann = await t.client({ name: "ann" })
    .create<typeof ticTacToe>("tic_tac_toe", undefined, { private: true });
  assert.equal(ann.roomId.length, 16, "a private room's id is its invitation");
  assert.deepEqual(await t.client().listRooms(), { rooms: [], total: 0 });
  const cy = await t.client({ name: "cy" }).joinOrCreate<typeof ticTacToe>("tic_tac_toe");
  assert.notEqual(cy.roomId, ann.roomId, "join_or_create does not pick a private room");
  assert.equal(cy.roomId.length, 8);
  assert.deepEqual((await t.client().listRooms()).rooms.map((r) => r.id), [cy.roomId]);
  const bob = await t.client({ name: "bob" }).join<typeof ticTacToe>(ann.roomId);
  assert.equal(bob.player, "p2");
  await ann.send("place", { cell: 4 });
  assert.equal(t.server.manager.get(ann.roomId)!.private, true);
  // Only a create makes a room private, and a join that asks otherwise is told so.
  using raw = await openRaw(t.server.wsUrl);
  const refused = await raw.join({ mode: "join_or_create", game: "tic_tac_toe", private: true })
    .then(() => "joined", (e: Error) => e.message);
  assert.match(refused, /^join refused: bad_field p \(private\) is for a create join;/);
  for (const room of [ann, bob, cy]) room.leave();
});

Deno.test("the room listing reflects joins and leaves", async () => {
  await using t = await startTestServer();
  const listing = async () => {
    const response = await fetch(new URL("/api/rooms?game=arena", t.server.url));
    return (await response.json()) as { id: string; players: number; maxPlayers: number }[];
  };
  const created = await fetch(new URL("/api/rooms", t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "arena" }),
  });
  assert.equal(created.status, 201);
  const { id } = await created.json();
  assert.deepEqual((await listing()).map((r) => [r.id, r.players, r.maxPlayers]), [[id, 0, 8]]);
  const one = await t.client({ name: "one" }).join<typeof arena>(id);
  const two = await t.client({ name: "two" }).join<typeof arena>(id);
  assert.equal((await listing())[0].players, 2);
  one.leave();
  await waitFor(() => t.server.manager.list()[0].players === 1, "leave reflected");
  assert.equal((await listing())[0].players, 1);
  const single = await fetch(new URL(`/api/rooms/${id}`, t.server.url));
  assert.equal((await single.json()).players, 1);
  const missing = await fetch(new URL("/api/rooms/nope", t.server.url));
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).code, "room_not_found");
  two.leave();
});

Deno.test("HTTP errors are JSON with a code and message", async () => {
  await using t = await startTestServer();
  const bad = await fetch(new URL("/api/rooms", t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "chess" }),
  });
  assert.equal(bad.status, 404);
  assert.equal((await bad.json()).code, "game_not_found");
  const games = await (await fetch(new URL("/api/games", t.server.url))).json();
  assert.deepEqual(
    games.map((g: { name: string }) => g.name),
    ["tic_tac_toe", "connect_four", "arena", "secret_cards"],
  );
  const health = await fetch(new URL("/health", t.server.url));
  assert.equal((await health.json()).status, "ok");
  assert.equal(health.headers.get("x-content-type-options"), "nosniff");
});

Deno.test("the log follows a room by its id: created, joins, game over, disposed", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("info", (line) => lines.push(JSON.parse(line)));
  await using t = await startTestServer({ FINISHED_RETENTION_MS: "50" }, { log });
  const { ann, bob } = await ticTacToePair(t);
  for (const [who, cell] of [[ann, 0], [bob, 3], [ann, 1], [bob, 4], [ann, 2]] as const) {
    await who.send("place", { cell });
  }
  const room = ann.roomId;
  const about = (msg: string) => lines.filter((l) => l.msg === msg && l.room === room);
  await waitFor(() => about("room disposed").length === 1, "the room disposed", 10_000);
  assert.equal(about("room created").length, 1);
  assert.equal(about("joined").length, 2, "each join names the room");
  assert.deepEqual(about("game over")[0]?.outcome, { winners: ["p1"], reason: "three in a row" });
  assert.equal(about("room disposed")[0]?.reason, "room_closed");
  ann.leave();
  bob.leave();
});

Deno.test("errors about a client's room id or game name do not echo a flood back", async () => {
  await using t = await startTestServer();
  const flood = "x".repeat(8000);
  for (const fields of [{ mode: "join", room: flood }, { mode: "create", game: flood }] as const) {
    using raw = await openRaw(t.server.wsUrl);
    const refused = await raw.join(fields).then(() => "joined", (e: Error) => e.message);
    assert.match(refused, /^join refused: (room|game)_not_found No (room|game named) "x{64}…"\.$/);
  }
  const lookup = await fetch(new URL(`/api/rooms/${flood}`, t.server.url));
  assert.equal(lookup.status, 404);
  assert.ok((await lookup.text()).length < 200);
});

Deno.test("POST /api/rooms while the server shuts down answers 503 server_restart", async () => {
  const manager = new RoomManager({ games: exampleGames });
  const app = createApp({
    manager,
    config: loadConfig({}),
    log: silentLogger,
    metrics: new Metrics(),
    isDraining: () => true,
  });
  // The manager is stopped too, as during a shutdown: a retry elsewhere is what the client needs.
  manager.dispose("server_restart");
  const response = await app.fetch(
    new Request("http://localhost/api/rooms", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ game: "tic_tac_toe" }),
    }),
  );
  assert.equal(response.status, 503);
  assert.equal((await response.json()).code, "server_restart");
});

// Last in the file: a state that is not data must not crash the server anywhere (an uncaught
// error would cancel the tests after these).

/** Its setup makes a state the protocol cannot carry (a common "nothing yet" value). */
const race = defineGame({
  name: "race",
  players: { min: 1, max: 2 },
  setup: () => ({ best: Infinity }),
  actions: {},
});

Deno.test("a game whose state is not data gets internal (never a client-frame code), logged with its name; the server plays on", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("info", (line) => lines.push(JSON.parse(line)));
  await using t = await startTestServer({}, { log, games: [...exampleGames, race, gauge] });
  // Refused at creation, over HTTP and over a socket, rather than at every join.
  const created = await fetch(new URL("/api/rooms", t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "race" }),
  });
  assert.equal(created.status, 500);
  assert.deepEqual(await created.json(), {
    code: "internal",
    message: "Unexpected server error.",
  });
  using racer = await openRaw(t.server.wsUrl);
  await assert.rejects(racer.join({ mode: "create", game: "race" }), /join refused: internal /);
  assert.equal((await racer.closedWithin(5000)).code, 1011);
  assert.equal(t.server.manager.size, 0);

  // A state that turns NaN later costs that room's players their connection (to resume), no more.
  using spoiler = await openRaw(t.server.wsUrl);
  await spoiler.join({ mode: "create", game: "gauge" });
  await spoiler.send({ kind: "action", seq: 1, name: "spoil", payload: null });
  const error = await spoiler.next((m) => m.kind === "error");
  assert.equal(error.kind === "error" && error.code, "internal");
  assert.equal((await spoiler.closedWithin(5000)).code, 1011);
  // Other rooms play on.
  const { ann, bob } = await ticTacToePair(t);
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  const roomErrors = lines.filter((l) => l.msg === "room error");
  assert.ok(
    roomErrors.some((l) => l.game === "race" && /state\.best: Infinity/.test(String(l.error))),
    JSON.stringify(roomErrors),
  );
  assert.ok(
    roomErrors.some((l) => l.game === "gauge" && /state\.level: NaN/.test(String(l.error))),
    JSON.stringify(roomErrors),
  );
  ann.leave();
  bob.leave();
});

Deno.test("a room whose state turned NaN is not saved, and its save timer does not crash the server", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("info", (line) => lines.push(JSON.parse(line)));
  await using t = await startTestServer({ SNAPSHOT_EVERY_MS: "5" }, {
    log,
    games: [...exampleGames, gauge],
  });
  using spoiler = await openRaw(t.server.wsUrl);
  await spoiler.join({ mode: "create", game: "gauge" });
  await spoiler.send({ kind: "action", seq: 1, name: "spoil", payload: null });
  await spoiler.closedWithin(5000);
  await waitFor(() => lines.some((l) => l.msg === "room not saved"), "a failed save logged");
  const notSaved = lines.find((l) => l.msg === "room not saved")!;
  // The game's bug, not the storage's: an operator must not go looking at KV.
  assert.equal(notSaved.code, "state_not_data");
  assert.match(String(notSaved.error), /state\.level: NaN is not a finite number/);
  const { ann, bob } = await ticTacToePair(t);
  await ann.send("place", { cell: 0 });
  ann.leave();
  bob.leave();
});

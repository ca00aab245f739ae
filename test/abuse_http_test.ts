/**
 * Abuse suite, HTTP and internals: security headers on every kind of response, bounded
 * request bodies, errors that tell clients a code and a plain message while the stack and
 * the error text go to the server log only, and the upgrade's subprotocol answer.
 */
import assert from "node:assert/strict";
import { encodeValue, PROTOCOL_VERSION } from "../protocol/mod.ts";
import { concatBytes } from "../protocol/bytes.ts";
import { INTERNAL_SECRET, startAbuseServer } from "./support/abuse_harness.ts";
import { openRaw, rawUpgrade } from "./support/raw_socket.ts";
import { waitFor } from "./support/test_server.ts";

const explodingAuth = (request: Request) => {
  if (request.headers.has("x-explode")) throw new Error(`user store down: ${INTERNAL_SECRET}`);
  return { userId: crypto.randomUUID(), name: "guest" };
};

function assertSecurityHeaders(headers: Headers, what: string): void {
  assert.equal(headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(headers.get("x-frame-options"), "SAMEORIGIN", what);
  assert.equal(headers.get("referrer-policy"), "no-referrer", what);
  assert.match(headers.get("strict-transport-security") ?? "", /max-age=\d+/, what);
  assert.equal(headers.get("cross-origin-opener-policy"), "same-origin", what);
  assert.match(headers.get("content-security-policy") ?? "", /default-src 'self'/, what);
  assert.equal(headers.get("x-powered-by"), null, what);
}

Deno.test("http: security headers on pages, API answers, JSON errors and refused upgrades", async () => {
  await using s = await startAbuseServer({ ALLOWED_ORIGINS: "https://game.example" });
  const base = s.t.server.url;
  const page = await fetch(new URL("/", base));
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  assertSecurityHeaders(page.headers, "GET /");
  await page.body?.cancel();
  for (
    const [path, status] of [["/health", 200], ["/api/games", 200], ["/nope", 404], [
      "/ws",
      400,
    ]] as const
  ) {
    const response = await fetch(new URL(path, base));
    assert.equal(response.status, status, path);
    assert.match(response.headers.get("content-type") ?? "", /application\/json/, path);
    assertSecurityHeaders(response.headers, `GET ${path}`);
    await response.body?.cancel();
  }
  const refused = await rawUpgrade(s.t.server.wsUrl, { origin: "https://evil.example" });
  assert.ok(!refused.ok);
  if (!refused.ok) {
    assert.equal(refused.refused.status, 403);
    assertSecurityHeaders(refused.refused.headers, "refused upgrade");
  }
  await s.finish();
});

Deno.test("http: request bodies are bounded and bad ones get 4xx JSON", async () => {
  await using s = await startAbuseServer();
  const post = (body: BodyInit, type = "application/json") =>
    fetch(new URL("/api/rooms", s.t.server.url), {
      method: "POST",
      headers: { "content-type": type },
      body,
    });
  const cases: [BodyInit, number, string][] = [
    [
      JSON.stringify({ game: "tic_tac_toe", options: {}, pad: "x".repeat(1024 * 1024) }),
      413,
      "payload_too_large",
    ],
    ["{not json", 400, "bad_request"],
    [JSON.stringify({ game: 7 }), 400, "bad_request"],
    [JSON.stringify({ game: "tic_tac_toe", options: [1] }), 400, "bad_request"],
    [JSON.stringify({ game: "no_such_game" }), 404, "game_not_found"],
    [JSON.stringify({ game: "connect_four", options: { rows: "many" } }), 400, "bad_options"],
    [JSON.stringify({ game: "tic_tac_toe", private: "yes" }), 400, "bad_request"],
    // Options that could not be saved (or sent in a join frame) are refused up front.
    ['{"game": "tic_tac_toe", "options": {"n": 1e999}}', 400, "bad_options"],
    ['{"game": "tic_tac_toe", "options": {"__proto__": {"x": 1}}}', 400, "bad_options"],
    [
      `{"game": "tic_tac_toe", "options": {"a": ${"[".repeat(100)}${"]".repeat(100)}}}`,
      400,
      "bad_options",
    ],
    [
      `{"game": "tic_tac_toe", "options": {"a": ${"[".repeat(7000)}${"]".repeat(7000)}}}`,
      400,
      "bad_options",
    ],
  ];
  for (const [body, status, code] of cases) {
    const response = await post(body);
    assert.equal(response.status, status, code);
    const answer = await response.json();
    assert.equal(answer.code, code, String(body).slice(0, 80));
    assert.doesNotMatch(answer.message, /call stack/i, "engine errors stay in the log");
  }
  // A cross-site form can post text/plain without a preflight: refused, as are other origins.
  const plain = await post(JSON.stringify({ game: "tic_tac_toe" }), "text/plain");
  assert.equal(plain.status, 400);
  assert.match((await plain.json()).message, /application\/json/);
  // JSON is UTF-8: a body declared in another charset is refused, not misread.
  const body = JSON.stringify({ game: "tic_tac_toe" });
  const utf16 = await post(body, "application/json; charset=utf-16");
  assert.equal(utf16.status, 400);
  assert.match((await utf16.json()).message, /UTF-8/);
  const foreign = await fetch(new URL("/api/rooms", s.t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json", origin: "https://evil.example" },
    body: JSON.stringify({ game: "tic_tac_toe" }),
  });
  assert.equal(foreign.status, 403);
  assert.equal((await foreign.json()).code, "forbidden_origin");
  // A chunked body (no Content-Length) is counted as it streams.
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < 64; i++) controller.enqueue(new Uint8Array(1024).fill(0x20));
      controller.close();
    },
  });
  const chunked = await post(stream);
  assert.equal(chunked.status, 413);
  await chunked.body?.cancel();
  assert.equal(s.t.server.manager.size, 0);
  // UTF-8, declared or not, is read.
  for (const type of ["application/json; charset=UTF-8", 'application/json;charset="utf-8"']) {
    const created = await post(body, type);
    assert.equal(created.status, 201, type);
    await created.body?.cancel();
  }
  await s.finish();
});

Deno.test("http: an unexpected error is a 500 with a plain message; the stack goes to the log", async () => {
  await using s = await startAbuseServer({ MAX_CONNECTIONS_PER_IP: "2" }, {
    authenticate: explodingAuth,
  });
  // Five in a row with a cap of two connections: a failed upgrade gives its slot back.
  for (let i = 0; i < 5; i++) {
    const result = await rawUpgrade(s.t.server.wsUrl, { headers: { "x-explode": "1" } });
    assert.ok(!result.ok);
    if (result.ok) continue;
    assert.equal(result.refused.status, 500);
    assert.deepEqual(JSON.parse(result.refused.body), {
      code: "internal",
      message: "Unexpected server error.",
    });
    assert.ok(!result.refused.body.includes(INTERNAL_SECRET));
    assertSecurityHeaders(result.refused.headers, "500");
  }
  // Game code that throws while a room is created over HTTP.
  const response = await fetch(new URL("/api/rooms", s.t.server.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ game: "faulty", options: { broken: true } }),
  });
  assert.equal(response.status, 500);
  const text = await response.text();
  assert.deepEqual(JSON.parse(text), { code: "internal", message: "Unexpected server error." });
  const logged = s.errors().filter((l) => l.msg === "http handler failed");
  assert.equal(logged.length, 5);
  assert.ok(logged.every((l) => String(l.error).includes(INTERNAL_SECRET)));
  assert.ok(String(logged[0].error).includes("at "), "the log has the stack");
  // A game's own bug is logged as such, with the game's name and the stack.
  const roomErrors = s.errors().filter((l) => l.msg === "room error");
  assert.equal(roomErrors.length, 1);
  assert.equal(roomErrors[0].game, "faulty");
  assert.ok(String(roomErrors[0].error).includes(`${INTERNAL_SECRET}\n    at `));
  await s.finish({ expectedErrors: ["http handler failed", "room error"] });
});

Deno.test("ws: game code that throws reaches the client as a bare internal code", async () => {
  await using s = await startAbuseServer();
  using raw = await openRaw(s.t.server.wsUrl);
  await raw.join({ mode: "create", game: "faulty" });
  const from = raw.messages.length;
  await raw.send({ kind: "action", seq: 1, name: "explode", payload: null });
  const reject = await raw.next((m) => m.kind === "reject", 5000, from);
  assert.equal(reject.kind === "reject" && reject.code, "internal");
  assert.ok(reject.kind === "reject" && !reject.message.includes(INTERNAL_SECRET));
  // The room goes on: the next action is applied.
  await raw.send({ kind: "action", seq: 2, name: "bump", payload: null });
  await raw.next((m) => m.kind === "delta", 5000, from);
  assert.equal(raw.close, null);
  const roomErrors = s.errors().filter((l) => l.msg === "room error");
  assert.equal(roomErrors.length, 1);
  assert.ok(String(roomErrors[0].error).includes(INTERNAL_SECRET));

  // A room whose setup throws: the join fails with internal and 1011, the text stays here.
  using broken = await openRaw(s.t.server.wsUrl);
  await assert.rejects(
    broken.join({ mode: "create", game: "faulty", options: { broken: true } }),
    /internal Unexpected server error\./,
  );
  const close = await broken.closedWithin(5000);
  assert.equal(close.code, 1011);
  assert.ok(!JSON.stringify(broken.messages).includes(INTERNAL_SECRET));
  // Logged once, with the game's name and the stack, not again as a bare "join failed".
  await waitFor(() => s.errors().length >= 2, "the setup's error logged");
  assert.deepEqual(s.errors().map((l) => l.msg), ["room error", "room error"]);
  const setupError = s.errors()[1];
  assert.equal(setupError.msg, "room error");
  assert.equal(setupError.game, "faulty");
  assert.ok(String(setupError.error).includes(`${INTERNAL_SECRET}\n    at `));
  raw.abort();
  await s.finish({ expectedErrors: ["room error"] });
});

Deno.test("ws: the upgrade answers Sec-WebSocket-Protocol arbiter.v1 only when it was offered", async () => {
  await using s = await startAbuseServer();
  const cases: [offered: string | null, answered: string | null][] = [
    ["arbiter.v1", "arbiter.v1"],
    ["chat, arbiter.v1", "arbiter.v1"],
    // A browser fails a handshake that names a protocol it did not offer.
    [null, null],
    ["chat", null],
  ];
  for (const [offered, answered] of cases) {
    const raw = await openRaw(s.t.server.wsUrl, { protocol: offered });
    try {
      assert.equal(raw.headers.get("sec-websocket-protocol"), answered, `offered: ${offered}`);
      // Either way the socket speaks the protocol.
      const welcome = await raw.join({ mode: "create", game: "tic_tac_toe" });
      assert.equal(welcome.player, "p1");
      await raw.send({ kind: "leave" });
      await raw.sendClose(1000);
      await raw.closedWithin(5000);
    } finally {
      raw.abort();
    }
  }
  await s.finish();
});

Deno.test("http and ws: options null means the game's defaults on both paths, as options left out", async () => {
  await using s = await startAbuseServer();
  const { manager } = s.t.server;
  const post = async (body: unknown) => {
    const response = await fetch(new URL("/api/rooms", s.t.server.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, answer: await response.json() };
  };
  const absent = await post({ game: "connect_four" });
  assert.equal(absent.status, 201);
  const defaults = manager.get(absent.answer.id)!.options;
  const viaHttp = await post({ game: "connect_four", options: null });
  assert.equal(viaHttp.status, 201, JSON.stringify(viaHttp.answer));
  assert.deepEqual(manager.get(viaHttp.answer.id)!.options, defaults);
  // A join frame whose o is null (written by hand: the reference encoder leaves it out).
  using raw = await openRaw(s.t.server.wsUrl);
  const body = encodeValue({ m: 1, g: "connect_four", o: null });
  await raw.sendBinary(concatBytes([new Uint8Array([0x01, PROTOCOL_VERSION]), body]));
  const welcome = await raw.next((m) => m.kind === "welcome" || m.kind === "error");
  assert.equal(welcome.kind, "welcome", JSON.stringify(welcome));
  assert.deepEqual(manager.get(welcome.kind === "welcome" ? welcome.room : "")!.options, defaults);
  // The client library too (a JavaScript caller may pass null).
  const room = await s.t.client({ reconnect: false })
    .create("connect_four", null as unknown as Record<string, never>);
  assert.deepEqual(manager.get(room.roomId)!.options, defaults);
  // Anything else that is not an object is still refused on both paths.
  for (const options of [[1], "x", 3, true]) {
    const refused = await post({ game: "connect_four", options });
    assert.equal(refused.status, 400, JSON.stringify(options));
    assert.equal(refused.answer.code, "bad_request");
  }
  using wrong = await openRaw(s.t.server.wsUrl);
  const array = encodeValue({ m: 1, g: "connect_four", o: [] });
  await wrong.sendBinary(concatBytes([new Uint8Array([0x01, PROTOCOL_VERSION]), array]));
  const close = await wrong.closedWithin(5000);
  assert.deepEqual(close.errors.map((e) => [e.code, e.message]), [
    ["bad_field", "join.options (o) must be a map"],
  ]);
  room.leave();
  raw.abort();
  await s.finish();
});

Deno.test("http: GET /api/rooms/:id and /health find rooms without listing them; answers as before", async () => {
  await using s = await startAbuseServer();
  const { manager } = s.t.server;
  const base = s.t.server.url;
  const post = async (body: unknown) => {
    const response = await fetch(new URL("/api/rooms", base), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 201);
    return (await response.json()).id as string;
  };
  const open = await s.t.client({ name: "ann", reconnect: false }).create("tic_tac_toe");
  const hidden = await post({ game: "arena", private: true });
  // Someone in it, so that it outlives IDLE_ROOM_MS.
  const guest = await s.t.client({ name: "bob", reconnect: false }).join(hidden);
  const listed = manager.list();
  assert.equal(listed.length, 2);
  // From here on, listing every room is what these routes must not do.
  let listings = 0;
  const list = manager.list;
  manager.list = (...args) => {
    listings++;
    return list.apply(manager, args);
  };
  try {
    for (const id of [open.roomId, hidden]) {
      const response = await fetch(new URL(`/api/rooms/${id}`, base));
      assert.equal(response.status, 200, id);
      // The same summary as the listing has, private rooms included (flagged), as before.
      assert.deepEqual(await response.json(), listed.find((room) => room.id === id));
    }
    const [one, two] = [open.roomId, hidden].map((id) => listed.find((r) => r.id === id)!);
    assert.equal(one.private, false);
    assert.equal(one.players, 1);
    assert.equal(two.private, true);
    assert.equal(two.players, 1);
    for (const id of ["nope", open.roomId.toUpperCase(), `${open.roomId}x`, "__proto__", "size"]) {
      const response = await fetch(new URL(`/api/rooms/${id}`, base));
      assert.equal(response.status, 404, id);
      assert.deepEqual(await response.json(), {
        code: "room_not_found",
        message: `No room with id ${JSON.stringify(id)}.`,
      });
    }
    const health = await fetch(new URL("/health", base));
    assert.equal(health.status, 200);
    const answer = await health.json();
    assert.deepEqual(Object.keys(answer), ["status", "uptimeSeconds", "rooms", "connections"]);
    assert.equal(answer.status, "ok");
    assert.equal(answer.rooms, 2, "private rooms count too");
    assert.equal(answer.connections, 2);
    assert.equal(listings, 0, "neither route listed the rooms");
  } finally {
    manager.list = list;
  }
  // The public listing still leaves the private room out.
  const lobby = await (await fetch(new URL("/api/rooms", base))).json();
  assert.deepEqual(lobby.map((room: { id: string }) => room.id), [open.roomId]);
  open.leave();
  guest.leave();
  await waitFor(() => manager.size === 0, "rooms disposed");
  const after = await (await fetch(new URL("/health", base))).json();
  assert.equal(after.rooms, 0);
  const gone = await fetch(new URL(`/api/rooms/${open.roomId}`, base));
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  await s.finish();
});

/**
 * Abuse suite, malformed input and churn over real sockets: a catalog of broken frames each
 * answered with its documented code, a socket-level fuzz campaign (random and mutated frames
 * from many connections, checked against the reference decoder), and 1,000 rapid
 * connect/disconnect cycles after which the server's bookkeeping and heap are back where they
 * started (`abuse_churn_probe.ts`).
 */
import assert from "node:assert/strict";
import {
  ActionPayloadError,
  closeCodeFor,
  decodeClientMessage,
  type DecodeLimits,
  encodeClientMessage,
  type ErrorCode,
  PROTOCOL_VERSION,
  ProtocolError,
} from "../protocol/mod.ts";
import { randomClientMessage, Rng } from "../tools/protocol_fixtures.ts";
import { runChurnProbe } from "./abuse_churn_probe.ts";
import { startAbuseServer } from "./support/abuse_harness.ts";
import { openRaw, type RawClose, type RawSocket } from "./support/raw_socket.ts";

const LIMITS: DecodeLimits = { maxFrameBytes: 16 * 1024 };

const bytes = (...parts: (number | number[] | Uint8Array)[]) =>
  new Uint8Array(parts.flatMap((p) => typeof p === "number" ? [p] : [...p]));

const join = (fields: Record<string, unknown> = {}) =>
  encodeClientMessage({
    kind: "join",
    version: PROTOCOL_VERSION,
    mode: "join_or_create",
    game: "tic_tac_toe",
    ...fields,
  }).slice();

/**
 * What the reference decoder says about a frame: the error code that closes the connection, or
 * null when it decodes (or is an action refused on its own, which the connection survives).
 */
function decodeError(frame: Uint8Array): ErrorCode | null {
  try {
    decodeClientMessage(frame, LIMITS);
    return null;
  } catch (error) {
    if (error instanceof ActionPayloadError) return null;
    if (error instanceof ProtocolError) return error.code;
    throw error;
  }
}

Deno.test("fuzz: a catalog of malformed frames, each answered with its documented error and close code", async () => {
  await using s = await startAbuseServer();
  await s.bystander();
  const validJoin = join();
  const catalog: { what: string; frame: Uint8Array; code: ErrorCode; joined?: boolean }[] = [
    { what: "empty frame", frame: bytes(), code: "empty_frame" },
    { what: "unknown kind", frame: bytes(0x7f, 1, 2, 3), code: "unknown_kind" },
    { what: "a server kind", frame: bytes(0x10, 0), code: "unknown_kind" },
    { what: "random bytes", frame: bytes(0xde, 0xad, 0xbe, 0xef), code: "unknown_kind" },
    { what: "truncated join", frame: validJoin.slice(0, -3), code: "bad_cbor" },
    { what: "join without a version", frame: bytes(0x01), code: "bad_varint" },
    { what: "varint cut short", frame: bytes(0x03, 0x80), code: "bad_varint" },
    { what: "varint too long", frame: bytes(0x03, Array(11).fill(0xff), 0x01), code: "bad_varint" },
    { what: "non-minimal varint", frame: bytes(0x03, 0x80, 0x00), code: "bad_varint" },
    { what: "ping with trailing bytes", frame: bytes(0x03, 0x01, 0x00), code: "trailing_bytes" },
    { what: "leave with a body", frame: bytes(0x04, 0x00), code: "trailing_bytes" },
    { what: "action without a name", frame: bytes(0x02, 0x01), code: "bad_field" },
    {
      what: "array length bomb (2^32 items declared)",
      frame: bytes(0x02, 0x01, 0x00, 0x9a, 0xff, 0xff, 0xff, 0xff),
      code: "bad_cbor",
    },
    {
      what: "string length bomb (2^53 - 1 bytes declared)",
      frame: bytes(0x02, 0x01, 0x00, 0x7b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
      code: "bad_cbor",
    },
    { what: "indefinite-length map", frame: bytes(0x02, 0x01, 0x00, 0xbf, 0xff), code: "bad_cbor" },
    { what: "undefined", frame: bytes(0x02, 0x01, 0x00, 0xf7), code: "bad_cbor" },
    { what: "NaN", frame: bytes(0x02, 0x01, 0x00, 0xf9, 0x7e, 0x00), code: "bad_cbor" },
    { what: "bad UTF-8", frame: bytes(0x02, 0x01, 0x62, 0xc3, 0x28), code: "bad_cbor" },
    { what: "a tag", frame: bytes(0x02, 0x01, 0x00, 0xc1, 0x00), code: "forbidden_tag" },
    {
      what: "__proto__ key",
      frame: bytes(0x02, 0x01, 0x00, 0xa1, 0x69, [...new TextEncoder().encode("__proto__")], 0x01),
      code: "forbidden_key",
    },
    {
      what: "duplicate keys",
      frame: bytes(0x02, 0x01, 0x00, 0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02),
      code: "bad_cbor",
    },
    {
      what: "join with mode 9",
      frame: bytes(0x01, 0x01, 0xa1, 0x61, 0x6d, 0x09),
      code: "bad_field",
    },
    {
      what: "join of protocol version 2",
      frame: bytes(0x01, 0x02, 0xff, 0xff),
      code: "unsupported_version",
    },
    { what: "a second join", frame: validJoin, code: "already_joined", joined: true },
    { what: "17 KiB frame", frame: new Uint8Array(17 * 1024).fill(0x03), code: "frame_too_large" },
  ];
  for (const entry of catalog) {
    if (entry.code !== "already_joined") {
      assert.equal(decodeError(entry.frame), entry.code, `${entry.what}: reference decoder`);
    }
    using raw = await openRaw(s.t.server.wsUrl);
    if (entry.joined) await raw.join({ mode: "join_or_create", game: "tic_tac_toe" });
    await raw.sendBinary(entry.frame);
    const close = await raw.closedWithin(5000);
    assert.deepEqual(close.errors.map((e) => e.code), [entry.code], entry.what);
    assert.equal(close.code, closeCodeFor(entry.code), entry.what);
  }
  await s.finish();
});

Deno.test("fuzz: an action too large to read is refused on its own; the connection stays", async () => {
  await using s = await startAbuseServer();
  await s.bystander();
  const catalog: { what: string; frame: Uint8Array; code: ErrorCode; says: RegExp }[] = [
    {
      what: "nesting bomb (8,000 nested arrays)",
      frame: bytes(0x02, 0x07, 0x00, Array(8000).fill(0x81), 0x00),
      code: "bad_payload",
      says: /nested deeper than 32/,
    },
    {
      what: "item bomb (5,000 items)",
      frame: bytes(0x02, 0x07, 0x00, 0x99, 0x13, 0x88, Array(5000).fill(0x00)),
      code: "bad_payload",
      says: /more than 4096 items/,
    },
    {
      what: "long string (9 KiB)",
      frame: bytes(0x02, 0x07, 0x00, 0x79, 0x24, 0x00, Array(9216).fill(0x61)),
      code: "bad_payload",
      says: /string of 9216 bytes exceeds 8192/,
    },
    {
      what: "17 KiB action frame",
      frame: bytes(0x02, 0x07, 0x00, 0x7a, 0x00, 0x00, 0x44, 0x00, Array(17_408).fill(0x61)),
      code: "frame_too_large",
      says: /frames are limited to 16384/,
    },
  ];
  for (const entry of catalog) {
    for (const joined of [false, true]) {
      using raw = await openRaw(s.t.server.wsUrl);
      if (joined) await raw.join({ mode: "join_or_create", game: "tic_tac_toe" });
      const from = raw.messages.length;
      await raw.sendBinary(entry.frame);
      const reject = await raw.next((m) => m.kind === "reject", 5000, from);
      assert.equal(reject.kind === "reject" && reject.seq, 7, entry.what);
      // Not joined, the action is refused as any action would be, before its payload matters.
      const code = joined ? entry.code : "not_joined";
      assert.equal(reject.kind === "reject" && reject.code, code, entry.what);
      if (joined) assert.match(reject.kind === "reject" ? reject.message : "", entry.says);
      await raw.send({ kind: "ping", time: 5 });
      await raw.next((m) => m.kind === "pong", 5000, from);
      assert.equal(raw.close, null, `${entry.what}: still open`);
    }
  }
  await s.finish();
});

interface CampaignStats {
  frames: number;
  connections: number;
  fatal: Record<string, number>;
  replies: Record<string, number>;
  joined: number;
}

/** A frame for the campaign: random, mutated from a valid one, garbage, a bomb, or text. */
function fuzzFrame(rng: Rng, corpus: Uint8Array[]): { text?: string; frame: Uint8Array } {
  const roll = rng.next();
  if (roll < 0.45) {
    const message = randomClientMessage(rng);
    // Leaves end the connection; keep them rare so the campaign reaches deeper states.
    if (message.kind === "leave" && rng.chance(0.8)) return { frame: bytes(0x03, rng.int(128)) };
    return { frame: encodeClientMessage(message).slice() };
  }
  if (roll < 0.8) return { frame: mutate(rng, rng.pick(corpus), corpus) };
  if (roll < 0.9) {
    const frame = new Uint8Array(rng.int(64)).map(() => rng.int(256));
    if (frame.length && rng.chance(0.7)) frame[0] = 1 + rng.int(4);
    return { frame };
  }
  if (roll < 0.93) {
    // Around the size limit.
    const frame = new Uint8Array(16 * 1024 - 4 + rng.int(8));
    frame[0] = rng.chance(0.5) ? 0x02 : 0x03;
    return { frame };
  }
  if (roll < 0.97) {
    const depth = 20 + rng.int(200);
    return { frame: bytes(0x02, 0x01, 0x00, Array(depth).fill(rng.pick([0x81, 0xa1])), 0x00) };
  }
  return { text: rng.chance(0.5) ? '{"kind":"action"}' : "", frame: new Uint8Array() };
}

function mutate(rng: Rng, base: Uint8Array, pool: Uint8Array[]): Uint8Array {
  let b = base.slice();
  for (let round = 1 + rng.int(3); round > 0; round--) {
    switch (rng.int(6)) {
      case 0:
        if (b.length) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) {
          b[rng.int(b.length)] = rng.pick([
            0x00,
            0x17,
            0x18,
            0x1b,
            0x7f,
            0x80,
            0x9f,
            0xbf,
            0xc0,
            0xf7,
            0xff,
          ]);
        }
        break;
      case 2:
        b = b.slice(0, rng.int(b.length + 1));
        break;
      case 3: {
        const other = rng.pick(pool);
        const cut = rng.int(b.length + 1);
        b = bytes(b.subarray(0, cut), other.subarray(rng.int(other.length + 1)));
        break;
      }
      case 4: {
        const at = rng.int(b.length + 1);
        b = bytes(
          b.subarray(0, at),
          Array.from({ length: 1 + rng.int(4) }, () => rng.int(256)),
          b.subarray(at),
        );
        break;
      }
      default:
        if (b.length) b[0] = rng.pick([0x01, 0x02, 0x03, 0x04]);
    }
  }
  return b;
}

function fuzzCorpus(): Uint8Array[] {
  const action = (seq: number, name: string | number, payload: unknown) =>
    // deno-lint-ignore no-explicit-any
    encodeClientMessage({ kind: "action", seq, name, payload: payload as any }).slice();
  return [
    join(),
    join({ game: "arena" }),
    join({ mode: "create", game: "connect_four", name: "fuzz" }),
    join({ mode: "join", room: "ABCDEF" }),
    join({ mode: "join", room: "ABCDEF", resume: { session: "x".repeat(22), seq: 3 } }),
    join({ spectator: true, token: "t" }),
    action(1, "place", { cell: 4 }),
    action(2, 0, { cell: 8 }),
    action(3, "drop", { column: 3 }),
    action(4, "move", { dx: 1, dy: -1, seq: 4 }),
    action(5, "move", { dx: 0.5, dy: 0, seq: 5 }),
    encodeClientMessage({ kind: "ping", time: 123456 }).slice(),
    encodeClientMessage({ kind: "leave" }).slice(),
  ];
}

/**
 * One worker of the campaign: sends `count` frames, one at a time, reconnecting whenever the
 * server closes. After a frame the reference decoder accepts it waits for the effect (a pong
 * to a sentinel ping, a welcome or an error for a join); after one it refuses it waits for the
 * close. Everything the server answered is checked against the protocol.
 */
async function worker(url: string, seed: number, count: number, stats: CampaignStats) {
  const rng = new Rng(seed);
  const corpus = fuzzCorpus();
  let sentinel = 1_000_000 + seed * 100_000;
  let socket: RawSocket | null = null;
  let joined = false;
  const reconnect = async () => {
    socket = await openRaw(url);
    stats.connections++;
    joined = false;
    if (rng.chance(0.3)) {
      const game = rng.pick(["tic_tac_toe", "arena", "connect_four", "secret_cards"]);
      await socket.join({ mode: "join_or_create", game });
      joined = true;
      stats.joined++;
    }
  };
  // The server may end a connection on its own at any time: a finished room is disposed after
  // its retention time (room_closed), an idle socket times out (join_timeout).
  const endedByServer = (close: RawClose) => {
    const code = close.errors[0]?.code;
    if (code !== "room_closed" && code !== "join_timeout") return false;
    assert.ok(close.code === closeCodeFor(code) || close.code === 1006, `${code}: ${close.code}`);
    stats.fatal[code] = (stats.fatal[code] ?? 0) + 1;
    return true;
  };
  for (let i = 0; i < count; i++) {
    if (!socket) await reconnect();
    const raw: RawSocket = socket!;
    const { text, frame } = fuzzFrame(rng, corpus);
    stats.frames++;
    const from = raw.messages.length;
    let fatal: ErrorCode | "leave" | null;
    if (text !== undefined) {
      fatal = "text_frame";
      await raw.sendText(text);
    } else {
      const code = decodeError(frame);
      const kind = frame[0];
      fatal = code ?? (kind === 0x04 ? "leave" : kind === 0x01 && joined ? "already_joined" : null);
      await raw.sendBinary(frame);
    }
    if (fatal !== null) {
      const close = await raw.closedWithin(5000);
      socket = null;
      if (endedByServer(close)) continue;
      const got = close.errors.map((e) => e.code);
      if (fatal === "leave") {
        assert.deepEqual(got, [], "leave");
        assert.equal(close.code, 1000, "leave closes with 1000");
      } else {
        assert.deepEqual(got, [fatal], `frame ${hex(frame)}`);
        assert.equal(close.code, closeCodeFor(fatal), `frame ${hex(frame)}`);
      }
      stats.fatal[fatal] = (stats.fatal[fatal] ?? 0) + 1;
      continue;
    }
    try {
      if (frame[0] === 0x01) {
        // A join that decodes: a welcome, or an error and the matching close.
        const reply = await raw.next((m) => m.kind === "welcome" || m.kind === "error", 5000, from);
        if (reply.kind === "error") {
          const close = await raw.closedWithin(5000);
          assert.equal(close.code, closeCodeFor(reply.code), `join refused with ${reply.code}`);
          stats.fatal[reply.code] = (stats.fatal[reply.code] ?? 0) + 1;
          socket = null;
          continue;
        }
        joined = true;
        stats.joined++;
      }
      const time = sentinel++;
      await raw.send({ kind: "ping", time });
      await raw.next((m) => m.kind === "pong" && m.clientTime === time, 5000, from);
    } catch (error) {
      const close = raw.close ?? await raw.closedWithin(5000);
      if (!endedByServer(close)) throw error;
      socket = null;
      continue;
    }
    const error = raw.messages.slice(from).find((m) => m.kind === "error");
    if (error) {
      assert.ok(
        endedByServer(await raw.closedWithin(5000)),
        `${hex(frame)}: ${JSON.stringify(error)}`,
      );
      socket = null;
      continue;
    }
    for (const m of raw.messages.slice(from)) {
      const label = m.kind === "reject" ? `reject ${m.code}` : m.kind;
      stats.replies[label] = (stats.replies[label] ?? 0) + 1;
    }
    assert.deepEqual(raw.undecodable, []);
    assert.deepEqual(raw.texts, []);
  }
  (socket as RawSocket | null)?.abort();
}

function hex(frame: Uint8Array): string {
  const shown = [...frame.subarray(0, 40)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return frame.length > 40 ? `${shown}… (${frame.length} bytes)` : shown;
}

Deno.test("fuzz: 40 connections × 150 random and mutated frames; every answer is the documented one", async () => {
  await using s = await startAbuseServer({
    ACTION_RATE: "100000",
    ACTION_BURST: "100000",
    GRACE_MS: "200",
  });
  await s.bystander();
  const stats: CampaignStats = { frames: 0, connections: 0, fatal: {}, replies: {}, joined: 0 };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 40 }, (_, i) => worker(s.t.server.wsUrl, 0xab5e + i, 150, stats)),
  );
  console.log(
    `fuzz: ${stats.frames} frames over ${stats.connections} connections in ${
      Math.round(performance.now() - started)
    } ms`,
    JSON.stringify({ fatal: stats.fatal, replies: stats.replies, joined: stats.joined }),
  );
  assert.equal(stats.frames, 6000);
  // The campaign must reach past the decoder: joins, rooms and their rejects.
  for (const code of ["bad_cbor", "unknown_kind", "bad_varint", "frame_too_large", "text_frame"]) {
    assert.ok((stats.fatal[code] ?? 0) > 0, `never hit ${code}`);
  }
  assert.ok(stats.joined > 100, `${stats.joined} joins`);
  assert.ok(Object.keys(stats.replies).some((k) => k.startsWith("reject ")), "rooms answered");
  assert.ok((stats.replies.pong ?? 0) > 1000);
  await s.finish();
});

Deno.test("churn: 1,000 rapid connect/disconnect cycles leave no connection, slot, room or memory behind", async () => {
  // The scenario runs in a child process that can force garbage collection; it checks the
  // documented codes, the bystander room, the per-IP slots and the logs itself.
  const result = await runChurnProbe();
  const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
  const firstHalf = result.heapHalfwayBytes - result.heapBeforeBytes;
  const secondHalf = result.heapAfterBytes - result.heapHalfwayBytes;
  console.log(
    `churn: ${result.sessions} sessions, bystander ${result.bystanderRounds} rounds; heap after ` +
      `a full GC ${mb(result.heapBeforeBytes)} MB, +${mb(firstHalf)} MB after the first ` +
      `${result.cycles / 2} cycles, +${mb(secondHalf)} MB after the second`,
  );
  // What stays after the first half is one-off (about 0.6 MB here); the second half adds next
  // to nothing (0.02 MB on Deno 2.5, 0.13 MB on 2.9, whose V8 settles later and keeps less in
  // each later round) unless something leaks per connection: a socket kept by whoever tracked
  // it cost 0.37 MB per 500 cycles. Generous bounds on both.
  assert.ok(firstHalf < 2.5e6, `the first ${result.cycles / 2} cycles kept ${firstHalf} bytes`);
  assert.ok(secondHalf < 0.25e6, `the second ${result.cycles / 2} cycles kept ${secondHalf} bytes`);
});

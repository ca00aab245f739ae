/**
 * The k6 codec bundle (`loadtest/k6/codec_bundle.js`): it must match what
 * `deno task build:k6` generates from `protocol/mod.ts` today, and it must work in an engine
 * without `TextEncoder`, `TextDecoder` and `Buffer` (k6): it is loaded in a worker where those
 * globals are deleted and round-trips real frames made by the TypeScript codec.
 */
import assert from "node:assert/strict";
import {
  DeltaEncoder,
  encodeDeltaFrame,
  encodeServerMessage,
  type Value,
  type WelcomeMessage,
} from "../protocol/mod.ts";
import { buildCodecBundle, CODEC_BUNDLE_PATH } from "../loadtest/build_k6_codec.ts";
import { REPO_ROOT } from "../loadtest/server_process.ts";

const BUNDLE_FILE = `${REPO_ROOT}${CODEC_BUNDLE_PATH}`;

Deno.test("k6 codec bundle is up to date (run `deno task build:k6` after protocol changes)", async () => {
  const tmp = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const fresh = await buildCodecBundle(tmp);
    const committed = await Deno.readTextFile(BUNDLE_FILE);
    assert.ok(
      fresh === committed,
      "loadtest/k6/codec_bundle.js is stale: run `deno task build:k6`",
    );
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("k6 codec bundle names no TextEncoder, TextDecoder or Buffer outside comments", async () => {
  const code = (await Deno.readTextFile(BUNDLE_FILE))
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  assert.doesNotMatch(code, /\b(TextEncoder|TextDecoder|Buffer)\b/);
});

// Runs in a worker: delete the globals k6 lacks, import the bundle, decode what the main
// thread encoded, and encode client messages for the main thread to check.
const WORKER_SOURCE = `
delete globalThis.TextEncoder;
delete globalThis.TextDecoder;
delete globalThis.Buffer;
self.onmessage = async (event) => {
  try {
    const { bundleUrl, welcome, deltas } = event.data;
    const m = await import(bundleUrl);
    const w = m.decodeServerMessage(new Uint8Array(welcome));
    const decoder = new m.DeltaDecoder(w.keys, w.refs);
    let state = w.state;
    for (const frame of deltas) {
      const d = m.decodeServerMessage(new Uint8Array(frame));
      state = m.applyOps(state, decoder.decode(d.ops));
    }
    const join = m.encodeClientMessage({
      kind: "join", version: m.PROTOCOL_VERSION, mode: "join_or_create", game: "arena",
      name: "Zoë \u{1F3AE} 名前",
    });
    const action = m.encodeClientMessage({
      kind: "action", seq: 7, name: 0, payload: { dx: -0.25, dy: 1, seq: 7, tag: "ü" },
    });
    self.postMessage({
      ok: true,
      globals: [typeof TextEncoder, typeof TextDecoder, typeof Buffer],
      player: w.player,
      state,
      join: Array.from(join),
      action: Array.from(action),
    });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error && error.stack || error) });
  }
};
`;

Deno.test("k6 codec bundle round-trips frames without TextEncoder, TextDecoder or Buffer", async () => {
  const { decodeClientMessage } = await import("../protocol/mod.ts");
  const initial: Value = {
    players: {
      p1: { x: 1, y: 2, name: "Zoë", lastSeq: 0 },
      p2: { x: 3, y: 4, name: "名前", lastSeq: 0 },
    },
    log: ["début"],
  };
  const encoder = new DeltaEncoder();
  encoder.learnKeys(initial);
  const welcome: WelcomeMessage = {
    kind: "welcome",
    seq: 4,
    time: 1_700_000_000_000,
    room: "r-ü",
    game: "arena",
    player: "p1",
    session: "s3cr3t",
    ack: 0,
    state: initial,
    players: [{ id: "p1", name: "Zoë", seat: 0, presence: "connected" }],
    actions: ["move"],
    keys: encoder.keys(),
    refs: encoder.refs(),
    resumed: false,
  };
  const deltas = [
    encodeDeltaFrame(
      5,
      16,
      1,
      encoder.encode([{ op: "set", path: ["players", "p1", "x"], value: 2.5 }]),
    ),
    encodeDeltaFrame(
      6,
      16,
      0,
      encoder.encode([
        { op: "set", path: ["players", "p2", "name"], value: "Ørjan 🎲" },
        { op: "push", path: ["log"], values: ["p2 renamed ✓"] },
      ]),
    ),
  ];
  const expected = structuredClone(initial) as {
    players: Record<string, Record<string, Value>>;
    log: string[];
  };
  expected.players.p1.x = 2.5;
  expected.players.p2.name = "Ørjan 🎲";
  expected.log.push("p2 renamed ✓");

  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage({
        bundleUrl: new URL(`file://${BUNDLE_FILE}`).href,
        // Encoders may return views into a shared buffer: send exact copies.
        welcome: encodeServerMessage(welcome).slice().buffer,
        deltas: deltas.map((d) => d.slice().buffer),
      });
    });
    assert.equal(reply.ok, true, String(reply.error));
    assert.deepEqual(reply.globals, ["undefined", "undefined", "undefined"]);
    assert.equal(reply.player, "p1");
    assert.deepEqual(reply.state, expected);
    assert.deepEqual(decodeClientMessage(new Uint8Array(reply.join as number[])), {
      kind: "join",
      version: 1,
      mode: "join_or_create",
      game: "arena",
      name: "Zoë \u{1F3AE} 名前",
    });
    assert.deepEqual(decodeClientMessage(new Uint8Array(reply.action as number[])), {
      kind: "action",
      seq: 7,
      name: 0,
      payload: { dx: -0.25, dy: 1, seq: 7, tag: "ü" },
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});

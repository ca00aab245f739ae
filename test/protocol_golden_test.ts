// The golden frames of protocol/PROTOCOL.md, parsed out of the file and checked byte for byte in
// both directions: what another implementation would test itself against.
import assert from "node:assert/strict";
import {
  decodeClientMessage,
  decodeServerMessage,
  decodeValue,
  DeltaDecoder,
  DeltaEncoder,
  type DeltaOp,
  encodeClientMessage,
  encodeServerMessage,
  encodeValue,
  ProtocolError,
} from "../protocol/mod.ts";
import { goldenReviver, goldenSection, parseGoldenBlocks } from "../tools/golden_vectors.ts";
import { fromHex, toHex } from "../tools/protocol_fixtures.ts";

const markdown = Deno.readTextFileSync(new URL("../protocol/PROTOCOL.md", import.meta.url));
const blocks = parseGoldenBlocks(markdown);

function expectCode(fn: () => unknown, code: string, label: string) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `${label}: not a ProtocolError: ${e}`);
    assert.equal(e.code, code, `${label}: ${e.message}`);
    return true;
  });
}

Deno.test("PROTOCOL.md has golden vectors of every kind", () => {
  const kinds = new Set(
    blocks.filter((b) => b.type === "client" || b.type === "server")
      .map((b) => `${b.type} ${JSON.parse(b.lines[0]).kind}`),
  );
  for (const kind of ["join", "action", "ping", "leave"]) assert.ok(kinds.has(`client ${kind}`));
  for (const kind of ["welcome", "delta", "reject", "event", "game_over", "pong", "error"]) {
    assert.ok(kinds.has(`server ${kind}`), kind);
  }
  const types = new Set(blocks.map((b) => b.type));
  for (const t of ["value", "delta", "invalid-client", "invalid-server", "invalid-delta"]) {
    assert.ok(types.has(t), t);
  }
});

Deno.test("PROTOCOL.md's golden vectors are what the encoder produces today", () => {
  // Catches a codec change that forgot to regenerate the doc (tools/golden_vectors.ts --write).
  // Blocks, not text: `deno fmt` reflows the prose around them.
  assert.deepStrictEqual(blocks, parseGoldenBlocks(goldenSection()));
});

Deno.test("golden frames decode to their messages and encode to their bytes", () => {
  let checked = 0;
  for (const b of blocks) {
    const label = `${b.type} ${b.name}`;
    if (b.type === "client" || b.type === "server" || b.type === "value") {
      const expected = JSON.parse(b.lines[0], goldenReviver);
      const bytes = fromHex(b.lines[1]);
      if (b.type === "client") {
        assert.deepStrictEqual(decodeClientMessage(bytes), expected, label);
        assert.equal(toHex(encodeClientMessage(expected)), toHex(bytes), label);
      } else if (b.type === "server") {
        assert.deepStrictEqual(decodeServerMessage(bytes), expected, label);
        assert.equal(toHex(encodeServerMessage(expected)), toHex(bytes), label);
      } else {
        assert.deepStrictEqual(decodeValue(bytes), expected, label);
        assert.equal(toHex(encodeValue(expected)), toHex(bytes), label);
      }
      checked++;
    } else if (b.type === "delta") {
      const { keys, bodies } = JSON.parse(b.lines[0], goldenReviver) as {
        keys: string[];
        bodies: DeltaOp[][];
      };
      const enc = new DeltaEncoder();
      enc.learnKeys(Object.fromEntries(keys.map((k) => [k, null])));
      assert.deepStrictEqual(enc.keys(), keys, label);
      const dec = new DeltaDecoder(keys, []);
      bodies.forEach((ops, i) => {
        const bytes = fromHex(b.lines[1 + i]);
        assert.equal(toHex(enc.encode(ops)), toHex(bytes), `${label} body ${i}`);
        assert.deepStrictEqual(dec.decode(bytes), ops, `${label} body ${i}`);
      });
      checked++;
    } else if (b.type.startsWith("invalid-")) {
      const bytes = b.lines[0] === "(empty)" ? new Uint8Array() : fromHex(b.lines[0]);
      const decode = {
        "invalid-client": () => decodeClientMessage(bytes),
        "invalid-server": () => decodeServerMessage(bytes),
        "invalid-value": () => decodeValue(bytes),
        "invalid-delta": () => new DeltaDecoder(["x"]).decode(bytes),
      }[b.type];
      assert.ok(decode, label);
      expectCode(decode, b.name, `${label} ${b.lines[0]}`);
      checked++;
    } else {
      assert.fail(`unknown golden block type ${b.type}`);
    }
  }
  assert.ok(checked >= 50, `only ${checked} vectors`);
});

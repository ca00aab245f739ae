// A fixed-seed fuzz campaign over every decoder: only ProtocolError may come out, and whatever
// decodes must re-encode to the same thing. `deno task fuzz` runs the long version.
import assert from "node:assert/strict";
import { fuzz } from "../tools/fuzz.ts";

Deno.test("fuzz: 150,000 random and mutated frames, no escapes", () => {
  const report = fuzz({ frames: 150_000, seed: 0xa4b17e4 });
  assert.deepStrictEqual(report.escapes, []);
  assert.equal(report.frames, 150_000);
  // The campaign must reach deep into the decoders, not stop at the kind byte.
  assert.ok(report.accepted > 5_000, `only ${report.accepted} accepted`);
  for (
    const code of [
      "bad_cbor",
      "bad_delta",
      "bad_field",
      "bad_varint",
      "trailing_bytes",
      "forbidden_tag",
      "unknown_kind",
      "frame_too_large",
      "empty_frame",
    ]
  ) {
    assert.ok((report.rejected[code] ?? 0) > 0, `never saw ${code}`);
  }
});

// The committed browser bundle `web/public/client.js` must match `client/`: rebuild it to a
// temporary file with the same command as `deno task build:client` and compare.
import { doesNotMatch, equal, match, ok } from "node:assert/strict";
import { webAssets } from "../web/mod.ts";

const root = new URL("../", import.meta.url);
const committed = new URL("web/public/client.js", root);

Deno.test("web/public/client.js is up to date with client/ (run `deno task build:client`)", async () => {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "browser", "--minify", "-o", out, "client/mod.ts"],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    }).output();
    equal(code, 0, `deno bundle failed:\n${new TextDecoder().decode(stderr)}`);
    const fresh = await Deno.readTextFile(out);
    const current = await Deno.readTextFile(committed);
    ok(
      fresh === current,
      "web/public/client.js is stale: run `deno task build:client` and commit the result",
    );
  } finally {
    await Deno.remove(out);
  }
});

Deno.test("the bundle is a browser ES module exporting the client API", async () => {
  const text = await Deno.readTextFile(committed);
  for (const name of ["connect", "ArbiterClient", "RoomConnection", "ArbiterError"]) {
    match(
      text,
      new RegExp(`export\\s*\\{[^}]*\\bas ${name}\\b|export\\s*\\{[^}]*\\b${name}\\b`),
    );
  }
  // Browser code must not reach for Deno APIs.
  doesNotMatch(text, /\bDeno\./);
  const asset = webAssets.find((a) => a.path === "/client.js");
  equal(asset?.contentType, "text/javascript; charset=utf-8");
});

Deno.test("every page and script the pages load is served", () => {
  const paths = new Set(webAssets.map((a) => a.path));
  const text = (path: string) => {
    const asset = webAssets.find((a) => a.path === path);
    ok(asset, `${path} is not served`);
    return new TextDecoder().decode(asset.body);
  };
  for (const page of webAssets.filter((a) => a.contentType.startsWith("text/html"))) {
    const html = new TextDecoder().decode(page.body);
    for (const [, ref] of html.matchAll(/(?:src|href)="(\/[^"?#]*)"/g)) {
      if (ref.startsWith("/api/") || ["/health", "/metrics", "/dashboard", "/"].includes(ref)) {
        continue;
      }
      ok(paths.has(ref), `${page.path} refers to ${ref}, which is not served`);
    }
  }
  for (const script of webAssets.filter((a) => a.path.endsWith(".js"))) {
    for (const [, ref] of text(script.path).matchAll(/^import [^;]*? from "\.\/([^"]+)";/gm)) {
      ok(paths.has(`/${ref}`), `${script.path} imports ./${ref}, which is not served`);
    }
  }
});

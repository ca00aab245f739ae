/**
 * `loadConfig`'s refusals: values that cannot work stop the server at start with a message
 * naming the variable, instead of starting with something else (a blank PORT as 0, an
 * ALLOWED_ORIGINS entry no browser's Origin can equal). And `main.ts` reports a bad setting or
 * an address it cannot listen on in one line, without a stack trace.
 */
import assert from "node:assert/strict";
import { loadConfig, MAX_FRAME_BYTES_CAP, MIN_SECRET_BYTES } from "../server/config.ts";
import { originAllowed } from "../server/origin.ts";

/** `text` as a literal inside a RegExp. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

Deno.test("MAX_FRAME_BYTES above what one log commit holds is a configuration error", () => {
  assert.equal(
    loadConfig({ MAX_FRAME_BYTES: String(MAX_FRAME_BYTES_CAP) }).maxFrameBytes,
    MAX_FRAME_BYTES_CAP,
  );
  assert.throws(
    () => loadConfig({ MAX_FRAME_BYTES: String(MAX_FRAME_BYTES_CAP + 1) }),
    /MAX_FRAME_BYTES must be at most 524288 \(512 KiB\).*log durability/,
  );
});

Deno.test("timer settings stay within the longest delay Deno's timers keep (2^31 - 1 ms)", () => {
  assert.equal(loadConfig({ GRACE_MS: String(2 ** 31 - 1) }).graceMs, 2 ** 31 - 1);
  // A longer one would fire at once: every dropped player would lose the seat on the spot.
  assert.throws(
    () => loadConfig({ GRACE_MS: String(2 ** 31) }),
    /^TypeError: GRACE_MS must be a whole number from 0 to 2147483647, got "2147483648"$/,
  );
  assert.throws(() => loadConfig({ IDLE_ROOM_MS: String(2 ** 31) }), /IDLE_ROOM_MS must be/);
  // Deno pings after half of HEARTBEAT_S with one timer: past this every socket closes at once.
  assert.equal(loadConfig({ HEARTBEAT_S: "4294967" }).heartbeatSeconds, 4_294_967);
  assert.throws(
    () => loadConfig({ HEARTBEAT_S: "4294968" }),
    /^TypeError: HEARTBEAT_S must be a whole number from 1 to 4294967, got "4294968"$/,
  );
});

Deno.test("ALLOWED_ORIGINS entries that no browser's Origin can equal are refused at start", () => {
  for (
    const [value, hint] of [
      ["https://game.example/", "https://game.example"],
      ["https://game.example/play", "https://game.example"],
      ["HTTPS://Game.Example", "https://game.example"],
      ["https://game.example:443", "https://game.example"],
      ["capacitor://localhost/", "capacitor://localhost"],
      ["game.example", null],
      ["null", null],
      ["https://ok.example, game.example", null],
    ] as const
  ) {
    assert.throws(
      () => loadConfig({ ALLOWED_ORIGINS: value }),
      (error: Error) => {
        assert.ok(error instanceof TypeError, String(error));
        assert.match(error.message, /^ALLOWED_ORIGINS entries must be origins as browsers send/);
        if (hint) assert.ok(error.message.endsWith(`did you mean "${hint}"?`), error.message);
        return true;
      },
      value,
    );
  }
  // Exact origins (what browsers send, apps on their own schemes included) and * pass.
  const origins = [
    "https://game.example",
    "http://localhost:5173",
    "http://[::1]:8080",
    "capacitor://localhost",
  ];
  const allowed = loadConfig({ ALLOWED_ORIGINS: ` ${origins.join(" , ")} ,` }).allowedOrigins;
  assert.deepEqual(allowed, origins);
  for (const origin of origins) assert.ok(originAllowed(origin, allowed), origin);
  assert.deepEqual(loadConfig({ ALLOWED_ORIGINS: "*" }).allowedOrigins, ["*"]);
  assert.equal(loadConfig({ ALLOWED_ORIGINS: " , " }).allowedOrigins, null);
});

Deno.test("numeric settings take digits only; a blank one means the default, never 0", () => {
  const c = loadConfig({ PORT: " ", GRACE_MS: " ", IDLE_ROOM_MS: "\t", FINISHED_RETENTION_MS: "" });
  assert.equal(c.port, 8000);
  assert.equal(c.graceMs, 30_000);
  assert.equal(c.idleRoomMs, 60_000);
  assert.equal(c.finishedRetentionMs, 60_000);
  assert.equal(loadConfig({ PORT: " 8080 " }).port, 8080);
  // Number() reads most of these as numbers: "1e3" as 1000, "0x10" as 16, "0b0" as 0.
  for (const value of ["1e3", "0x10", "+5", "-1", "1.5", "0b0", "8000 9000", "8_000"]) {
    assert.throws(
      () => loadConfig({ PORT: value }),
      new RegExp(
        `^TypeError: PORT must be a whole number from 0 to 65535, got "${literal(value)}"$`,
      ),
    );
  }
});

Deno.test("HOST must be an IP address or a host name", () => {
  assert.equal(loadConfig({}).host, "127.0.0.1");
  assert.equal(loadConfig({ HOST: " " }).host, "127.0.0.1");
  assert.equal(loadConfig({ HOST: "", DENO_DEPLOYMENT_ID: "x" }).host, "0.0.0.0");
  for (const host of ["0.0.0.0", "localhost", "::", "::1", "[::1]", "game-1.internal"]) {
    assert.equal(loadConfig({ HOST: host }).host, host);
  }
  for (const host of ["not a host", "-bad", "a..b", "[::1", "http://0.0.0.0", "0.0.0.0:8000"]) {
    assert.throws(
      () => loadConfig({ HOST: host }),
      new RegExp(
        `^TypeError: HOST must be an IP address or a host name .*, got "${literal(host)}"$`,
      ),
    );
  }
});

Deno.test("ARBITER_SECRET set but blank stops the start; unset is sign-in off", () => {
  // A secret file that was missing or empty must not run an open server.
  for (const blank of ["", " ", "\n", " \t\r\n "]) {
    assert.throws(
      () => loadConfig({ ARBITER_SECRET: blank }),
      /^TypeError: ARBITER_SECRET is set but blank: set it to the HMAC secret your login service signs tokens with, or unset it to run without sign-in$/,
      JSON.stringify(blank),
    );
  }
  assert.equal(loadConfig({}).secret, null);
  assert.equal(loadConfig({ ARBITER_SECRET: undefined }).secret, null);
  const random = "q4yb0Lq3m1ZC7dTn8cVb2oWJm6xkz9e5AaR1fHsPuQ="; // openssl rand -base64 32
  assert.equal(loadConfig({ ARBITER_SECRET: random }).secret, random);
});

Deno.test("ARBITER_SECRET shorter than HS256's 32 bytes or wrapped in whitespace stops the start", () => {
  for (
    const [short, bytes] of [["s3cret", 6], ["a".repeat(31), 31], ["é".repeat(15), 30]] as const
  ) {
    assert.throws(
      () => loadConfig({ ARBITER_SECRET: short }),
      new RegExp(
        `^TypeError: ARBITER_SECRET is ${bytes} bytes; an HS256 secret needs at least ${MIN_SECRET_BYTES} \\(RFC 7518 §3\\.2\\), .+ \`openssl rand -base64 32\`$`,
      ),
    );
  }
  // Bytes, not characters: 16 two-byte characters are enough.
  assert.equal(loadConfig({ ARBITER_SECRET: "é".repeat(16) }).secret, "é".repeat(16));
  const exact = "a".repeat(MIN_SECRET_BYTES);
  assert.equal(loadConfig({ ARBITER_SECRET: exact }).secret, exact);
  for (const wrapped of [`${exact}\n`, ` ${exact}`, `${exact}\r\n`, `\t${exact}`]) {
    assert.throws(
      () => loadConfig({ ARBITER_SECRET: wrapped }),
      /^TypeError: ARBITER_SECRET starts or ends with whitespace \(a trailing newline from a secret file\?\): remove it, .+$/,
      JSON.stringify(wrapped),
    );
  }
});

/** Runs `main.ts` with `env` until it exits (it must: every case here is a refusal). */
async function runMain(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: new URL("../", import.meta.url),
    env: { ARBITER_KV_PATH: ":memory:", LOG_LEVEL: "warn", PORT: "0", ...env },
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("main.ts reports a bad setting and an address it cannot listen on in one line", async () => {
  const noStack = (stderr: string) => {
    assert.doesNotMatch(stderr, /Uncaught|\n\s+at /, stderr);
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
  };
  // 192.0.2.1 (TEST-NET-1) is no address of this machine.
  const foreign = await runMain({ HOST: "192.0.2.1" });
  assert.equal(foreign.code, 1, foreign.stderr);
  assert.match(foreign.stderr, /^Cannot listen on 192\.0\.2\.1:0: .+ \(check HOST and PORT\)\n$/);
  noStack(foreign.stderr);

  const unresolved = await runMain({ HOST: "arbiter-test.invalid" });
  assert.equal(unresolved.code, 1, unresolved.stderr);
  assert.match(unresolved.stderr, /^Cannot listen on arbiter-test\.invalid:0: .+ \(check HOST/);
  noStack(unresolved.stderr);

  const malformed = await runMain({ HOST: "not a host" });
  assert.equal(malformed.code, 1, malformed.stderr);
  assert.match(malformed.stderr, /^Invalid configuration: HOST must be .*, got "not a host"\n$/);
  noStack(malformed.stderr);

  const blank = await runMain({ PORT: "1e3" });
  assert.equal(blank.code, 1, blank.stderr);
  assert.match(blank.stderr, /^Invalid configuration: PORT must be a whole number/);

  const open = await runMain({ ARBITER_SECRET: " " });
  assert.equal(open.code, 1, open.stderr);
  assert.match(open.stderr, /^Invalid configuration: ARBITER_SECRET is set but blank: .+\n$/);
  noStack(open.stderr);

  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String(taken.addr.port);
  const busy = await runMain({ HOST: "127.0.0.1", PORT: port });
  assert.equal(busy.code, 1, busy.stderr);
  assert.equal(
    busy.stderr,
    `Port ${port} is in use (another Arbiter?); set PORT to another one.\n`,
  );
});

Deno.test("main.ts reports a KV path it cannot open in one line naming ARBITER_KV_PATH", async () => {
  const dir = await Deno.makeTempDir({ prefix: "arbiter-kv-path-" });
  try {
    const notDb = `${dir}/not_a_db.kv`;
    await Deno.writeTextFile(notDb, "this is no SQLite file, but it is long enough to be read\n");
    await Deno.writeTextFile(`${dir}/file`, "");
    for (const path of [notDb, dir, `${dir}/file/under_a_file.kv`]) {
      const run = await runMain({ ARBITER_KV_PATH: path });
      assert.equal(run.code, 1, run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`^Cannot open Deno KV at "${literal(path)}": .+ \\(check ARBITER_KV_PATH\\)\n$`),
      );
      assert.doesNotMatch(run.stderr, /Uncaught|\n\s+at /, run.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("settings with a fixed set of values ignore case and spaces; blank means default", () => {
  const config = loadConfig({
    LOG_LEVEL: " Warn ",
    ARBITER_DURABILITY: " log",
    ARBITER_CLUSTER: "KV ",
  });
  assert.equal(config.logLevel, "warn");
  assert.equal(config.durability, "log");
  assert.equal(config.cluster, "kv");
  const blank = loadConfig({ LOG_LEVEL: "", ARBITER_DURABILITY: " ", ARBITER_CLUSTER: "" });
  assert.equal(blank.logLevel, "info");
  assert.equal(blank.durability, "snapshot");
  assert.equal(blank.cluster, "off");
  assert.throws(
    () => loadConfig({ LOG_LEVEL: "verbose" }),
    /^TypeError: LOG_LEVEL must be debug, info, warn or error, got "verbose"$/,
  );
  assert.throws(
    () => loadConfig({ ARBITER_CLUSTER: "redis" }),
    /^TypeError: ARBITER_CLUSTER must be off or kv, got "redis"$/,
  );
});

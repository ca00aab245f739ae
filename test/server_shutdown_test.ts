/**
 * A graceful stop is bounded whatever KV does: with the KV file write-locked by another
 * process, a cluster instance still exits within the shutdown budget, answers `/health` with
 * 503 while it drains, and a second signal stops it at once.
 */
import assert from "node:assert/strict";
import { REPEAT_SIGNAL_MS } from "../server/mod.ts";
import { lockKvFile } from "./support/kv_lock.ts";
import { openRaw } from "./support/raw_socket.ts";
import { type ServerProcess, spawnServer } from "./support/server_process.ts";

/**
 * A cluster instance on a KV file of its own, with a game in progress, then the file locked;
 * disposing of it kills what is left and removes the file.
 */
async function lockedInstance(): Promise<
  AsyncDisposable & { server: ServerProcess; unlock(): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "arbiter-shutdown-" });
  const path = `${dir}/rooms.kv`;
  const server = await spawnServer({
    PORT: "0",
    ARBITER_KV_PATH: path,
    ARBITER_CLUSTER: "kv",
    SNAPSHOT_EVERY_MS: "600000",
  });
  const ann = await openRaw(server.wsUrl);
  const welcome = await ann.join({ mode: "create", game: "tic_tac_toe" });
  const bob = await openRaw(server.wsUrl);
  await bob.join({ mode: "join", room: welcome.room });
  const locker = await lockKvFile(path);
  // A move the room has not saved yet.
  await ann.send({ kind: "action", seq: 1, name: "place", payload: { cell: 0 } });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const kill = (process: { kill(signal: Deno.Signal): void }) => {
    try {
      process.kill("SIGKILL");
    } catch {
      // Exited already.
    }
  };
  return {
    server,
    unlock: () => locker.release(),
    async [Symbol.asyncDispose]() {
      ann.abort();
      bob.abort();
      await locker.release();
      kill(server);
      await server.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Asserts that the server wrote a line that passes `test` (or, with `expected` false, none). */
function assertLogged(
  server: ServerProcess,
  test: (line: string) => boolean,
  expected = true,
): void {
  assert.equal(server.lines.some(test), expected, server.lines.join("\n"));
}

Deno.test({
  name: "shutdown: a cluster instance whose KV is locked still exits within its budget",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using instance = await lockedInstance();
    const started = Date.now();
    instance.server.kill("SIGTERM");
    // While it drains, a load balancer's health check is told to send no one here.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const health = await fetch(`http://127.0.0.1:${instance.server.port}/health`);
    assert.equal(health.status, 503);
    assert.equal((await health.json()).status, "draining");
    const status = await instance.server.status;
    const took = Date.now() - started;
    assert.equal(status.code, 0, instance.server.lines.join("\n"));
    // 4.5 s of budget, plus the runtime's own exit, on a loaded machine.
    assert.ok(took < 8_000, `took ${took} ms:\n${instance.server.lines.join("\n")}`);
    assertLogged(instance.server, (line) => line.includes("KV did not answer in time"));
  },
});

Deno.test({
  name: "shutdown: a second signal stops the server at once",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using instance = await lockedInstance();
    instance.server.kill("SIGTERM");
    // Sooner than REPEAT_SIGNAL_MS it would count as a copy of the first.
    await new Promise((resolve) => setTimeout(resolve, REPEAT_SIGNAL_MS + 200));
    const started = Date.now();
    instance.server.kill("SIGINT");
    const status = await instance.server.status;
    assert.equal(status.code, 1);
    assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
    assertLogged(instance.server, (line) => line.startsWith("Stopping at once"));
  },
});

Deno.test({
  name: "shutdown: copies of one stop signal (Ctrl-C through npm's launcher) do not cut the save",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    await using instance = await lockedInstance();
    // A terminal signals the whole process group and npm's `deno` launcher passes its copy
    // on: the server gets one Ctrl-C several times within milliseconds, mid-save here.
    for (const signal of ["SIGINT", "SIGINT", "SIGTERM"] as const) {
      instance.server.kill(signal);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    const exited = await Promise.race([
      instance.server.status.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 500)),
    ]);
    assert.equal(exited, false, instance.server.lines.join("\n"));
    await instance.unlock();
    const status = await instance.server.status;
    assert.equal(status.code, 0, instance.server.lines.join("\n"));
    const lines = instance.server.lines;
    assertLogged(instance.server, (line) => line.startsWith("Stopping at once"), false);
    const saved = lines.flatMap((line) => line.startsWith("{") ? [JSON.parse(line)] : [])
      .find((line) => line.msg === "rooms saved");
    assert.equal(saved?.timedOut, false, lines.join("\n"));
    assert.ok(
      saved.saved >= 1,
      `the unsaved move was saved once KV answered:\n${lines.join("\n")}`,
    );
  },
});

Deno.test("runServer: a program that calls shutdown() itself goes on past it", async () => {
  const script = new URL("./support/run_then_shutdown.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", script],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, text);
  assert.match(text, /after shutdown/);
  assert.doesNotMatch(text, /stopped by itself/);
});

/**
 * `--server-pid` given a launcher's pid (npm's `deno` wrapper, `deno task`, a shell) measures
 * the Deno process below it that runs the server, not the launcher.
 */
import assert from "node:assert/strict";
import { serverProcess } from "../loadtest/proc.ts";
import { waitFor } from "./support/test_server.ts";

/** Starts `args` and resolves once a Deno process runs `script` below it. */
async function launch(args: string[], cwd?: string) {
  const child = new Deno.Command(args[0], {
    args: args.slice(1),
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let found = child.pid;
  await waitFor(() => (found = serverProcess(child.pid)) !== child.pid, "the server below", 10_000);
  return {
    launcher: child.pid,
    server: found,
    async [Symbol.asyncDispose]() {
      for (const pid of [found, child.pid]) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      await child.status;
    },
  };
}

Deno.test({
  name: "serverProcess finds the Deno server below a shell, deno task and npm's deno launcher",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "arbiter-proc-" });
    try {
      const script = `${dir}/idle_server.ts`;
      await Deno.writeTextFile(script, "setTimeout(() => {}, 60_000);\n");
      const deno = Deno.execPath();
      // The server itself is its own answer.
      {
        await using run = await launch(["sh", "-c", `"${deno}" run "${script}"; true`]);
        const args = Deno.readTextFileSync(`/proc/${run.server}/cmdline`).split("\0");
        assert.deepEqual(args.slice(1, 3), ["run", script]);
        assert.equal(serverProcess(run.server), run.server);
      }
      // `deno task` (what `npx deno task dev` runs below npm's launcher) is a launcher too.
      await Deno.writeTextFile(
        `${dir}/deno.json`,
        JSON.stringify({ tasks: { dev: `deno run ${script}` } }),
      );
      for (const launcher of [["task", "dev"], ["--quiet", "task", "dev"]]) {
        await using task = await launch([deno, ...launcher], dir);
        const args = Deno.readTextFileSync(`/proc/${task.server}/cmdline`).split("\0");
        assert.deepEqual(args.slice(1, 3), ["run", script], launcher.join(" "));
      }
      // npm's `deno` launcher (Node), where the repo installed Deno from npm (as CI does).
      const npmDeno = new URL("../.tools/node_modules/.bin/deno", import.meta.url).pathname;
      if (await Deno.stat(npmDeno).then(() => true, () => false)) {
        await using npm = await launch([npmDeno, "run", script]);
        assert.match(Deno.readTextFileSync(`/proc/${npm.launcher}/comm`), /^node/);
        const args = Deno.readTextFileSync(`/proc/${npm.server}/cmdline`).split("\0");
        assert.deepEqual(args.slice(1, 3), ["run", script]);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "serverProcess keeps a pid with nothing below it, or one that is not there",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const idle = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" })
      .spawn();
    try {
      assert.equal(serverProcess(idle.pid), idle.pid);
    } finally {
      idle.kill("SIGKILL");
      await idle.status;
    }
    assert.equal(serverProcess(2 ** 22 + 12345), 2 ** 22 + 12345);
  },
});

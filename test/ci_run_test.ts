/**
 * `.ci/run`'s contract, with a fake `deno` on PATH standing in for the test run: the last line
 * is `tests: N passed, N failed[, N skipped]` from the real summary, the exit status is non-zero
 * whenever anything failed, and a run that hangs is stopped within the budget (its processes
 * included) and counted as a failure.
 */
import assert from "node:assert/strict";

const CI_RUN = new URL("../.ci/run", import.meta.url);

/** What the fake `deno task test` does, selected by `FAKE_DENO`. */
const FAKE_DENO = `#!/usr/bin/env bash
if [ "$1" = "--version" ]; then echo "deno 0.0.0-fake"; exit 0; fi
case "$FAKE_DENO" in
  pass) echo "ok | 41 passed (3 steps) | 0 failed (12s)"; exit 0;;
  skipped) echo "ok | 40 passed | 0 failed | 2 ignored (9s)"; exit 0;;
  fail) echo "FAILED | 39 passed | 2 failed (12s)"; exit 1;;
  lint) echo "error: lint found 1 problem"; exit 1;;
  hang) sleep 300 & echo $! > "$FAKE_PID_FILE"; wait;;
esac
`;

/** Runs a copy of `.ci/run` (without the extras' install) in a scratch repository. */
async function runCi(mode: string, env: Record<string, string> = {}) {
  const root = await Deno.makeTempDir({ prefix: "arbiter-ci-" });
  try {
    await Deno.mkdir(`${root}/.ci`);
    await Deno.mkdir(`${root}/bin`);
    await Deno.copyFile(CI_RUN, `${root}/.ci/run`);
    await Deno.writeTextFile(`${root}/bin/deno`, FAKE_DENO, { mode: 0o755 });
    const pidFile = `${root}/sleeper.pid`;
    const started = performance.now();
    const output = await new Deno.Command("bash", {
      args: [`${root}/.ci/run`],
      env: {
        PATH: `${root}/bin:/usr/local/bin:/usr/bin:/bin`,
        CI: "true",
        FAKE_DENO: mode,
        FAKE_PID_FILE: pidFile,
        ...env,
      },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    const lines = text.trimEnd().split("\n");
    let sleeper: number | null = null;
    try {
      sleeper = Number(await Deno.readTextFile(pidFile));
    } catch {
      // Only the hanging mode starts one.
    }
    return {
      code: output.code,
      last: lines.at(-1),
      text,
      seconds: (performance.now() - started) / 1000,
      sleeper,
    };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Whether a process with this pid still exists (and is not a zombie). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

Deno.test("ci: the last line carries the summary's counts and the exit status follows them", async () => {
  const cases: [mode: string, last: string, passes: boolean][] = [
    ["pass", "tests: 41 passed, 0 failed", true],
    ["skipped", "tests: 40 passed, 0 failed, 2 skipped", true],
    ["fail", "tests: 39 passed, 2 failed", false],
    // fmt, lint or type check failing before any test ran still fails the run.
    ["lint", "tests: 0 passed, 1 failed", false],
  ];
  for (const [mode, last, passes] of cases) {
    const run = await runCi(mode);
    assert.equal(run.last, last, mode);
    assert.equal(run.code === 0, passes, `${mode}: exit ${run.code}`);
  }
});

Deno.test({
  name: "ci: a test run still going when the budget ends is stopped, processes and all",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const run = await runCi("hang", { CI_BUDGET_SECONDS: "2" });
    assert.match(run.text, /ci: the tests were still running after \d+s \(CI_BUDGET_SECONDS=2\)/);
    assert.equal(run.last, "tests: 0 passed, 1 failed");
    assert.notEqual(run.code, 0);
    assert.ok(run.seconds < 30, `took ${run.seconds}s`);
    assert.ok(run.sleeper !== null, "the fake test run started its process");
    assert.equal(alive(run.sleeper!), false, "the test run's child process was left running");
  },
});

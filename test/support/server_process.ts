/**
 * Runs `main.ts` as a separate OS process (as `deno task dev` does), so tests can kill it
 * with SIGKILL or SIGTERM and start it again on the same port and KV file.
 *
 * @module
 */

/** A server running in a child process. */
export interface ServerProcess {
  port: number;
  wsUrl: string;
  /** Every line the server wrote to stdout and stderr so far. */
  lines: string[];
  /** Sends a signal. */
  kill(signal: Deno.Signal): void;
  /** Resolves with the exit status. */
  status: Promise<Deno.CommandStatus>;
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * Starts `main.ts` with `env` and resolves once its ready line names the port; `maxOpenFiles`
 * lowers its file descriptor limit.
 *
 * @example
 * ```ts ignore
 * const server = await spawnServer({ PORT: "0", ARBITER_KV_PATH: "/tmp/x.kv" });
 * server.kill("SIGKILL");
 * await server.status;
 * ```
 */
export async function spawnServer(
  env: Record<string, string>,
  options: { maxOpenFiles?: number } = {},
): Promise<ServerProcess> {
  const args = ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", MAIN];
  // A lower file descriptor limit (`ulimit -n`) for the server alone goes through a shell.
  const [program, programArgs] = options.maxOpenFiles === undefined
    ? [Deno.execPath(), args]
    : ["bash", [
      "-c",
      `ulimit -n ${options.maxOpenFiles} && exec "$@"`,
      "bash",
      Deno.execPath(),
      ...args,
    ]];
  const child = new Deno.Command(program, {
    args: programArgs,
    cwd: new URL("../..", import.meta.url).pathname,
    env: { LOG_LEVEL: "info", HOST: "127.0.0.1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let ready: (port: number) => void;
  const port = new Promise<number>((resolve) => ready = resolve);
  const read = async (stream: ReadableStream<Uint8Array>) => {
    let buffered = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        const match = /Arbiter listening on http:\/\/[^:]+:(\d+)\//.exec(line);
        if (match) ready(Number(match[1]));
      }
    }
  };
  const drained = Promise.all([read(child.stdout), read(child.stderr)]);
  const status = child.status.then(async (status) => {
    await drained;
    return status;
  });
  const exitedEarly = status.then((s) => {
    throw new Error(`server exited (${s.code}) before it was ready:\n${lines.join("\n")}`);
  });
  // Exiting later (when a test kills it) is not an error.
  exitedEarly.catch(() => {});
  const bound = await Promise.race([port, exitedEarly]);
  return {
    port: bound,
    wsUrl: `ws://127.0.0.1:${bound}/ws`,
    lines,
    kill: (signal) => child.kill(signal),
    status,
  };
}

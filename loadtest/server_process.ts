/**
 * Starts the server under test as its own process (so its CPU and memory can be read from
 * `/proc` apart from the load generator's), waits until it answers, and stops it.
 *
 * @module
 */

/** The repository root (where `main.ts` and `deno.json` are). */
export const REPO_ROOT: string = decodeURIComponent(new URL("../", import.meta.url).pathname);

/**
 * The V8 flags Arbiter ships with: those of the `dev` task in `deno.json`, so that what is
 * measured is what `deno task dev` runs.
 *
 * @example
 * ```ts ignore
 * import { SHIPPED_V8_FLAGS } from "./server_process.ts";
 * console.log(SHIPPED_V8_FLAGS); // [ "--max-semi-space-size=16" ]
 * ```
 */
export const SHIPPED_V8_FLAGS: readonly string[] = (() => {
  const config = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}deno.json`));
  const dev = String(config.tasks?.dev ?? "");
  return dev.split(/\s+/).filter((arg) => arg.startsWith("--v8-flags="))
    .flatMap((arg) => arg.slice("--v8-flags=".length).split(","));
})();

/**
 * `flags` with one `--v8-flags`: {@linkcode SHIPPED_V8_FLAGS} first, then any V8 flags of
 * `flags` (V8 takes the last value of a flag, so the caller's win).
 */
function withShippedV8Flags(flags: readonly string[]): string[] {
  const v8 = [...SHIPPED_V8_FLAGS];
  const rest: string[] = [];
  for (const flag of flags) {
    if (flag.startsWith("--v8-flags=")) v8.push(...flag.slice("--v8-flags=".length).split(","));
    else rest.push(flag);
  }
  return v8.length ? [`--v8-flags=${v8.join(",")}`, ...rest] : rest;
}

/** A server running as a child process. */
export interface ServerProcess {
  /** Which server: `arbiter` (main.ts) or `baseline` (loadtest/baseline_server.ts). */
  kind: "arbiter" | "baseline";
  pid: number;
  port: number;
  /** `http://127.0.0.1:PORT` */
  httpUrl: string;
  /** `ws://127.0.0.1:PORT/ws` */
  wsUrl: string;
  /** The last few KB the process wrote to stdout and stderr (for failure reports). */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode spawnServer}. */
export interface SpawnOptions {
  kind: "arbiter" | "baseline";
  /** Extra environment (merged over the defaults below). */
  env?: Record<string, string>;
  /**
   * Extra `deno run` flags, e.g. `["--inspect=127.0.0.1:9229"]`. Arbiter's `main.ts` always
   * runs with {@linkcode SHIPPED_V8_FLAGS}; a `--v8-flags=` given here is added after them
   * (e.g. `--v8-flags=--max-semi-space-size=0` for V8's own default).
   */
  denoFlags?: string[];
  /** How long to wait for the server to answer, ms. Default 30,000. */
  readyTimeoutMs?: number;
  /** Port to listen on; default: a free one. */
  port?: number;
  /** Entry module relative to the repository root (default: `main.ts` or the baseline). */
  script?: string;
}

/**
 * Picks a free TCP port on 127.0.0.1 (bind to 0, read it, release it).
 *
 * @example
 * ```ts
 * import { freePort } from "./server_process.ts";
 * console.log(freePort() > 0); // true
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts Arbiter (`deno run -A main.ts`, in-memory KV, warn-level logs, high connection
 * limits) or the baseline relay, and resolves once it answers HTTP.
 *
 * @example
 * ```ts ignore
 * import { spawnServer } from "./server_process.ts";
 * const server = await spawnServer({ kind: "arbiter" });
 * console.log(server.wsUrl);
 * await server.stop();
 * ```
 */
export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const port = options.port ?? freePort();
  const script = options.script ??
    (options.kind === "arbiter" ? "main.ts" : "loadtest/baseline_server.ts");
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: "127.0.0.1",
    ARBITER_KV_PATH: ":memory:",
    LOG_LEVEL: "warn",
    MAX_CONNECTIONS_PER_IP: "100000",
    MAX_ROOMS: "100000",
    ...options.env,
  };
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(options.kind === "arbiter" && script === "main.ts"
        ? withShippedV8Flags(options.denoFlags ?? [])
        : options.denoFlags ?? []),
      script,
    ],
    cwd: REPO_ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  let tail = "";
  const keep = (text: string) => {
    tail = (tail + text).slice(-16_384);
  };
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) keep(decoder.decode(chunk, { stream: true }));
    } catch {
      // The process went away.
    }
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const done: { status: Deno.CommandStatus | null } = { status: null };
  const statusPromise = child.status.then((status) => (done.status = status));

  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (done.status) {
      await drained;
      throw new Error(
        `${options.kind} server exited with ${done.status.code} before listening:\n${tail}`,
      );
    }
    try {
      const response = await fetch(options.kind === "arbiter" ? `${httpUrl}/health` : httpUrl);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await statusPromise;
      await drained;
      throw new Error(`${options.kind} server did not answer within the timeout:\n${tail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    kind: options.kind,
    pid: child.pid,
    port,
    httpUrl,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    output: () => tail,
    stop: async (graceMs = 5000) => {
      if (!done.status) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already gone.
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          statusPromise,
          new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
        ]);
        clearTimeout(timer);
        if (!done.status) {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already gone.
          }
        }
      }
      const status = await statusPromise;
      await drained;
      return status;
    },
  };
}

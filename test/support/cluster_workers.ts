/**
 * Several Arbiter servers in Workers of this process, sharing one Deno KV file, as
 * `deno serve --parallel` runs them: each Worker is an isolate with its own server, port and
 * KV handle; `kv.watch` sees the writes of the others. `kill()` terminates a Worker with no
 * shutdown at all, as a crash would.
 *
 * @module
 */
import type { WorkerCommand } from "./cluster_worker.ts";

/** One server in a Worker. */
export interface ClusterWorker {
  index: number;
  port: number;
  /** The cluster instance id of its server. */
  instance: string;
  wsUrl: string;
  alive: boolean;
  /** Claims leases of `rooms`, starting at time `at`; resolves with whether each succeeded. */
  claim(rooms: string[], at: number): Promise<boolean[]>;
  /** Ids of the rooms live in this Worker. */
  rooms(): Promise<string[]>;
  /** Terminates the Worker at once (no shutdown: a crash). */
  kill(): void;
  /** Shuts its server down gracefully. */
  stop(): Promise<void>;
}

const WORKER = new URL("./cluster_worker.ts", import.meta.url);

/**
 * Starts `count` Workers with `env` (on top of port 0 and localhost).
 *
 * @example
 * ```ts ignore
 * const workers = await startWorkers(3, { ARBITER_CLUSTER: "kv", ARBITER_KV_PATH: path });
 * workers[0].kill();
 * ```
 */
export async function startWorkers(
  count: number,
  env: Record<string, string>,
): Promise<ClusterWorker[]> {
  const out: ClusterWorker[] = [];
  // One after another: the first creates the SQLite file, the others open it.
  for (let index = 0; index < count; index++) out.push(await startWorker(index, env));
  return out;
}

async function startWorker(index: number, env: Record<string, string>): Promise<ClusterWorker> {
  const worker = new Worker(WORKER, { type: "module", name: `arbiter-${index}` });
  const waiting = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();
  let nextId = 1;
  let failed: (error: Error) => void = () => {};
  const started = new Promise<{ port: number; instance: string }>((resolve, reject) => {
    failed = reject;
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.kind === "started") resolve(message);
      else if (message.kind === "reply") waiting.get(message.id)?.resolve(message.value);
      else if (message.kind === "failed") {
        const error = new Error(`worker ${index}: ${message.error}`);
        reject(error);
        for (const pending of waiting.values()) pending.reject(error);
        waiting.clear();
      }
    };
  });
  worker.onerror = (event) => {
    event.preventDefault();
    failed(new Error(`worker ${index}: ${event.message}`));
  };
  const post = (command: WorkerCommand) => worker.postMessage(command);
  const ask = <T>(command: (id: number) => WorkerCommand): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      post(command(id));
    });
  };
  post({ kind: "start", env });
  const { port, instance } = await started;
  const handle: ClusterWorker = {
    index,
    port,
    instance,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    alive: true,
    claim: (rooms, at) => ask((id) => ({ kind: "claim", id, rooms, at })),
    rooms: () => ask((id) => ({ kind: "rooms", id })),
    kill: () => {
      if (!handle.alive) return;
      handle.alive = false;
      worker.terminate();
    },
    stop: async () => {
      if (!handle.alive) return;
      await ask((id) => ({ kind: "stop", id }));
      handle.alive = false;
      worker.terminate();
    },
  };
  return handle;
}

/**
 * A WebSocket constructor for the client that connects to the first live Worker of
 * `preference` (by index) whatever URL the client asks for, keeping its path and query: what a load
 * balancer in front of the Workers would do.
 *
 * @example
 * ```ts ignore
 * const client = connect(workers[0].wsUrl, { WebSocket: routedWebSocket(workers, [0, 2]) });
 * ```
 */
export function routedWebSocket(
  workers: readonly ClusterWorker[],
  preference: readonly number[],
): new (url: string, protocols?: string | string[]) => WebSocket {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      // With none of them alive, the first (dead) one: the connection fails, as it would.
      const target = preference.map((i) => workers[i]).find((w) => w.alive) ??
        workers[preference[0]];
      const asked = new URL(url);
      super(`ws://127.0.0.1:${target.port}${asked.pathname}${asked.search}`, protocols);
    }
  };
}

/**
 * Arbiter's load generator (`deno task loadtest`): the arena, turns and join-storm scenarios
 * from Deno, in worker threads, against a server it starts itself (a separate process, so
 * server CPU and memory are measured apart) or one given with `--url`.
 *
 * ```sh
 * deno task loadtest --scenario arena --rooms 25 --players 8 --rate 20 --duration 20 --warmup 5
 * deno task loadtest --scenario arena --target baseline --rooms 25   # the raw relay
 * deno task loadtest --scenario turns --rooms 50 --duration 10
 * deno task loadtest --scenario join_storm --rate 50 --duration 10
 * deno task loadtest --url ws://127.0.0.1:8000/ws --scenario arena --json result.json
 * ```
 *
 * Everything is bounded: the run lasts warm-up + duration + drain, each worker gives up on a
 * join after `--join-timeout` ms, and the whole run is aborted past a hard deadline.
 *
 * @module
 */
import { cores, CpuMeter, type CpuWindow, machineCpuSeconds, serverProcess } from "./proc.ts";
import { Progress } from "./progress.ts";
import { type ServerProcess, spawnServer } from "./server_process.ts";
import { type LatencySummary, round, Samples } from "./stats.ts";
import {
  addCounters,
  type Counters,
  newCounters,
  type SliceResult,
  type Timeline,
} from "./tally.ts";
import type { FromWorker, SliceSpec, ToWorker } from "./worker.ts";
import { formatSummary } from "./report.ts";
import {
  type Profiler,
  type ProfileRow,
  startProfiler,
  summarizeProfile,
} from "./inspector_profile.ts";
import { freePort, REPO_ROOT } from "./server_process.ts";

/** The scenarios. */
export type Scenario = "arena" | "turns" | "join_storm";

/** Everything a run can be told (flags map one to one). */
export interface LoadOptions {
  scenario: Scenario;
  /** `arbiter`, or `baseline` for the raw relay (arena only). */
  target: "arbiter" | "baseline";
  /** WebSocket URL of a running server; empty: start one as a subprocess. */
  url: string;
  /** Arena: rooms; turns: games at a time. */
  rooms: number;
  /** Arena: bots per room. */
  players: number;
  /** Arena: moves per second per bot (0: idle); join_storm: peak joins per second. */
  rate: number;
  /** Measured seconds. */
  duration: number;
  /** Warm-up seconds before measuring. */
  warmup: number;
  /** Seconds to wait after the load for outstanding acks. */
  drain: number;
  /** Worker threads generating load. */
  workers: number;
  /**
   * Arena tick interval, ms (0: the game's default, 50 ms). On Arbiter the rooms are created
   * with the arena's `tickMs` option; the baseline batches per tick the same way.
   */
  tickMs: number;
  /** Arena: decode every delta into a state mirror (checks more, costs generator CPU). */
  decode: boolean;
  /** Turns: games to rotate through. */
  games: string[];
  /** Turns: most games in total; join_storm: most sessions in total. */
  maxGames: number;
  /** join_storm: game to join_or_create. */
  game: string;
  /** join_storm: session hold time range, ms. */
  holdMs: [number, number];
  /** Join timeout, ms. */
  joinTimeoutMs: number;
  /** Joins in flight at once while seating the arena bots (per worker). */
  joinConcurrency: number;
  /** Extra environment for a server this run starts. */
  serverEnv: Record<string, string>;
  /** Extra `deno run` flags for a server this run starts (e.g. `--cpu-prof`). */
  serverDenoFlags: string[];
  /** Write a CPU profile of the server (one this run starts) over the window to this path. */
  profile: string;
  /** PID of a server given by `--url`, to read its CPU and memory. */
  serverPid: number;
  /** Write the result as JSON here. */
  json: string;
  /** No progress line. */
  quiet: boolean;
}

/** Defaults of every option. */
export const DEFAULT_OPTIONS: Readonly<LoadOptions> = Object.freeze({
  scenario: "arena",
  target: "arbiter",
  url: "",
  rooms: 10,
  players: 8,
  rate: 20,
  duration: 10,
  warmup: 2,
  drain: 3,
  workers: 1,
  tickMs: 0,
  decode: false,
  games: ["tic_tac_toe", "connect_four"],
  maxGames: 100_000,
  game: "arena",
  holdMs: [500, 2000] as [number, number],
  joinTimeoutMs: 10_000,
  joinConcurrency: 64,
  serverEnv: {},
  serverDenoFlags: [],
  profile: "",
  serverPid: 0,
  json: "",
  quiet: false,
});

/** Server CPU and memory over the measured window (null fields: not measurable). */
export interface ProcessFigures {
  cpuPercent: number | null;
  rssStartBytes: number | null;
  rssPeakBytes: number | null;
  rssEndBytes: number | null;
}

/** The outcome of one run. */
export interface LoadResult {
  scenario: Scenario;
  target: "arbiter" | "baseline";
  startedAt: string;
  options: Omit<LoadOptions, "serverEnv" | "serverDenoFlags" | "json" | "quiet" | "profile">;
  counters: Counters;
  /** Action latency (send → covering ack), ms, over actions sent in the window. */
  latency: LatencySummary;
  /** Join latency (socket opened → welcome), ms. */
  joinLatency: LatencySummary;
  /** Measured window, seconds (as timed, not as asked). */
  windowSeconds: number;
  /** Per-second rates over the window. */
  rates: {
    actionsAckedPerSecond: number;
    deltasPerSecond: number;
    bytesPerClientPerSecond: number;
    framesPerClientPerSecond: number;
    gamesPerSecond: number;
  };
  server: ProcessFigures;
  /** The generator process itself (all worker threads). */
  generator: { cpuPercent: number | null };
  /**
   * The whole machine over the window (`/proc/stat`): busy percent of one core, out of
   * `cores × 100`. Near the top means the run was CPU-bound (server, generator and whatever
   * else the machine ran), and latency then includes waiting for a core.
   */
  machine: { cores: number; busyPercent: number | null };
  codes: Record<string, number>;
  extra: Record<string, number>;
  /** Why the run counts as failed (empty: passed). */
  failures: string[];
  /** With `profile`: where the server's CPU profile went and its hottest functions. */
  profile?: { path: string; top: ProfileRow[]; files: ProfileRow[] };
}

/** Hooks for callers that embed the generator (the benchmark, the smoke test). */
export interface RunHooks {
  /** Progress display; default: a {@linkcode Progress} on stderr unless `quiet`. */
  progress?: Progress | null;
  /** Called once every client is connected and joined, before the clock starts. */
  onReady?: (counters: Counters) => void | Promise<void>;
  /** Called in the middle of the measured window (e.g. to sample memory). */
  onMeasure?: () => void | Promise<void>;
}

/**
 * Creates the arena's rooms. Each request (answer and body) gets `timeoutMs`, and none runs
 * past `deadline` (a `Date.now()` instant): a server that accepts and never answers must not
 * hang the run.
 */
async function createRooms(
  httpUrl: string,
  count: number,
  tickMs: number,
  timeoutMs: number,
  deadline: number,
): Promise<string[]> {
  const ids: string[] = [];
  const options = tickMs > 0 ? { tickMs } : undefined;
  for (let i = 0; i < count; i++) {
    const ms = Math.max(0, Math.min(timeoutMs, deadline - Date.now()));
    let response: Response;
    let body;
    try {
      response = await fetch(`${httpUrl}/api/rooms`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ game: "arena", options }),
        signal: AbortSignal.timeout(ms),
      });
      body = await response.json();
    } catch (error) {
      if ((error as Error)?.name !== "TimeoutError") throw error;
      throw new Error(`POST ${httpUrl}/api/rooms got no answer within ${ms} ms`);
    }
    if (!response.ok) {
      throw new Error(`POST /api/rooms failed: ${response.status} ${JSON.stringify(body)}`);
    }
    ids.push(body.id);
  }
  return ids;
}

/** `ws://h:p/ws` → `http://h:p`. */
function httpBase(wsUrl: string): string {
  const url = new URL(wsUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = "";
  return url.origin;
}

/** Splits `items` round-robin into `n` slices. */
function split<T>(items: readonly T[], n: number): T[][] {
  const slices: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => slices[i % n].push(item));
  return slices;
}

function specsFor(options: LoadOptions, wsUrl: string, rooms: (string | number)[]): SliceSpec[] {
  const n = Math.max(1, options.workers);
  switch (options.scenario) {
    case "arena":
      return split(rooms, n).filter((slice) => slice.length > 0).map((slice) => ({
        scenario: "arena",
        config: {
          target: options.target,
          wsUrl,
          rooms: slice,
          players: options.players,
          rate: options.rate,
          decode: options.decode,
          joinTimeoutMs: options.joinTimeoutMs,
          joinConcurrency: options.joinConcurrency,
        },
      }));
    case "turns":
      return Array.from({ length: n }, (_, i) => ({
        scenario: "turns",
        config: {
          wsUrl,
          games: options.games,
          concurrency: Math.max(1, Math.round(options.rooms / n) || (i === 0 ? 1 : 0)),
          maxGames: Math.ceil(options.maxGames / n),
          joinTimeoutMs: options.joinTimeoutMs,
          thinkMs: 0,
        },
      }));
    case "join_storm":
      return Array.from({ length: n }, () => ({
        scenario: "join_storm",
        config: {
          wsUrl,
          game: options.game,
          rate: options.rate / n,
          holdMs: options.holdMs,
          joinTimeoutMs: options.joinTimeoutMs,
          maxSessions: Math.ceil(options.maxGames / n),
        },
      }));
  }
}

/** A worker and the last thing it said. */
interface WorkerHandle {
  worker: Worker;
  progress: Counters;
  recentP99: number;
  ready: Promise<Counters>;
  result: Promise<SliceResult>;
}

function startWorker(spec: SliceSpec): WorkerHandle {
  const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  let onReady!: (counters: Counters) => void;
  let onResult!: (result: SliceResult) => void;
  let onError!: (error: Error) => void;
  const ready = new Promise<Counters>((resolve, reject) => {
    onReady = resolve;
    onError = reject;
  });
  const result = new Promise<SliceResult>((resolve, reject) => {
    onResult = resolve;
    const previous = onError;
    onError = (error) => {
      previous(error);
      reject(error);
    };
  });
  // Nobody may be awaiting these yet; keep an early failure from being "unhandled".
  ready.catch(() => {});
  result.catch(() => {});
  const handle: WorkerHandle = { worker, progress: newCounters(), recentP99: 0, ready, result };
  worker.onmessage = (event: MessageEvent<FromWorker>) => {
    const message = event.data;
    switch (message.type) {
      case "ready":
        handle.progress = message.counters;
        onReady(message.counters);
        return;
      case "progress":
        handle.progress = message.counters;
        handle.recentP99 = message.recentP99;
        return;
      case "result":
        onResult(message.result);
        return;
      case "error":
        onError(new Error(`load worker failed: ${message.message}`));
        return;
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    onError(new Error(`load worker crashed: ${event.message}`));
  };
  worker.postMessage({ type: "init", spec } satisfies ToWorker);
  return handle;
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function progressLine(options: LoadOptions, timeline: Timeline, handles: WorkerHandle[]): string {
  const now = Date.now();
  const c = addCounters(newCounters(), {});
  let p99 = 0;
  for (const h of handles) {
    addCounters(c, h.progress);
    p99 = Math.max(p99, h.recentP99);
  }
  const phase = now < timeline.warmupEnd
    ? `warm-up ${Math.max(0, Math.ceil((timeline.warmupEnd - now) / 1000))}s`
    : now < timeline.measureEnd
    ? `measure ${Math.floor((now - timeline.warmupEnd) / 1000)}/${options.duration}s`
    : "drain";
  const k = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n));
  const parts = [
    `[${options.scenario}/${options.target} ${phase}]`,
    `clients ${c.joined}/${c.clients}`,
  ];
  if (options.scenario === "turns") parts.push(`games ${c.games_finished}/${c.games_started}`);
  if (options.scenario !== "join_storm") {
    parts.push(`sent ${k(c.actions_sent)}`, `acked ${k(c.actions_acked)}`, `p99 ${round(p99)}ms`);
  } else {
    parts.push(`leaves ${c.leaves}`, `join p99 ${round(p99)}ms`);
  }
  parts.push(`deltas ${k(c.deltas_received)}`);
  const bad = c.failed_joins + c.connection_failures + c.rejects + c.disconnects + c.games_invalid;
  parts.push(bad ? `PROBLEMS ${bad}` : "ok");
  return parts.join("  ");
}

/**
 * Runs one scenario and returns its figures. Starts (and stops) a server subprocess unless
 * `options.url` is set.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_OPTIONS, runLoad } from "./generator.ts";
 * const result = await runLoad({ ...DEFAULT_OPTIONS, scenario: "arena", rooms: 2, duration: 3 });
 * console.log(result.latency.p99, result.failures);
 * ```
 */
export async function runLoad(
  input: Partial<LoadOptions>,
  hooks: RunHooks = {},
): Promise<LoadResult> {
  const options: LoadOptions = { ...DEFAULT_OPTIONS, ...input };
  if (options.target === "baseline" && options.scenario !== "arena") {
    throw new Error("The baseline relay only speaks the arena workload (--scenario arena).");
  }
  const progress = hooks.progress === undefined
    ? (options.quiet ? null : new Progress())
    : hooks.progress;
  const startedAt = new Date().toISOString();
  let server: ServerProcess | null = null;
  const handles: WorkerHandle[] = [];
  try {
    let wsUrl = options.url;
    const inspectPort = options.profile && !wsUrl ? freePort() : 0;
    if (!wsUrl) {
      server = await spawnServer({
        kind: options.target,
        env: {
          ...(options.target === "baseline" ? { TICK_MS: String(options.tickMs) } : {}),
          ...options.serverEnv,
        },
        denoFlags: [
          ...(inspectPort ? [`--inspect=127.0.0.1:${inspectPort}`] : []),
          ...options.serverDenoFlags,
        ],
      });
      wsUrl = server.wsUrl;
    }
    // The pid of `npx deno task dev` is npm's launcher: measure the Deno server below it.
    const serverPid = server?.pid ?? (options.serverPid && serverProcess(options.serverPid));
    if (!server && serverPid !== options.serverPid) {
      progress?.log(`--server-pid ${options.serverPid} is a launcher: measuring pid ${serverPid}`);
    }
    const serverMeter = serverPid ? new CpuMeter(serverPid) : null;
    const selfMeter = new CpuMeter(Deno.pid);

    const rssBefore = serverMeter ? (serverMeter.sample(), serverMeter.lastRss) : 0;
    // Setting up (rooms, then joins) has a hard deadline like the rest of the run.
    const joinBudget = options.joinTimeoutMs * 2 + 30_000 +
      Math.ceil((options.rooms * options.players) / 50) * 1000;
    let rooms: (string | number)[] = [];
    if (options.scenario === "arena") {
      rooms = options.target === "arbiter"
        ? await createRooms(
          httpBase(wsUrl),
          options.rooms,
          options.tickMs,
          // A room is created no slower than a player joins it.
          options.joinTimeoutMs,
          Date.now() + joinBudget,
        )
        : Array.from({ length: options.rooms }, (_, i) => i);
    }

    for (const spec of specsFor(options, wsUrl, rooms)) handles.push(startWorker(spec));
    const readyCounters = await withDeadline(
      Promise.all(handles.map((h) => h.ready)),
      joinBudget,
      "joining",
    );
    const seated = addCounters(newCounters(), {});
    for (const c of readyCounters) addCounters(seated, c);
    if (options.scenario === "arena") {
      progress?.log(`seated ${seated.joined}/${seated.clients} bots in ${rooms.length} rooms`);
    }
    await hooks.onReady?.(seated);

    const startAt = Date.now() + 100;
    const warmupEnd = startAt + options.warmup * 1000;
    const measureEnd = warmupEnd + options.duration * 1000;
    const timeline: Timeline = {
      startAt,
      warmupEnd,
      measureEnd,
      drainEnd: measureEnd + options.drain * 1000,
    };
    for (const h of handles) h.worker.postMessage({ type: "start", timeline } satisfies ToWorker);

    // Measure the server and ourselves over exactly the window.
    let serverWindow: CpuWindow | null = null;
    let selfWindow: CpuWindow | null = null;
    let rssStart: number | null = null;
    const sleepUntil = (t: number) =>
      new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
    const ticker = setInterval(() => {
      serverMeter?.sample();
      progress?.update(progressLine(options, timeline, handles));
    }, 250);
    try {
      await sleepUntil(warmupEnd);
      const profiler: Profiler | null = inspectPort ? await startProfiler(inspectPort) : null;
      serverMeter?.start();
      selfMeter.start();
      const machineStart = machineCpuSeconds();
      rssStart = serverMeter?.lastRss ?? null;
      const mid = warmupEnd + (options.duration * 1000) / 2;
      await sleepUntil(mid);
      await hooks.onMeasure?.();
      await sleepUntil(measureEnd);
      serverWindow = serverMeter?.stop() ?? null;
      selfWindow = selfMeter.stop();
      const machineEnd = machineCpuSeconds();
      let profile: LoadResult["profile"];
      if (profiler) {
        const data = await profiler.stop();
        profiler.close();
        await Deno.writeTextFile(options.profile, JSON.stringify(data));
        profile = {
          path: options.profile,
          top: summarizeProfile(data, false, `file://${REPO_ROOT}`).slice(0, 40),
          files: summarizeProfile(data, true, `file://${REPO_ROOT}`).slice(0, 20),
        };
      }
      const results = await withDeadline(
        Promise.all(handles.map((h) => h.result)),
        options.drain * 1000 + 30_000,
        "the run",
      );
      progress?.update(progressLine(options, timeline, handles), true);
      progress?.done();
      const windowSeconds = (measureEnd - warmupEnd) / 1000;
      const result = merge(options, startedAt, results, windowSeconds);
      result.server = {
        cpuPercent: serverWindow?.percent ?? null,
        rssStartBytes: rssStart,
        rssPeakBytes: serverMeter ? serverMeter.peakRss : null,
        rssEndBytes: serverMeter ? serverMeter.lastRss : null,
      };
      result.generator = { cpuPercent: selfWindow?.percent ?? null };
      if (machineStart && machineEnd && selfWindow) {
        result.machine.busyPercent =
          ((machineEnd.busy - machineStart.busy) / selfWindow.wallSeconds) *
          100;
      }
      if (profile) result.profile = profile;
      if (rssBefore) result.extra.server_rss_before_join_bytes = rssBefore;
      return result;
    } finally {
      clearInterval(ticker);
    }
  } finally {
    progress?.done();
    for (const h of handles) h.worker.terminate();
    if (server) await server.stop();
  }
}

function merge(
  options: LoadOptions,
  startedAt: string,
  results: SliceResult[],
  windowSeconds: number,
): LoadResult {
  const counters = newCounters();
  const latency = new Samples();
  const joinLatency = new Samples();
  const codes: Record<string, number> = {};
  const extra: Record<string, number> = {};
  for (const r of results) {
    addCounters(counters, r.counters);
    latency.addAll(r.latency);
    joinLatency.addAll(r.joinLatency);
    for (const [k, v] of Object.entries(r.codes)) codes[k] = (codes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.extra)) extra[k] = (extra[k] ?? 0) + v;
  }
  const clients = Math.max(1, counters.joined);
  const failures: string[] = [];
  if (counters.failed_joins) failures.push(`${counters.failed_joins} failed joins`);
  if (counters.connection_failures) {
    failures.push(`${counters.connection_failures} connection failures`);
  }
  if (counters.lost_acks) failures.push(`${counters.lost_acks} lost acks`);
  if (counters.seq_gaps) failures.push(`${counters.seq_gaps} sequence gaps`);
  if (counters.decode_errors) failures.push(`${counters.decode_errors} decode errors`);
  if (counters.games_invalid) failures.push(`${counters.games_invalid} invalid game outcomes`);
  if (counters.disconnects) failures.push(`${counters.disconnects} unexpected disconnects`);
  if (counters.mirror_mismatches) {
    failures.push(`${counters.mirror_mismatches} state mirrors disagreeing with their acks`);
  }
  const { serverEnv: _e, serverDenoFlags: _f, json: _j, quiet: _q, profile: _p, ...shown } =
    options;
  return {
    scenario: options.scenario,
    target: options.target,
    startedAt,
    options: shown,
    counters,
    latency: latency.summary(),
    joinLatency: joinLatency.summary(),
    windowSeconds,
    rates: {
      actionsAckedPerSecond: latency.length / windowSeconds,
      deltasPerSecond: counters.deltas_measured / windowSeconds,
      bytesPerClientPerSecond: counters.bytes_measured / clients / windowSeconds,
      framesPerClientPerSecond: counters.frames_measured / clients / windowSeconds,
      gamesPerSecond: (extra.games_finished_in_window ?? 0) / windowSeconds,
    },
    server: { cpuPercent: null, rssStartBytes: null, rssPeakBytes: null, rssEndBytes: null },
    generator: { cpuPercent: null },
    machine: { cores: cores(), busyPercent: null },
    codes,
    extra,
    failures,
  };
}

/** Reads the flags into options (unknown flags throw). */
export function parseFlags(args: readonly string[]): Partial<LoadOptions> & { help?: boolean } {
  const out: Partial<LoadOptions> & { help?: boolean } = {};
  const numbers: Record<string, keyof LoadOptions> = {
    rooms: "rooms",
    players: "players",
    rate: "rate",
    duration: "duration",
    warmup: "warmup",
    drain: "drain",
    workers: "workers",
    "tick-ms": "tickMs",
    "max-games": "maxGames",
    "join-timeout": "joinTimeoutMs",
    "join-concurrency": "joinConcurrency",
    "server-pid": "serverPid",
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new Error(`Unexpected argument "${arg}".`);
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const flag = ["decode", "quiet", "help"].includes(name);
    if (!flag && value === undefined) {
      value = args[++i];
      if (value === undefined) throw new Error(`--${name} needs a value.`);
    }
    if (name in numbers) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) {
        throw new Error(`--${name} must be a number ≥ 0, got "${value}".`);
      }
      (out as Record<string, unknown>)[numbers[name]] = n;
      continue;
    }
    switch (name) {
      case "scenario":
        if (value !== "arena" && value !== "turns" && value !== "join_storm") {
          throw new Error(`--scenario must be arena, turns or join_storm, got "${value}".`);
        }
        out.scenario = value;
        break;
      case "target":
        if (value !== "arbiter" && value !== "baseline") {
          throw new Error(`--target must be arbiter or baseline, got "${value}".`);
        }
        out.target = value;
        break;
      case "url":
        out.url = value!;
        break;
      case "json":
        out.json = value!;
        break;
      case "profile":
        out.profile = value!;
        break;
      case "games":
        out.games = value!.split(",").map((g) => g.trim()).filter(Boolean);
        break;
      case "game":
        out.game = value!;
        break;
      case "hold-ms": {
        const [min, max = min] = value!.split(",").map(Number);
        out.holdMs = [min, max];
        break;
      }
      case "decode":
        out.decode = value === undefined ? true : value !== "false";
        break;
      case "quiet":
        out.quiet = true;
        break;
      case "help":
        out.help = true;
        break;
      default:
        throw new Error(`Unknown flag --${name} (see --help).`);
    }
  }
  return out;
}

const USAGE = `deno task loadtest [flags]

  --scenario arena|turns|join_storm   what to run (default arena)
  --target arbiter|baseline           server kind (baseline: the raw relay, arena only)
  --url ws://host:port/ws             use a running server instead of starting one
  --rooms N          arena rooms / turn games at a time (default 10)
  --players N        arena bots per room (default 8)
  --rate R           arena moves/s per bot (default 20; 0 = idle) / join_storm peak joins/s
  --duration S       measured seconds (default 10)
  --warmup S         warm-up seconds (default 2)
  --drain S          seconds to wait for outstanding acks (default 3)
  --workers N        generator threads (default 1)
  --tick-ms MS       arena tick interval (default: the game's 50 ms; the rooms' tickMs option)
  --decode           arena: decode every delta into a mirror
  --games a,b        turns: games to rotate (default tic_tac_toe,connect_four)
  --game NAME        join_storm: game to join_or_create (default arena)
  --hold-ms MIN,MAX  join_storm: how long each session stays (default 500,2000)
  --max-games N      turns: most games / join_storm: most sessions
  --join-timeout MS  per-join timeout (default 10000)
  --server-pid PID   with --url: read this process's CPU and RSS (a launcher's, such
                     as npx deno task dev: the Deno server below it)
  --json PATH        write the result as JSON
  --profile PATH     CPU-profile the server over the window (.cpuprofile, via --inspect)
  --quiet            no progress line`;

if (import.meta.main) {
  let flags;
  try {
    flags = parseFlags(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    console.error(USAGE);
    Deno.exit(2);
  }
  if (flags.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const result = await runLoad(flags);
  console.log(formatSummary(result));
  if (flags.json) {
    await Deno.writeTextFile(flags.json, JSON.stringify(result, null, 2) + "\n");
    console.log(`result written to ${flags.json}`);
  }
  Deno.exit(result.failures.length ? 1 : 0);
}

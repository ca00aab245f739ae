/**
 * A tiny stand-in for the k6 runtime, enough to run Arbiter's k6 scripts under Deno in tests
 * (k6 itself is not installed in CI): `k6/http` (`post` via `curl`, synchronous like k6's),
 * `k6/experimental/websockets` (Deno's WebSocket), `k6/metrics` (Trend and Counter totals, and
 * per tag), `k6/execution` (`scenario.startTime`), the `__ENV` / `__VU` / `__ITER` globals, one
 * worker per VU, and k6's rule that an iteration ends once its sockets are closed and its timers
 * have run.
 *
 * It checks that the scripts run and count correctly against a real server, not k6's
 * executors or thresholds (those are k6's own).
 *
 * @module
 */
import { REPO_ROOT } from "../../loadtest/server_process.ts";

/** One metric's totals across all VUs. */
export interface MetricTotals {
  count: number;
  sum: number;
  max: number;
  /** Sums by tag, keyed `name=value` (e.g. `code=1006`). */
  tags: Record<string, number>;
}

/** What a run returns. */
export interface K6Run {
  metrics: Record<string, MetricTotals>;
  iterations: number;
  errors: string[];
}

const SHIM_HTTP = `
function request(method, url, body, params) {
  const args = ["-s", "-o", "-", "-w", "\\n%{http_code}", "-X", method, url];
  const headers = (params && params.headers) || {};
  for (const name in headers) args.push("-H", name + ": " + headers[name]);
  if (body !== undefined && body !== null) args.push("--data-binary", String(body));
  const out = new Deno.Command("curl", { args, stdout: "piped", stderr: "null" }).outputSync();
  const text = new TextDecoder().decode(out.stdout);
  const cut = text.lastIndexOf("\\n");
  const responseBody = text.slice(0, cut);
  return {
    status: Number(text.slice(cut + 1)),
    body: responseBody,
    json: (path) => {
      const value = JSON.parse(responseBody);
      return path ? path.split(".").reduce((v, k) => v?.[k], value) : value;
    },
  };
}
export default {
  post: (url, body, params) => request("POST", url, body, params),
  get: (url, params) => request("GET", url, undefined, params),
};
`;

const SHIM_WS = `
export class WebSocket extends globalThis.WebSocket {
  constructor(url, protocols, _params) {
    super(url, protocols ?? undefined);
    globalThis.__k6open.add(this);
    this.addEventListener("close", () => globalThis.__k6open.delete(this));
    this.addEventListener("error", () => {
      if (this.readyState === 3) globalThis.__k6open.delete(this);
    });
  }
}
`;

const SHIM_METRICS = `
function metric(name) {
  const all = (globalThis.__k6metrics ??= {});
  return (all[name] ??= { count: 0, sum: 0, max: -Infinity, tags: {} });
}
class Metric {
  constructor(name) { this.name = name; metric(name); }
  add(value, tags) {
    const m = metric(this.name);
    m.count++;
    m.sum += Number(value);
    if (value > m.max) m.max = Number(value);
    for (const key in tags ?? {}) {
      if (typeof tags[key] !== "string") throw new TypeError("k6 tag values are strings: " + key);
      const tag = key + "=" + tags[key];
      m.tags[tag] = (m.tags[tag] ?? 0) + Number(value);
    }
  }
}
export class Trend extends Metric {}
export class Counter extends Metric {}
export class Rate extends Metric {}
export class Gauge extends Metric {}
`;

const SHIM_EXECUTION = `
export default {
  get scenario() {
    return globalThis.__k6scenario;
  },
};
`;

const RUNNER = `
const timers = new Set();
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;
globalThis.setTimeout = (fn, ms, ...args) => {
  // A timer cleared when already due (by a handler of the same turn) must not run, as in k6.
  const id = realSetTimeout(() => { if (timers.delete(id)) fn(...args); }, ms);
  timers.add(id);
  return id;
};
globalThis.clearTimeout = (id) => { timers.delete(id); realClearTimeout(id); };
globalThis.setInterval = (fn, ms, ...args) => {
  const id = realSetInterval(fn, ms, ...args);
  timers.add(id);
  return id;
};
globalThis.clearInterval = (id) => { timers.delete(id); realClearInterval(id); };
globalThis.__k6open = new Set();
self.onmessage = async (event) => {
  const { scriptUrl, env, vu, data, durationMs, iterationTimeoutMs, startTime } = event.data;
  globalThis.__ENV = env;
  globalThis.__k6scenario = {
    name: "default",
    executor: env.EXECUTOR ?? "constant-vus",
    startTime,
  };
  globalThis.__VU = vu;
  globalThis.__ITER = 0;
  const errors = [];
  let iterations = 0;
  try {
    const script = await import(scriptUrl);
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      globalThis.__ITER = iterations;
      await script.default(data);
      const limit = Date.now() + iterationTimeoutMs;
      await new Promise((resolve) => {
        const check = () => {
          if ((timers.size === 0 && globalThis.__k6open.size === 0) || Date.now() > limit) {
            if (Date.now() > limit) errors.push("iteration did not end");
            resolve();
          } else realSetTimeout(check, 10);
        };
        check();
      });
      iterations++;
    }
  } catch (error) {
    errors.push(String(error && error.stack || error));
  }
  self.postMessage({ metrics: globalThis.__k6metrics ?? {}, iterations, errors });
};
`;

/** Copies the k6 scripts to a temp dir with their `k6/*` imports pointed at the shims. */
async function prepare(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "k6-shim-" });
  const source = `${REPO_ROOT}loadtest/k6`;
  for await (const entry of Deno.readDir(source)) {
    if (!entry.name.endsWith(".js")) continue;
    const text = (await Deno.readTextFile(`${source}/${entry.name}`))
      .replaceAll('"k6/http"', '"./k6_http.js"')
      .replaceAll('"k6/experimental/websockets"', '"./k6_ws.js"')
      .replaceAll('"k6/metrics"', '"./k6_metrics.js"')
      .replaceAll('"k6/execution"', '"./k6_execution.js"');
    await Deno.writeTextFile(`${dir}/${entry.name}`, text);
  }
  await Deno.writeTextFile(`${dir}/k6_http.js`, SHIM_HTTP);
  await Deno.writeTextFile(`${dir}/k6_ws.js`, SHIM_WS);
  await Deno.writeTextFile(`${dir}/k6_metrics.js`, SHIM_METRICS);
  await Deno.writeTextFile(`${dir}/k6_execution.js`, SHIM_EXECUTION);
  await Deno.writeTextFile(`${dir}/k6_runner.js`, RUNNER);
  return dir;
}

/** True when `curl` (the `k6/http` shim) is available. */
export function hasCurl(): boolean {
  try {
    return new Deno.Command("curl", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/**
 * Runs `script` (a file name in `loadtest/k6/`) with `vus` VUs for `durationMs` (iterations
 * started before the end run to completion), after its `setup()`.
 *
 * @example
 * ```ts ignore
 * const run = await runK6Script("arena.js", { BASE_URL: "http://127.0.0.1:8000", ROOMS: "1" }, 8, 2000);
 * console.log(run.metrics.failed_joins?.count ?? 0);
 * ```
 */
export async function runK6Script(
  script: string,
  env: Record<string, string>,
  vus: number,
  durationMs: number,
  iterationTimeoutMs = 30_000,
): Promise<K6Run> {
  const dir = await prepare();
  const scriptUrl = new URL(`file://${dir}/${script}`).href;
  try {
    const data = await setUp(scriptUrl, env);
    // The scenario starts after setup(), all VUs at once (as constant-vus does).
    const startTime = Date.now();
    const results = await Promise.all(
      Array.from({ length: vus }, (_, i) =>
        new Promise<K6Run>((resolve, reject) => {
          const worker = new Worker(new URL(`file://${dir}/k6_runner.js`).href, { type: "module" });
          worker.onmessage = (event) => {
            worker.terminate();
            resolve(event.data);
          };
          worker.onerror = (event) => {
            event.preventDefault();
            worker.terminate();
            reject(new Error(event.message));
          };
          worker.postMessage({
            scriptUrl,
            env,
            vu: i + 1,
            data,
            durationMs,
            iterationTimeoutMs,
            startTime,
          });
        })),
    );
    const metrics: Record<string, MetricTotals> = {};
    let iterations = 0;
    const errors: string[] = [];
    for (const r of results) {
      iterations += r.iterations;
      errors.push(...r.errors);
      for (const [name, m] of Object.entries(r.metrics)) {
        const into = (metrics[name] ??= { count: 0, sum: 0, max: -Infinity, tags: {} });
        into.count += m.count;
        into.sum += m.sum;
        into.max = Math.max(into.max, m.max);
        for (const [tag, sum] of Object.entries(m.tags)) {
          into.tags[tag] = (into.tags[tag] ?? 0) + sum;
        }
      }
    }
    return { metrics, iterations, errors };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The `setup()` of the runs in progress, one after another (see {@linkcode setUp}). */
let setupTurn: Promise<unknown> = Promise.resolve();

/**
 * Loads `scriptUrl` and runs its `setup()` once, in this thread, as k6 does before the VUs
 * start. Scripts read the `__ENV` global while they load, so the runs of one test that start
 * together take turns: with one shared global, a run loaded with another's environment, or
 * found it deleted by a run that ended (seen on a loaded machine).
 */
function setUp(scriptUrl: string, env: Record<string, string>): Promise<unknown> {
  const g = globalThis as Record<string, unknown>;
  const turn = setupTurn.then(async () => {
    g.__ENV = env;
    try {
      const module = await import(`${scriptUrl}?setup`);
      return typeof module.setup === "function" ? module.setup() : undefined;
    } finally {
      delete g.__ENV;
      delete g.__k6metrics;
    }
  });
  setupTurn = turn.catch(() => {});
  return turn;
}

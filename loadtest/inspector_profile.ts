/**
 * CPU profiles of a server process over exactly the measured window, through the V8 inspector
 * (the server runs with `--inspect=127.0.0.1:PORT`; Deno 2.5 has no `--cpu-prof`). The result
 * is a standard `.cpuprofile` (Chrome DevTools, speedscope) and {@linkcode summarizeProfile}
 * turns it into a self-time table.
 *
 * @module
 */

/** A V8 CPU profile as `Profiler.stop` returns it. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A profiling session on one inspector target. */
export interface Profiler {
  /** Stops sampling and returns the profile. */
  stop(): Promise<CpuProfile>;
  /** Closes the inspector connection. */
  close(): void;
}

/**
 * Connects to the inspector at `127.0.0.1:port` and starts sampling every `intervalUs` µs.
 *
 * @example
 * ```ts ignore
 * const profiler = await startProfiler(9229);
 * // ... load ...
 * const profile = await profiler.stop();
 * profiler.close();
 * console.log(summarizeProfile(profile).slice(0, 10));
 * ```
 */
export async function startProfiler(port: number, intervalUs = 200): Promise<Profiler> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  if (!targets.length) throw new Error("no inspector target");
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("inspector connection failed"));
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data));
    if (message.id !== undefined) pending.get(message.id)?.(message.result ?? message.error);
  };
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: intervalUs });
  await call("Profiler.start");
  return {
    stop: async () => ((await call("Profiler.stop")) as { profile: CpuProfile }).profile,
    close: () => socket.close(),
  };
}

/** One row of a profile summary. */
export interface ProfileRow {
  /** `function file:line`, or a file path for the per-file rows. */
  name: string;
  /** Share of the sampled time, percent. */
  percent: number;
  /** Sampled milliseconds. */
  ms: number;
}

/**
 * Self time per function (and per file with `byFile`), highest first.
 *
 * @example
 * ```ts
 * import { summarizeProfile } from "./inspector_profile.ts";
 * const profile = {
 *   nodes: [{ id: 1, callFrame: { functionName: "f", url: "file:///a.ts", lineNumber: 0, columnNumber: 0 } }],
 *   startTime: 0, endTime: 10, samples: [1, 1], timeDeltas: [5, 5],
 * };
 * console.log(summarizeProfile(profile)[0].percent); // 100
 * ```
 */
export function summarizeProfile(profile: CpuProfile, byFile = false, root = ""): ProfileRow[] {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = frames.get(profile.samples[i]);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!frame) continue;
    total += dt;
    const file = (frame.url || "(native)").replace(root, "");
    const key = byFile
      ? file
      : `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return [...self].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({
    name,
    percent: total ? (100 * us) / total : 0,
    ms: us / 1000,
  }));
}

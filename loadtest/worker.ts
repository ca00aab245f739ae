/**
 * A load-generator worker thread: runs one slice of a scenario and reports to the main thread.
 * Several workers spread the generator over several cores; each has its own event loop.
 *
 * Messages in: `init` (scenario and slice config), `start` (the timeline).
 * Messages out: `ready`, `progress` (every 500 ms), `result`, or `error`.
 *
 * @module
 */
import { type ArenaConfig, ArenaSlice } from "./arena.ts";
import { type JoinStormConfig, JoinStormSlice } from "./join_storm.ts";
import { summarize } from "./stats.ts";
import { type Counters, PhaseClock, type SliceRunner, type Timeline } from "./tally.ts";
import { type TurnsConfig, TurnsSlice } from "./turns.ts";

/** What a worker is asked to run. */
export type SliceSpec =
  | { scenario: "arena"; config: ArenaConfig }
  | { scenario: "join_storm"; config: JoinStormConfig }
  | { scenario: "turns"; config: TurnsConfig };

/** Messages from the main thread. */
export type ToWorker =
  | { type: "init"; spec: SliceSpec }
  | { type: "start"; timeline: Timeline };

/** Messages to the main thread. */
export type FromWorker =
  | { type: "ready"; counters: Counters }
  | { type: "progress"; counters: Counters; recentP99: number; recentCount: number }
  | { type: "result"; result: ReturnType<SliceRunner["result"]> }
  | { type: "error"; message: string };

/**
 * Builds the runner for a slice spec.
 *
 * @example
 * ```ts ignore
 * const runner = createSlice({ scenario: "arena", config });
 * ```
 */
export function createSlice(spec: SliceSpec): SliceRunner {
  switch (spec.scenario) {
    case "arena":
      return new ArenaSlice(spec.config);
    case "join_storm":
      return new JoinStormSlice(spec.config);
    case "turns":
      return new TurnsSlice(spec.config);
  }
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  close(): void;
}

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  let runner: SliceRunner | null = null;
  const fail = (error: unknown) =>
    scope.postMessage({ type: "error", message: String((error as Error)?.stack ?? error) });
  scope.onmessage = async (event) => {
    const message = event.data;
    try {
      if (message.type === "init") {
        runner = createSlice(message.spec);
        await runner.prepare();
        scope.postMessage({ type: "ready", counters: { ...runner.counters } });
      } else if (message.type === "start" && runner) {
        const active = runner;
        const clock = new PhaseClock(message.timeline);
        let seen = 0;
        const progress = setInterval(() => {
          const recent = active.latency.since(seen);
          seen = active.latency.length;
          scope.postMessage({
            type: "progress",
            counters: { ...active.counters },
            recentP99: summarize(recent).p99,
            recentCount: recent.length,
          });
        }, 500);
        try {
          await active.run(clock);
        } finally {
          clearInterval(progress);
          clock.finish();
        }
        const result = active.result();
        scope.postMessage({ type: "result", result }, [
          result.latency.buffer,
          result.joinLatency.buffer,
        ]);
      }
    } catch (error) {
      fail(error);
    }
  };
}

/**
 * CPU and memory of a process from Linux's `/proc`: CPU time is `utime + stime` of
 * `/proc/PID/stat` (every thread of the process), memory is `VmRSS` of `/proc/PID/status`.
 * Elsewhere (no `/proc`) every reading is `null` and reports say "n/a".
 *
 * @module
 */

/** Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`; 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system, all threads) the process used so far, or null without `/proc`.
 *
 * @example
 * ```ts
 * import { cpuSeconds } from "./proc.ts";
 * console.log(typeof (cpuSeconds(Deno.pid) ?? 0)); // "number"
 * ```
 */
export function cpuSeconds(pid: number): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: parse after its last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of the full line are utime and stime; here index 0 is field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Resident set size of the process in bytes (`VmRSS`), or null without `/proc`.
 *
 * @example
 * ```ts
 * import { rssBytes } from "./proc.ts";
 * console.log((rssBytes(Deno.pid) ?? 1) > 0); // true
 * ```
 */
export function rssBytes(pid: number): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return match ? Number(match[1]) * 1024 : null;
}

/**
 * The process that serves, given the pid a user knows: the pid itself, unless it is a
 * launcher (npm's `deno` wrapper, which is Node, or `deno task`) with exactly one Deno process
 * below it that runs a program (`deno run`, `deno serve`); then that one. A launcher's own CPU and RSS
 * say nothing about the server. Without `/proc`, the pid itself.
 *
 * @example
 * ```ts
 * import { serverProcess } from "./proc.ts";
 * console.log(typeof serverProcess(Deno.pid)); // "number"
 * ```
 */
export function serverProcess(pid: number): number {
  if (serves(pid)) return pid;
  const children = new Map<number, number[]>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      const child = Number(entry.name);
      if (!Number.isInteger(child)) continue;
      const parent = parentPid(child);
      if (parent !== null) children.set(parent, [...(children.get(parent) ?? []), child]);
    }
  } catch {
    return pid;
  }
  const below: number[] = [];
  for (let queue = [pid]; queue.length > 0;) {
    const next = children.get(queue.pop()!) ?? [];
    below.push(...next);
    queue = [...queue, ...next];
  }
  const servers = below.filter(serves);
  return servers.length === 1 ? servers[0] : pid;
}

/**
 * Whether the process is Deno running a program (`deno run`, `deno serve`, or a script given
 * directly), not a launcher such as `deno task`.
 */
function serves(pid: number): boolean {
  let args: string[];
  try {
    args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
  } catch {
    return false;
  }
  const program = args[0].slice(args[0].lastIndexOf("/") + 1);
  // The first word that is not a flag is the subcommand, or the script itself.
  const command = args.slice(1).find((arg) => !arg.startsWith("-"));
  return program === "deno" && command !== undefined &&
    (command === "run" || command === "serve" || /\.[cm]?[jt]sx?$/.test(command));
}

function parentPid(pid: number): number | null {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

/** CPU use of a process over a window. */
export interface CpuWindow {
  /** Percent of one core (100 = one core busy the whole window). */
  percent: number | null;
  /** CPU seconds used in the window. */
  seconds: number | null;
  /** Wall-clock length of the window, seconds. */
  wallSeconds: number;
}

/**
 * Measures a process's CPU between {@linkcode CpuMeter.start} and {@linkcode CpuMeter.stop},
 * and its peak and last RSS while {@linkcode CpuMeter.sample} is called.
 *
 * @example
 * ```ts
 * import { CpuMeter } from "./proc.ts";
 * const meter = new CpuMeter(Deno.pid);
 * meter.start();
 * let x = 0;
 * for (let i = 0; i < 1e6; i++) x += i;
 * console.log(meter.stop().wallSeconds >= 0); // true
 * ```
 */
export class CpuMeter {
  readonly pid: number;
  #startCpu: number | null = null;
  #startWall = 0;
  #peakRss = 0;
  #lastRss = 0;

  constructor(pid: number) {
    this.pid = pid;
  }

  /** Opens the window. */
  start(): void {
    this.#startCpu = cpuSeconds(this.pid);
    this.#startWall = performance.now();
    this.sample();
  }

  /** Records the current RSS (call it every second or so). */
  sample(): void {
    const rss = rssBytes(this.pid);
    if (rss === null) return;
    this.#lastRss = rss;
    if (rss > this.#peakRss) this.#peakRss = rss;
  }

  /** Closes the window and returns the CPU used in it. */
  stop(): CpuWindow {
    const endCpu = cpuSeconds(this.pid);
    const wallSeconds = (performance.now() - this.#startWall) / 1000;
    this.sample();
    if (endCpu === null || this.#startCpu === null || wallSeconds <= 0) {
      return { percent: null, seconds: null, wallSeconds };
    }
    const seconds = endCpu - this.#startCpu;
    return { percent: (seconds / wallSeconds) * 100, seconds, wallSeconds };
  }

  /** Highest RSS seen, bytes (0 if never read). */
  get peakRss(): number {
    return this.#peakRss;
  }

  /** Last RSS read, bytes (0 if never read). */
  get lastRss(): number {
    return this.#lastRss;
  }
}

/**
 * Busy and total CPU seconds of the whole machine so far (all cores, from `/proc/stat`), or
 * null without `/proc`.
 *
 * @example
 * ```ts
 * import { machineCpuSeconds } from "./proc.ts";
 * const cpu = machineCpuSeconds();
 * console.log(cpu === null || cpu.busy <= cpu.total); // true
 * ```
 */
export function machineCpuSeconds(): { busy: number; total: number } | null {
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/stat");
  } catch {
    return null;
  }
  const line = text.split("\n", 1)[0];
  if (!line.startsWith("cpu ")) return null;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + (b || 0), 0);
  return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
}

/** Number of CPU cores (`navigator.hardwareConcurrency`, 1 if unknown). */
export function cores(): number {
  return navigator.hardwareConcurrency || 1;
}

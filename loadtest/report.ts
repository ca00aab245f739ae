/**
 * Text and Markdown renderings of load results: the generator's end-of-run summary and the
 * benchmark's comparison tables.
 *
 * @module
 */
import type { LoadResult } from "./generator.ts";
import { round } from "./stats.ts";

/**
 * Lays out rows as a plain-text table with aligned columns (first column left, others right).
 *
 * @example
 * ```ts
 * import { textTable } from "./report.ts";
 * console.log(textTable([["metric", "value"], ["p99 ms", "12.5"]]));
 * // metric   value
 * // p99 ms    12.5
 * ```
 */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("   ")
      .trimEnd()
  ).join("\n");
}

/**
 * Lays out rows as a Markdown table (the first row is the header).
 *
 * @example
 * ```ts
 * import { markdownTable } from "./report.ts";
 * console.log(markdownTable([["a", "b"], ["1", "2"]]));
 * // | a | b |
 * // |---|---|
 * // | 1 | 2 |
 * ```
 */
export function markdownTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...body.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

/**
 * A number for a table: rounded, thousands separated, "n/a" for null.
 *
 * @example
 * ```ts
 * import { fmt } from "./report.ts";
 * console.log(fmt(11707.4), fmt(3.14159), fmt(null)); // 11,707 3.14 n/a
 * ```
 */
export function fmt(value: number | null | undefined, digits?: number): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "n/a";
  const v = digits === undefined ? round(value) : Number(value.toFixed(digits));
  return v.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

/** Bytes as MB with one decimal, or "n/a". */
export function mb(bytes: number | null | undefined): string {
  return bytes ? (bytes / 1024 / 1024).toFixed(1) : "n/a";
}

/**
 * The generator's end-of-run summary: what ran, the key figures, problems.
 *
 * @example
 * ```ts ignore
 * console.log(formatSummary(await runLoad({ scenario: "arena" })));
 * ```
 */
export function formatSummary(result: LoadResult): string {
  const c = result.counters;
  const o = result.options;
  const rows: string[][] = [["metric", "value"]];
  const add = (name: string, value: string) => rows.push([name, value]);
  add("clients joined", `${c.joined} / ${c.clients}`);
  add("failed joins", String(c.failed_joins));
  add("connection failures", String(c.connection_failures));
  if (result.scenario !== "join_storm") {
    add("actions sent / acked", `${c.actions_sent} / ${c.actions_acked}`);
    add("lost acks", String(c.lost_acks));
    add("rejects", String(c.rejects));
    add(
      "latency p50 / p99 / max ms",
      [result.latency.p50, result.latency.p99, result.latency.max].map((v) => fmt(v)).join(" / "),
    );
    add("latency samples", String(result.latency.count));
    add("deltas delivered / s", fmt(result.rates.deltasPerSecond));
    add("bytes / client / s", fmt(result.rates.bytesPerClientPerSecond));
  }
  if (result.scenario === "turns") {
    add("games finished / started", `${c.games_finished} / ${c.games_started}`);
    add("games / s (window)", fmt(result.rates.gamesPerSecond));
    add("invalid outcomes", String(c.games_invalid));
  }
  if (result.scenario === "join_storm") {
    add("leaves", String(c.leaves));
  }
  add(
    "join latency p50 / p99 / max ms",
    [result.joinLatency.p50, result.joinLatency.p99, result.joinLatency.max].map((v) => fmt(v))
      .join(" / "),
  );
  add("unexpected disconnects", String(c.disconnects));
  add("server CPU % (one core = 100)", fmt(result.server.cpuPercent));
  add(
    "server RSS start / peak MB",
    `${mb(result.server.rssStartBytes)} / ${mb(result.server.rssPeakBytes)}`,
  );
  add("generator CPU %", fmt(result.generator.cpuPercent));
  add(`machine busy % (of ${result.machine.cores * 100})`, fmt(result.machine.busyPercent));
  const head = `${result.scenario} against ${result.target}: ` +
    (result.scenario === "arena"
      ? `${o.rooms} rooms × ${o.players} players × ${o.rate} moves/s`
      : result.scenario === "turns"
      ? `${o.rooms} games at a time (${o.games.join(", ")})`
      : `${o.rate} joins/s peak (${o.game})`) +
    `, ${o.warmup} s warm-up + ${o.duration} s measured` +
    (o.tickMs ? `, tick ${o.tickMs} ms` : "");
  const codes = Object.entries(result.codes).sort((a, b) => b[1] - a[1]).slice(0, 10)
    .map(([code, n]) => `  ${n} × ${code}`);
  const profile = result.profile
    ? [
      "",
      `server CPU profile (${result.profile.path}), self time:`,
      ...result.profile.top.slice(0, 15).map((r) =>
        `  ${r.percent.toFixed(1).padStart(5)} %  ${r.name}`
      ),
    ]
    : [];
  return [
    head,
    "",
    textTable(rows),
    ...(codes.length ? ["", "codes seen:", ...codes] : []),
    ...profile,
    "",
    result.failures.length
      ? `FAILED: ${result.failures.join("; ")}`
      : "PASSED: no failed joins, no lost acks",
  ].join("\n");
}

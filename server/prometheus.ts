/**
 * `GET /metrics`: the process's metrics in the Prometheus text exposition format.
 *
 * @module
 */
import type { RoomManager } from "../rooms/mod.ts";
import type { Histogram, LabeledCounter, Metrics } from "./metrics.ts";

/**
 * Renders every metric with HELP and TYPE lines.
 *
 * @example
 * ```ts ignore
 * const text = renderPrometheus(metrics, manager);
 * // arbiter_connections 3
 * ```
 */
export function renderPrometheus(metrics: Metrics, manager: RoomManager): string {
  const out: string[] = [];
  const gauge = (name: string, help: string, value: number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
  };
  const counter = (name: string, help: string, value: number) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
  };
  const labeled = (name: string, help: string, label: string, values: LabeledCounter) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    for (const [key, value] of values) out.push(`${name}{${label}="${escape(key)}"} ${value}`);
  };
  const histogram = (name: string, help: string, h: Histogram) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    let cumulative = 0;
    h.bounds.forEach((bound, i) => {
      cumulative += h.counts[i];
      out.push(`${name}_bucket{le="${bound / 1000}"} ${cumulative}`);
    });
    out.push(`${name}_bucket{le="+Inf"} ${h.count}`);
    out.push(`${name}_sum ${h.sum / 1000}`, `${name}_count ${h.count}`);
  };

  gauge("arbiter_connections", "Open WebSocket connections.", metrics.connections);
  counter("arbiter_connections_total", "WebSocket connections opened.", metrics.connectionsTotal);
  out.push("# HELP arbiter_rooms Rooms by game and status.", "# TYPE arbiter_rooms gauge");
  const rooms = new Map<string, number>();
  // This process's rooms only: summing over instances must not count a room twice.
  for (const room of manager.list({ localOnly: true })) {
    const key = `game="${escape(room.game)}",status="${room.status}"`;
    rooms.set(key, (rooms.get(key) ?? 0) + 1);
  }
  for (const [labels, count] of rooms) out.push(`arbiter_rooms{${labels}} ${count}`);
  counter("arbiter_frames_received_total", "Frames received.", metrics.framesIn);
  counter("arbiter_frames_sent_total", "Frames sent.", metrics.framesOut);
  counter("arbiter_bytes_received_total", "WebSocket payload bytes received.", metrics.bytesIn);
  counter("arbiter_bytes_sent_total", "WebSocket payload bytes sent.", metrics.bytesOut);
  counter("arbiter_joins_total", "Successful fresh joins.", metrics.joins);
  counter("arbiter_resumes_total", "Successful resumes.", metrics.resumes);
  counter("arbiter_resyncs_total", "Full-state resyncs on resume.", metrics.resyncs);
  labeled("arbiter_join_failures_total", "Failed joins.", "code", metrics.joinFailures);
  counter("arbiter_actions_accepted_total", "Actions applied.", metrics.actionsAccepted);
  labeled("arbiter_actions_rejected_total", "Actions refused.", "code", metrics.actionsRejected);
  counter("arbiter_deltas_sent_total", "Delta frames sent.", metrics.deltasSent);
  counter("arbiter_slow_consumers_total", "Slow consumers dropped.", metrics.slowConsumers);
  histogram("arbiter_join_seconds", "Join latency.", metrics.joinLatency);
  histogram(
    "arbiter_action_seconds",
    "Time from an action's arrival to the delta acknowledging it (tick wait included).",
    metrics.actionLatency,
  );
  histogram("arbiter_kv_write_seconds", "Deno KV write latency.", metrics.kvWriteLatency);
  const memory = Deno.memoryUsage();
  gauge("arbiter_process_resident_memory_bytes", "Resident set size.", memory.rss);
  gauge("arbiter_process_heap_used_bytes", "V8 heap used.", memory.heapUsed);
  return out.join("\n") + "\n";
}

function escape(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * The numbers behind the `/dashboard` page (`GET /api/stats`): the process's counters as
 * totals (the page turns them into per-second rates between two samples), latency
 * percentiles, memory, and every room with its presence counts and progress.
 *
 * @module
 */
import type { Histogram, Metrics } from "../server/metrics.ts";
import type { RoomManager, RoomStatus } from "../rooms/mod.ts";

/** Percentiles of a latency histogram over its recent samples, ms (null without samples). */
export interface LatencyStats {
  /** Observations since start. */
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

/** One room as the dashboard lists it. */
export interface RoomStats {
  /**
   * Room id; for a private room (whose id is its invitation) a stand-in that keeps its row
   * apart from the others', `private-1`, `private-2`..., showing none of the id.
   */
  id: string;
  game: string;
  status: RoomStatus;
  private: boolean;
  /** Seated players with a live connection. */
  connected: number;
  /** Seated players whose connection dropped (their seat waits for a resume). */
  disconnected: number;
  maxPlayers: number;
  spectators: number;
  /** Room sequence: broadcasts so far. */
  seq: number;
  /** Actions (and turn timeouts) applied so far. */
  actions: number;
}

/** Everything `GET /api/stats` returns. Counters are totals since the process started. */
export interface DashboardStats {
  /** When this sample was taken, ms since the Unix epoch. */
  time: number;
  uptimeSeconds: number;
  connections: number;
  connectionsTotal: number;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  joins: number;
  resumes: number;
  resyncs: number;
  joinFailures: Record<string, number>;
  actionsAccepted: number;
  actionsRejected: Record<string, number>;
  deltasSent: number;
  slowConsumers: number;
  latency: { action: LatencyStats; kvWrite: LatencyStats; join: LatencyStats };
  memory: { rss: number; heapUsed: number; heapTotal: number };
  rooms: RoomStats[];
}

function latency(histogram: Histogram): LatencyStats {
  const at = (q: number) => {
    const value = histogram.percentile(q);
    return Number.isFinite(value) ? value : null;
  };
  return { count: histogram.count, p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/** Stand-ins for private rooms' ids, per room manager (numbered in the order seen). */
const privateLabels = new WeakMap<RoomManager, { next: number; labels: Map<string, string> }>();

/**
 * Takes one sample of the process for the dashboard.
 *
 * @example
 * ```ts
 * import { Metrics } from "../server/metrics.ts";
 * import { RoomManager } from "../rooms/mod.ts";
 * import { exampleGames } from "../games/mod.ts";
 * import { dashboardStats } from "./stats.ts";
 * const manager = new RoomManager({ games: exampleGames });
 * manager.create("tic_tac_toe");
 * const stats = dashboardStats(new Metrics(), manager, Date.now());
 * console.log(stats.rooms.length, stats.connections); // 1 0
 * manager.dispose();
 * ```
 */
export function dashboardStats(
  metrics: Metrics,
  manager: RoomManager,
  startedAt: number,
): DashboardStats {
  const memory = Deno.memoryUsage();
  const now = Date.now();
  const rooms: RoomStats[] = [];
  let hidden = privateLabels.get(manager);
  if (!hidden) privateLabels.set(manager, hidden = { next: 1, labels: new Map() });
  const stillLive = new Map<string, string>();
  for (const summary of manager.list({ localOnly: true })) {
    let id = summary.id;
    if (summary.private) {
      id = hidden.labels.get(summary.id) ?? `private-${hidden.next++}`;
      stillLive.set(summary.id, id);
    }
    const room = manager.get(summary.id);
    let connected = 0;
    let disconnected = 0;
    for (const player of room?.players ?? []) {
      if (player.presence === "connected") connected++;
      else if (player.presence === "disconnected") disconnected++;
    }
    rooms.push({
      // A private room's id is its invitation: none of it is shown (a prefix shortens a guess).
      id,
      game: summary.game,
      status: summary.status,
      private: summary.private,
      connected,
      disconnected,
      maxPlayers: summary.maxPlayers,
      spectators: summary.spectators,
      seq: summary.seq,
      actions: room?.actionIndex ?? 0,
    });
  }
  hidden.labels = stillLive;
  return {
    time: now,
    uptimeSeconds: Math.round((now - startedAt) / 1000),
    connections: metrics.connections,
    connectionsTotal: metrics.connectionsTotal,
    framesIn: metrics.framesIn,
    framesOut: metrics.framesOut,
    bytesIn: metrics.bytesIn,
    bytesOut: metrics.bytesOut,
    joins: metrics.joins,
    resumes: metrics.resumes,
    resyncs: metrics.resyncs,
    joinFailures: Object.fromEntries(metrics.joinFailures),
    actionsAccepted: metrics.actionsAccepted,
    actionsRejected: Object.fromEntries(metrics.actionsRejected),
    deltasSent: metrics.deltasSent,
    slowConsumers: metrics.slowConsumers,
    latency: {
      action: latency(metrics.actionLatency),
      kvWrite: latency(metrics.kvWriteLatency),
      join: latency(metrics.joinLatency),
    },
    memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
    rooms,
  };
}

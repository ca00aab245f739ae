// @ts-check
/// <reference lib="dom" />
// The live dashboard: polls /api/stats every second, turns counters into per-second rates,
// and draws a small chart per number (canvas, no library).

/**
 * @typedef {{ count: number, p50: number | null, p90: number | null, p99: number | null }} Latency
 * @typedef {{ id: string, game: string, status: string, private: boolean, connected: number,
 *   disconnected: number, maxPlayers: number, spectators: number, seq: number,
 *   actions: number }} RoomStats
 * @typedef {{ time: number, uptimeSeconds: number, connections: number,
 *   connectionsTotal: number, framesIn: number, framesOut: number, bytesIn: number,
 *   bytesOut: number, joins: number, resumes: number, resyncs: number,
 *   joinFailures: Record<string, number>, actionsAccepted: number,
 *   actionsRejected: Record<string, number>, deltasSent: number, slowConsumers: number,
 *   latency: { action: Latency, kvWrite: Latency, join: Latency },
 *   memory: { rss: number, heapUsed: number, heapTotal: number },
 *   rooms: RoomStats[] }} Stats
 * @typedef {{ stats: Stats, previous: Stats | null, seconds: number }} Sample
 * @typedef {{ id: string, title: string, value: (s: Sample) => number | null,
 *   format: (n: number) => string, detail: (s: Sample) => string }} Card
 */

const HISTORY = 120;
const POLL_MS = 1000;

/**
 * Counter increase per second between the two samples (0 for the first sample).
 *
 * @param {Sample} sample
 * @param {(s: Stats) => number} pick
 * @returns {number}
 */
function rate({ stats, previous, seconds }, pick) {
  if (!previous || seconds <= 0) return 0;
  return Math.max(0, (pick(stats) - pick(previous)) / seconds);
}

/** @param {Record<string, number>} counts */
function sum(counts) {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** @param {number} n */
function integer(n) {
  return Math.round(n).toLocaleString("en-US");
}

/** @param {number} n */
function perSecond(n) {
  return n >= 100 ? integer(n) : n.toFixed(n >= 10 ? 1 : 2);
}

/** @param {number} n */
function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

/** @param {number | null} n */
function ms(n) {
  if (n === null || !Number.isFinite(n)) return "–";
  return n < 1 ? `${n.toFixed(2)} ms` : n < 100 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

/** @param {Latency} l */
function percentiles(l) {
  return l.count === 0
    ? "no samples yet"
    : `p50 ${ms(l.p50)} · p90 ${ms(l.p90)} · p99 ${ms(l.p99)} · ${integer(l.count)} total`;
}

/** @type {Card[]} */
const CARDS = [
  {
    id: "connections",
    title: "Connections",
    value: (s) => s.stats.connections,
    format: integer,
    detail: (s) => `${integer(s.stats.connectionsTotal)} opened since start`,
  },
  {
    id: "rooms",
    title: "Rooms",
    value: (s) => s.stats.rooms.length,
    format: integer,
    detail: (s) => {
      /** @type {Record<string, number>} */
      const byStatus = {};
      for (const room of s.stats.rooms) byStatus[room.status] = (byStatus[room.status] ?? 0) + 1;
      return Object.entries(byStatus).map(([k, v]) => `${v} ${k}`).join(" · ") || "none";
    },
  },
  {
    id: "messages-in",
    title: "Messages in /s",
    value: (s) => rate(s, (x) => x.framesIn),
    format: perSecond,
    detail: (s) => `${bytes(rate(s, (x) => x.bytesIn))}/s`,
  },
  {
    id: "messages-out",
    title: "Messages out /s",
    value: (s) => rate(s, (x) => x.framesOut),
    format: perSecond,
    detail: (s) =>
      `${bytes(rate(s, (x) => x.bytesOut))}/s · ${
        perSecond(rate(s, (x) => x.deltasSent))
      } deltas/s`,
  },
  {
    id: "bytes-in",
    title: "Bytes in /s",
    value: (s) => rate(s, (x) => x.bytesIn),
    format: bytes,
    detail: (s) => `${bytes(s.stats.bytesIn)} total`,
  },
  {
    id: "bytes-out",
    title: "Bytes out /s",
    value: (s) => rate(s, (x) => x.bytesOut),
    format: bytes,
    detail: (s) => `${bytes(s.stats.bytesOut)} total`,
  },
  {
    id: "actions",
    title: "Actions /s",
    // Summed over the rooms' own action counters (rooms present in both samples), so rooms
    // that are disposed between two samples do not make the rate jump.
    value: () => [...roomRates.values()].reduce((total, room) => total + room.actionRate, 0),
    format: perSecond,
    detail: (s) => `${perSecond(rate(s, (x) => sum(x.actionsRejected)))} rejected/s`,
  },
  {
    id: "action-latency",
    title: "Action latency (p99)",
    value: (s) => s.stats.latency.action.p99,
    format: ms,
    detail: (s) => percentiles(s.stats.latency.action),
  },
  {
    id: "kv-latency",
    title: "KV write latency (p99)",
    value: (s) => s.stats.latency.kvWrite.p99,
    format: ms,
    detail: (s) => percentiles(s.stats.latency.kvWrite),
  },
  {
    id: "join-latency",
    title: "Join latency (p99)",
    value: (s) => s.stats.latency.join.p99,
    format: ms,
    detail: (s) => percentiles(s.stats.latency.join),
  },
  {
    id: "memory",
    title: "Memory (resident)",
    value: (s) => s.stats.memory.rss,
    format: bytes,
    detail: (s) => `heap ${bytes(s.stats.memory.heapUsed)} of ${bytes(s.stats.memory.heapTotal)}`,
  },
];

/** @type {Map<string, { value: HTMLElement, detail: HTMLElement, canvas: HTMLCanvasElement, history: number[] }>} */
const cards = new Map();

function buildCards() {
  const container = /** @type {HTMLElement} */ (document.getElementById("cards"));
  for (const card of CARDS) {
    const element = document.createElement("section");
    element.className = "card";
    element.dataset.card = card.id;
    element.setAttribute("aria-labelledby", `card-${card.id}`);
    const title = document.createElement("h2");
    title.id = `card-${card.id}`;
    title.textContent = card.title;
    const value = document.createElement("div");
    value.className = "value";
    value.id = `value-${card.id}`;
    value.textContent = "–";
    const detail = document.createElement("div");
    detail.className = "detail";
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-hidden", "true");
    element.append(title, value, detail, canvas);
    container.append(element);
    cards.set(card.id, { value, detail, canvas, history: [] });
  }
}

/**
 * Draws `history` as a filled line scaled to its maximum.
 *
 * @param {HTMLCanvasElement} canvas
 * @param {number[]} history
 */
function drawChart(canvas, history) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const g = canvas.getContext("2d");
  if (!g) return;
  g.clearRect(0, 0, width, height);
  const style = getComputedStyle(document.documentElement);
  const accent = style.getPropertyValue("--accent").trim() || "#2557d6";
  const border = style.getPropertyValue("--border").trim() || "#ccc";
  g.strokeStyle = border;
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(0, height - 0.5);
  g.lineTo(width, height - 0.5);
  g.stroke();
  if (history.length < 2) return;
  const max = Math.max(...history) || 1;
  // A short history spreads over part of the width, a long one is squeezed up to HISTORY.
  const step = width / (Math.max(history.length, 30) - 1);
  const x0 = width - (history.length - 1) * step;
  const y = (/** @type {number} */ v) => height - 2 - (v / max) * (height - 6);
  g.beginPath();
  history.forEach((v, i) => (i === 0 ? g.moveTo(x0, y(v)) : g.lineTo(x0 + i * step, y(v))));
  g.lineWidth = 1.5 * ratio;
  g.strokeStyle = accent;
  g.stroke();
  g.lineTo(x0 + (history.length - 1) * step, height);
  g.lineTo(x0, height);
  g.closePath();
  g.globalAlpha = 0.15;
  g.fillStyle = accent;
  g.fill();
  g.globalAlpha = 1;
}

/** @type {Map<string, { seq: number, actions: number, time: number, seqRate: number, actionRate: number }>} */
const roomRates = new Map();

/** @param {Stats} stats */
function renderRooms(stats) {
  const container = /** @type {HTMLElement} */ (document.getElementById("rooms"));
  const seen = new Set();
  for (const room of stats.rooms) {
    seen.add(room.id);
    const before = roomRates.get(room.id);
    const seconds = before ? (stats.time - before.time) / 1000 : 0;
    roomRates.set(room.id, {
      seq: room.seq,
      actions: room.actions,
      time: stats.time,
      seqRate: before && seconds > 0 ? Math.max(0, (room.seq - before.seq) / seconds) : 0,
      actionRate: before && seconds > 0
        ? Math.max(0, (room.actions - before.actions) / seconds)
        : 0,
    });
  }
  for (const id of roomRates.keys()) if (!seen.has(id)) roomRates.delete(id);
  if (stats.rooms.length === 0) {
    container.innerHTML = "<p class='muted'>No rooms yet.</p>";
    return;
  }
  const table = document.createElement("table");
  table.innerHTML = "<thead><tr><th scope='col'>Game</th><th scope='col'>Room</th>" +
    "<th scope='col'>Status</th><th scope='col' class='num'>Connected</th>" +
    "<th scope='col' class='num'>Disconnected</th><th scope='col' class='num'>Seats</th>" +
    "<th scope='col' class='num'>Spectators</th><th scope='col' class='num'>Sequence</th>" +
    "<th scope='col' class='num'>Updates /s</th><th scope='col' class='num'>Actions /s</th>" +
    "</tr></thead>";
  const body = document.createElement("tbody");
  const sorted = [...stats.rooms].sort((a, b) =>
    a.game === b.game ? a.id.localeCompare(b.id) : a.game.localeCompare(b.game)
  );
  let lastGame = "";
  for (const room of sorted) {
    const rates = roomRates.get(room.id);
    const row = document.createElement("tr");
    row.dataset.room = room.id;
    const values = [
      room.game === lastGame ? "" : room.game,
      room.private ? `${room.id} (private)` : room.id,
      room.status,
      integer(room.connected),
      integer(room.disconnected),
      integer(room.maxPlayers),
      integer(room.spectators),
      integer(room.seq),
      perSecond(rates?.seqRate ?? 0),
      perSecond(rates?.actionRate ?? 0),
    ];
    lastGame = room.game;
    values.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.setAttribute("scope", "row");
      if (i === 2) {
        const badge = document.createElement("span");
        badge.className = `badge ${room.status}`;
        badge.textContent = text;
        cell.append(badge);
      } else if (i === 1) {
        const code = document.createElement("code");
        code.textContent = text;
        cell.append(code);
      } else {
        cell.textContent = text;
      }
      if (i >= 3) cell.className = "num";
      row.append(cell);
    });
    body.append(row);
  }
  table.append(body);
  container.replaceChildren(table);
}

/** @param {Stats} stats */
function renderTotals(stats) {
  /** @type {[string, string][]} */
  const rows = [
    ["Uptime", `${integer(stats.uptimeSeconds)} s`],
    ["Joins", integer(stats.joins)],
    ["Resumes", integer(stats.resumes)],
    ["Full-state resyncs", integer(stats.resyncs)],
    [
      "Actions applied",
      integer(Math.max(stats.actionsAccepted, stats.rooms.reduce((n, r) => n + r.actions, 0))),
    ],
    ["Deltas sent", integer(stats.deltasSent)],
    ["Slow consumers dropped", integer(stats.slowConsumers)],
  ];
  for (const [code, n] of Object.entries(stats.actionsRejected)) {
    rows.push([`Actions rejected: ${code}`, integer(n)]);
  }
  for (const [code, n] of Object.entries(stats.joinFailures)) {
    rows.push([`Joins failed: ${code}`, integer(n)]);
  }
  const body = /** @type {HTMLElement} */ (document.getElementById("totals"));
  body.replaceChildren(
    ...rows.map(([name, value]) => {
      const row = document.createElement("tr");
      const head = document.createElement("th");
      head.scope = "row";
      head.textContent = name;
      const cell = document.createElement("td");
      cell.className = "num";
      cell.textContent = value;
      row.append(head, cell);
      return row;
    }),
  );
}

/** @type {Stats | null} */
let previous = null;

async function poll() {
  const updated = /** @type {HTMLElement} */ (document.getElementById("updated"));
  try {
    const response = await fetch("/api/stats", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    /** @type {Stats} */
    const stats = await response.json();
    const sample = {
      stats,
      previous,
      seconds: previous ? (stats.time - previous.time) / 1000 : 0,
    };
    renderRooms(stats);
    for (const card of CARDS) {
      const view = cards.get(card.id);
      if (!view) continue;
      const value = card.value(sample);
      view.value.textContent = value === null ? "–" : card.format(value);
      view.detail.textContent = card.detail(sample);
      if (previous || !card.id.match(/^(messages|bytes|actions)/)) {
        view.history.push(value ?? 0);
        if (view.history.length > HISTORY) view.history.shift();
      }
      drawChart(view.canvas, view.history);
    }
    renderTotals(stats);
    previous = stats;
    updated.textContent = `Live · updated ${new Date(stats.time).toLocaleTimeString()}`;
    document.body.dataset.samples = String(Number(document.body.dataset.samples ?? 0) + 1);
  } catch (error) {
    updated.textContent = `Cannot reach the server (${
      error instanceof Error ? error.message : error
    }); retrying…`;
  }
}

buildCards();
void poll();
setInterval(poll, POLL_MS);

// @ts-check
/// <reference lib="dom" />
// Arena: a realtime coin chase. While a direction is held (WASD, arrow keys, or a touch or
// mouse press on the field) the page sends `move { dx, dy, seq }` twenty times a second, the
// server's tick rate. Your own dot is predicted: the server position plus the moves it has
// not applied yet (it echoes the last applied `seq` as `lastSeq`); other players glide toward
// their server positions.
import {
  bindConnectionBar,
  bindGamePage,
  byId,
  errorText,
  joinFromUrl,
  playerLabel,
  renderPlayers,
  showJoinError,
  showMessage,
} from "./ui.js";

/**
 * @typedef {{ name: string, x: number, y: number, score: number, lastSeq: number }} ArenaPlayer
 * @typedef {{ players: Record<string, ArenaPlayer>, coins: { x: number, y: number }[],
 *   winner: string | null }} ArenaState
 * @typedef {{ move: { dx: number, dy: number, seq: number } }} ArenaActions
 * @typedef {import("../../client/mod.ts").RoomConnection<ArenaState, ArenaActions>} ArenaRoom
 */

const SIZE = 1000;
const STEP = 10;
const WIN_SCORE = 10;
const PICKUP_RADIUS = 20;
const SEND_EVERY_MS = 50;
const PALETTE = [
  "#d9480f",
  "#1c7ed6",
  "#2f9e44",
  "#ae3ec9",
  "#e8590c",
  "#0c8599",
  "#f08c00",
  "#5f3dc4",
];

const canvas = /** @type {HTMLCanvasElement} */ (byId("field"));

/** Keys held now (lower-cased `event.key`). */
const keys = new Set();
/** Where a touch or mouse press points, in field units; null when nothing is pressed. */
let pointer = /** @type {{ x: number, y: number } | null} */ (null);
/** Moves sent and not yet applied by the server, for prediction. */
let unapplied = /** @type {{ seq: number, dx: number, dy: number }[]} */ ([]);
let moveSeq = 0;
/** Smoothed drawing positions of every player. */
const drawn = new Map();

const KEY_DIRECTIONS = {
  arrowup: [0, -1],
  w: [0, -1],
  arrowdown: [0, 1],
  s: [0, 1],
  arrowleft: [-1, 0],
  a: [-1, 0],
  arrowright: [1, 0],
  d: [1, 0],
};

/** @param {number} v */
function clamp(v) {
  return v < 0 ? 0 : v > SIZE ? SIZE : v;
}

/**
 * Colour of a player by seat.
 *
 * @param {ArenaRoom} room
 * @param {string} id
 */
function colourOf(room, id) {
  const seat = room.players.find((p) => p.id === id)?.seat ?? 0;
  return PALETTE[seat % PALETTE.length];
}

/**
 * Where this client's player is: the server position plus the moves still in flight.
 *
 * @param {ArenaRoom} room
 */
function predicted(room) {
  const me = room.player ? room.state.players[room.player] : undefined;
  if (!me) return null;
  let { x, y } = me;
  for (const move of unapplied) {
    x = clamp(x + move.dx * STEP);
    y = clamp(y + move.dy * STEP);
  }
  return { x, y };
}

/**
 * The direction the player asks for now, each axis in [-1, 1].
 *
 * @param {ArenaRoom} room
 */
function direction(room) {
  let dx = 0;
  let dy = 0;
  for (const key of keys) {
    const d = KEY_DIRECTIONS[/** @type {keyof KEY_DIRECTIONS} */ (key)];
    if (d) {
      dx += d[0];
      dy += d[1];
    }
  }
  dx = Math.sign(dx);
  dy = Math.sign(dy);
  if (dx && dy) {
    dx *= Math.SQRT1_2;
    dy *= Math.SQRT1_2;
  }
  const me = predicted(room);
  if (!dx && !dy && pointer && me) {
    const vx = pointer.x - me.x;
    const vy = pointer.y - me.y;
    const distance = Math.hypot(vx, vy);
    if (distance > 2) {
      // Full speed until the last step, then just far enough to arrive.
      const speed = Math.min(1, distance / STEP);
      dx = (vx / distance) * speed;
      dy = (vy / distance) * speed;
    }
  }
  return { dx: Math.round(dx * 1000) / 1000, dy: Math.round(dy * 1000) / 1000 };
}

/** @param {ArenaRoom} room */
function playing(room) {
  const seated = room.players.filter((p) => p.presence !== "left").length;
  return room.player !== null && room.outcome === null && room.state.winner === null &&
    seated >= 2;
}

/** @param {ArenaRoom} room */
function sendMove(room) {
  if (room.status !== "connected" || !playing(room)) return;
  const { dx, dy } = direction(room);
  if (!dx && !dy) return;
  const seq = ++moveSeq;
  unapplied.push({ seq, dx, dy });
  room.send("move", { dx, dy, seq }).catch((error) => {
    unapplied = unapplied.filter((m) => m.seq !== seq);
    // A move refused because the game just ended needs no message: the outcome says it.
    if (error?.code !== "game_over") showMessage(errorText(error), true);
  });
}

/**
 * Field units → canvas pixels.
 *
 * @param {number} v
 */
function px(v) {
  return (v / SIZE) * canvas.width;
}

/** @param {ArenaRoom} room */
function draw(room) {
  const ratio = globalThis.devicePixelRatio || 1;
  const size = Math.max(1, Math.round(canvas.clientWidth * ratio));
  if (canvas.width !== size || canvas.height !== size) {
    canvas.width = size;
    canvas.height = size;
  }
  const g = canvas.getContext("2d");
  if (!g) return;
  const style = getComputedStyle(document.documentElement);
  g.fillStyle = style.getPropertyValue("--panel").trim() || "#fff";
  g.fillRect(0, 0, size, size);
  g.strokeStyle = style.getPropertyValue("--border").trim() || "#ddd";
  g.lineWidth = 1;
  g.beginPath();
  for (let v = 100; v < SIZE; v += 100) {
    g.moveTo(px(v), 0);
    g.lineTo(px(v), size);
    g.moveTo(0, px(v));
    g.lineTo(size, px(v));
  }
  g.stroke();

  const state = room.state;
  for (const coin of state.coins) {
    g.beginPath();
    g.arc(px(coin.x), px(coin.y), Math.max(4, px(PICKUP_RADIUS) * 0.6), 0, Math.PI * 2);
    g.fillStyle = "#fab005";
    g.fill();
    g.lineWidth = Math.max(1, px(2));
    g.strokeStyle = "#e67700";
    g.stroke();
  }

  const text = style.getPropertyValue("--text").trim() || "#000";
  g.font = `${Math.max(11, Math.round(px(22)))}px system-ui, sans-serif`;
  g.textAlign = "center";
  for (const [id, player] of Object.entries(state.players)) {
    const target = id === room.player ? predicted(room) ?? player : player;
    const shown = drawn.get(id) ?? { x: target.x, y: target.y };
    // Others glide toward the server position; our own dot follows the prediction closely.
    const follow = id === room.player ? 0.6 : 0.3;
    shown.x += (target.x - shown.x) * follow;
    shown.y += (target.y - shown.y) * follow;
    drawn.set(id, shown);
    const radius = Math.max(6, px(PICKUP_RADIUS));
    g.beginPath();
    g.arc(px(shown.x), px(shown.y), radius, 0, Math.PI * 2);
    g.fillStyle = colourOf(room, id);
    g.fill();
    if (id === room.player) {
      g.lineWidth = Math.max(2, px(5));
      g.strokeStyle = text;
      g.stroke();
    }
    g.fillStyle = text;
    g.fillText(
      `${id === room.player ? "You" : player.name} · ${player.score}`,
      px(shown.x),
      px(shown.y) - radius - 6,
    );
  }
  for (const id of drawn.keys()) if (!(id in state.players)) drawn.delete(id);
  if (pointer && room.player) {
    g.beginPath();
    g.arc(px(pointer.x), px(pointer.y), Math.max(4, px(8)), 0, Math.PI * 2);
    g.strokeStyle = colourOf(room, room.player);
    g.lineWidth = 2;
    g.stroke();
  }
}

/** @param {ArenaRoom} room */
function renderSide(room) {
  const state = room.state;
  const me = room.player ? state.players[room.player] : undefined;
  if (me) canvas.dataset.me = `${me.x},${me.y}`;
  const turn = byId("turn");
  const seated = room.players.filter((p) => p.presence !== "left").length;
  if (room.outcome || state.winner) turn.textContent = "Game over";
  else if (seated < 2) turn.textContent = "Waiting for another player to join (2 needed)…";
  else if (me) turn.textContent = `Collect coins! You have ${me.score} of ${WIN_SCORE}.`;
  else turn.textContent = `Watching: first to ${WIN_SCORE} coins wins.`;
  renderPlayers(room, null, (id) => `${state.players[id]?.score ?? 0} coins`);
}

/**
 * Field coordinates of a pointer event.
 *
 * @param {PointerEvent} event
 */
function fieldPoint(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: clamp(((event.clientX - rect.left) / rect.width) * SIZE),
    y: clamp(((event.clientY - rect.top) / rect.height) * SIZE),
  };
}

function bindInput() {
  const typing = (/** @type {EventTarget | null} */ target) =>
    target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement;
  globalThis.addEventListener("keydown", (event) => {
    const key = event.key.toLowerCase();
    if (!(key in KEY_DIRECTIONS) || typing(event.target) || event.ctrlKey || event.metaKey) return;
    keys.add(key);
    event.preventDefault();
  });
  globalThis.addEventListener("keyup", (event) => keys.delete(event.key.toLowerCase()));
  globalThis.addEventListener("blur", () => keys.clear());
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    pointer = fieldPoint(event);
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (pointer) pointer = fieldPoint(event);
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
    canvas.addEventListener(type, () => (pointer = null));
  }
}

async function start() {
  /** @type {ArenaRoom} */
  let room;
  try {
    room = /** @type {ArenaRoom} */ (await joinFromUrl("arena"));
  } catch (error) {
    showJoinError(error);
    byId("turn").textContent = "";
    return;
  }
  byId("title").textContent = room.player ? "Arena" : "Arena (watching)";
  bindConnectionBar(room);
  bindInput();
  room.onState((state) => {
    const me = room.player ? state.players[room.player] : undefined;
    // Before `bindGamePage`'s render: the prediction drops what the server applied.
    if (me) unapplied = unapplied.filter((m) => m.seq > me.lastSeq);
  });
  room.onEvent((event) => {
    if (event.type !== "coin") return;
    const data = /** @type {{ player?: string, score?: number }} */ (event.data ?? {});
    const who = data.player ?? event.player;
    if (!who) return;
    showMessage(`${playerLabel(room, who)} took a coin (${data.score ?? "?"} of ${WIN_SCORE}).`);
  });
  bindGamePage(room, () => renderSide(room));
  setInterval(() => sendMove(room), SEND_EVERY_MS);
  const frame = () => {
    draw(room);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

void start();

// @ts-check
/// <reference lib="dom" />
// Connect four: click a column to drop a disc. Each turn has a clock; running out of time
// forfeits. The countdown shows the room's turn deadline (`room.turnDeadline`, which the
// server sends as a `turn_clock` event, in server time) against the server's clock as this
// client estimates it; the bar is scaled to the turn length (`?turnMs=` in the address, which
// quick play also passes as the room option, or the game's default of 30 s).
import {
  bindConnectionBar,
  bindGamePage,
  byId,
  joinFromUrl,
  playerLabel,
  renderPlayers,
  sendAction,
  showJoinError,
} from "./ui.js";

/**
 * @typedef {{ board: (string | null)[][], next: string, moves: number, winner: string | null,
 *   line: [number, number][] | null, reason: string | null, deadline?: number }} ConnectFourState
 * @typedef {import("../../client/mod.ts").RoomConnection<ConnectFourState, { drop: { column: number }, resign: null }>} ConnectFourRoom
 */

const ROWS = 6;
const COLUMNS = 7;
const DEFAULT_TURN_MS = 30_000;
const COLOURS = { p1: "orange", p2: "blue" };

/** @param {string} player */
function colour(player) {
  return COLOURS[/** @type {keyof COLOURS} */ (player)] ?? player;
}

const params = new URLSearchParams(location.search);
const requestedTurnMs = Number(params.get("turnMs"));
const turnMs = Number.isInteger(requestedTurnMs) && requestedTurnMs >= 100
  ? requestedTurnMs
  : DEFAULT_TURN_MS;

/** @type {HTMLButtonElement[]} */
const columns = [];

function buildBoard() {
  const board = byId("board");
  board.style.gridTemplateColumns = `repeat(${COLUMNS}, 1fr)`;
  for (let c = 0; c < COLUMNS; c++) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "column";
    button.dataset.column = String(c);
    for (let r = 0; r < ROWS; r++) {
      const cell = document.createElement("div");
      cell.className = "c4-cell";
      cell.dataset.row = String(r);
      button.append(cell);
    }
    columns.push(button);
    board.append(button);
  }
}

/**
 * The turn's deadline in server time, or NaN when no clock is running.
 *
 * @param {ConnectFourRoom} room
 */
function deadline(room) {
  if (room.outcome || room.state.winner) return NaN;
  return room.turnDeadline ?? NaN;
}

/** @param {ConnectFourRoom} room */
function renderClock(room) {
  const clock = byId("clock");
  const bar = byId("clock-bar");
  const end = deadline(room);
  if (!Number.isFinite(end)) {
    clock.textContent = room.outcome ? "stopped" : "starts when both players are here";
    clock.classList.remove("low");
    bar.style.width = "0";
    return;
  }
  // Clamped: the clock offset is an estimate, good to about half a round trip.
  const left = Math.min(turnMs, Math.max(0, end - room.serverNow()));
  clock.textContent = `${(left / 1000).toFixed(left < 10_000 ? 1 : 0)} s left for ${
    playerLabel(room, room.state.next)
  }`;
  clock.dataset.msLeft = String(Math.round(left));
  clock.classList.toggle("low", left < 5000);
  bar.style.width = `${Math.min(100, (left / turnMs) * 100)}%`;
}

/** @param {ConnectFourRoom} room */
function render(room) {
  const state = room.state;
  const over = room.outcome !== null || state.winner !== null;
  const winning = new Set((state.line ?? []).map(([r, c]) => `${r},${c}`));
  columns.forEach((button, c) => {
    const full = state.board[0][c] !== null;
    button.disabled = full || over || room.player === null;
    let discs = 0;
    button.querySelectorAll(".c4-cell").forEach((element, r) => {
      const owner = state.board[r][c];
      if (owner) discs++;
      element.className = `c4-cell${owner ? ` ${owner}` : ""}${
        winning.has(`${r},${c}`) ? " win" : ""
      }`;
    });
    button.setAttribute(
      "aria-label",
      `Column ${c + 1}: ${full ? "full" : `${discs} disc${discs === 1 ? "" : "s"}, drop here`}`,
    );
  });
  const seated = room.players.filter((p) => p.presence !== "left").length;
  // Resigning is an `anyTurn` action: offered to a player whenever the game is running.
  byId("resign").hidden = over || room.player === null || seated < 2;
  const turn = byId("turn");
  if (over) turn.textContent = "Game over";
  else if (seated < 2) turn.textContent = "Waiting for an opponent to join…";
  else if (state.next === room.player) {
    const disc = colour(room.player);
    turn.textContent = `Your turn: drop ${/^[aeiou]/.test(disc) ? "an" : "a"} ${disc} disc`;
  } else {
    turn.textContent = `${playerLabel(room, state.next)} to move (${colour(state.next)})`;
  }
  turn.dataset.next = state.next;
  renderPlayers(room, over ? null : state.next, (id) => colour(id));
  renderClock(room);
}

async function start() {
  buildBoard();
  /** @type {ConnectFourRoom} */
  let room;
  try {
    const options = params.has("turnMs") ? { turnMs } : undefined;
    room = /** @type {ConnectFourRoom} */ (await joinFromUrl("connect_four", options));
  } catch (error) {
    showJoinError(error);
    byId("turn").textContent = "";
    return;
  }
  byId("title").textContent = room.player
    ? `Connect four: you are ${colour(room.player)}`
    : "Connect four (watching)";
  bindConnectionBar(room);
  for (const button of columns) {
    button.addEventListener(
      "click",
      () => sendAction(room, "drop", { column: Number(button.dataset.column) }),
    );
  }
  byId("resign").addEventListener("click", () => {
    if (confirm("Resign this game?")) void sendAction(room, "resign", null);
  });
  bindGamePage(room, () => render(room));
  setInterval(() => renderClock(room), 200);
}

void start();

// @ts-check
/// <reference lib="dom" />
// Tic-tac-toe: click a cell to place your mark. The server decides: a move out of turn or on
// a marked cell comes back as a rejection, shown as a sentence under the board.
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
 * @typedef {{ board: (string | null)[], next: string, winner: string | null,
 *   line: number[] | null, forfeit: string | null }} TicTacToeState
 * @typedef {import("../../client/mod.ts").RoomConnection<TicTacToeState, { place: { cell: number } }>} TicTacToeRoom
 */

const MARKS = { p1: "X", p2: "O" };

/** @param {string | null} player */
function mark(player) {
  return player ? MARKS[/** @type {keyof MARKS} */ (player)] ?? "?" : "";
}

/** @type {HTMLButtonElement[]} */
const cells = [];

function buildBoard() {
  const board = byId("board");
  for (let i = 0; i < 9; i++) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.cell = String(i);
    cells.push(button);
    board.append(button);
  }
}

/**
 * @param {TicTacToeRoom} room
 */
function render(room) {
  const state = room.state;
  const over = room.outcome !== null || state.winner !== null;
  state.board.forEach((owner, i) => {
    const button = cells[i];
    button.textContent = mark(owner);
    button.className = owner ?? "";
    if (state.line?.includes(i)) button.classList.add("win");
    // Marked cells cannot be chosen; empty ones always can, and the server says whether the
    // move is allowed (whose turn it is), which the page then explains.
    button.disabled = owner !== null || over || room.player === null;
    const where = `row ${Math.floor(i / 3) + 1}, column ${(i % 3) + 1}`;
    button.setAttribute(
      "aria-label",
      owner ? `${where}: ${mark(owner)} (${playerLabel(room, owner)})` : `${where}: empty`,
    );
  });
  const seated = room.players.filter((p) => p.presence !== "left").length;
  const turn = byId("turn");
  if (over) {
    turn.textContent = "Game over";
  } else if (seated < 2) {
    turn.textContent = "Waiting for an opponent to join…";
  } else if (state.next === room.player) {
    turn.textContent = `Your turn: place an ${mark(room.player)}`;
  } else {
    turn.textContent = `${playerLabel(room, state.next)} to move (${mark(state.next)})`;
  }
  turn.dataset.next = state.next;
  renderPlayers(room, over ? null : state.next, (id) => mark(id));
}

async function start() {
  buildBoard();
  /** @type {TicTacToeRoom} */
  let room;
  try {
    room = /** @type {TicTacToeRoom} */ (await joinFromUrl("tic_tac_toe"));
  } catch (error) {
    showJoinError(error);
    byId("turn").textContent = "";
    return;
  }
  if (room.player) byId("title").textContent = `Tic-tac-toe: you are ${mark(room.player)}`;
  else byId("title").textContent = "Tic-tac-toe (watching)";
  bindConnectionBar(room);
  for (const button of cells) {
    button.addEventListener(
      "click",
      () => sendAction(room, "place", { cell: Number(button.dataset.cell) }),
    );
  }
  bindGamePage(room, () => render(room));
}

void start();

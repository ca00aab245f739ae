// @ts-check
/// <reference lib="dom" />
// The lobby: lists public rooms by game (polled every second), creates rooms, and links to the
// game pages to play or watch.
import { byId, playerName, setPlayerName } from "./ui.js";

/** Games with their own page; any other game opens in the generic room page. */
const PAGES = {
  tic_tac_toe: "/play/tic_tac_toe",
  connect_four: "/play/connect_four",
  arena: "/play/arena",
};

/** How the example games are spelled for people. */
const TITLES = {
  tic_tac_toe: "Tic-tac-toe",
  connect_four: "Connect four",
  arena: "Arena",
  secret_cards: "Secret cards",
};

/**
 * @typedef {{ name: string, players: { min: number, max: number }, spectators: boolean,
 *   realtime: boolean, actions: string[] }} GameInfo
 * @typedef {{ id: string, game: string, players: number, maxPlayers: number,
 *   spectators: number, status: string, open: boolean }} RoomInfo
 * @typedef {{ rooms: RoomInfo[], total: number }} GameRooms a page of a game's rooms, and how
 *   many it has in all
 */

/** Rooms listed per game (the oldest first); the heading counts them all. */
const ROWS_PER_GAME = 50;

/**
 * The page that plays `game`, for a room or (without one) for quick play.
 *
 * @param {string} game
 * @param {string} [room]
 * @param {boolean} [spectate]
 * @returns {string}
 */
function pageFor(game, room, spectate = false) {
  const path = PAGES[/** @type {keyof PAGES} */ (game)];
  const params = new URLSearchParams();
  if (!path) params.set("game", game);
  if (room) params.set("room", room);
  if (spectate) params.set("spectate", "1");
  const query = params.toString();
  return `${path ?? "/play/room"}${query ? `?${query}` : ""}`;
}

/**
 * A game name for people: `tic_tac_toe` → "Tic tac toe".
 *
 * @param {string} name
 * @returns {string}
 */
function gameTitle(name) {
  const known = TITLES[/** @type {keyof TITLES} */ (name)];
  if (known) return known;
  const words = name.replace(/[_-]+/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** @type {GameInfo[]} */
let games = [];

async function loadGames() {
  const response = await fetch("/api/games");
  games = await response.json();
  const select = /** @type {HTMLSelectElement} */ (byId("game"));
  select.replaceChildren(
    ...games.map((game) => {
      const option = document.createElement("option");
      option.value = game.name;
      const seats = game.players.min === game.players.max
        ? `${game.players.max} players`
        : `${game.players.min}–${game.players.max} players`;
      option.textContent = `${gameTitle(game.name)} (${seats}${game.realtime ? ", realtime" : ""})`;
      return option;
    }),
  );
}

/**
 * One link styled as a button.
 *
 * @param {string} text
 * @param {string} href
 * @param {string} label accessible name
 * @param {boolean} [secondary]
 */
function linkButton(text, href, label, secondary = false) {
  const link = document.createElement("a");
  link.href = href;
  link.textContent = text;
  link.className = secondary ? "button secondary" : "button";
  link.setAttribute("aria-label", label);
  return link;
}

let lastRendered = "";

/**
 * @param {Map<string, GameRooms>} byGame
 */
function renderRooms(byGame) {
  // Redraw only when something changed, so keyboard focus stays on a Join link between polls.
  const key = JSON.stringify(
    [...byGame].map(([name, { rooms, total }]) => [
      name,
      total,
      rooms.map((r) => [r.id, r.players, r.maxPlayers, r.spectators, r.status, r.open]),
    ]),
  );
  if (key === lastRendered) return;
  lastRendered = key;
  const container = byId("rooms");
  const sections = [...byGame].map(([name, { rooms: mine, total }]) => {
    const game = games.find((g) => g.name === name);
    const section = document.createElement("section");
    section.className = "game-rooms";
    section.dataset.game = name;
    const heading = document.createElement("h3");
    heading.textContent = `${gameTitle(name)} `;
    const count = document.createElement("span");
    count.className = "muted";
    count.textContent = `(${total} room${total === 1 ? "" : "s"})`;
    heading.append(count);
    section.append(heading);
    if (mine.length === 0) {
      const empty = document.createElement("p");
      empty.className = "muted";
      empty.append("No open rooms. ");
      empty.append(linkButton("Quick play", pageFor(name), `Quick play ${gameTitle(name)}`, true));
      section.append(empty);
      return section;
    }
    const scroll = document.createElement("div");
    scroll.className = "table-scroll";
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th scope='col'>Room</th><th scope='col' class='num'>Players" +
      "</th><th scope='col' class='num'>Spectators</th><th scope='col'>Status</th>" +
      "<th scope='col'><span class='visually-hidden'>Actions</span></th></tr></thead>";
    const body = document.createElement("tbody");
    for (const room of mine) {
      const row = document.createElement("tr");
      row.dataset.room = room.id;
      const cells = [room.id, `${room.players} / ${room.maxPlayers}`, String(room.spectators)];
      cells.forEach((text, i) => {
        const cell = document.createElement("td");
        if (i === 0) cell.innerHTML = "<code></code>";
        (cell.firstElementChild ?? cell).textContent = text;
        if (i > 0) cell.className = "num";
        row.append(cell);
      });
      const status = document.createElement("td");
      const badge = document.createElement("span");
      badge.className = `badge ${room.status}`;
      badge.textContent = room.status;
      status.append(badge);
      const actions = document.createElement("td");
      actions.className = "row";
      if (room.open) {
        actions.append(linkButton("Join", pageFor(name, room.id), `Join room ${room.id}`));
      }
      if (game?.spectators !== false) {
        actions.append(
          linkButton("Watch", pageFor(name, room.id, true), `Watch room ${room.id}`, true),
        );
      }
      row.append(status, actions);
      body.append(row);
    }
    table.append(body);
    scroll.append(table);
    section.append(scroll);
    if (total > mine.length) {
      const more = document.createElement("p");
      more.className = "muted";
      more.textContent = `Showing the ${mine.length} oldest of ${total} rooms.`;
      section.append(more);
    }
    return section;
  });
  container.replaceChildren(...sections);
}

/**
 * One page of `game`'s public rooms, and how many it has.
 *
 * @param {string} game
 * @returns {Promise<GameRooms>}
 */
async function gameRooms(game) {
  const query = new URLSearchParams({ game, limit: String(ROWS_PER_GAME) });
  const response = await fetch(`/api/rooms?${query}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const rooms = /** @type {RoomInfo[]} */ (await response.json());
  return { rooms, total: Number(response.headers.get("x-total-count") ?? rooms.length) };
}

async function refresh() {
  try {
    const pages = await Promise.all(games.map((game) => gameRooms(game.name)));
    renderRooms(new Map(games.map((game, i) => [game.name, pages[i]])));
    byId("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    byId("updated").textContent = `Cannot reach the server (${
      error instanceof Error ? error.message : error
    }); retrying…`;
  }
}

/**
 * @param {string} text
 * @param {boolean} [isError]
 */
function lobbyMessage(text, isError = false) {
  const element = byId("lobby-message");
  element.textContent = text;
  element.classList.toggle("error", isError);
}

function saveName() {
  const input = /** @type {HTMLInputElement} */ (byId("name"));
  if (input.value.trim()) setPlayerName(input.value);
}

async function createRoom() {
  saveName();
  const game = /** @type {HTMLSelectElement} */ (byId("game")).value;
  const isPrivate = /** @type {HTMLInputElement} */ (byId("private")).checked;
  lobbyMessage("Creating a room…");
  try {
    const response = await fetch("/api/rooms", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ game, private: isPrivate }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message ?? `HTTP ${response.status}`);
    location.href = pageFor(game, body.id);
  } catch (error) {
    lobbyMessage(
      `Could not create a room: ${error instanceof Error ? error.message : error}`,
      true,
    );
  }
}

function start() {
  const name = /** @type {HTMLInputElement} */ (byId("name"));
  name.value = playerName();
  name.addEventListener("change", saveName);
  byId("create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void createRoom();
  });
  byId("quick").addEventListener("click", () => {
    saveName();
    location.href = pageFor(/** @type {HTMLSelectElement} */ (byId("game")).value);
  });
  loadGames()
    .catch((error) => lobbyMessage(`Could not load the games: ${error.message}`, true))
    .then(refresh);
  setInterval(refresh, 1000);
}

start();

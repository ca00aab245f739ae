// @ts-check
/// <reference lib="dom" />
// A page for any game without its own (`/play/room?game=NAME`, e.g. secret cards, or a game
// you just wrote): it shows the state this client may see, the players and the events, and
// sends any of the game's actions with a JSON payload.
import {
  bindConnectionBar,
  bindGamePage,
  byId,
  joinFromUrl,
  renderPlayers,
  sendAction,
  showJoinError,
  showMessage,
} from "./ui.js";

/** @typedef {import("../../client/mod.ts").RoomConnection<any, any>} AnyRoom */

const params = new URLSearchParams(location.search);
const game = params.get("game") ?? "";

/** @param {string} name */
function gameTitle(name) {
  const words = name.replace(/[_-]+/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Fills the action menu from `GET /api/games`. */
async function loadActions() {
  const response = await fetch("/api/games");
  /** @type {{ name: string, actions: string[] }[]} */
  const games = await response.json();
  const actions = games.find((g) => g.name === game)?.actions ?? [];
  const select = /** @type {HTMLSelectElement} */ (byId("action"));
  select.replaceChildren(
    ...actions.map((name) => {
      const option = document.createElement("option");
      option.value = option.textContent = name;
      return option;
    }),
  );
}

/**
 * @param {string} text
 */
function logEvent(text) {
  const list = byId("events");
  const item = document.createElement("li");
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  list.prepend(item);
  while (list.children.length > 50) list.lastElementChild?.remove();
}

/** @param {AnyRoom} room */
function render(room) {
  byId("state").textContent = JSON.stringify(room.state, null, 2);
  const seated = room.players.filter((p) => p.presence !== "left").length;
  byId("turn").textContent = room.outcome
    ? "Game over"
    : room.player
    ? `You are ${room.player}; ${seated} player${seated === 1 ? "" : "s"} seated.`
    : `Watching; ${seated} player${seated === 1 ? "" : "s"} seated.`;
  renderPlayers(room);
}

async function start() {
  if (!game) {
    showMessage("Name a game in the address: /play/room?game=NAME.", true);
    byId("turn").textContent = "";
    return;
  }
  byId("title").textContent = gameTitle(game);
  document.title = `${gameTitle(game)} · Arbiter`;
  /** @type {HTMLAnchorElement} */ (byId("again-link")).href = `/play/room?game=${
    encodeURIComponent(game)
  }`;
  /** @type {AnyRoom} */
  let room;
  try {
    [room] = await Promise.all([joinFromUrl(game), loadActions()]);
  } catch (error) {
    showJoinError(error);
    byId("turn").textContent = "";
    return;
  }
  bindConnectionBar(room);
  const send = /** @type {HTMLButtonElement} */ (byId("send"));
  send.disabled = room.player === null;
  byId("action-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = /** @type {HTMLSelectElement} */ (byId("action")).value;
    const text = /** @type {HTMLTextAreaElement} */ (byId("payload")).value.trim();
    let payload;
    try {
      payload = text === "" ? null : JSON.parse(text);
    } catch {
      showMessage("The payload is not valid JSON.", true);
      return;
    }
    await sendAction(room, action, payload, `${action} applied.`);
  });
  room.onEvent((event) => {
    const data = event.data === undefined ? "" : ` ${JSON.stringify(event.data)}`;
    logEvent(`${event.type}${event.player ? ` (${event.player})` : ""}${data}`);
  });
  room.onStatus((status) => {
    logEvent(`connection ${status}`);
  });
  bindGamePage(room, () => render(room));
}

void start();

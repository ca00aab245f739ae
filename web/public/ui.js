// Shared helpers of the demo pages: the player's name, joining the room named in the URL, the
// connection bar (status and round-trip time), a game page kept in step with its room (renders,
// outcome, actions and their refusals), readable errors and the player list.
// @ts-check
/// <reference lib="dom" />
// @ts-types="../../client/mod.ts"
import { connect } from "./client.js";

/**
 * The element with this id; throws when the page lacks it (a bug in the page).
 *
 * @param {string} id
 * @returns {HTMLElement}
 */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`The page has no #${id}.`);
  return element;
}

const NAME_KEY = "arbiter.name";

/**
 * The display name this browser uses, remembered in localStorage (a guest name at first).
 *
 * @returns {string}
 */
export function playerName() {
  let name = "";
  try {
    name = localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    // Storage can be disabled; a fresh guest name is fine then.
  }
  if (!name) {
    name = `Guest ${Math.floor(1000 + Math.random() * 9000)}`;
    setPlayerName(name);
  }
  return name;
}

/**
 * Remembers the display name.
 *
 * @param {string} name
 */
export function setPlayerName(name) {
  try {
    localStorage.setItem(NAME_KEY, name.trim().slice(0, 32));
  } catch {
    // Not remembered; the name still applies to this page.
  }
}

/**
 * Joins the room the page's URL names: `?room=ID` takes a seat, `?room=ID&spectate=1` watches,
 * no room joins an open room of `game` or creates one. The URL is then rewritten to name the
 * room, so it can be shared. The room is also kept as `globalThis.arbiterRoom` for debugging
 * (the browser test uses it to drop the connection).
 *
 * @param {string} game
 * @param {Record<string, unknown>} [gameOptions]
 * @returns {Promise<import("../../client/mod.ts").RoomConnection<any, any>>}
 */
export async function joinFromUrl(game, gameOptions) {
  const params = new URLSearchParams(location.search);
  const roomId = params.get("room");
  const spectate = params.get("spectate") === "1";
  const client = connect(location.origin, { name: playerName(), pingIntervalMs: 2000 });
  /** @type {import("../../client/mod.ts").RoomConnection<any, any>} */
  let room;
  if (roomId && spectate) room = await client.spectate(roomId);
  else if (roomId) room = await client.join(roomId);
  else room = await client.joinOrCreate(game, /** @type {any} */ (gameOptions));
  if (params.get("room") !== room.roomId) {
    params.set("room", room.roomId);
    history.replaceState(null, "", `${location.pathname}?${params}`);
  }
  Object.assign(globalThis, { arbiterRoom: room });
  return room;
}

const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline (retrying)",
  closed: "Closed",
};

/**
 * Fills the connection bar (`#status`, `#rtt`, `#room-id`, `#drop`) and keeps it live: status
 * changes at once, round-trip time every second. The "drop connection" button cuts the socket
 * as a network failure would; the client resumes by itself.
 *
 * @param {import("../../client/mod.ts").RoomConnection<any, any>} room
 */
export function bindConnectionBar(room) {
  const status = byId("status");
  const rtt = byId("rtt");
  const show = (/** @type {string} */ value) => {
    status.className = `badge ${value}`;
    status.textContent = STATUS_TEXT[/** @type {keyof STATUS_TEXT} */ (value)] ?? value;
    status.dataset.status = value;
  };
  show(room.status);
  room.onStatus(show);
  const showRtt = () => {
    const ms = room.rtt;
    rtt.textContent = Number.isFinite(ms) ? `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms` : "–";
  };
  showRtt();
  room.onStatus(showRtt);
  setInterval(showRtt, 500);
  const roomId = document.getElementById("room-id");
  if (roomId) roomId.textContent = room.roomId;
  const drop = document.getElementById("drop");
  if (drop) drop.addEventListener("click", () => room.dropConnection());
}

/**
 * Shows a failure to join in the page's message area and in the status badge.
 *
 * @param {unknown} error
 */
export function showJoinError(error) {
  const status = document.getElementById("status");
  if (status) {
    status.className = "badge closed";
    status.textContent = "Not joined";
    status.dataset.status = "closed";
  }
  showMessage(`Could not join: ${errorText(error)}`, true);
}

const READABLE_ERRORS = {
  not_your_turn: "It is not your turn.",
  not_a_player: "You are watching as a spectator, so you cannot move.",
  game_over: "The game is over.",
  waiting_for_players: "Waiting for another player to join.",
  rate_limited: "Too many moves at once; slow down.",
  room_full: "This room is full. Watch it as a spectator or create another one.",
  room_not_found: "This room does not exist (any more).",
  game_started: "This game has already started.",
  not_joined: "Not connected to the room.",
};

/**
 * A sentence for an error: the server's message for game rules (it says why), a fixed
 * sentence for the common protocol codes.
 *
 * @param {unknown} error
 * @returns {string}
 */
export function errorText(error) {
  if (error && typeof error === "object" && "code" in error) {
    const code = String(error.code);
    if (code === "invalid_action" && "message" in error && error.message) {
      const message = String(error.message);
      return message.charAt(0).toUpperCase() + message.slice(1).replace(/([^.!?])$/, "$1.");
    }
    const known = READABLE_ERRORS[/** @type {keyof READABLE_ERRORS} */ (code)];
    if (known) return known;
    if ("message" in error && error.message) return String(error.message);
    return code;
  }
  return error instanceof Error ? error.message : String(error);
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let messageTimer;

/**
 * Shows a message under the board (`#message`, an aria-live region); errors fade after 4 s.
 *
 * @param {string} text
 * @param {boolean} [isError]
 */
export function showMessage(text, isError = false) {
  const element = document.getElementById("message");
  if (!element) return;
  element.textContent = text;
  element.classList.toggle("error", isError);
  clearTimeout(messageTimer);
  if (isError && text) {
    messageTimer = setTimeout(() => {
      element.textContent = "";
      element.classList.remove("error");
    }, 4000);
  }
}

/**
 * Sends an action and says how it went in the message area: `applied` once the room applied it
 * (by default the area is cleared), the refusal as a sentence otherwise.
 *
 * @param {import("../../client/mod.ts").RoomConnection<any, any>} room
 * @param {string} name
 * @param {unknown} payload
 * @param {string} [applied]
 */
export async function sendAction(room, name, payload, applied = "") {
  try {
    await room.send(name, payload);
    showMessage(applied);
  } catch (error) {
    showMessage(errorText(error), true);
  }
}

/**
 * Keeps a game page in step with its room: `render` now and after every state, presence and
 * status change; the outcome in `#outcome` (and the `#again` links) once the game is over, or
 * at once if it already was; why the room closed in the message area.
 *
 * @param {import("../../client/mod.ts").RoomConnection<any, any>} room
 * @param {() => void} render
 */
export function bindGamePage(room, render) {
  const showOutcome = (/** @type {import("../../client/mod.ts").Outcome} */ outcome) => {
    const element = byId("outcome");
    element.textContent = outcomeText(room, outcome);
    element.dataset.outcome = outcome.draw ? "draw" : (outcome.winners ?? []).join(",");
    element.hidden = false;
    byId("again").hidden = false;
    render();
  };
  room.onState(() => render());
  room.onPresence(() => render());
  room.onGameOver(showOutcome);
  room.onStatus((status) => {
    render();
    if (status === "closed" && room.lastError) showMessage(errorText(room.lastError), true);
  });
  render();
  if (room.outcome) showOutcome(room.outcome);
}

/**
 * The name to show for a player id, "You" for this client.
 *
 * @param {import("../../client/mod.ts").RoomConnection<any, any>} room
 * @param {string} id
 * @returns {string}
 */
export function playerLabel(room, id) {
  if (id === room.player) return "You";
  return room.players.find((p) => p.id === id)?.name ?? id;
}

/**
 * A sentence for the outcome from this client's point of view.
 *
 * @param {import("../../client/mod.ts").RoomConnection<any, any>} room
 * @param {import("../../client/mod.ts").Outcome} outcome
 * @returns {string}
 */
export function outcomeText(room, outcome) {
  const reason = outcome.reason ? ` (${outcome.reason.replaceAll("_", " ")})` : "";
  if (outcome.draw) return `Draw${reason}.`;
  const winners = outcome.winners ?? [];
  if (room.player && winners.includes(room.player)) return `You win${reason}!`;
  const names = winners.map((id) => room.players.find((p) => p.id === id)?.name ?? id);
  const verb = names.length === 1 ? "wins" : "win";
  return room.player ? `You lose: ${names.join(" and ")} ${verb}${reason}.` : `${
    names.join(
      " and ",
    )
  } ${verb}${reason}.`;
}

/**
 * Renders the seat list (`#players`): name, marker colour, presence.
 *
 * @param {import("../../client/mod.ts").RoomConnection<any, any>} room
 * @param {string | null} [current] the player whose turn it is
 * @param {(id: string) => string} [extra] more text per player (e.g. a score)
 */
export function renderPlayers(room, current = null, extra) {
  const list = byId("players");
  list.replaceChildren(
    ...room.players.map((player) => {
      const item = document.createElement("li");
      item.className = player.id === current ? "current" : "";
      const name = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = `swatch ${player.id}`;
      swatch.setAttribute("aria-hidden", "true");
      name.append(swatch, player.id === room.player ? `${player.name} (you)` : player.name);
      if (player.id === current) {
        const turn = document.createElement("span");
        turn.className = "to-move";
        turn.textContent = "to move";
        name.append(" ", turn);
      }
      const right = document.createElement("span");
      if (extra) {
        const text = document.createElement("span");
        text.className = "score";
        text.textContent = extra(player.id);
        right.append(text, " ");
      }
      // Our own presence is our connection: while it is down, the list is not current.
      const own = player.id === room.player && room.status !== "connected";
      const presence = document.createElement("span");
      presence.className = `badge ${own ? room.status : player.presence}`;
      presence.textContent = own ? room.status : player.presence;
      right.append(presence);
      item.append(name, right);
      return item;
    }),
  );
}

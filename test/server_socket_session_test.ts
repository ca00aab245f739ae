/**
 * The socket session on its own, with a scripted socket: orderings a real network rarely
 * produces on demand, such as a `leave` that arrives while the join is still being checked.
 */
import assert from "node:assert/strict";
import { exampleGames } from "../games/mod.ts";
import { encodeClientMessage, PROTOCOL_VERSION } from "../protocol/mod.ts";
import { RoomManager } from "../rooms/mod.ts";
import { loadConfig, Metrics, silentLogger, SocketSession } from "../server/mod.ts";
import type { SessionContext } from "../server/socket_session.ts";

/** Just enough of a server-side WebSocket for a session: events in, frames and closes out. */
class ScriptedSocket extends EventTarget {
  binaryType = "blob";
  readyState: number = WebSocket.CONNECTING;
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  closedWith: [number, string] | null = null;
  send(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
    this.readyState = WebSocket.CLOSED;
  }
  open(): void {
    this.readyState = WebSocket.OPEN;
    this.dispatchEvent(new Event("open"));
  }
  receive(frame: Uint8Array): void {
    this.dispatchEvent(new MessageEvent("message", { data: frame.slice().buffer }));
  }
}

/** A session on a scripted socket, opened; `context` overrides the defaults. */
function scriptedSession(manager: RoomManager, context: Partial<SessionContext>): ScriptedSocket {
  const socket = new ScriptedSocket();
  new SocketSession(socket as unknown as WebSocket, {
    manager,
    config: loadConfig({}),
    log: silentLogger,
    metrics: new Metrics(),
    verifyToken: null,
    user: null,
    ...context,
  });
  socket.open();
  return socket;
}

/**
 * A session whose `create` join is held up by `hold` (the token check or the routing, as
 * `context` says) while a `leave` comes in and closes the socket; `release` lets it go on.
 */
function leaveDuringJoin(
  context: (hold: Promise<void>, manager: RoomManager) => Partial<SessionContext>,
) {
  const manager = new RoomManager({ games: exampleGames });
  let release!: () => void;
  const hold = new Promise<void>((resolve) => release = resolve);
  const socket = scriptedSession(manager, context(hold, manager));
  socket.receive(encodeClientMessage({
    kind: "join",
    version: PROTOCOL_VERSION,
    mode: "create",
    game: "tic_tac_toe",
    token: "t",
  }));
  socket.receive(encodeClientMessage({ kind: "leave" }));
  assert.deepEqual(socket.closedWith, [1000, "left"]);
  release();
  return manager;
}

Deno.test("a leave that arrives while the join is in flight gives the seat up once it lands", async () => {
  // The join is on its way to the room (in a cluster: relayed) when the leave comes in.
  const manager = leaveDuringJoin((hold, manager) => ({
    join: async (request, member) => (await hold, manager.join(request, member)),
  }));
  const [room] = await waitForRooms(manager);
  // Given up, not held for a resume that will never come.
  assert.equal(room.players, 0);
  manager.dispose();
});

Deno.test("a socket gone while its token is being checked joins nothing", async () => {
  const manager = leaveDuringJoin((hold) => ({
    verifyToken: async () => (await hold, { userId: "u1", name: "ann" }),
  }));
  // No room made for nobody (and no seat taken over by a join key from a dead socket).
  assert.deepEqual(await waitForRooms(manager), []);
  manager.dispose();
});

async function waitForRooms(manager: RoomManager) {
  for (let i = 0; i < 100 && manager.list().length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // The join's last steps run in the same turn as the room's creation.
  await new Promise((resolve) => setTimeout(resolve, 5));
  return manager.list();
}

Deno.test("after a leave the socket stays until the room processed it, and nothing sent after counts", async () => {
  const manager = new RoomManager({ games: exampleGames });
  let joins = 0;
  let processed!: () => void;
  const socket = scriptedSession(manager, {
    join: async (request, member) => {
      joins++;
      const seat = await manager.join(request, member);
      // A room still busy with an earlier action (a `log` room storing it, say).
      return Object.assign(Object.create(seat), {
        leave: () => new Promise<void>((resolve) => processed = () => (seat.leave(), resolve())),
      });
    },
  });
  const join = encodeClientMessage({
    kind: "join",
    version: PROTOCOL_VERSION,
    mode: "create",
    game: "tic_tac_toe",
  });
  socket.receive(join);
  for (let i = 0; i < 100 && joins === 0; i++) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 5));
  socket.receive(encodeClientMessage({ kind: "leave" }));
  socket.receive(join);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(socket.closedWith, null, "open until the room processed the leave");
  assert.equal(joins, 1, "the join after the leave was ignored");
  processed();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(socket.closedWith, [1000, "left"]);
  manager.dispose();
});

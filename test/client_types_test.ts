/**
 * Type-level tests of the client library: a room typed by its game only accepts the game's
 * action names with their payload types. The `@ts-expect-error` lines are checked by
 * `deno check` and `deno test` (an error that goes away fails the type check); nothing here
 * needs a server.
 */
import assert from "node:assert/strict";
import type { ArbiterClient, Room, SpectatorRoom } from "../client/mod.ts";
import type { connectFour, ticTacToe } from "../games/mod.ts";

/** Never called: only type-checked. */
function typedSends(room: Room<typeof ticTacToe>, c4: Room<typeof connectFour>): unknown[] {
  return [
    room.send("place", { cell: 4 }),
    c4.send("drop", { column: 3 }),
    // @ts-expect-error the cell is a number, not a string
    room.send("place", { cell: "4" }),
    // @ts-expect-error the payload needs its cell
    room.send("place", {}),
    // @ts-expect-error no payload at all
    room.send("place"),
    // @ts-expect-error a key the payload does not have
    room.send("place", { cell: 4, row: 1 }),
    // @ts-expect-error tic-tac-toe has no action "jump"
    room.send("jump", { cell: 4 }),
    // @ts-expect-error connect four's action, not tic-tac-toe's
    room.send("drop", { column: 3 }),
    // @ts-expect-error connect four drops take a column
    c4.send("drop", { cell: 3 }),
  ];
}

/** Never called: the state is the game's view, typed. */
function typedState(room: Room<typeof ticTacToe>): unknown[] {
  const board: (string | null)[] = room.state.board;
  // @ts-expect-error the board holds player ids, not numbers
  const wrong: number[] = room.state.board;
  // @ts-expect-error tic-tac-toe's state has no hands
  const hands = room.state.hands;
  return [board, wrong, hands];
}

/** Untyped rooms (no game given) take any action name and any payload. */
function untypedSends(room: Room, plain: Room<unknown>): unknown[] {
  return [room.send("anything", { x: 1 }), plain.send("anything", [1, "two"])];
}

/** What a helper typed `Room` (no game) takes: every room a client returns, typed or not. */
function roomLabel(room: Room): string {
  return `${room.roomId} ${room.status} ${room.seq}`;
}

/** Never called: each kind of room the client returns fits a `Room` parameter. */
async function anyRoomFits(
  client: ArbiterClient,
  typed: Room<typeof ticTacToe>,
): Promise<string[]> {
  const untyped = await client.join("r1");
  const created: Room = await client.create("tic_tac_toe");
  const chosen = await client.joinOrCreate<typeof connectFour>("connect_four");
  return [roomLabel(untyped), roomLabel(created), roomLabel(chosen), roomLabel(typed)];
}

/** Never called: a spectator's room has the game's state and no action to send. */
async function spectatorRooms(client: ArbiterClient): Promise<unknown[]> {
  const watching = await client.spectate<typeof ticTacToe>("r1");
  const untyped = await client.spectate("r2");
  const board: (string | null)[] = watching.state.board;
  const typed: SpectatorRoom<typeof ticTacToe> = watching;
  return [
    board,
    typed,
    roomLabel(watching),
    roomLabel(untyped),
    // @ts-expect-error a spectator cannot act
    watching.send("place", { cell: 4 }),
    // @ts-expect-error not even in a room typed by no game
    untyped.send("anything", { x: 1 }),
  ];
}

/** Never called: a game's type also types the room options of create and joinOrCreate. */
function typedOptions(client: ArbiterClient): unknown[] {
  return [
    client.create<typeof connectFour>("connect_four", { turnMs: 10_000 }),
    client.joinOrCreate<typeof connectFour>("connect_four", {}),
    // @ts-expect-error turnMs is a number of ms
    client.create<typeof connectFour>("connect_four", { turnMs: "10s" }),
    // @ts-expect-error connect four has no option "speed"
    client.joinOrCreate<typeof connectFour>("connect_four", { speed: 2 }),
    // Without the game's type, any plain data.
    client.create("connect_four", { turnMs: "10s" }),
  ];
}

/** Never called: a game's type also checks the name of the game to create a room of. */
function typedNames(client: ArbiterClient): unknown[] {
  return [
    // @ts-expect-error a typo in the game's name
    client.create<typeof connectFour>("connect4"),
    // @ts-expect-error tic-tac-toe's name, connect four's type
    client.joinOrCreate<typeof connectFour>("tic_tac_toe"),
    // Without the game's type, any name (the server answers unknown_game).
    client.joinOrCreate("connect4"),
  ];
}

Deno.test("client types: Room<typeof game>.send refuses unknown actions and wrong payloads", () => {
  // The assertions above are the type check; this only keeps the functions referenced.
  assert.equal(typeof typedSends, "function");
  assert.equal(typeof typedState, "function");
  assert.equal(typeof untypedSends, "function");
  assert.equal(typeof anyRoomFits, "function");
  assert.equal(typeof typedOptions, "function");
  assert.equal(typeof typedNames, "function");
  assert.equal(typeof spectatorRooms, "function");
});

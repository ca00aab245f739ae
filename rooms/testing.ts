/**
 * Testing helpers for game authors and for Arbiter itself: {@linkcode testRoom} runs a game
 * in a room on a manual clock, and a {@linkcode TestMember} plays the client's part without a
 * socket. It decodes every frame a room sends, rebuilds the state the
 * way the client library does (tables from the welcome, deltas applied in sequence), and
 * records anything a real client would choke on: a sequence gap, an undecodable delta.
 *
 * @example
 * ```ts
 * import { ManualClock, Room } from "./mod.ts";
 * import { TestMember } from "./testing.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const room = new Room({ id: "r", game: ticTacToe, clock: new ManualClock() });
 * const ann = new TestMember();
 * const seat = await room.join({ name: "ann" }, ann);
 * await room.join({ name: "bob" }, new TestMember());
 * seat.act(1, "place", { cell: 0 });
 * console.log(ann.state, ann.seq, ann.ack, ann.problems); // board with p1 at 0, 1, 1, []
 * room.dispose();
 * ```
 *
 * @module
 */
import { applyOps, decodeServerMessage, DeltaDecoder } from "../protocol/mod.ts";
import type {
  DeltaOp,
  EventMessage,
  Outcome,
  PlayerInfo,
  RejectMessage,
  ServerMessage,
  Value,
  WelcomeMessage,
} from "../protocol/types.ts";
import type { Member } from "./member.ts";
import { ManualClock } from "./clock.ts";
import type { AnyGame } from "./game.ts";
import { Room, type RoomInit } from "./room.ts";

/**
 * A {@linkcode Member} that acts as a protocol client and keeps what it learned.
 */
export class TestMember implements Member {
  /** Every frame received, as sent. */
  readonly frames: Uint8Array[] = [];
  /** Every frame received, decoded. */
  readonly messages: ServerMessage[] = [];
  /** Every delta's decoded ops, in order. */
  readonly ops: DeltaOp[][] = [];
  /** Rejected actions. */
  readonly rejects: RejectMessage[] = [];
  /** Events (presence and game events). */
  readonly events: EventMessage[] = [];
  /** Welcomes (the first join and each resume). */
  readonly welcomes: WelcomeMessage[] = [];
  /** What a real client could not have coped with; a healthy stream leaves this empty. */
  readonly problems: string[] = [];
  /** The state mirror, as the client library would have it. */
  state: Value = null;
  /** Room sequence of {@linkcode TestMember.state}; -1 before the welcome. */
  seq = -1;
  /** Server time of the last broadcast applied. */
  time = 0;
  /** Highest client sequence the server applied, as told so far. */
  ack = 0;
  /** The player id from the welcome (null for spectators). */
  player: string | null = null;
  /** The session token from the welcome. */
  session = "";
  /** Players as of the welcome. */
  players: PlayerInfo[] = [];
  /** The outcome, once `game_over` (or a welcome with an outcome) arrived. */
  outcome: Outcome | null = null;
  /** Set when the room closed this member. */
  closed: { code: number; reason: string } | null = null;
  #decoder = new DeltaDecoder();

  /** Takes one frame, as a socket would carry it. */
  send(frame: Uint8Array): void {
    this.frames.push(frame);
    if (this.closed) this.problems.push("frame after close");
    let message: ServerMessage;
    try {
      message = decodeServerMessage(frame);
    } catch (error) {
      this.problems.push(`undecodable frame: ${(error as Error).message}`);
      return;
    }
    this.messages.push(message);
    switch (message.kind) {
      case "welcome":
        this.welcomes.push(message);
        if (!message.replay) {
          this.state = message.state;
          this.#decoder = new DeltaDecoder(message.keys, message.refs);
        } else if (this.seq !== message.seq) {
          this.problems.push(`replay welcome at ${message.seq} but the mirror is at ${this.seq}`);
        }
        this.seq = message.seq;
        this.time = message.time;
        this.ack = message.ack;
        this.player = message.player;
        this.session = message.session;
        this.players = message.players;
        if (message.outcome) this.outcome = message.outcome;
        return;
      case "delta": {
        if (message.seq !== this.seq + 1) {
          this.problems.push(`sequence gap: ${this.seq} then ${message.seq}`);
        }
        try {
          const ops = this.#decoder.decode(message.ops);
          this.ops.push(ops);
          if (ops.length > 0) this.state = applyOps(this.state, ops);
        } catch (error) {
          this.problems.push(`delta ${message.seq}: ${(error as Error).message}`);
        }
        this.seq = message.seq;
        this.time += message.dt;
        this.ack += message.ackDelta;
        return;
      }
      case "reject":
        this.rejects.push(message);
        return;
      case "event":
        this.events.push(message);
        return;
      case "game_over":
        this.outcome = message.outcome;
        return;
      default:
        return;
    }
  }

  /** Records the close. */
  close(code: number, reason: string): void {
    if (this.closed) this.problems.push("closed twice");
    this.closed = { code, reason };
  }

  /**
   * Forgets the connection but keeps the mirror, like a client that dropped and is about to
   * resume: later frames are checked against the mirror as it is.
   */
  reopen(): void {
    this.closed = null;
  }

  /** The messages of one kind. */
  received<K extends ServerMessage["kind"]>(kind: K): Extract<ServerMessage, { kind: K }>[] {
    return this.messages.filter((m): m is Extract<ServerMessage, { kind: K }> => m.kind === kind);
  }
}

/**
 * A room of `game` (id `r1`, seed `seed`) on a {@linkcode ManualClock}, which keeps what the
 * room reports to `onError`: `errors` as thrown, `reported` as text. `settings` override any of
 * these.
 *
 * @example
 * ```ts
 * import { testRoom } from "./testing.ts";
 * import { ticTacToe } from "../games/mod.ts";
 * const { room, clock, reported } = testRoom(ticTacToe);
 * clock.advance(1000);
 * console.log(room.id, reported); // r1 []
 * room.dispose();
 * ```
 */
export function testRoom(game: AnyGame, settings: Partial<RoomInit> = {}): {
  room: Room;
  clock: ManualClock;
  errors: unknown[];
  reported: string[];
} {
  const clock = new ManualClock();
  const errors: unknown[] = [];
  const reported: string[] = [];
  const room = new Room({
    id: "r1",
    game,
    clock,
    seed: "seed",
    onError: (error) => {
      errors.push(error);
      reported.push(String(error));
    },
    ...settings,
  });
  return { room, clock, errors, reported };
}

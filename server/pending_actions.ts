/**
 * The actions of one connection that the room has not answered yet, with the time each
 * arrived, so the session can time them when the answer leaves: the first `delta` whose
 * cumulative acknowledgement covers an action's sequence number (accepted), or a `reject`
 * naming it. Only the frames are looked at, so it works the same for rooms on this instance
 * and rooms relayed from another.
 *
 * @module
 */
import { DEFAULT_OUTBOUND_LIMITS } from "../protocol/mod.ts";
import { FrameCursor } from "../protocol/frame.ts";

/** Most actions remembered per connection; older ones are forgotten (never timed). */
const MAX_PENDING = 1024;

/** Where accepted actions are reported (a `Metrics` fits). */
export interface AcceptedSink {
  /** An action was acknowledged `ms` after it arrived. */
  actionAccepted(ms: number): void;
}

/**
 * Sequence numbers waiting for their acknowledgement, oldest first. Only sequence numbers
 * above every earlier one are kept: the room refuses any other as `out_of_order`, so the
 * list stays sorted and an acknowledgement settles a prefix of it.
 *
 * @example
 * ```ts
 * import { PendingActions } from "./pending_actions.ts";
 * const pending = new PendingActions();
 * pending.reset(0); // the welcome's ack
 * pending.track(1, 100);
 * pending.track(2, 105);
 * const timed: number[] = [];
 * pending.ack(2, 120, { actionAccepted: (ms) => timed.push(ms) });
 * console.log(timed, pending.size); // [20, 15] 0
 * ```
 */
export class PendingActions {
  /** Highest client sequence the client has been told is applied. */
  #ack = 0;
  /** Highest sequence tracked (or acknowledged). */
  #highest = 0;
  // Parallel arrays with a moving head: no object per action. Created on first use, so an
  // idle connection pays nothing for them.
  #seqs: number[] | null = null;
  #times: number[] | null = null;
  #head = 0;

  /** Actions waiting. */
  get size(): number {
    return this.#seqs ? this.#seqs.length - this.#head : 0;
  }

  /** Starts over from a `welcome`'s absolute `ack` (a new seat, or a resumed one). */
  reset(ack: number): void {
    this.#ack = ack;
    this.#highest = ack;
    this.#seqs = null;
    this.#times = null;
    this.#head = 0;
  }

  /** An action with sequence `seq` arrived at `time` (ms) and goes to the room. */
  track(seq: number, time: number): void {
    if (seq <= this.#highest) return;
    this.#highest = seq;
    const seqs = this.#seqs ??= [];
    const times = this.#times ??= [];
    if (seqs.length - this.#head >= MAX_PENDING) this.#head++;
    seqs.push(seq);
    times.push(time);
  }

  /**
   * A delta acknowledged `ackDelta` more: reports every action it covers to `sink` with its
   * time since arrival (`now` − arrival).
   */
  ack(ackDelta: number, now: number, sink: AcceptedSink): void {
    const ack = this.#ack += ackDelta;
    const seqs = this.#seqs;
    if (!seqs) return;
    const times = this.#times!;
    let head = this.#head;
    while (head < seqs.length && seqs[head] <= ack) {
      sink.actionAccepted(now - times[head]);
      head++;
    }
    if (head === seqs.length) {
      // Settled: start the arrays over rather than let them grow.
      seqs.length = 0;
      times.length = 0;
      head = 0;
    }
    this.#head = head;
  }

  /** The room refused `seq`: forget it. Returns whether it was waiting. */
  reject(seq: number): boolean {
    const seqs = this.#seqs;
    if (!seqs) return false;
    for (let i = this.#head; i < seqs.length; i++) {
      if (seqs[i] === seq) {
        seqs.splice(i, 1);
        this.#times!.splice(i, 1);
        return true;
      }
      if (seqs[i] > seq) return false;
    }
    return false;
  }
}

/**
 * Reads a `delta` frame's `ackDelta` (its third header varint) without decoding the frame.
 *
 * @example
 * ```ts
 * import { encodeDeltaFrame } from "../protocol/mod.ts";
 * import { deltaAckDelta } from "./pending_actions.ts";
 * console.log(deltaAckDelta(encodeDeltaFrame(300, 50, 2, new Uint8Array(0)))); // 2
 * ```
 */
export function deltaAckDelta(frame: Uint8Array): number {
  let pos = 1;
  // Skip `seq` and `dt`.
  while (frame[pos++] & 0x80);
  while (frame[pos++] & 0x80);
  let value = 0;
  let scale = 1;
  let byte: number;
  do {
    byte = frame[pos++];
    value += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  return value;
}

/** What the session needs from a `welcome` (see {@linkcode readWelcome}). */
export interface WelcomeHead {
  /** The absolute acknowledgement the client starts from. */
  ack: number;
  /** True when the welcome carries the whole state (false: a replaying resume). */
  fullState: boolean;
}

/**
 * Reads a `welcome` frame's `ack` and whether it carries the state, without decoding the
 * state: the body writes room, game, player, session and ack first, then the key table (`k`)
 * only when the state follows (a replaying welcome has none). A join costs one state encode;
 * it should not cost a decode too.
 *
 * @example
 * ```ts
 * import { encodeServerMessage } from "../protocol/mod.ts";
 * import { readWelcome } from "./pending_actions.ts";
 * const frame = encodeServerMessage({
 *   kind: "welcome", seq: 3, time: 0, room: "r", game: "g", player: "p1", session: "s",
 *   ack: 7, state: { n: 1 }, keys: ["n"], refs: [], players: [], actions: [], resumed: true,
 * });
 * console.log(readWelcome(frame)); // { ack: 7, fullState: true }
 * ```
 */
export function readWelcome(frame: Uint8Array): WelcomeHead {
  const cursor = new FrameCursor(frame);
  cursor.varint(); // seq
  cursor.varint(); // time
  const body = cursor.body(DEFAULT_OUTBOUND_LIMITS);
  const n = body.mapHead(0, "welcome body");
  let ack = 0;
  for (let i = 0; i < n; i++) {
    const key = body.key();
    if (key === "a") {
      ack = body.value(1) as number;
    } else if (key === "k" || key === "u") {
      // The key table comes right after the ack when the state is there; players otherwise.
      return { ack, fullState: key === "k" };
    } else {
      body.value(1);
    }
  }
  return { ack, fullState: false };
}

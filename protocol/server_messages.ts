/**
 * Server → client frames: `welcome`, `delta`, `reject`, `event`, `game_over`, `pong`, `error`.
 *
 * @module
 */
import type { CborReader } from "./cbor_reader.ts";
import { acquireWriter, type CborWriter, releaseWriter } from "./cbor_writer.ts";
import { DeltaDecoder } from "./delta_decoder.ts";
import { ProtocolError } from "./errors.ts";
import {
  asArray,
  asBoolean,
  asCode,
  asKeys,
  asMap,
  asPath,
  asPaths,
  asString,
  asStrings,
  asUint,
  badField,
  checkFrame,
  endBody,
  FRAME_KINDS,
  FrameCursor,
  startFrame,
} from "./frame.ts";
import { type DecodeLimits, DEFAULT_OUTBOUND_LIMITS, resolveLimits } from "./limits.ts";
import type {
  ActionLimits,
  DeltaMessage,
  ErrorCode,
  EventMessage,
  Outcome,
  Path,
  PlayerInfo,
  Presence,
  ServerMessage,
  SettledReject,
  Value,
  WelcomeMessage,
} from "./types.ts";
import { frameBytes } from "./slab.ts";
import { checkVarint, varintLength, writeVarint } from "./varint.ts";

/** Presence values by their wire number. */
const PRESENCES: readonly Presence[] = ["connected", "disconnected", "left"];

function writeOutcome(w: CborWriter, outcome: Outcome, field: string): void {
  const o = asMap(outcome, field);
  if (o.draw === true) {
    if (o.winners !== undefined) badField(`${field}.winners`, "absent in a draw");
  } else {
    asStrings(o.winners, `${field}.winners`);
    if (o.draw !== undefined && o.draw !== false) badField(`${field}.draw`, "true or false");
  }
  if (o.reason !== undefined) asString(o.reason, `${field}.reason`);
  const n = (o.winners !== undefined ? 1 : 0) + (o.draw !== undefined ? 1 : 0) +
    (o.reason !== undefined ? 1 : 0);
  w.head(5, n);
  if (o.winners !== undefined) {
    w.text("w");
    w.value(o.winners);
  }
  if (o.draw !== undefined) {
    w.text("d");
    w.value(o.draw);
  }
  if (o.reason !== undefined) {
    w.text("r");
    w.text(o.reason as string);
  }
}

function readOutcome(v: Value, field: string): Outcome {
  const m = asMap(v, field);
  const reason = m.r === undefined ? undefined : asString(m.r, `${field}.reason (r)`);
  let outcome: Outcome;
  if (m.d === true) {
    if (m.w !== undefined) badField(`${field}.winners (w)`, "absent in a draw");
    outcome = { draw: true };
  } else {
    outcome = { winners: asStrings(m.w, `${field}.winners (w)`) };
    if (m.d !== undefined) {
      if (m.d !== false) badField(`${field}.draw (d)`, "a boolean");
      outcome.draw = false;
    }
  }
  if (reason !== undefined) outcome.reason = reason;
  return outcome;
}

function writePath(w: CborWriter, path: unknown, field: string): void {
  const p = asPath(path, field);
  w.head(4, p.length);
  for (const seg of p) {
    if (typeof seg === "string") w.text(seg);
    else w.uint(seg);
  }
}

function writeWelcomeBody(w: CborWriter, msg: WelcomeMessage): void {
  const replay = msg.replay === true;
  let n = 8; // r g p s a u n e
  if (!replay) n += 3; // k f v
  if (msg.replay !== undefined) n++;
  if (msg.outcome !== undefined) n++;
  if (msg.rejected !== undefined) n++;
  if (msg.limits !== undefined) n++;
  w.head(5, n);
  w.text("r");
  w.text(asString(msg.room, "welcome.room"));
  w.text("g");
  w.text(asString(msg.game, "welcome.game"));
  w.text("p");
  if (msg.player === null) w.byte(0xf6);
  else w.text(asString(msg.player, "welcome.player"));
  w.text("s");
  w.text(asString(msg.session, "welcome.session"));
  w.text("a");
  w.uint(asUint(msg.ack, "welcome.ack"));
  if (!replay) {
    const keys = asKeys(msg.keys, "welcome.keys");
    w.text("k");
    w.value(keys);
    const refs = asArray(msg.refs, "welcome.refs");
    w.text("f");
    w.head(4, refs.length);
    for (let i = 0; i < refs.length; i++) writePath(w, refs[i], `welcome.refs[${i}]`);
    if (msg.state === undefined) badField("welcome.state", "a Value");
    // The state's map keys use the key table the welcome just sent: most are one byte.
    const ids = new Map<string, number>();
    for (let i = 0; i < keys.length; i++) if (!ids.has(keys[i])) ids.set(keys[i], i);
    w.text("v");
    // Depth 1: the state sits inside the body map, and the receiver counts that level.
    w.value(msg.state, 1, ids);
  }
  const players = asArray(msg.players, "welcome.players") as PlayerInfo[];
  w.text("u");
  w.head(4, players.length);
  for (let i = 0; i < players.length; i++) {
    const p = asMap(players[i], `welcome.players[${i}]`);
    const presence = PRESENCES.indexOf(p.presence as Presence);
    if (presence < 0) badField(`welcome.players[${i}].presence`, PRESENCES.join(" | "));
    w.head(4, 4);
    w.text(asString(p.id, `welcome.players[${i}].id`));
    w.text(asString(p.name, `welcome.players[${i}].name`));
    w.uint(asUint(p.seat, `welcome.players[${i}].seat`));
    w.uint(presence);
  }
  w.text("n");
  w.value(asStrings(msg.actions, "welcome.actions"));
  w.text("e");
  w.value(asBoolean(msg.resumed, "welcome.resumed"));
  if (msg.replay !== undefined) {
    w.text("y");
    w.value(asBoolean(msg.replay, "welcome.replay"));
  }
  if (msg.outcome !== undefined) {
    w.text("o");
    writeOutcome(w, msg.outcome, "welcome.outcome");
  }
  if (msg.rejected !== undefined) {
    const rejected = asArray(msg.rejected, "welcome.rejected");
    w.text("j");
    w.head(4, rejected.length);
    for (let i = 0; i < rejected.length; i++) {
      const r = asMap(rejected[i], `welcome.rejected[${i}]`);
      w.head(4, 3);
      w.uint(asUint(r.seq, `welcome.rejected[${i}].seq`));
      w.text(asCode(r.code, `welcome.rejected[${i}].code`));
      w.text(asString(r.message, `welcome.rejected[${i}].message`));
    }
  }
  if (msg.limits !== undefined) {
    const limits = asMap(msg.limits, "welcome.limits");
    w.text("l");
    w.head(4, 2);
    w.uint(asPositive(limits.rate, "welcome.limits.rate"));
    w.uint(asPositive(limits.burst, "welcome.limits.burst"));
  }
}

/** A whole number of at least 1 (an action limit of 0 would stop a client for good). */
function asPositive(v: unknown, field: string): number {
  const n = asUint(v, field);
  if (n < 1) badField(field, "a whole number of at least 1");
  return n;
}

function readLimits(v: Value, field: string): ActionLimits {
  const t = asArray(v, field);
  if (t.length !== 2) badField(field, "[rate, burst]");
  return { rate: asPositive(t[0], `${field}.rate`), burst: asPositive(t[1], `${field}.burst`) };
}

function readRejected(v: Value, field: string): SettledReject[] {
  return asArray(v, field).map((item, i) => {
    const t = asArray(item, `${field}[${i}]`);
    if (t.length !== 3) badField(`${field}[${i}]`, "[seq, code, message]");
    return {
      seq: asUint(t[0], `${field}[${i}].seq`),
      code: asCode(t[1], `${field}[${i}].code`) as ErrorCode,
      message: asString(t[2], `${field}[${i}].message`),
    };
  });
}

function readWelcome(c: FrameCursor, limits: Required<DecodeLimits>): WelcomeMessage {
  const seq = c.varint();
  const time = c.varint();
  const r = c.body(limits);
  // Read field by field: the state (v) may use key ids from the key table (k) before it.
  const n = r.mapHead(0, "welcome body");
  const b: { [key: string]: Value } = {};
  let keys: string[] | undefined;
  let state: Value | undefined;
  for (let i = 0; i < n; i++) {
    const key = r.key();
    if (key === "v") {
      if (state !== undefined) badField("welcome body", "free of duplicate keys");
      if (keys === undefined) badField("welcome.keys (k)", "before the state (v)");
      state = r.value(1, keys);
    } else {
      if (Object.prototype.hasOwnProperty.call(b, key)) {
        badField("welcome body", "free of duplicate keys");
      }
      b[key] = r.value(1);
      if (key === "k") keys = asKeys(b.k, "welcome.keys (k)");
    }
  }
  endBody(r);
  const replay = b.y === undefined ? undefined : asBoolean(b.y, "welcome.replay (y)");
  const rawPlayers = asArray(b.u, "welcome.players (u)");
  const players: PlayerInfo[] = [];
  for (let i = 0; i < rawPlayers.length; i++) {
    const t = asArray(rawPlayers[i], `welcome.players[${i}]`);
    if (t.length !== 4) badField(`welcome.players[${i}]`, "[id, name, seat, presence]");
    const presence = PRESENCES[asUint(t[3], `welcome.players[${i}].presence`)];
    if (presence === undefined) badField(`welcome.players[${i}].presence`, "0, 1 or 2");
    players.push({
      id: asString(t[0], `welcome.players[${i}].id`),
      name: asString(t[1], `welcome.players[${i}].name`),
      seat: asUint(t[2], `welcome.players[${i}].seat`),
      presence,
    });
  }
  const msg: WelcomeMessage = {
    kind: "welcome",
    seq,
    time,
    room: asString(b.r, "welcome.room (r)"),
    game: asString(b.g, "welcome.game (g)"),
    player: b.p === null ? null : asString(b.p, "welcome.player (p)"),
    session: asString(b.s, "welcome.session (s)"),
    ack: asUint(b.a, "welcome.ack (a)"),
    state: null,
    players,
    actions: asStrings(b.n, "welcome.actions (n)"),
    keys: [],
    refs: [],
    resumed: asBoolean(b.e, "welcome.resumed (e)"),
  };
  // A replaying welcome carries no state or tables; whatever is there is ignored.
  if (replay !== true) {
    if (state === undefined) badField("welcome.state (v)", "present");
    msg.state = state;
    msg.keys = keys as string[];
    msg.refs = asPaths(b.f, "welcome.refs (f)");
  }
  if (replay !== undefined) msg.replay = replay;
  if (b.o !== undefined) msg.outcome = readOutcome(b.o, "welcome.outcome (o)");
  if (b.j !== undefined) msg.rejected = readRejected(b.j, "welcome.rejected (j)");
  if (b.l !== undefined) msg.limits = readLimits(b.l, "welcome.limits (l)");
  return msg;
}

/**
 * Builds a `delta` frame from its header fields and an encoded ops body (from
 * {@linkcode DeltaEncoder.encode}). The body is shared by every recipient of an audience; only
 * the header (here `ackDelta`) differs, so this is the per-recipient hot path: the frame is a
 * view into a shared slab (send the view, never its `.buffer`) and costs one copy of the body.
 *
 * @example
 * ```ts
 * import { encodeDeltaFrame } from "./server_messages.ts";
 * const ops = new Uint8Array([0x25, 0x01, 0x0c, 0x02, 0x18, 0x28]);
 * console.log(encodeDeltaFrame(300, 50, 1, ops)); // 11 ac 02 32 01 25 01 0c 02 18 28
 * ```
 */
export function encodeDeltaFrame(
  seq: number,
  dt: number,
  ackDelta: number,
  ops: Uint8Array,
): Uint8Array {
  checkVarint(seq, "delta.seq");
  checkVarint(dt, "delta.dt");
  checkVarint(ackDelta, "delta.ackDelta");
  const head = 1 + varintLength(seq) + varintLength(dt) + varintLength(ackDelta);
  const out = frameBytes(head + ops.length);
  out[0] = FRAME_KINDS.delta;
  let pos = writeVarint(seq, out, 1);
  pos = writeVarint(dt, out, pos);
  writeVarint(ackDelta, out, pos);
  out.set(ops, head);
  return out;
}

/**
 * Throws {@linkcode ProtocolError} when a client with the default limits
 * ({@linkcode DEFAULT_OUTBOUND_LIMITS}) could not decode `frame`: a server checks what it is
 * about to send, since such a frame would only make its clients resync forever. Frames of up
 * to 1 MiB pass unread: none holds more items, or a longer string, than it has bytes. A
 * delta's ops only read against the receiver's tables: check them with
 * {@linkcode checkOutboundOps} before framing them (here, only a delta's size is checked).
 *
 * @example
 * ```ts
 * import { checkOutboundFrame, encodeServerMessage } from "./server_messages.ts";
 * checkOutboundFrame(encodeServerMessage({ kind: "pong", clientTime: 5, serverTime: 300 }));
 * try {
 *   checkOutboundFrame(encodeServerMessage({ kind: "event", type: "x", data: "y".repeat(2 ** 21) }));
 * } catch (error) {
 *   console.log((error as Error).message); // String of 2097152 bytes exceeds 1048576
 * }
 * ```
 */
export function checkOutboundFrame(frame: Uint8Array): void {
  if (frame.length <= UNREAD_BYTES) return;
  const limits = DEFAULT_OUTBOUND_LIMITS;
  if (frame[0] === FRAME_KINDS.delta) checkFrame(frame, limits);
  else decodeServerMessage(frame, limits);
}

/**
 * {@linkcode checkOutboundFrame} for a delta's ops body, before it is framed. `tables` is the
 * encoder that wrote `ops` (a `DeltaEncoder`, or anything holding its tables), after writing
 * them: its tables hold every key and target the ops use or define, as the receiver's will once
 * it has read them. They are only read for ops over 1 MiB.
 *
 * @example
 * ```ts
 * import { checkOutboundOps } from "./server_messages.ts";
 * const tables = { keys: () => ["players", "x", "y"], refs: () => [["players", 3]] };
 * checkOutboundOps(new Uint8Array([0x20, 0x01, 0x0c, 0x02, 0x18, 0x28]), tables); // fine
 * ```
 */
export function checkOutboundOps(
  ops: Uint8Array,
  tables: { keys(): readonly string[]; refs(): readonly Path[] },
): void {
  const limits = DEFAULT_OUTBOUND_LIMITS;
  if (ops.length > limits.maxFrameBytes - DELTA_HEADER_MAX_BYTES) {
    throw new ProtocolError(
      "frame_too_large",
      `${ops.length} bytes of ops > ${limits.maxFrameBytes - DELTA_HEADER_MAX_BYTES}`,
    );
  }
  if (ops.length <= UNREAD_BYTES) return;
  new DeltaDecoder(tables.keys(), tables.refs(), limits).decode(ops);
}

/** Frames no longer than this cannot break a client's item or string limits. */
const UNREAD_BYTES = Math.min(
  DEFAULT_OUTBOUND_LIMITS.maxItems,
  DEFAULT_OUTBOUND_LIMITS.maxStringBytes,
);

/** The most a delta's header adds to its ops: the kind byte and three varints of 8 bytes. */
const DELTA_HEADER_MAX_BYTES = 1 + 3 * 8;

/**
 * Encodes a server message as one binary WebSocket frame. Throws {@linkcode ProtocolError}
 * (`bad_field`, `forbidden_key`, `unknown_kind`) for a message the decoder would refuse.
 * Small frames are views into a shared slab: send the view itself (`WebSocket.send` accepts
 * it), or copy it; never send or keep its `.buffer`.
 *
 * @example
 * ```ts
 * import { encodeServerMessage } from "./server_messages.ts";
 * const frame = encodeServerMessage({ kind: "pong", clientTime: 5, serverTime: 300 });
 * console.log(frame); // 15 05 ac 02
 * ```
 */
export function encodeServerMessage(msg: ServerMessage): Uint8Array {
  if (msg.kind === "delta") {
    if (!(msg.ops instanceof Uint8Array)) badField("delta.ops", "a Uint8Array");
    return encodeDeltaFrame(msg.seq, msg.dt, msg.ackDelta, msg.ops);
  }
  const w = acquireWriter();
  try {
    writeServerMessage(w, msg);
    return w.finishFrame();
  } finally {
    releaseWriter(w);
  }
}

function writeServerMessage(w: CborWriter, msg: ServerMessage): void {
  switch (msg.kind) {
    case "welcome":
      startFrame(w, FRAME_KINDS.welcome, [msg.seq, msg.time], ["welcome.seq", "welcome.time"]);
      writeWelcomeBody(w, msg);
      return;
    case "reject":
      startFrame(w, FRAME_KINDS.reject, [msg.seq], ["reject.seq"]);
      w.text(asCode(msg.code, "reject.code"));
      w.text(asString(msg.message, "reject.message"));
      return;
    case "event":
      startFrame(w, FRAME_KINDS.event, [], []);
      w.text(asString(msg.type, "event.type"));
      if (msg.player !== undefined || msg.data !== undefined) {
        if (msg.player === undefined) w.byte(0xf6);
        else w.text(asString(msg.player, "event.player"));
      }
      if (msg.data !== undefined) w.value(msg.data);
      return;
    case "game_over":
      startFrame(w, FRAME_KINDS.game_over, [], []);
      writeOutcome(w, msg.outcome, "game_over.outcome");
      return;
    case "pong":
      startFrame(w, FRAME_KINDS.pong, [msg.clientTime, msg.serverTime], [
        "pong.clientTime",
        "pong.serverTime",
      ]);
      return;
    case "error":
      startFrame(w, FRAME_KINDS.error, [], []);
      w.text(asCode(msg.code, "error.code"));
      w.text(asString(msg.message, "error.message"));
      return;
    default:
      throw new ProtocolError(
        "unknown_kind",
        `not a server message kind: ${(msg as { kind: unknown }).kind}`,
      );
  }
}

/** Reads the `[code, message]` body of `reject` and `error`. */
function readCodeMessage(r: CborReader, kind: string): { code: ErrorCode; message: string } {
  if (r.atEnd()) badField(`${kind}.code`, "present");
  const code = asCode(r.value(), `${kind}.code`) as ErrorCode;
  if (r.atEnd()) badField(`${kind}.message`, "present");
  const message = asString(r.value(), `${kind}.message`);
  endBody(r);
  return { code, message };
}

/**
 * Decodes one frame from the server. Throws only {@linkcode ProtocolError}; `limits` default to
 * {@linkcode DEFAULT_OUTBOUND_LIMITS}. A `delta`'s ops are returned undecoded, as a view into
 * `frame`: feed them to the recipient's {@linkcode DeltaDecoder} (and do not reuse `frame`'s
 * memory while they are needed).
 *
 * @example
 * ```ts
 * import { decodeServerMessage } from "./server_messages.ts";
 * const msg = decodeServerMessage(new Uint8Array([0x15, 0x05, 0xac, 0x02]));
 * console.log(msg); // { kind: "pong", clientTime: 5, serverTime: 300 }
 * ```
 */
export function decodeServerMessage(frame: Uint8Array, limits?: DecodeLimits): ServerMessage {
  const lim = resolveLimits(limits, DEFAULT_OUTBOUND_LIMITS);
  checkFrame(frame, lim);
  const c = new FrameCursor(frame);
  switch (frame[0]) {
    case FRAME_KINDS.welcome:
      return readWelcome(c, lim);
    case FRAME_KINDS.delta: {
      const seq = c.varint();
      const dt = c.varint();
      const ackDelta = c.varint();
      // A view, not a copy: decoders never write to their input, and a copy costs more than
      // decoding the whole frame.
      const msg: DeltaMessage = { kind: "delta", seq, dt, ackDelta, ops: frame.subarray(c.pos) };
      return msg;
    }
    case FRAME_KINDS.reject: {
      const seq = c.varint();
      return { kind: "reject", seq, ...readCodeMessage(c.body(lim), "reject") };
    }
    case FRAME_KINDS.event: {
      const r = c.body(lim);
      if (r.atEnd()) badField("event.type", "present");
      const msg: EventMessage = { kind: "event", type: asString(r.value(), "event.type") };
      if (!r.atEnd()) {
        const player = r.value();
        if (player !== null) msg.player = asString(player, "event.player");
        if (!r.atEnd()) msg.data = r.value();
      }
      endBody(r);
      return msg;
    }
    case FRAME_KINDS.game_over: {
      const r = c.body(lim);
      if (r.atEnd()) badField("game_over.outcome", "present");
      const outcome = readOutcome(r.value(), "game_over.outcome");
      endBody(r);
      return { kind: "game_over", outcome };
    }
    case FRAME_KINDS.pong: {
      const clientTime = c.varint();
      const serverTime = c.varint();
      c.end();
      return { kind: "pong", clientTime, serverTime };
    }
    case FRAME_KINDS.error:
      return { kind: "error", ...readCodeMessage(c.body(lim), "error") };
    default:
      throw new ProtocolError(
        "unknown_kind",
        `0x${frame[0].toString(16).padStart(2, "0")} is not a server message kind`,
      );
  }
}

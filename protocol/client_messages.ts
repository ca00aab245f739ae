/**
 * Client → server frames: `join`, `action`, `ping`, `leave`.
 *
 * @module
 */
import { ProtocolError } from "./errors.ts";
import {
  asArray,
  asBoolean,
  asMap,
  asString,
  asUint,
  badField,
  checkFrame,
  endBody,
  FRAME_KINDS,
  FrameCursor,
  startFrame,
} from "./frame.ts";
import { type CborReader, LimitExceededError, StringTooLongError } from "./cbor_reader.ts";
import { frameBytes } from "./slab.ts";
import { type DecodeLimits, DEFAULT_INBOUND_LIMITS, resolveLimits } from "./limits.ts";
import {
  type ActionMessage,
  type ClientMessage,
  type JoinMessage,
  type JoinMode,
  type PingMessage,
  PROTOCOL_VERSION,
  type Value,
} from "./types.ts";
import { acquireWriter, type CborWriter, releaseWriter } from "./cbor_writer.ts";

/** Join modes by their wire number. */
const JOIN_MODES: readonly JoinMode[] = ["join", "create", "join_or_create"];

const JOIN_KEY = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Whether `value` is a well-formed join key (`JoinMessage.key`): 16 to 64 characters of
 * `[A-Za-z0-9_-]`.
 *
 * @example
 * ```ts
 * import { isJoinKey } from "./client_messages.ts";
 * console.log(isJoinKey("Jk3-x_9QvM2pLr7TzA0bWc"), isJoinKey("short")); // true false
 * ```
 */
export function isJoinKey(value: unknown): value is string {
  return typeof value === "string" && JOIN_KEY.test(value);
}

const JOIN_KEY_WANT = "16 to 64 characters of [A-Za-z0-9_-]";

function asJoinKey(v: unknown, field: string): string {
  if (!isJoinKey(v)) badField(field, JOIN_KEY_WANT);
  return v;
}

function writeJoinBody(w: CborWriter, msg: JoinMessage): void {
  const mode = JOIN_MODES.indexOf(msg.mode);
  if (mode < 0) badField("join.mode", `one of ${JOIN_MODES.join(", ")}`);
  let n = 1;
  if (msg.room !== undefined) n++;
  if (msg.game !== undefined) n++;
  // null is no options (as the server reads it): nothing to send.
  const options = msg.options ?? undefined;
  if (options !== undefined) n++;
  if (msg.name !== undefined) n++;
  if (msg.token !== undefined) n++;
  if (msg.resume !== undefined) n++;
  if (msg.spectator !== undefined) n++;
  if (msg.private !== undefined) n++;
  if (msg.key !== undefined) n++;
  w.head(5, n);
  w.text("m");
  w.uint(mode);
  if (msg.room !== undefined) {
    w.text("r");
    w.text(asString(msg.room, "join.room"));
  }
  if (msg.game !== undefined) {
    w.text("g");
    w.text(asString(msg.game, "join.game"));
  }
  if (options !== undefined) {
    w.text("o");
    w.value(asMap(options, "join.options"), 1);
  }
  if (msg.name !== undefined) {
    w.text("n");
    w.text(asString(msg.name, "join.name"));
  }
  if (msg.token !== undefined) {
    w.text("t");
    w.text(asString(msg.token, "join.token"));
  }
  if (msg.resume !== undefined) {
    const resume = asMap(msg.resume, "join.resume");
    w.text("s");
    w.head(4, 2);
    w.text(asString(resume.session, "join.resume.session"));
    w.uint(asUint(resume.seq, "join.resume.seq"));
  }
  if (msg.spectator !== undefined) {
    w.text("w");
    w.value(asBoolean(msg.spectator, "join.spectator"));
  }
  if (msg.private !== undefined) {
    w.text("p");
    w.value(asBoolean(msg.private, "join.private"));
  }
  if (msg.key !== undefined) {
    w.text("k");
    w.text(asJoinKey(msg.key, "join.key"));
  }
}

/**
 * Encodes a client message as one binary WebSocket frame. Throws {@linkcode ProtocolError}
 * (`bad_field`, `forbidden_key`, `unknown_kind`) for a message the decoder would refuse.
 * Small frames are views into a shared slab: send the view itself (`WebSocket.send` accepts
 * it), or copy it; never send or keep its `.buffer`.
 *
 * @example
 * ```ts
 * import { encodeClientMessage } from "./client_messages.ts";
 * const frame = encodeClientMessage({ kind: "action", seq: 7, name: 0, payload: { dx: 1 } });
 * console.log(frame); // 02 07 00 a1 62 64 78 01
 * ```
 */
export function encodeClientMessage(msg: ClientMessage): Uint8Array {
  if (msg.kind === "leave") {
    const frame = frameBytes(1);
    frame[0] = FRAME_KINDS.leave;
    return frame;
  }
  const w = acquireWriter();
  try {
    writeClientMessage(w, msg);
    return w.finishFrame();
  } finally {
    releaseWriter(w);
  }
}

function writeClientMessage(w: CborWriter, msg: ClientMessage): void {
  switch (msg.kind) {
    case "join":
      startFrame(w, FRAME_KINDS.join, [msg.version], ["join.version"]);
      writeJoinBody(w, msg);
      return;
    case "action":
      startFrame(w, FRAME_KINDS.action, [msg.seq], ["action.seq"]);
      if (typeof msg.name === "string") w.text(msg.name);
      else w.uint(asUint(msg.name, "action.name"));
      // A null payload is left out: the common "no arguments" action costs nothing.
      if (msg.payload !== null) {
        if (msg.payload === undefined) badField("action.payload", "a Value");
        w.value(msg.payload);
      }
      return;
    case "ping":
      startFrame(w, FRAME_KINDS.ping, [msg.time], ["ping.time"]);
      return;
    default:
      throw new ProtocolError(
        "unknown_kind",
        `not a client message kind: ${(msg as { kind: unknown }).kind}`,
      );
  }
}

function readJoin(c: FrameCursor, limits: Required<DecodeLimits>): JoinMessage {
  const version = c.varint();
  // Checked before the body: another version may lay its body out differently.
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      "unsupported_version",
      `this server speaks protocol version ${PROTOCOL_VERSION}, not ${version}`,
    );
  }
  const r = c.body(limits);
  const body = readJoinBody(r);
  endBody(r);
  const mode = body.m === undefined ? undefined : JOIN_MODES[asUint(body.m, "join.mode (m)")];
  if (mode === undefined) badField("join.mode (m)", JOIN_MODE_WANT);
  const msg: JoinMessage = { kind: "join", version, mode };
  if (body.r !== undefined) msg.room = asString(body.r, "join.room (r)");
  if (body.g !== undefined) msg.game = asString(body.g, "join.game (g)");
  // null is no options, as over HTTP: the game's defaults.
  if (body.o !== undefined && body.o !== null) msg.options = asMap(body.o, "join.options (o)");
  if (body.n !== undefined) msg.name = asString(body.n, "join.name (n)");
  if (body.t !== undefined) msg.token = asString(body.t, "join.token (t)");
  if (body.s !== undefined) {
    const resume = asArray(body.s, "join.resume (s)");
    if (resume.length !== 2) badField("join.resume (s)", "[session, seq]");
    msg.resume = {
      session: asString(resume[0], "join.resume.session"),
      seq: asUint(resume[1], "join.resume.seq"),
    };
  }
  if (body.w !== undefined) msg.spectator = asBoolean(body.w, "join.spectator (w)");
  if (body.p !== undefined) msg.private = asBoolean(body.p, "join.private (p)");
  if (body.k !== undefined) msg.key = asJoinKey(body.k, "join.key (k)");
  return msg;
}

const JOIN_MODE_WANT = "0 (join), 1 (create) or 2 (join_or_create)";
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The join body: one map, read pair by pair so that a string over `maxStringBytes` (refused
 * before it is read, for memory's sake) is `bad_field` naming its field and the limit rather
 * than a `bad_cbor` that names neither. Every other rule of the CBOR reader applies as for any
 * value.
 */
function readJoinBody(r: CborReader): { [key: string]: Value } {
  const n = r.mapHead(0, "join body");
  const body: { [key: string]: Value } = {};
  for (let i = 0; i < n; i++) {
    const key = r.key();
    if (hasOwn.call(body, key)) {
      throw new ProtocolError("bad_cbor", `duplicate map key ${JSON.stringify(key)}`);
    }
    try {
      body[key] = r.value(1);
    } catch (error) {
      if (error instanceof StringTooLongError) joinStringTooLong(key, error);
      throw error;
    }
  }
  return body;
}

/**
 * How a `bad_field` names each join field, and what a string too long for the decoder there is
 * told the field must be: `text` for a text field, `nested` where strings sit inside the value,
 * else the field's own rule.
 */
const JOIN_FIELDS: Readonly<Record<string, [name: string, want: string]>> = {
  r: ["join.room (r)", "text"],
  g: ["join.game (g)", "text"],
  n: ["join.name (n)", "text"],
  t: ["join.token (t)", "text"],
  o: ["join.options (o)", "nested"],
  s: ["join.resume (s)", "nested"],
  k: ["join.key (k)", JOIN_KEY_WANT],
  m: ["join.mode (m)", JOIN_MODE_WANT],
  w: ["join.spectator (w)", "a boolean"],
  p: ["join.private (p)", "a boolean"],
};

/** `bad_field` for a join field holding a string over the decoder's limit (unknown keys: as is). */
function joinStringTooLong(key: string, error: StringTooLongError): void {
  if (!hasOwn.call(JOIN_FIELDS, key)) return;
  const [name, want] = JOIN_FIELDS[key];
  const { limit, bytes } = error;
  if (want === "text") badField(name, `a string of at most ${limit} bytes (UTF-8), not ${bytes}`);
  if (want === "nested") {
    badField(name, `free of strings over ${limit} bytes (UTF-8); one has ${bytes}`);
  }
  badField(name, want);
}

/** The codes of an {@linkcode ActionPayloadError}. */
type ActionRefusal = "bad_payload" | "frame_too_large" | "unknown_action";

/**
 * An `action` frame that is well-formed but too large: its frame over `maxFrameBytes`
 * (`frame_too_large`), its payload over a decode limit (a string, the item count or the
 * nesting depth: `bad_payload`), or its name longer than the string limit (`unknown_action`).
 * Unlike a broken frame, it costs the sender only that action,
 * refused under its `seq`, not the connection.
 *
 * @example
 * ```ts
 * import { ActionPayloadError, decodeClientMessage, encodeClientMessage } from "./mod.ts";
 * const frame = encodeClientMessage({ kind: "action", seq: 7, name: "say", payload: "x".repeat(9000) });
 * try {
 *   decodeClientMessage(frame);
 * } catch (error) {
 *   if (error instanceof ActionPayloadError) console.log(error.seq, error.code); // 7 "bad_payload"
 * }
 * ```
 */
export class ActionPayloadError extends ProtocolError {
  /** Creates the refusal of action `seq`. */
  constructor(readonly seq: number, code: ActionRefusal, message: string) {
    super(code, message);
  }
}

/**
 * The next value of an action's body. One over a decode limit refuses only that action, as
 * `refusal` says (null: the frame's error after all); a broken one is the frame's error.
 */
function actionPart(
  r: CborReader,
  seq: number,
  refusal: (error: LimitExceededError) => [ActionRefusal, string] | null,
): Value {
  try {
    return r.value();
  } catch (error) {
    const refused = error instanceof LimitExceededError ? refusal(error) : null;
    if (!refused) throw error;
    throw new ActionPayloadError(seq, ...refused);
  }
}

function readAction(c: FrameCursor, limits: Required<DecodeLimits>): ActionMessage {
  const seq = c.varint();
  const r = c.body(limits);
  if (r.atEnd()) badField("action.name", "present");
  // No game has an action of a name that long: refused as any unknown one.
  const name = actionPart(r, seq, (error) =>
    error instanceof StringTooLongError
      ? [
        "unknown_action",
        `This action's name is ${error.bytes} bytes long; names are at most ${error.limit}.`,
      ]
      : null);
  if (typeof name !== "string" && !(Number.isSafeInteger(name) && (name as number) >= 0)) {
    badField("action.name", "an action name (text) or index (an integer in [0, 2^53 - 1])");
  }
  const payload = r.atEnd() ? null : actionPart(r, seq, (error) => [
    "bad_payload",
    `The payload could not be read: ${error.message}. Payloads are limited to strings of ` +
    `${limits.maxStringBytes} bytes (UTF-8), ${limits.maxItems} items and nesting ` +
    `${limits.maxDepth} deep.`,
  ]);
  endBody(r);
  return { kind: "action", seq, name: name as string | number, payload };
}

/**
 * Decodes one frame from a client. Throws only {@linkcode ProtocolError}; `limits` default to
 * {@linkcode DEFAULT_INBOUND_LIMITS}. A `join` whose header version is not
 * {@linkcode PROTOCOL_VERSION} throws `unsupported_version` before its body is read.
 *
 * @example
 * ```ts
 * import { decodeClientMessage } from "./client_messages.ts";
 * console.log(decodeClientMessage(new Uint8Array([0x03, 0x2a]))); // { kind: "ping", time: 42 }
 * ```
 */
export function decodeClientMessage(frame: Uint8Array, limits?: DecodeLimits): ClientMessage {
  const lim = resolveLimits(limits, DEFAULT_INBOUND_LIMITS);
  if (frame?.[0] === FRAME_KINDS.action && frame.length > lim.maxFrameBytes) {
    throw new ActionPayloadError(
      new FrameCursor(frame).varint(),
      "frame_too_large",
      `This action's frame is ${frame.length} bytes; frames are limited to ${lim.maxFrameBytes}.`,
    );
  }
  checkFrame(frame, lim);
  const c = new FrameCursor(frame);
  switch (frame[0]) {
    case FRAME_KINDS.join:
      return readJoin(c, lim);
    case FRAME_KINDS.action:
      return readAction(c, lim);
    case FRAME_KINDS.ping: {
      const msg: PingMessage = { kind: "ping", time: c.varint() };
      c.end();
      return msg;
    }
    case FRAME_KINDS.leave:
      c.end();
      return { kind: "leave" };
    default:
      throw new ProtocolError(
        "unknown_kind",
        `0x${frame[0].toString(16).padStart(2, "0")} is not a client message kind`,
      );
  }
}

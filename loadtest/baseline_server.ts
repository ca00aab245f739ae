/**
 * The baseline: the least a Deno server can do for the arena workload. Raw `Deno.serve` and
 * `Deno.upgradeWebSocket`, rooms as arrays, each move relayed to the other players of its room
 * in the framing of `baseline_protocol.ts`: no validation, no state, no deltas, no KV. It is
 * the runtime's physical limit that Arbiter is measured against.
 *
 * With `tickMs > 0` moves are batched per tick like a game loop would (one frame per player
 * per tick), so latency compares fairly with a ticking game; with 0 each move goes out at once.
 *
 * Run it alone: `PORT=8100 TICK_MS=0 deno run -A loadtest/baseline_server.ts`.
 *
 * @module
 */
import { listen } from "../server/listen.ts";
import { ENTRY_BYTES, JOIN_BYTES, MOVE_BYTES } from "./baseline_protocol.ts";

/** Options of {@linkcode startBaselineServer}. */
export interface BaselineOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  hostname?: string;
  /** Batch interval in ms; 0 relays every move immediately. */
  tickMs?: number;
  /**
   * Set `TCP_NODELAY` on accepted sockets. `Deno.serve` cannot (it leaves Nagle's algorithm
   * on), so this serves through `Deno.listen` + `setNoDelay` + the deprecated
   * `Deno.serveHttp`, to show what Nagle costs.
   */
  noDelay?: boolean;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running baseline server. */
export interface BaselineServer {
  port: number;
  /** `ws://host:port/ws` */
  wsUrl: string;
  /** Closes every socket and stops listening. */
  shutdown(): Promise<void>;
}

interface Member {
  socket: WebSocket;
  slot: number;
  /** Highest sequence applied (sent back as the ack). */
  ack: number;
  /** Ack not yet sent (tick mode). */
  ackDirty: boolean;
}

interface Room {
  members: Member[];
  /** Entries waiting for the next tick: `[slot, dx, dy]` each. */
  pending: Uint8Array;
  pendingBytes: number;
  dirty: boolean;
}

/**
 * Starts the baseline relay and resolves once it listens.
 *
 * @example
 * ```ts ignore
 * import { startBaselineServer } from "./baseline_server.ts";
 * const server = await startBaselineServer({ port: 0, tickMs: 16 });
 * console.log(server.wsUrl);
 * await server.shutdown();
 * ```
 */
export function startBaselineServer(options: BaselineOptions = {}): Promise<BaselineServer> {
  const tickMs = options.tickMs ?? 0;
  const rooms = new Map<number, Room>();
  const dirtyRooms = new Set<Room>();
  const sockets = new Set<WebSocket>();

  const flush = () => {
    for (const room of dirtyRooms) {
      for (const member of room.members) {
        if (member.socket.readyState !== WebSocket.OPEN) continue;
        // Everything pending except this member's own entries.
        let own = 0;
        for (let i = 0; i < room.pendingBytes; i += ENTRY_BYTES) {
          if (room.pending[i] === member.slot) own++;
        }
        const entries = room.pendingBytes / ENTRY_BYTES - own;
        if (entries === 0 && !member.ackDirty) continue;
        const head = member.ackDirty ? 4 : 0;
        const frame = new Uint8Array(head + entries * ENTRY_BYTES);
        if (head) writeU32(frame, 0, member.ack);
        let at = head;
        for (let i = 0; i < room.pendingBytes; i += ENTRY_BYTES) {
          if (room.pending[i] === member.slot) continue;
          frame[at] = room.pending[i];
          frame[at + 1] = room.pending[i + 1];
          frame[at + 2] = room.pending[i + 2];
          at += ENTRY_BYTES;
        }
        member.ackDirty = false;
        member.socket.send(frame);
      }
      room.pendingBytes = 0;
      room.dirty = false;
    }
    dirtyRooms.clear();
  };
  // Each tick is armed for its due time, as a game loop must (and Arbiter's tick lanes do):
  // `setInterval` reschedules from when it fired, so a 16 ms one ran every 17.1 ms (58.5 ticks
  // a second against Arbiter's 62.5), which is less work than the rooms it is compared with.
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (tickMs > 0) {
    const origin = performance.now();
    let ticks = 1; // the tick the first timer is for
    const tick = () => {
      flush();
      // After a stall, missed ticks are skipped, as Arbiter's are.
      ticks = Math.max(ticks + 1, Math.ceil((performance.now() - origin) / tickMs));
      timer = setTimeout(tick, origin + ticks * tickMs - performance.now());
    };
    timer = setTimeout(tick, tickMs);
  }

  const onMove = (room: Room, member: Member, data: Uint8Array) => {
    member.ack = (data[0] | (data[1] << 8) | (data[2] << 16)) + data[3] * 0x1000000;
    if (tickMs > 0) {
      if (room.pendingBytes + ENTRY_BYTES > room.pending.length) {
        const grown = new Uint8Array(room.pending.length * 2);
        grown.set(room.pending);
        room.pending = grown;
      }
      room.pending[room.pendingBytes] = member.slot;
      room.pending[room.pendingBytes + 1] = data[4];
      room.pending[room.pendingBytes + 2] = data[5];
      room.pendingBytes += ENTRY_BYTES;
      member.ackDirty = true;
      if (!room.dirty) {
        room.dirty = true;
        dirtyRooms.add(room);
      }
      return;
    }
    const ack = new Uint8Array(4);
    writeU32(ack, 0, member.ack);
    member.socket.send(ack);
    const relay = new Uint8Array([member.slot, data[4], data[5]]);
    for (const other of room.members) {
      if (other !== member && other.socket.readyState === WebSocket.OPEN) other.socket.send(relay);
    }
  };

  const handler = (request: Request): Response => {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("baseline relay: connect a WebSocket to /ws\n");
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.binaryType = "arraybuffer";
    sockets.add(socket);
    let room: Room | null = null;
    let member: Member | null = null;
    socket.onmessage = (event) => {
      const data = new Uint8Array(event.data as ArrayBuffer);
      if (room && member && data.length === MOVE_BYTES) {
        onMove(room, member, data);
      } else if (!room && data.length === JOIN_BYTES) {
        const number = (data[0] | (data[1] << 8) | (data[2] << 16)) + data[3] * 0x1000000;
        room = rooms.get(number) ?? null;
        if (!room) {
          room = { members: [], pending: new Uint8Array(96), pendingBytes: 0, dirty: false };
          rooms.set(number, room);
        }
        member = { socket, slot: room.members.length & 0xff, ack: 0, ackDirty: false };
        room.members.push(member);
        socket.send(new Uint8Array([member.slot, 0xff]));
      }
    };
    socket.onclose = () => {
      sockets.delete(socket);
      if (room && member) {
        const index = room.members.indexOf(member);
        if (index >= 0) room.members.splice(index, 1);
        if (room.members.length === 0) {
          for (const [number, r] of rooms) if (r === room) rooms.delete(number);
          dirtyRooms.delete(room);
        }
      }
    };
    return response;
  };

  // The same listener as Arbiter's own (`server/listen.ts`), so both compare like for like.
  const server = listen({
    port: options.port ?? 8100,
    hostname: options.hostname ?? "127.0.0.1",
    noDelay: options.noDelay ?? false,
  }, handler);
  options.onListen?.(server.addr);
  return Promise.resolve({
    port: server.addr.port,
    wsUrl: `ws://${server.addr.hostname}:${server.addr.port}/ws`,
    shutdown: async () => {
      clearTimeout(timer);
      for (const socket of sockets) {
        try {
          socket.close(1001, "shutdown");
        } catch {
          // Already closing.
        }
      }
      await server.shutdown();
    },
  });
}

function writeU32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

if (import.meta.main) {
  const server = await startBaselineServer({
    port: Number(Deno.env.get("PORT") ?? 8100),
    tickMs: Number(Deno.env.get("TICK_MS") ?? 0),
    // Like Arbiter (`TCP_NODELAY`, on by default): Nagle off unless NODELAY=0.
    noDelay: Deno.env.get("NODELAY") !== "0",
    onListen: (addr) =>
      console.log(`baseline relay listening on ws://${addr.hostname}:${addr.port}/ws`),
  });
  const stop = async () => {
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

/**
 * A TCP proxy in front of a test server, to lose connections the way a network does: `cut()`
 * drops every connection through it at once, with no WebSocket close frame either way (the
 * server and the client both see the TCP connection end), and while `offline` new connections
 * are accepted and dropped at once.
 *
 * @module
 */
import { closeQuietly } from "../../loadtest/conn_io.ts";

/** A running proxy; `close()` (or `await using`) when done. */
export class TcpProxy implements AsyncDisposable {
  /** While true, connections are dropped as soon as they arrive. */
  offline = false;
  /** Connections dropped by {@linkcode TcpProxy.cut} so far. */
  cuts = 0;
  readonly #listener: Deno.Listener;
  readonly #target: { hostname: string; port: number };
  readonly #pairs = new Set<Deno.Conn[]>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed = false;

  /** Listens on a free loopback port and forwards to `target`. */
  constructor(target: { hostname?: string; port: number }) {
    this.#target = { hostname: target.hostname ?? "127.0.0.1", port: target.port };
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** The proxy's port. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** `ws://127.0.0.1:<port>/ws`. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Connections open through the proxy now. */
  get open(): number {
    return this.#pairs.size;
  }

  /** Drops every open connection abruptly (both sides just see the TCP connection end). */
  cut(): void {
    for (const pair of [...this.#pairs]) {
      this.#drop(pair);
      this.cuts++;
    }
  }

  /** Stops listening, drops every connection and waits for the forwarding to stop. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#listener);
    await this.#accepting;
    for (const pair of [...this.#pairs]) this.#drop(pair);
    await Promise.all(this.#tasks);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // the listener was closed
      }
      if (this.offline || this.#closed) {
        closeQuietly(conn);
        continue;
      }
      this.#track(this.#forward(conn));
    }
  }

  async #forward(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(this.#target);
    } catch {
      closeQuietly(client);
      return;
    }
    const pair = [client, upstream];
    if (this.#closed || this.offline) return this.#drop(pair);
    this.#pairs.add(pair);
    await Promise.all(
      [pump(client, upstream), pump(upstream, client)].map((p) =>
        p.finally(() => this.#drop(pair))
      ),
    );
  }

  #drop(pair: Deno.Conn[]): void {
    this.#pairs.delete(pair);
    for (const conn of pair) closeQuietly(conn);
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }
}

/** Copies `from` to `to` until either side ends. */
async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return;
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // One side was closed (by the other pump or by a cut).
  }
}

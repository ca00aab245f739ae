/**
 * Instance-to-instance mail through Deno KV: the transport of the relay. Each instance has a
 * mailbox; a sender appends to it and bumps the mailbox's bell; the receiver watches the bell
 * (`kv.watch`: Deno Deploy, Workers of one process) and also polls it (`kv.watch` does not see
 * writes of other OS processes sharing one SQLite file).
 *
 * Messages from one sender to one receiver form a byte stream of length-prefixed CBOR values,
 * cut into entries of at most 60 KiB (KV values are at most 64 KiB): order is kept, and a
 * message of any size fits. Messages sent in the same turn of the event loop go out in one
 * commit, and a commit that fails is tried again (in order) until the sender stops. The receiver
 * deletes what it read, reads again at its next poll after a failed read, and entries of
 * instances that died expire.
 *
 * @module
 */
import { decodeValue, encodeValue, type Value } from "../protocol/mod.ts";
import type { ClusterKeys } from "./keys.ts";
import { retryLocked } from "../persistence/kv_retry.ts";
import { concatBytes } from "../protocol/bytes.ts";

/** A message: a CBOR map (see `messages.ts` for the relay's). */
export type Mail = { [key: string]: Value };

/** Options of {@linkcode KvMail}. */
export interface KvMailOptions {
  kv: Deno.Kv;
  keys: ClusterKeys;
  /** This instance's id: its mailbox. */
  instance: string;
  /** Called for every message, in the order each sender sent them. */
  onMail: (source: string, mail: Mail) => void;
  /** Poll the bell this often, ms (the fallback where `kv.watch` does not fire). */
  pollMs: number;
  /** Reports storage errors (the mail is retried or expires). */
  onError?: (error: unknown) => void;
}

// KV values are at most 64 KiB; commits at most 800 KiB and 1000 mutations.
const ENTRY_BYTES = 60 * 1024;
const ENTRIES_PER_COMMIT = 10;
/** Mail nobody reads (its receiver died) is deleted after this long, at the latest. */
const MAIL_TTL_MS = 10 * 60 * 1000;
/** Pauses before a failed mail write is tried again: doubling from the first to the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 2000;
// Mail is trusted (written by instances of this cluster) and may carry a large full state.
const MAIL_LIMITS = {
  maxFrameBytes: 256 * 1024 * 1024,
  maxDepth: 256,
  maxItems: 64 * 1024 * 1024,
  maxStringBytes: 256 * 1024 * 1024,
};

interface Outgoing {
  /** Length-prefixed messages not yet written. */
  queue: Uint8Array[];
  /** Entry number of the last entry written. */
  n: number;
  writing: Promise<void> | null;
  scheduled: boolean;
  /** Bytes of a failed write, from its first entry not stored on: they go out next. */
  unwritten: Uint8Array | null;
  /** Failed writes in a row (they are retried, after a growing pause). */
  failures: number;
}

/** What a failed write did not store: the error and the bytes from the first lost entry on. */
interface Unwritten {
  error: unknown;
  bytes: Uint8Array;
}

interface Incoming {
  /** Last entry number read. */
  n: number;
  /** Bytes of a message whose end is in a later entry. */
  rest: Uint8Array;
}

/**
 * One instance's side of the mail: sending to any mailbox, receiving from its own.
 *
 * @example
 * ```ts
 * import { ClusterKeys } from "./keys.ts";
 * import { KvMail } from "./mail.ts";
 * const kv = await Deno.openKv(":memory:");
 * const keys = new ClusterKeys();
 * const got: unknown[] = [];
 * const a = new KvMail({ kv, keys, instance: "a", pollMs: 20, onMail: () => {} });
 * const b = new KvMail({ kv, keys, instance: "b", pollMs: 20, onMail: (_s, m) => got.push(m) });
 * b.start();
 * a.send("b", { hello: "world" });
 * await a.flushed();
 * await b.check();
 * console.log(got); // [{ hello: "world" }]
 * await b.stop();
 * kv.close();
 * ```
 */
export class KvMail {
  readonly instance: string;
  readonly #kv: Deno.Kv;
  readonly #keys: ClusterKeys;
  readonly #onMail: KvMailOptions["onMail"];
  readonly #onError: (error: unknown) => void;
  readonly #pollMs: number;
  readonly #outgoing = new Map<string, Outgoing>();
  readonly #incoming = new Map<string, Incoming>();
  #bell: bigint | null = null;
  #draining: Promise<void> | null = null;
  #again = false;
  #poller: ReturnType<typeof setInterval> | null = null;
  #watch: ReadableStreamDefaultReader<Deno.KvEntryMaybe<unknown>[]> | null = null;
  #watching: Promise<void> | null = null;
  #stopped = false;
  /** Wakes the failed writes waiting to try again. */
  readonly #pauses = new Set<() => void>();

  /** Sends at once; receives after {@linkcode start}. */
  constructor(options: KvMailOptions) {
    this.instance = options.instance;
    this.#kv = options.kv;
    this.#keys = options.keys;
    this.#onMail = options.onMail;
    this.#onError = options.onError ?? (() => {});
    this.#pollMs = options.pollMs;
  }

  /** Queues `mail` for `target`; it is written with everything else sent this turn. */
  send(target: string, mail: Mail): void {
    const body = encodeValue(mail);
    const framed = new Uint8Array(4 + body.length);
    new DataView(framed.buffer).setUint32(0, body.length);
    framed.set(body, 4);
    let out = this.#outgoing.get(target);
    if (!out) {
      out = { queue: [], n: 0, writing: null, scheduled: false, unwritten: null, failures: 0 };
      this.#outgoing.set(target, out);
    }
    out.queue.push(framed);
    if (!out.scheduled && !out.writing) {
      out.scheduled = true;
      queueMicrotask(() => this.#flush(target, out));
    }
  }

  /**
   * Resolves once everything sent so far is written; a failed write is retried meanwhile, so
   * while KV is down this waits until {@linkcode stop} (which drops what still fails).
   */
  async flushed(): Promise<void> {
    for (;;) {
      const writing = [...this.#outgoing.values()]
        .filter((out) => out.writing || out.scheduled || out.queue.length > 0 || out.unwritten)
        .map((out) => out.writing ?? new Promise<void>((resolve) => setTimeout(resolve, 0)));
      if (writing.length === 0) return;
      await Promise.all(writing);
    }
  }

  #flush(target: string, out: Outgoing): void {
    out.scheduled = false;
    if (out.writing || (out.queue.length === 0 && !out.unwritten)) return;
    // What failed goes again cut as before, alone: a commit that failed but landed after all
    // is then only written twice, never read as a different entry under the same number.
    let bytes = out.unwritten;
    if (bytes) {
      out.unwritten = null;
    } else {
      bytes = out.queue.length === 1 ? out.queue[0] : concatBytes(out.queue);
      out.queue = [];
    }
    out.writing = this.#write(target, out, bytes).then((unwritten) => {
      if (unwritten) return this.#retryLater(out, unwritten);
      out.failures = 0;
    }).finally(() => {
      out.writing = null;
      if (out.queue.length > 0 || out.unwritten) this.#flush(target, out);
    });
  }

  /**
   * Writes `bytes` as the next entries to `target`; resolves with what a failed commit left
   * unwritten, if anything. Entries are numbered only once their commit succeeded: a failed
   * commit leaves no gap, which the receiver would take for expired mail and skip over.
   */
  async #write(target: string, out: Outgoing, bytes: Uint8Array): Promise<Unwritten | null> {
    const span = ENTRY_BYTES * ENTRIES_PER_COMMIT;
    for (let at = 0; at < bytes.length; at += span) {
      const atomic = this.#kv.atomic();
      let n = out.n;
      for (let entry = at; entry < Math.min(at + span, bytes.length); entry += ENTRY_BYTES) {
        atomic.set(
          this.#keys.mail(target, this.instance, ++n),
          bytes.subarray(entry, entry + ENTRY_BYTES),
          { expireIn: MAIL_TTL_MS },
        );
      }
      atomic.sum(this.#keys.bell(target), 1n);
      try {
        await retryLocked(() => atomic.commit());
      } catch (error) {
        return { error, bytes: bytes.subarray(at) };
      }
      out.n = n;
    }
    return null;
  }

  /**
   * Keeps what a failed write left to go out first, after a growing pause (cut short by
   * {@linkcode stop}, which makes one last try); once stopped, what still fails is dropped.
   * Either way the error is reported.
   */
  async #retryLater(out: Outgoing, unwritten: Unwritten): Promise<void> {
    this.#onError(unwritten.error);
    if (this.#stopped) {
      // Dropped: the numbers are skipped, so the receiver sees a gap and does not take the
      // next mail for the rest of a message cut short (even if the failed commit landed).
      out.n += Math.ceil(unwritten.bytes.length / ENTRY_BYTES);
      return;
    }
    out.unwritten = unwritten.bytes;
    out.failures++;
    const ms = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (out.failures - 1));
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#pauses.add(wake);
    });
  }

  /** Starts receiving: watches the bell and polls it every `pollMs`. */
  start(): void {
    if (this.#poller !== null || this.#stopped) return;
    this.#poller = setInterval(() => void this.#poll(), this.#pollMs);
    const stream = this.#kv.watch([this.#keys.bell(this.instance)]);
    const reader = stream.getReader();
    this.#watch = reader;
    this.#watching = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          this.#ring((value[0].value as Deno.KvU64 | null)?.value ?? 0n);
        }
      } catch (error) {
        if (!this.#stopped) this.#onError(error);
      }
    })();
    void this.#poll();
  }

  /** Reads the mailbox now (what the bell would do); resolves when it was read. */
  async check(): Promise<void> {
    this.#again = true;
    while (this.#draining) await this.#draining;
    if (this.#again) await this.#drain();
  }

  /** Stops receiving and waits for pending writes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#poller !== null) clearInterval(this.#poller);
    this.#poller = null;
    await this.#watch?.cancel().catch(() => {});
    await this.#watching;
    await this.#draining;
    for (const wake of [...this.#pauses]) wake();
    await this.flushed();
  }

  async #poll(): Promise<void> {
    try {
      const bell = await this.#kv.get<Deno.KvU64>(this.#keys.bell(this.instance));
      this.#ring(bell.value?.value ?? 0n);
    } catch (error) {
      if (!this.#stopped) this.#onError(error);
    }
  }

  #ring(bell: bigint): void {
    if (this.#stopped || bell === this.#bell) return;
    this.#bell = bell;
    this.#again = true;
    if (!this.#draining) {
      this.#draining = this.#drain().finally(() => this.#draining = null);
    }
  }

  async #drain(): Promise<void> {
    while (this.#again && !this.#stopped) {
      this.#again = false;
      try {
        await this.#readAll();
      } catch (error) {
        this.#onError(error);
        // Read again at the next poll, even if no new mail rings the bell meanwhile.
        this.#bell = null;
      }
    }
  }

  async #readAll(): Promise<void> {
    const read: Deno.KvKey[] = [];
    const prefix = this.#keys.mail(this.instance);
    for await (const entry of this.#kv.list<Uint8Array>({ prefix })) {
      read.push(entry.key);
      const source = entry.key[prefix.length] as string;
      const n = entry.key[prefix.length + 1] as number;
      let incoming = this.#incoming.get(source);
      if (!incoming) {
        incoming = { n: 0, rest: new Uint8Array(0) };
        this.#incoming.set(source, incoming);
      }
      // Read before but not deleted yet (a delete failed): skip.
      if (n <= incoming.n) continue;
      if (n !== incoming.n + 1) {
        // Entries expired before they were read: the partial message cannot be completed.
        incoming.rest = new Uint8Array(0);
      }
      incoming.n = n;
      this.#deliver(source, incoming, entry.value);
    }
    for (let i = 0; i < read.length; i += 500) {
      const atomic = this.#kv.atomic();
      for (const key of read.slice(i, i + 500)) atomic.delete(key);
      await retryLocked(() => atomic.commit());
    }
  }

  #deliver(source: string, incoming: Incoming, chunk: Uint8Array): void {
    const bytes = incoming.rest.length ? concatBytes([incoming.rest, chunk]) : chunk;
    let at = 0;
    while (bytes.length - at >= 4) {
      const length = new DataView(bytes.buffer, bytes.byteOffset + at).getUint32(0);
      if (bytes.length - at - 4 < length) break;
      const body = bytes.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      let mail: Mail;
      try {
        mail = decodeValue(body, MAIL_LIMITS) as Mail;
      } catch (error) {
        this.#onError(error);
        continue;
      }
      try {
        this.#onMail(source, mail);
      } catch (error) {
        this.#onError(error);
      }
    }
    incoming.rest = bytes.slice(at);
  }
}

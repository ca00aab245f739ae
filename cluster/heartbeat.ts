/**
 * Instance heartbeats: each instance keeps a record with a stored expiry in KV, renewed every
 * third of the lease time. An owner uses them to notice a relay that died (its players'
 * seats then wait for their resumes, as after any drop), and anyone to clean up after it.
 *
 * @module
 */
import type { ClusterKeys } from "./keys.ts";
import { retryLocked } from "../persistence/kv_retry.ts";

/**
 * What an instance says about itself.
 *
 * @example
 * ```ts
 * import type { InstanceRecord } from "./heartbeat.ts";
 * const record: InstanceRecord = { id: "i-1", startedAt: 0, expiresAt: 10_000 };
 * ```
 */
export interface InstanceRecord {
  id: string;
  startedAt: number;
  /** Dead after this, ms since the epoch, unless renewed. */
  expiresAt: number;
}

/** Options of {@linkcode Heartbeat}. */
export interface HeartbeatOptions {
  kv: Deno.Kv;
  keys: ClusterKeys;
  instance: string;
  ttlMs: number;
  onError?: (error: unknown) => void;
  now?: () => number;
}

/**
 * This instance's heartbeat, and a reader of everyone's.
 *
 * @example
 * ```ts
 * import { ClusterKeys } from "./keys.ts";
 * import { Heartbeat } from "./heartbeat.ts";
 * const kv = await Deno.openKv(":memory:");
 * const heartbeat = new Heartbeat({ kv, keys: new ClusterKeys(), instance: "a", ttlMs: 5000 });
 * await heartbeat.start();
 * console.log([...await heartbeat.alive(["a", "b"])]); // ["a"]
 * await heartbeat.stop();
 * kv.close();
 * ```
 */
export class Heartbeat {
  readonly #kv: Deno.Kv;
  readonly #keys: ClusterKeys;
  readonly #instance: string;
  readonly #ttlMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #now: () => number;
  readonly #startedAt: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  #beating: Promise<void> | null = null;

  /** Writes nothing until {@linkcode start}. */
  constructor(options: HeartbeatOptions) {
    this.#kv = options.kv;
    this.#keys = options.keys;
    this.#instance = options.instance;
    this.#ttlMs = options.ttlMs;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
  }

  /** Writes the heartbeat now and every third of the lease time. */
  async start(): Promise<void> {
    await this.#beat();
    this.#timer ??= setInterval(() => void this.#beat(), Math.max(10, this.#ttlMs / 3));
  }

  /** Stops and deletes the record (a graceful exit: nobody waits for it to expire). */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#beating;
    await retryLocked(() => this.#kv.delete(this.#keys.instance(this.#instance)));
  }

  #beat(): Promise<void> {
    return this.#beating ??= (async () => {
      const record: InstanceRecord = {
        id: this.#instance,
        startedAt: this.#startedAt,
        expiresAt: this.#now() + this.#ttlMs,
      };
      try {
        await retryLocked(() => this.#kv.set(this.#keys.instance(this.#instance), record));
      } catch (error) {
        this.#onError(error);
      }
    })().finally(() => this.#beating = null);
  }

  /** Which of `ids` have a live heartbeat. */
  async alive(ids: Iterable<string>): Promise<Set<string>> {
    const list = [...ids];
    const out = new Set<string>();
    const now = this.#now();
    for (let i = 0; i < list.length; i += 10) {
      const batch = list.slice(i, i + 10);
      const entries = await this.#kv.getMany<InstanceRecord[]>(
        batch.map((id) => this.#keys.instance(id)),
      );
      entries.forEach((entry, j) => {
        if (entry.value && entry.value.expiresAt > now) out.add(batch[j]);
      });
    }
    return out;
  }

  /** Every stored heartbeat, live or not. */
  async list(): Promise<InstanceRecord[]> {
    const out: InstanceRecord[] = [];
    for await (const entry of this.#kv.list<InstanceRecord>({ prefix: this.#keys.instances() })) {
      out.push(entry.value);
    }
    return out;
  }
}

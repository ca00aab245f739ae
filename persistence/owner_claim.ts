/**
 * One process per Deno KV when it runs alone (`ARBITER_CLUSTER=off`): a claim the owning
 * process writes once and keeps alive with a heartbeat, and which every room write checks.
 * A second process on the same KV refuses to start while the owner lives; one whose claim was
 * taken over (it stalled long enough to look dead) can no longer write a room, and is told.
 *
 * Key layout (under the store's prefix, default `["arbiter"]`):
 *
 * | key                  | value                         | written                        |
 * | -------------------- | ----------------------------- | ------------------------------ |
 * | `owner`              | {@linkcode OwnerRecord}       | once, by the process taking it |
 * | `owner_heartbeat`    | ms since the epoch            | every `heartbeatMs`, by it     |
 *
 * Room writes check the `owner` entry, which does not change while its process owns the KV;
 * the heartbeat lives apart so that its renewal never fails a room write that raced it.
 *
 * @module
 */

/** Who holds a KV: what the process that could not start is told. */
export interface OwnerRecord {
  /** Random id of the owning process. */
  instance: string;
  /** Its process id. */
  pid: number;
  /** When it took the KV, ms since the epoch. */
  since: number;
}

/** Options of {@linkcode OwnerClaim.take}. */
export interface OwnerClaimOptions {
  /** Key prefix, as the room store's (default `["arbiter"]`). */
  prefix?: Deno.KvKey;
  /** How often the owner renews its heartbeat, ms. Default 1 000. */
  heartbeatMs?: number;
  /**
   * How long a process that finds a claim waits for its heartbeat before it takes the claim
   * over as one whose process died without letting go, ms. Default 3 × `heartbeatMs`.
   */
  waitMs?: number;
  /** Called once if another process took the claim over (this one must stop writing). */
  onLost?: (holder: OwnerRecord | null) => void;
  /** Called when a claim is found held, before waiting for its heartbeat. */
  onWait?: (holder: OwnerRecord) => void;
  /** Called when a claim left by a process that did not stop cleanly is taken over. */
  onTakeOver?: (previous: OwnerRecord) => void;
}

/**
 * Another live process owns the KV: {@linkcode OwnerClaim.take} refused to start a second one.
 *
 * @example
 * ```ts
 * import { KvInUseError } from "./owner_claim.ts";
 * const error = new KvInUseError({ instance: "a1", pid: 4242, since: 0 });
 * console.log(error.holder.pid); // 4242
 * ```
 */
export class KvInUseError extends Error {
  /** Creates the error for the process that holds the KV. */
  constructor(readonly holder: OwnerRecord) {
    super(
      `Another Arbiter process (pid ${holder.pid}, running since ` +
        `${
          new Date(holder.since).toISOString()
        }) is using this Deno KV; with ARBITER_CLUSTER=off ` +
        "only one process may. Stop it, give this one its own ARBITER_KV_PATH, or run every " +
        "process with ARBITER_CLUSTER=kv.",
    );
    this.name = "KvInUseError";
  }
}

/**
 * This process's claim on a KV. Give {@linkcode OwnerClaim.fence} to the room store (its
 * `fence` option) and {@linkcode OwnerClaim.release} it at shutdown.
 *
 * @example
 * ```ts
 * import { OwnerClaim } from "./owner_claim.ts";
 * import { KvRoomStore } from "./kv_store.ts";
 * const kv = await Deno.openKv(":memory:");
 * const claim = await OwnerClaim.take(kv);
 * const store = new KvRoomStore(kv, { fence: claim.fence });
 * console.log(store instanceof KvRoomStore, claim.lost); // true false
 * await claim.release();
 * kv.close();
 * ```
 */
export class OwnerClaim {
  readonly #kv: Deno.Kv;
  readonly #key: Deno.KvKey;
  readonly #heartbeatKey: Deno.KvKey;
  readonly #versionstamp: string;
  readonly #onLost: OwnerClaimOptions["onLost"];
  #timer: ReturnType<typeof setInterval> | undefined;
  #lost = false;
  #released = false;
  #beating: Promise<void> | null = null;

  private constructor(
    kv: Deno.Kv,
    keys: [Deno.KvKey, Deno.KvKey],
    versionstamp: string,
    options: OwnerClaimOptions,
  ) {
    this.#kv = kv;
    [this.#key, this.#heartbeatKey] = keys;
    this.#versionstamp = versionstamp;
    this.#onLost = options.onLost;
    this.#timer = setInterval(() => {
      this.#beating ??= this.#beat().finally(() => this.#beating = null);
    }, options.heartbeatMs ?? 1000);
  }

  /**
   * Takes the KV for this process: at once when nobody holds it; after `waitMs` without a
   * heartbeat when its holder died without letting go. Rejects with {@linkcode KvInUseError}
   * while the holder's heartbeat goes on.
   */
  static async take(kv: Deno.Kv, options: OwnerClaimOptions = {}): Promise<OwnerClaim> {
    const prefix = options.prefix ?? ["arbiter"];
    const key = [...prefix, "owner"];
    const heartbeatKey = [...prefix, "owner_heartbeat"];
    const heartbeatMs = options.heartbeatMs ?? 1000;
    const waitMs = options.waitMs ?? 3 * heartbeatMs;
    const record: OwnerRecord = {
      instance: crypto.randomUUID(),
      pid: Deno.pid,
      since: Date.now(),
    };
    let [claim, beat] = await kv.getMany<[OwnerRecord, number]>([key, heartbeatKey]);
    if (claim.value !== null) {
      options.onWait?.(claim.value);
      // A live holder's heartbeat moves within `heartbeatMs`; give it a few chances.
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(heartbeatMs / 4, 250)));
        const [nowClaim, nowBeat] = await kv.getMany<[OwnerRecord, number]>([key, heartbeatKey]);
        if (nowClaim.versionstamp !== claim.versionstamp) {
          // Released (a clean stop), or taken by a process that started at the same time.
          if (nowClaim.value !== null) throw new KvInUseError(nowClaim.value);
          [claim, beat] = [nowClaim, nowBeat];
          break;
        }
        if (nowBeat.versionstamp !== beat.versionstamp) throw new KvInUseError(claim.value);
      }
      if (claim.value !== null) options.onTakeOver?.(claim.value);
    }
    const commit = await kv.atomic()
      .check(claim)
      .set(key, record)
      .set(heartbeatKey, Date.now())
      .commit();
    if (!commit.ok) {
      const holder = await kv.get<OwnerRecord>(key);
      throw new KvInUseError(holder.value ?? record);
    }
    return new OwnerClaim(kv, [key, heartbeatKey], commit.versionstamp, options);
  }

  /** Whether another process took the claim over. */
  get lost(): boolean {
    return this.#lost;
  }

  /** The room store's `fence` option: room writes commit only while the claim is this one's. */
  readonly fence = (_room: string): Deno.AtomicCheck => ({
    key: this.#key,
    versionstamp: this.#versionstamp,
  });

  async #beat(): Promise<void> {
    if (this.#lost || this.#released) return;
    let commit: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      commit = await this.#kv.atomic()
        .check(this.fence(""))
        .set(this.#heartbeatKey, Date.now())
        .commit();
    } catch {
      // KV unreachable for now: the next beat tries again (a claim not renewed for `waitMs`
      // may be taken over, and the check above then says so).
      return;
    }
    if (commit.ok || this.#lost || this.#released) return;
    this.#lost = true;
    clearInterval(this.#timer);
    const holder = await this.#kv.get<OwnerRecord>(this.#key).catch(() => null);
    this.#onLost?.(holder?.value ?? null);
  }

  /** Stops the heartbeat and lets the KV go (if still this process's), for the next one. */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    if (this.#lost || this.#released) return;
    this.#released = true;
    await this.#kv.atomic().check(this.fence("")).delete(this.#key).delete(this.#heartbeatKey)
      .commit();
  }
}

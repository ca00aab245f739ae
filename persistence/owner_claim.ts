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
 * | `owner_heartbeat`    | {@linkcode Heartbeat}         | every `heartbeatMs`, by it     |
 *
 * Room writes check the `owner` entry, which does not change while its process owns the KV;
 * the heartbeat lives apart so that its renewal never fails a room write that raced it. An
 * owner that is shutting down says so in its heartbeat: a process started meanwhile (a restart,
 * a rolling update) waits for it to let go rather than give up.
 *
 * @module
 */
import { retryLocked } from "./kv_retry.ts";

/** Who holds a KV: what the process that could not start is told. */
export interface OwnerRecord {
  /** Random id of the owning process. */
  instance: string;
  /** Its process id. */
  pid: number;
  /** When it took the KV, ms since the epoch. */
  since: number;
}

/** What the owner renews: when, and whether it is shutting down (and will let go soon). */
export interface Heartbeat {
  /** When it was written, ms since the epoch. */
  at: number;
  /** The owner is stopping: it saves its rooms and then releases the claim. */
  stopping?: boolean;
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
  /** How long it waits for an owner that is shutting down to let go, ms. Default 10 000. */
  stoppingWaitMs?: number;
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
 * console.log(error.holder?.pid); // 4242
 * ```
 */
export class KvInUseError extends Error {
  /** Creates the error for the process that holds the KV (null: unknown). */
  constructor(readonly holder: OwnerRecord | null) {
    super(
      `Another Arbiter process${describeHolder(holder)} is using this Deno KV; with ` +
        "ARBITER_CLUSTER=off only one process may. Stop it, give this one its own " +
        "ARBITER_KV_PATH, or run every process with ARBITER_CLUSTER=kv.",
    );
    this.name = "KvInUseError";
  }
}

/** ` (pid …, running since …)`, from a record that may have been written by anything. */
function describeHolder(holder: OwnerRecord | null): string {
  const pid = Number.isSafeInteger(holder?.pid) ? `pid ${holder!.pid}` : null;
  const since = typeof holder?.since === "number" && Number.isFinite(holder.since) &&
      Math.abs(holder.since) <= 8.64e15
    ? `running since ${new Date(holder.since).toISOString()}`
    : null;
  const parts = [pid, since].filter((p) => p !== null);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

/** A heartbeat as stored (a bare number from an older release counts as a plain one). */
function readHeartbeat(value: unknown): Heartbeat | null {
  if (typeof value === "number") return { at: value };
  if (typeof value === "object" && value !== null && typeof (value as Heartbeat).at === "number") {
    return value as Heartbeat;
  }
  return null;
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
  #stopping = false;
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
   * Takes the KV for this process: at once when nobody holds it; once it lets go when its
   * holder is shutting down (for `stoppingWaitMs` at most); after `waitMs` without a heartbeat
   * when its holder died without letting go. Rejects with {@linkcode KvInUseError} while the
   * holder's heartbeat goes on.
   */
  static async take(kv: Deno.Kv, options: OwnerClaimOptions = {}): Promise<OwnerClaim> {
    const prefix = options.prefix ?? ["arbiter"];
    const key = [...prefix, "owner"];
    const heartbeatKey = [...prefix, "owner_heartbeat"];
    const heartbeatMs = options.heartbeatMs ?? 1000;
    const waitMs = options.waitMs ?? 3 * heartbeatMs;
    const stoppingUntil = Date.now() + (options.stoppingWaitMs ?? 10_000);
    const record: OwnerRecord = {
      instance: crypto.randomUUID(),
      pid: Deno.pid,
      since: Date.now(),
    };
    let [claim, beat] = await kv.getMany<[OwnerRecord, unknown]>([key, heartbeatKey]);
    if (claim.value !== null) {
      options.onWait?.(claim.value);
      // A live holder's heartbeat moves within `heartbeatMs`; give it a few chances.
      let deadline = Date.now() + waitMs;
      while (Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(heartbeatMs / 4, 250)));
        const [nowClaim, nowBeat] = await kv.getMany<[OwnerRecord, unknown]>([key, heartbeatKey]);
        if (nowClaim.versionstamp !== claim.versionstamp) {
          // Released (a clean stop), or taken by a process that started at the same time.
          if (nowClaim.value !== null) throw new KvInUseError(nowClaim.value);
          [claim, beat] = [nowClaim, nowBeat];
          break;
        }
        if (nowBeat.versionstamp !== beat.versionstamp) {
          // Alive. One that is shutting down lets go within seconds: wait for that.
          if (!readHeartbeat(nowBeat.value)?.stopping || Date.now() > stoppingUntil) {
            throw new KvInUseError(claim.value);
          }
          beat = nowBeat;
          deadline = Date.now() + waitMs;
        }
      }
      if (claim.value !== null) options.onTakeOver?.(claim.value);
    }
    // Another process opening or writing the same file holds SQLite's lock for a moment.
    const commit = await retryLocked(() =>
      kv.atomic()
        .check(claim)
        .set(key, record)
        .set(heartbeatKey, { at: Date.now() } satisfies Heartbeat)
        .commit()
    );
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
      const beat: Heartbeat = { at: Date.now(), ...(this.#stopping ? { stopping: true } : {}) };
      commit = await this.#kv.atomic().check(this.fence("")).set(this.#heartbeatKey, beat).commit();
    } catch {
      // KV unreachable for now: the next beat tries again (a claim not renewed for `waitMs`
      // may be taken over, and the check above then says so).
      return;
    }
    if (commit.ok || this.#lost || this.#released) return;
    const holder = await this.#kv.get<OwnerRecord>(this.#key).catch(() => null);
    this.#loseTo(holder?.value ?? null);
  }

  /**
   * Reads the claim back rather than waiting for the next heartbeat to find out: true while it
   * is this process's. One taken over is reported as a failed heartbeat reports it (`onLost`,
   * once; {@linkcode OwnerClaim.lost} turns true). A server confirms its claim once its restore
   * is done: a restore can hold the process up long enough for another to take the KV over,
   * and the heartbeat that would notice may not have run since.
   *
   * @example
   * ```ts
   * import { OwnerClaim } from "./owner_claim.ts";
   * const kv = await Deno.openKv(":memory:");
   * const claim = await OwnerClaim.take(kv);
   * console.log(await claim.confirm()); // true
   * await kv.set(["arbiter", "owner"], { instance: "other", pid: 4242, since: Date.now() });
   * console.log(await claim.confirm(), claim.lost); // false true
   * await claim.release();
   * kv.close();
   * ```
   */
  async confirm(): Promise<boolean> {
    if (this.#lost) return false;
    const entry = await this.#kv.get<OwnerRecord>(this.#key);
    if (entry.versionstamp === this.#versionstamp) return true;
    this.#loseTo(entry.value);
    return false;
  }

  #loseTo(holder: OwnerRecord | null): void {
    if (this.#lost || this.#released) return;
    this.#lost = true;
    clearInterval(this.#timer);
    this.#onLost?.(holder);
  }

  /**
   * Says in the heartbeats from now on that this process is shutting down, so that one started
   * meanwhile waits for the {@linkcode OwnerClaim.release} instead of giving up. The claim and
   * its fence stay as they are: the last saves still go through.
   */
  stopping(): void {
    this.#stopping = true;
    this.#beating ??= this.#beat().finally(() => this.#beating = null);
  }

  /** Stops the heartbeat without letting go: the claim lapses after `waitMs`, as on a crash. */
  stopHeartbeat(): void {
    clearInterval(this.#timer);
  }

  /** Stops the heartbeat and lets the KV go (if still this process's), for the next one. */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    if (this.#lost || this.#released) return;
    this.#released = true;
    await retryLocked(() =>
      this.#kv.atomic().check(this.fence("")).delete(this.#key).delete(this.#heartbeatKey)
        .commit()
    );
  }
}

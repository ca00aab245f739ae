/**
 * A room's single input queue: every input (action, join, leave, drop, tick, timeout) runs
 * as one task, strictly one at a time, in arrival order.
 *
 * A task may return a promise (e.g. an action waiting for its journal append to be durable);
 * later tasks then wait for it. Tasks that return nothing run synchronously inside
 * {@linkcode Mailbox.post} when the queue is idle, so the common path costs no promise, no
 * microtask and no timer.
 *
 * Inputs may also be held ({@linkcode Mailbox.hold}) and handed back together later, as a
 * ticking room does with what arrives between two ticks; anything posted after them still
 * comes after them.
 *
 * @module
 */

/** One unit of work; a returned promise holds the queue until it settles. */
export type Task = () => void | PromiseLike<void>;

/**
 * What a held input is handed back to (see {@linkcode Mailbox.hold}). An object rather than
 * a callback, so holding an input allocates nothing per input.
 *
 * @example
 * ```ts
 * import { type HeldInputHandler, Mailbox } from "./mailbox.ts";
 * const handler: HeldInputHandler = {
 *   handleHeldInput: (input, arrivedAt) => console.log(input, "arrived at", arrivedAt),
 * };
 * const box = new Mailbox(console.error);
 * box.hold(handler, "frame", performance.now());
 * box.release(); // logs "frame arrived at …"
 * ```
 */
export interface HeldInputHandler {
  /** Takes back `input`, which arrived at `arrivedAt` (as given to `hold`). */
  handleHeldInput(input: unknown, arrivedAt: number): void;
}

/** A queued {@linkcode Mailbox.call}: dropped by a clear, it rejects its caller's promise. */
interface CallTask {
  (): void | PromiseLike<void>;
  cancel(error: unknown): void;
}

/**
 * A serial task queue.
 *
 * @example
 * ```ts
 * import { Mailbox } from "./mailbox.ts";
 * const box = new Mailbox((error) => console.error(error));
 * const order: number[] = [];
 * box.post(() => new Promise<void>((r) => setTimeout(() => (order.push(1), r()), 5)));
 * box.post(() => void order.push(2)); // waits for the first task
 * await box.idle();
 * console.log(order); // [1, 2]
 * ```
 */
export class Mailbox {
  #queue: Task[] = [];
  #head = 0;
  #running = false;
  #waiters: (() => void)[] = [];
  /** Held inputs, flat: handler, input, arrival time, handler, ... */
  #held: unknown[] = [];
  #releasing = false;
  readonly #onError: (error: unknown) => void;

  /** `onError` receives whatever a task throws or rejects with; the queue carries on. */
  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  /** Tasks waiting, not counting the one running. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** True while a task runs or waits on its promise. */
  get busy(): boolean {
    return this.#running;
  }

  /** Inputs held and not released yet (see {@linkcode Mailbox.hold}). */
  get held(): number {
    return this.#held.length / 3;
  }

  /**
   * Holds `input` until the next {@linkcode Mailbox.release}, or the next
   * {@linkcode Mailbox.post}, which releases everything held first: a held input never runs
   * after something posted later. Released inputs go back to their handlers in the order they
   * were held, each with its `arrivedAt`.
   */
  hold(handler: HeldInputHandler, input: unknown, arrivedAt: number): void {
    this.#held.push(handler, input, arrivedAt);
  }

  /**
   * Hands every held input back to its handler now, in the order held. A handler that
   * throws is reported to `onError` and the others still run; a handler may post (its tasks
   * queue in order), and a release from inside one is part of the release already running.
   */
  release(): void {
    if (this.#releasing || this.#held.length === 0) return;
    this.#releasing = true;
    const held = this.#held;
    try {
      // Indexed, not iterated: a handler's own holds join the end of this release.
      for (let i = 0; i < held.length; i += 3) {
        try {
          (held[i] as HeldInputHandler).handleHeldInput(held[i + 1], held[i + 2] as number);
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      held.length = 0;
      this.#releasing = false;
    }
  }

  /** Queues `task` after everything held; runs it at once when nothing else is queued or running. */
  post(task: Task): void {
    if (this.#held.length > 0) this.release();
    if (this.#running) {
      this.#queue.push(task);
      return;
    }
    // Idle: run it here without queueing it, then whatever it queued meanwhile.
    this.#running = true;
    if (!this.#run(task)) this.#drain();
  }

  /**
   * Queues `task` and resolves with its result (or rejects with its error) once it ran; rejects
   * with the error given to {@linkcode Mailbox.clear} if it is dropped before it starts.
   */
  call<T>(task: () => T | PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const run: CallTask = () => {
        let result: T | PromiseLike<T>;
        try {
          result = task();
        } catch (error) {
          reject(error);
          return;
        }
        if (isThenable(result)) return result.then(resolve, reject);
        resolve(result);
      };
      run.cancel = reject;
      this.post(run);
    });
  }

  /** Resolves once the queue is empty and no task is running (held inputs stay held). */
  idle(): Promise<void> {
    if (!this.#running && this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Drops every queued task that has not started, and every held input. The promises of
   * dropped {@linkcode Mailbox.call}s reject with `error`: their callers must not wait forever.
   */
  clear(error: unknown): void {
    this.#held.length = 0;
    const dropped = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    for (const task of dropped) (task as Partial<CallTask>).cancel?.(error);
  }

  #drain(): void {
    this.#running = true;
    while (this.#head < this.#queue.length) {
      const task = this.#queue[this.#head];
      this.#queue[this.#head++] = NOOP;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        // Compact now and then so a long-lived busy room does not keep a growing array.
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      if (this.#run(task)) return;
    }
    this.#queue.length = 0;
    this.#head = 0;
    this.#running = false;
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Runs one task; true when it returned a promise, after which the drain resumes. */
  #run(task: Task): boolean {
    let result: void | PromiseLike<void>;
    try {
      result = task();
    } catch (error) {
      this.#onError(error);
      return false;
    }
    if (!isThenable(result)) return false;
    result.then(
      () => this.#drain(),
      (error) => {
        this.#onError(error);
        this.#drain();
      },
    );
    return true;
  }
}

const NOOP: Task = () => {};

function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | undefined)?.then === "function";
}

/**
 * A room's single input queue: every input (action, join, leave, drop, tick, timeout) runs
 * as one task, strictly one at a time, in arrival order.
 *
 * A task may return a promise (e.g. an action waiting for its journal append to be durable);
 * later tasks then wait for it. Tasks that return nothing run synchronously inside
 * {@linkcode Mailbox.post} when the queue is idle, so the common path costs no promise, no
 * microtask and no timer.
 *
 * @module
 */

/** One unit of work; a returned promise holds the queue until it settles. */
export type Task = () => void | PromiseLike<void>;

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

  /** Queues `task`; runs it at once when nothing else is queued or running. */
  post(task: Task): void {
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

  /** Resolves once the queue is empty and no task is running. */
  idle(): Promise<void> {
    if (!this.#running && this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Drops every queued task that has not started. The promises of dropped
   * {@linkcode Mailbox.call}s reject with `error`: their callers must not wait forever.
   */
  clear(error: unknown): void {
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

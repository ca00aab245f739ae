/**
 * One-after-another execution per key: join-or-create for one game must fill the room the
 * first call created instead of each concurrent call creating its own.
 *
 * @module
 */

/**
 * Runs async tasks that share a key strictly one after another; tasks with other keys run
 * concurrently. A failed task does not stop the ones queued behind it.
 *
 * @example
 * ```ts
 * import { KeyedSerializer } from "./keyed_serializer.ts";
 * const serial = new KeyedSerializer();
 * const order: number[] = [];
 * const slow = () => new Promise<void>((resolve) => setTimeout(() => (order.push(1), resolve()), 10));
 * await Promise.all([serial.run("g", slow), serial.run("g", async () => void order.push(2))]);
 * console.log(order); // [1, 2]
 * ```
 */
export class KeyedSerializer {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Runs `task` once every earlier task with `key` has settled; resolves with its result. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => {});
    this.#tails.set(key, tail);
    // Forget the key once its queue drains, so the map holds only busy keys.
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return run;
  }
}

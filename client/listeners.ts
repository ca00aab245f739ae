/**
 * A minimal typed listener set: subscribe returns its own unsubscribe function.
 *
 * @module
 */

/**
 * A set of callbacks for one kind of notification.
 *
 * @example
 * ```ts
 * import { Listeners } from "./listeners.ts";
 * const onScore = new Listeners<number>();
 * const off = onScore.add((n) => console.log("score", n));
 * onScore.emit(3);
 * off();
 * ```
 */
export class Listeners<T> {
  #set = new Set<(value: T) => void>();

  /**
   * Adds a callback; returns a function that removes it. As with `addEventListener`, adding
   * the same function again keeps one entry, which either returned function removes.
   */
  add(callback: (value: T) => void): () => void {
    this.#set.add(callback);
    return () => this.#set.delete(callback);
  }

  /** Calls every callback; one that throws does not stop the others. */
  emit(value: T): void {
    for (const callback of [...this.#set]) {
      try {
        callback(value);
      } catch (error) {
        // A listener's bug must not break the connection's state machine.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Removes every callback. */
  clear(): void {
    this.#set.clear();
  }
}

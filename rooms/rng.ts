/**
 * The seeded random number generator games get as `ctx.random`. Game logic must draw its
 * randomness here (never `Math.random`) so that a room restored from a snapshot, or replayed
 * from its action log, reaches the same state.
 *
 * The generator is SFC32 (Chris Doty-Humphrey's Small Fast Counting generator): 128 bits of
 * state, passes PractRand, and its whole state is four 32-bit integers that fit a snapshot.
 *
 * @module
 */

/** The complete state of a {@linkcode Random}: four unsigned 32-bit integers. */
export type RandomState = [number, number, number, number];

/**
 * A deterministic random number generator.
 *
 * @example
 * ```ts
 * import { Random } from "./rng.ts";
 * const a = new Random("seed-1");
 * const b = Random.fromState(a.state());
 * console.log(a.next() === b.next()); // true
 * console.log(a.int(6) + 1); // a die roll, 1..6
 * console.log(a.shuffle([1, 2, 3, 4]));
 * ```
 */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Seeds the generator from any string or number (hashed to 128 bits). */
  constructor(seed: string | number) {
    const [a, b, c, d] = hashSeed(String(seed));
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    // The first outputs of a freshly seeded SFC32 are correlated with the seed: discard them.
    for (let i = 0; i < 12; i++) this.#step();
  }

  /** Rebuilds a generator exactly where {@linkcode Random.state} was taken. */
  static fromState(state: Readonly<RandomState>): Random {
    if (!Array.isArray(state) || state.length !== 4 || !state.every(isUint32)) {
      throw new TypeError("Random state must be four unsigned 32-bit integers.");
    }
    const random = new Random(0);
    [random.#a, random.#b, random.#c, random.#d] = state;
    return random;
  }

  /** A copy of the state, for snapshots. */
  state(): RandomState {
    return [this.#a, this.#b, this.#c, this.#d];
  }

  /** A float in `[0, 1)` with 32 bits of randomness. */
  next(): number {
    return this.#step() / 4294967296;
  }

  /** An integer in `[0, n)`; `n` must be a positive integer. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) {
      throw new RangeError(`random.int(n): n must be a positive integer, got ${n}`);
    }
    return Math.floor(this.next() * n);
  }

  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("random.pick: the array is empty");
    return items[this.int(items.length)];
  }

  /** A shuffled copy of `items` (Fisher–Yates); the input is left as it was. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }

  #step(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    // Keep the stored words unsigned so state() round-trips through JSON and fromState().
    this.#a >>>= 0;
    this.#b >>>= 0;
    this.#c >>>= 0;
    this.#d >>>= 0;
    return t >>> 0;
  }
}

function isUint32(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

// cyrb128: a fast non-cryptographic 128-bit string hash, good enough to spread seeds.
function hashSeed(seed: string): RandomState {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < seed.length; i++) {
    const k = seed.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/**
 * The live progress line of the load generator: on a terminal one line rewritten in place
 * (`\r`, cleared to the end), otherwise one plain line per update so logs stay readable.
 *
 * @module
 */

/** Where progress goes: a writer with an optional terminal check (stderr by default). */
export interface ProgressSink {
  writeSync(bytes: Uint8Array): number;
  isTerminal?(): boolean;
}

/**
 * Prints progress lines. Call {@linkcode Progress.update} as often as you like; a terminal is
 * redrawn at most every `minIntervalMs`, plain output gets one line per `plainIntervalMs`.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const lines: string[] = [];
 * const sink = { writeSync: (b: Uint8Array) => (lines.push(new TextDecoder().decode(b)), b.length) };
 * const progress = new Progress(sink, { plainIntervalMs: 0 });
 * progress.update("10 s  200 clients");
 * progress.done();
 * console.log(lines[0]); // "10 s  200 clients\n"
 * ```
 */
export class Progress {
  readonly #sink: ProgressSink;
  readonly #tty: boolean;
  readonly #minIntervalMs: number;
  readonly #plainIntervalMs: number;
  readonly #encoder = new TextEncoder();
  #last = -Infinity;
  #drawn = false;

  constructor(
    sink: ProgressSink = Deno.stderr,
    options: { tty?: boolean; minIntervalMs?: number; plainIntervalMs?: number } = {},
  ) {
    this.#sink = sink;
    this.#tty = options.tty ?? Boolean(sink.isTerminal?.());
    this.#minIntervalMs = options.minIntervalMs ?? 200;
    this.#plainIntervalMs = options.plainIntervalMs ?? 5000;
  }

  /** True when the line is redrawn in place. */
  get tty(): boolean {
    return this.#tty;
  }

  /** Shows `line` (drops it when the previous one is too recent, unless `force`). */
  update(line: string, force = false): void {
    const now = performance.now();
    const interval = this.#tty ? this.#minIntervalMs : this.#plainIntervalMs;
    if (!force && now - this.#last < interval) return;
    this.#last = now;
    if (this.#tty) {
      let width = 120;
      try {
        width = Deno.consoleSize().columns || width;
      } catch {
        // Not a console after all: keep the default width.
      }
      const text = line.length >= width ? line.slice(0, width - 1) : line;
      this.#write(`\r${text}\x1b[K`);
      this.#drawn = true;
    } else {
      this.#write(`${line}\n`);
    }
  }

  /** Prints a message on its own line without losing the progress line. */
  log(message: string): void {
    this.#write(this.#tty && this.#drawn ? `\r\x1b[K${message}\n` : `${message}\n`);
    this.#drawn = false;
  }

  /** Ends the in-place line (so the next output starts on a fresh line). */
  done(): void {
    if (this.#tty && this.#drawn) this.#write("\n");
    this.#drawn = false;
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += this.#sink.writeSync(bytes.subarray(written));
  }
}

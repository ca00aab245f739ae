/**
 * Holds SQLite's write lock on a Deno KV file from another process, as a second writer (or a
 * stuck disk) would: every commit of the server on that file fails with "database is locked"
 * until the lock is released.
 */
import assert from "node:assert/strict";

/** A held lock; releasing (or disposing of) it kills the process that holds it. */
export interface KvLock extends AsyncDisposable {
  release(): Promise<void>;
}

/** Takes the write lock on the KV file at `path`; resolves once it is held. */
export async function lockKvFile(path: string): Promise<KvLock> {
  const script = `import { DatabaseSync } from "node:sqlite";
const db = new DatabaseSync(${JSON.stringify(path)});
db.exec("BEGIN IMMEDIATE");
console.log("locked");
setTimeout(() => {}, 120_000);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  reader.releaseLock();
  assert.match(first, /locked/);
  let released: Promise<void> | null = null;
  const release = () =>
    released ??= (async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await child.stdout.cancel().catch(() => {});
      await child.status;
    })();
  return { release, [Symbol.asyncDispose]: release };
}

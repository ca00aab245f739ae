/**
 * The churn scenario of the abuse suite (1,000 rapid connect/disconnect cycles), run in a
 * process of its own with `--v8-flags=--expose-gc`: only there can it collect garbage before
 * reading the heap, so that "memory returns near its starting point" is measured, not guessed.
 * `test/abuse_fuzz_test.ts` starts it with {@linkcode runChurnProbe}; run directly, it prints
 * its {@linkcode ChurnResult} as the last line of stdout and fails with a stack on any check.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startAbuseServer } from "./support/abuse_harness.ts";
import { openRaw, rawUpgrade } from "./support/raw_socket.ts";
import { waitFor } from "./support/test_server.ts";

/** What the probe measured. */
export interface ChurnResult {
  cycles: number;
  /** Sessions the server saw open during the measured cycles. */
  sessions: number;
  /** V8 heap in use after a full collection: before, halfway through and after the cycles. */
  heapBeforeBytes: number;
  heapHalfwayBytes: number;
  heapAfterBytes: number;
  /** Rounds the bystander room played while the cycles ran. */
  bystanderRounds: number;
}

const CYCLES = 1000;
const BATCH = 20;
const MAX_CONNECTIONS_PER_IP = 64;
// Long enough for a join on a loaded machine, short enough to wait out (see below).
const JOIN_TIMEOUT_MS = 1000;
// Deno 2.7.13 and later keep a socket whose peer vanished (no close frame) until its next
// heartbeat check (`idleTimeout`), about 3.5 KB each: a short heartbeat, waited out below, keeps
// that from counting as a leak.
const HEARTBEAT_S = 2;

/**
 * Runs the probe in a child process and resolves with its result; rejects with the child's
 * output when it fails.
 *
 * @example
 * ```ts ignore
 * const result = await runChurnProbe();
 * console.log(result.heapAfterBytes - result.heapBeforeBytes);
 * ```
 */
export async function runChurnProbe(): Promise<ChurnResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      new URL(import.meta.url).pathname,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`churn probe failed:\n${stdout}\n${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** The heap after full collections (a few, so that what finalizers release goes too). */
async function collectedHeap(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run with --v8-flags=--expose-gc");
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  gc();
  return Deno.memoryUsage().heapUsed;
}

async function probe(): Promise<ChurnResult> {
  await using s = await startAbuseServer({
    MAX_CONNECTIONS_PER_IP: String(MAX_CONNECTIONS_PER_IP),
    GRACE_MS: "200",
    // Sessions of half-open upgrades end at the join timeout; keep it short to wait it out.
    JOIN_TIMEOUT_MS: String(JOIN_TIMEOUT_MS),
    HEARTBEAT_S: String(HEARTBEAT_S),
  });
  const url = s.t.server.wsUrl;
  const { metrics, manager } = s.t.server;
  const target = new URL(url);
  const halfOpen = async () => {
    // The upgrade request is sent, and the TCP connection closed before the answer.
    const conn = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
    const key = btoa("0123456789abcdef");
    await conn.write(new TextEncoder().encode(
      `GET /ws HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    conn.close();
  };
  const cycle = async (i: number) => {
    switch (i % 6) {
      case 0: // open and vanish
        (await openRaw(url)).abort();
        return;
      case 1: { // join a room, vanish (the seat waits out its grace window)
        const raw = await openRaw(url);
        await raw.join({ mode: "join_or_create", game: "tic_tac_toe" });
        raw.abort();
        return;
      }
      case 2: { // a polite close, answered in kind
        const raw = await openRaw(url);
        await raw.sendClose(1000);
        assert.equal((await raw.closedWithin(5000)).code, 1000);
        return;
      }
      case 3: { // join and leave
        const raw = await openRaw(url);
        await raw.join({ mode: "create", game: "connect_four" });
        await raw.send({ kind: "leave" });
        assert.equal((await raw.closedWithin(5000)).code, 1000);
        return;
      }
      case 4: // half-open upgrade
        await halfOpen();
        return;
      default: { // garbage, closed by the server with its documented code
        const raw = await openRaw(url);
        await raw.sendBinary(new Uint8Array([0xff]));
        const close = await raw.closedWithin(5000);
        assert.deepEqual(close.errors.map((e) => e.code), ["unknown_kind"]);
        assert.equal(close.code, 1002);
      }
    }
  };
  const churn = async (from: number, count: number) => {
    for (let i = from; i < from + count; i += BATCH) {
      await Promise.all(Array.from({ length: BATCH }, (_, j) => cycle(i + j)));
    }
    await waitFor(() => metrics.connections === 2, "every churned session closed", 10_000);
    await waitFor(() => manager.size === 1, "every churned room disposed", 10_000);
    // Half-open upgrades leave no open socket to wait for: their sessions end at the join
    // timeout, with nothing to observe from outside but the time. Sockets whose peer vanished
    // may be held by the runtime until their heartbeat check (one period; two with a margin).
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(JOIN_TIMEOUT_MS, 2 * HEARTBEAT_S * 1000) + 500)
    );
  };
  const checkLogsAndForget = () => {
    assert.deepEqual(s.errors(), []);
    // The harness keeps every log line; drop them so that they do not count as server memory.
    s.logs.length = 0;
  };

  // A room that keeps playing through the churn (its two sockets and its room count above).
  const bystander = await s.bystander();
  // Warm up so that the baseline includes compiled code, pools and caches.
  await churn(0, 120);
  checkLogsAndForget();
  const heapBeforeBytes = await collectedHeap();
  const sessionsBefore = metrics.connectionsTotal;
  // Two halves: what the first leaves behind may be one-off (caches, optimized code); what
  // the second adds on top of it grows with the cycles, so it is a leak.
  await churn(120, CYCLES / 2);
  checkLogsAndForget();
  const heapHalfwayBytes = await collectedHeap();
  await churn(120 + CYCLES / 2, CYCLES / 2);
  checkLogsAndForget();
  const heapAfterBytes = await collectedHeap();
  const sessions = metrics.connectionsTotal - sessionsBefore;
  assert.ok(
    sessions >= CYCLES * 0.8,
    `${sessions} of the cycles reached the server`,
  );
  const { rounds } = await bystander.stop();
  assert.ok(rounds >= 2, `the bystander room played ${rounds} rounds during the churn`);
  await waitFor(() => metrics.connections === 0 && manager.size === 0, "the bystanders gone");

  // Every per-IP slot came back: the full cap opens at once, one more is refused. (A slot is
  // freed when Deno reports the close, which can trail the session's end by a moment.)
  let full: Awaited<ReturnType<typeof rawUpgrade>>[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    full = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS_PER_IP }, () => rawUpgrade(url)),
    );
    if (full.every((r) => r.ok)) break;
    for (const r of full) if (r.ok) r.socket.abort();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(full.every((r) => r.ok), `${MAX_CONNECTIONS_PER_IP} connections after the churn`);
  const extra = await rawUpgrade(url);
  assert.equal(extra.ok ? 101 : extra.refused.status, 429);
  for (const r of full) if (r.ok) r.socket.abort();
  await s.finish();
  return {
    cycles: CYCLES,
    sessions,
    heapBeforeBytes,
    heapHalfwayBytes,
    heapAfterBytes,
    bystanderRounds: rounds,
  };
}

if (import.meta.main) console.log(JSON.stringify(await probe()));

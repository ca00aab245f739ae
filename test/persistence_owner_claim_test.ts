/**
 * One process per KV file when running alone: the owner claim refuses a second process while
 * the first lives, lets the next one in after a clean stop or once a dead owner's heartbeat
 * stopped, and fences the room writes of an owner whose claim was taken over.
 */
import assert from "node:assert/strict";
import { KvInUseError, OwnerClaim, type OwnerRecord } from "../persistence/mod.ts";
import { defineGame } from "../rooms/mod.ts";
import { TestMember } from "../rooms/testing.ts";
import { loadConfig, silentLogger, startServer } from "../server/mod.ts";
import { durableProcess } from "./support/durable_process.ts";
import { lockKvFile } from "./support/kv_lock.ts";
import { spawnServer } from "./support/server_process.ts";

const FAST = { heartbeatMs: 100 };

async function withKvFile(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(`${dir}/arbiter.kv`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A test with server processes on a KV file of its own (child processes outlive the test's
 * op and resource tracking, so its sanitizers are off).
 */
function serversTest(name: string, fn: (path: string) => Promise<void>): void {
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn: () => withKvFile(fn) });
}

Deno.test("owner claim: a second taker is refused while the owner's heartbeat goes on", async () => {
  await withKvFile(async (path) => {
    using first = await Deno.openKv(path);
    using second = await Deno.openKv(path);
    const claim = await OwnerClaim.take(first, FAST);
    const waited: OwnerRecord[] = [];
    const started = Date.now();
    await assert.rejects(
      OwnerClaim.take(second, { ...FAST, onWait: (holder) => waited.push(holder) }),
      (error) =>
        error instanceof KvInUseError && error.holder?.pid === Deno.pid &&
        /Another Arbiter process \(pid \d+, running since .*\) is using this Deno KV; with ARBITER_CLUSTER=off only one process may/
          .test(error.message),
    );
    assert.equal(waited.length, 1);
    assert.ok(Date.now() - started < 300, "refused at the first heartbeat seen, not after waitMs");
    // A clean stop lets the next process in at once.
    await claim.release();
    const next = await OwnerClaim.take(second, FAST);
    assert.equal(next.lost, false);
    await next.release();
  });
});

Deno.test("owner claim: the claim of a process that died is taken over once its heartbeat stopped", async () => {
  await withKvFile(async (path) => {
    using kv = await Deno.openKv(path);
    // What a killed process leaves: its claim and a last heartbeat, never renewed.
    const dead: OwnerRecord = { instance: "dead", pid: 999_999, since: 1 };
    await kv.set(["arbiter", "owner"], dead);
    await kv.set(["arbiter", "owner_heartbeat"], 1);
    const tookOver: OwnerRecord[] = [];
    const started = Date.now();
    const claim = await OwnerClaim.take(kv, {
      ...FAST,
      onTakeOver: (previous) => tookOver.push(previous),
    });
    assert.deepEqual(tookOver, [dead]);
    assert.ok(Date.now() - started >= 300, "waited the three heartbeats");
    assert.equal((await kv.get<OwnerRecord>(["arbiter", "owner"])).value?.pid, Deno.pid);
    await claim.release();
    assert.equal((await kv.get(["arbiter", "owner"])).value, null);
  });
});

Deno.test("owner claim: a process started while the owner shuts down waits for it to let go", async () => {
  await withKvFile(async (path) => {
    using first = await Deno.openKv(path);
    using second = await Deno.openKv(path);
    const claim = await OwnerClaim.take(first, FAST);
    claim.stopping(); // saving its rooms for a while yet, then it lets go
    const taking = OwnerClaim.take(second, FAST);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await claim.release();
    const next = await taking;
    assert.equal((await second.get<OwnerRecord>(["arbiter", "owner"])).value?.pid, Deno.pid);
    await next.release();
  });
});

Deno.test("owner claim: a record not of this release's making still gives a one-line refusal", () => {
  const odd = { instance: 1, pid: "x", since: "yesterday" } as unknown as OwnerRecord;
  assert.equal(
    new KvInUseError(odd).message,
    "Another Arbiter process is using this Deno KV; with ARBITER_CLUSTER=off only one process " +
      "may. Stop it, give this one its own ARBITER_KV_PATH, or run every process with " +
      "ARBITER_CLUSTER=kv.",
  );
  assert.match(
    new KvInUseError({ instance: "a", pid: 7, since: 8.64e15 + 1 }).message,
    /\(pid 7\)/,
  );
});

Deno.test("owner claim: an owner whose claim was taken over is told, and its fenced writes fail", async () => {
  await withKvFile(async (path) => {
    using mine = await Deno.openKv(path);
    using other = await Deno.openKv(path);
    const lost: (OwnerRecord | null)[] = [];
    const claim = await OwnerClaim.take(mine, { ...FAST, onLost: (holder) => lost.push(holder) });
    const write = (value: string) =>
      mine.atomic().check(claim.fence("r1")).set(["arbiter", "rooms", "r1"], value).commit();
    assert.equal((await write("before")).ok, true);
    // Another process took the KV (this one looked dead to it).
    const taker: OwnerRecord = { instance: "other", pid: 4242, since: Date.now() };
    await other.set(["arbiter", "owner"], taker);
    assert.equal((await write("after")).ok, false, "the fence holds at once");
    const deadline = Date.now() + 2000;
    while (lost.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(lost, [taker]);
    assert.equal(claim.lost, true);
    await claim.release(); // lets go of nothing: the claim is the other's
    assert.deepEqual((await other.get(["arbiter", "owner"])).value, taker);
    assert.equal((await other.get(["arbiter", "rooms", "r1"])).value, "before");
  });
});

serversTest(
  "owner claim: a second server on the same KV file does not start, and says why",
  async (path) => {
    const first = await spawnServer({ PORT: "0", ARBITER_KV_PATH: path });
    try {
      await assert.rejects(
        spawnServer({ PORT: "0", ARBITER_KV_PATH: path }),
        /exited \(1\) before it was ready:[^]*Another Arbiter process \(pid \d+, running since [^)]+\) is using this Deno KV/,
      );
    } finally {
      first.kill("SIGTERM");
      assert.equal((await first.status).code, 0);
    }
    // Stopped cleanly: the next one starts at once.
    const next = await spawnServer({ PORT: "0", ARBITER_KV_PATH: path });
    assert.ok(!next.lines.some((line) => line.includes("waiting for its heartbeat")));
    next.kill("SIGTERM");
    assert.equal((await next.status).code, 0);
  },
);

serversTest(
  "owner claim: a server whose KV another process took over stops by itself, with code 1",
  async (path) => {
    const server = await spawnServer({ PORT: "0", ARBITER_KV_PATH: path });
    using kv = await Deno.openKv(path);
    await kv.set(["arbiter", "owner"], { instance: "other", pid: 4242, since: Date.now() });
    const status = await server.status;
    assert.equal(status.code, 1);
    const log = server.lines.join("\n");
    assert.match(log, /another process took over this KV; stopping/);
    assert.match(log, /The server stopped by itself; the log above says why\./);
  },
);

/** What each replayed `step` does (nothing while the rooms are first played). */
let onReplayedStep: (() => void) | null = null;

/** A game in `log` mode whose actions the restore replays, through {@linkcode onReplayedStep}. */
const replayed = defineGame({
  name: "replayed",
  players: { min: 1, max: 1 },
  durability: "log",
  setup: () => ({ steps: 0 }),
  actions: {
    step: {
      apply(state) {
        state.steps++;
        onReplayedStep?.();
      },
    },
  },
});

serversTest(
  "owner claim: a server whose KV is taken over while it restores its rooms does not start",
  async (path) => {
    // Rooms with logged actions past their snapshots, as a crash leaves them.
    const ROOMS = 3;
    {
      using kv = await Deno.openKv(path);
      const before = await durableProcess(kv, { snapshotEveryActions: 1000 }, [replayed]);
      const seats = [];
      for (let i = 0; i < ROOMS; i++) {
        seats.push(
          await before.manager.join({ mode: "create", game: "replayed" }, new TestMember()),
        );
      }
      await before.durable.idle(); // each room's snapshot, taken when its seat was
      for (const seat of seats) {
        for (let seq = 1; seq <= 3; seq++) seat.act(seq, "step", null);
        await seat.room.idle(); // logged
      }
      await before.crash();
    }
    // While the first room replays, another process takes the KV over (to it, this one stalled
    // long enough to look dead), before the restore goes on. The heartbeat runs every second:
    // it does not run again before the restore is done.
    const taker: OwnerRecord = { instance: "other", pid: 4242, since: Date.now() };
    let tookOver = false;
    onReplayedStep = () => {
      if (tookOver) return;
      tookOver = true;
      const script = `const kv = await Deno.openKv(${JSON.stringify(path)});
        await kv.set(["arbiter", "owner"], ${JSON.stringify(taker)});`;
      const out = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--unstable-kv", script],
        stdout: "null",
        stderr: "piped",
      }).outputSync();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
    };
    try {
      await assert.rejects(
        startServer({
          config: loadConfig({ PORT: "0", ARBITER_KV_PATH: path }),
          games: [replayed],
          log: silentLogger,
        }),
        (error) => {
          assert.ok(error instanceof KvInUseError, String(error));
          assert.match(error.message, /Another Arbiter process \(pid 4242,/);
          return true;
        },
      );
    } finally {
      onReplayedStep = null;
    }
    assert.ok(tookOver, "the restore replayed a step");
    // It let go of nothing that was not its own, and wrote nothing over the rooms.
    using kv = await Deno.openKv(path);
    assert.deepEqual((await kv.get(["arbiter", "owner"])).value, taker);
    const after = await durableProcess(kv, {}, [replayed]);
    assert.equal(after.report.restored.length, ROOMS);
    for (const id of after.report.restored) {
      assert.equal((after.manager.get(id)!.state as { steps: number }).steps, 3);
    }
    await after.crash();
  },
);

Deno.test("owner claim: taking and releasing wait out another writer's lock on the file", async () => {
  await withKvFile(async (path) => {
    using kv = await Deno.openKv(path);
    await kv.set(["created"], true);
    // Another process writing the file (or opening it) holds SQLite's lock for a moment.
    const lock = await lockKvFile(path);
    const taking = OwnerClaim.take(kv, FAST);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await lock.release();
    const claim = await taking;
    assert.equal(claim.lost, false);
    assert.equal((await kv.get<OwnerRecord>(["arbiter", "owner"])).value?.pid, Deno.pid);
    const relock = await lockKvFile(path);
    const releasing = claim.release();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await relock.release();
    await releasing;
    assert.equal((await kv.get(["arbiter", "owner"])).value, null);
  });
});

import { deepEqual, equal, rejects } from "node:assert/strict";
import { Mailbox } from "../rooms/mailbox.ts";

Deno.test("synchronous tasks run inline, in order, including tasks posted by tasks", () => {
  const box = new Mailbox((e) => {
    throw e;
  });
  const order: string[] = [];
  box.post(() => {
    order.push("a");
    box.post(() => void order.push("c"));
    order.push("b");
  });
  order.push("after");
  deepEqual(order, ["a", "b", "c", "after"]);
  equal(box.busy, false);
});

Deno.test("an async task holds the queue until it settles", async () => {
  const box = new Mailbox(() => {});
  const order: string[] = [];
  let release!: () => void;
  box.post(() =>
    new Promise<void>((resolve) => {
      release = () => {
        order.push("first done");
        resolve();
      };
    })
  );
  box.post(() => void order.push("second"));
  equal(box.busy, true);
  equal(box.size, 1);
  deepEqual(order, []);
  release();
  await box.idle();
  deepEqual(order, ["first done", "second"]);
});

Deno.test("errors go to onError and the queue carries on", async () => {
  const errors: unknown[] = [];
  const box = new Mailbox((e) => errors.push(e));
  const order: number[] = [];
  box.post(() => {
    throw new Error("sync");
  });
  box.post(() => Promise.reject(new Error("async")));
  box.post(() => void order.push(3));
  await box.idle();
  deepEqual(order, [3]);
  deepEqual(errors.map((e) => (e as Error).message), ["sync", "async"]);
});

Deno.test("call resolves with the task's result or rejects with its error", async () => {
  const box = new Mailbox(() => {});
  equal(await box.call(() => 7), 7);
  equal(await box.call(() => Promise.resolve("x")), "x");
  await rejects(
    box.call(() => {
      throw new RangeError("no");
    }),
    RangeError,
  );
});

Deno.test("clear drops queued tasks", async () => {
  const box = new Mailbox(() => {});
  const order: number[] = [];
  let release!: () => void;
  box.post(() => new Promise<void>((r) => (release = r)));
  box.post(() => void order.push(1));
  box.clear(new Error("gone"));
  release();
  await box.idle();
  deepEqual(order, []);
});

Deno.test("clear rejects the calls it drops with its error, so no caller waits forever", async () => {
  const box = new Mailbox(() => {});
  let release!: () => void;
  const running = box.call(() => new Promise<string>((r) => (release = () => r("ran"))));
  const ran: string[] = [];
  const queued = box.call(() => void ran.push("queued"));
  const closed = new Error("closed");
  box.clear(closed);
  // Rejected at once, while the running task still holds the queue.
  await rejects(queued, (error) => error === closed);
  release();
  equal(await running, "ran", "the running call is not dropped");
  await box.idle();
  deepEqual(ran, []);
  equal(await box.call(() => 1), 1, "the box takes new work after a clear");
});

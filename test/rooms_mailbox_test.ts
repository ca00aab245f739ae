import { deepEqual, equal, rejects } from "node:assert/strict";
import { type HeldInputHandler, Mailbox } from "../rooms/mailbox.ts";

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

/** A handler that records what comes back to it, under `name`, into `order`. */
function recorder(name: string, order: string[]): HeldInputHandler {
  return {
    handleHeldInput: (input, arrivedAt) => void order.push(`${name}:${input}@${arrivedAt}`),
  };
}

Deno.test("held inputs come back on release in the order held, each with its arrival time", () => {
  const box = new Mailbox((e) => {
    throw e;
  });
  const order: string[] = [];
  const a = recorder("a", order);
  const b = recorder("b", order);
  box.hold(a, 1, 10);
  box.hold(b, 1, 11);
  box.hold(a, 2, 12);
  equal(box.held, 3);
  deepEqual(order, []);
  box.release();
  deepEqual(order, ["a:1@10", "b:1@11", "a:2@12"]);
  equal(box.held, 0);
  box.release(); // nothing left: nothing twice
  equal(order.length, 3);
});

Deno.test("a task posted after held inputs runs after them, and their handlers' tasks keep that order", () => {
  const box = new Mailbox((e) => {
    throw e;
  });
  const order: string[] = [];
  // Like a socket session: the held frame comes back and posts its action.
  const session: HeldInputHandler = {
    handleHeldInput: (input) => box.post(() => void order.push(`action ${input}`)),
  };
  box.hold(session, 1, 0);
  box.hold(session, 2, 0);
  box.post(() => void order.push("tick"));
  deepEqual(order, ["action 1", "action 2", "tick"]);
});

Deno.test("a handler that throws is reported and the others still come back; a nested release is the same release", () => {
  const errors: unknown[] = [];
  const box = new Mailbox((e) => errors.push(e));
  const order: string[] = [];
  box.hold(
    {
      handleHeldInput: () => {
        throw new Error("bad frame");
      },
    },
    "x",
    0,
  );
  box.hold({ handleHeldInput: () => (order.push("nested"), box.release()) }, "y", 0);
  box.hold(recorder("last", order), "z", 1);
  box.release();
  deepEqual(order, ["nested", "last:z@1"]);
  equal(errors.length, 1);
  equal((errors[0] as Error).message, "bad frame");
  equal(box.held, 0);
});

Deno.test("clear drops held inputs with the queued tasks", () => {
  const box = new Mailbox(() => {});
  const order: string[] = [];
  box.hold(recorder("a", order), 1, 0);
  box.clear(new Error("closed"));
  equal(box.held, 0);
  box.release();
  box.post(() => void order.push("after"));
  deepEqual(order, ["after"]);
});

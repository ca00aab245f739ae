/// <reference lib="dom" />
// End to end in a real browser: headless Chromium (Playwright) against a real server. Two
// pages find each other in the lobby and play tic-tac-toe to a win by clicking, connect four
// runs its turn clock out and a player resigns out of turn, the arena moves a player with the keyboard, survives a network drop
// (status goes reconnecting, then connected, and play continues), and the dashboard shows
// live numbers; the README's example page, served from another origin, imports `/client.js`
// and joins. Screenshots go to test/screenshots/ (git-ignored).
//
// Skipped (reported as ignored) when no Chromium is installed: .ci/setup_extras.sh installs
// Debian's `chromium`. (The DOM types are for the functions that run in the pages.)
import { deepEqual, equal, fail, match, ok } from "node:assert/strict";
import type { Browser, BrowserContext, Page, WebSocketRoute } from "playwright-core";
import { hasChromium, launchBrowser, screenshotPath } from "./support/browser.ts";
import { startTestServer, type TestServer, waitFor } from "./support/test_server.ts";

if (!hasChromium) {
  console.warn(
    "browser_e2e_test: skipped, no Chromium at /usr/bin/chromium (set CHROMIUM_PATH, or run " +
      ".ci/setup_extras.sh to install it)",
  );
}

/**
 * Registers a browser test against a fresh server; `base` is the server's URL without the
 * trailing slash. Skipped without Chromium.
 */
function browserTest(
  name: string,
  fn: (server: TestServer, base: string, t: Deno.TestContext) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: !hasChromium,
    // Playwright keeps a pipe to the browser and timers of its own while the browser runs; the
    // browser is closed in `finally`, which the sanitizers cannot see through.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      await using server = await startTestServer();
      await fn(server, server.server.url.href.replace(/\/$/, ""), t);
    },
  });
}

/** A fresh browser context (own storage) whose pages use `name` as the player name. */
async function player(
  browser: Browser,
  name: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 820 } });
  await context.addInitScript((n) => localStorage.setItem("arbiter.name", n), name);
  const page = await context.newPage();
  watchForErrors(page, name);
  return { context, page };
}

const pageErrors: string[] = [];

/** Collects uncaught errors and console errors: a page must produce none. */
function watchForErrors(page: Page, label: string): void {
  page.on("pageerror", (error) => pageErrors.push(`${label}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(`${label}: console: ${message.text()}`);
  });
}

/** Waits until the page's connection badge says `status`. */
async function waitForStatus(page: Page, status: string, timeout = 10_000): Promise<void> {
  await page.locator(`#status[data-status="${status}"]`).waitFor({ timeout });
}

/** The room id the page's address names. */
function roomOf(page: Page): string {
  const room = new URL(page.url()).searchParams.get("room");
  ok(room, `no room in ${page.url()}`);
  return room;
}

/**
 * Opens `path` (a game page, with its query) on the first page, which creates a room, then the
 * same page for that room on the second; resolves once both are connected.
 */
async function openPair(first: Page, second: Page, base: string, path: string): Promise<void> {
  await first.goto(`${base}${path}`);
  await waitForStatus(first, "connected");
  const url = new URL(`${base}${path}`);
  url.searchParams.set("room", roomOf(first));
  await second.goto(url.href);
  await waitForStatus(second, "connected");
}

/** The server position of this page's own player in the arena. */
async function arenaPosition(page: Page): Promise<{ x: number; y: number }> {
  const me = await page.locator("#field").getAttribute("data-me");
  ok(me, "the arena shows no position for this player");
  const [x, y] = me.split(",").map(Number);
  return { x, y };
}

/** Ann's p1 x as her page predicts it, as her mirror has it, and as Bob's mirror has it. */
async function settledX(ann: Page, bob: Page): Promise<number> {
  const serverX = (page: Page) =>
    page.evaluate(() =>
      (globalThis as unknown as { arbiterRoom: { state: { players: { p1: { x: number } } } } })
        .arbiterRoom.state.players.p1.x
    );
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [predicted, own, seen] = [
      (await arenaPosition(ann)).x,
      await serverX(ann),
      await serverX(bob),
    ];
    if (predicted === own && own === seen) return own;
    if (Date.now() > deadline) {
      fail(`p1.x never settled: predicted ${predicted}, Ann ${own}, Bob ${seen}`);
    }
    await ann.waitForTimeout(100);
  }
}

/**
 * Holds `key` until the player's coordinate on `axis` (0 = x, 1 = y) has moved at least
 * `distance` from `from`. Waiting on the position rather than a fixed time keeps the test
 * independent of how fast a loaded machine runs the page's 20 Hz send loop.
 */
async function holdUntilMoved(
  page: Page,
  key: string,
  axis: 0 | 1,
  from: number,
  distance = 50,
): Promise<void> {
  await page.keyboard.down(key);
  try {
    await page.waitForFunction(
      ([axis, from, distance]) =>
        Math.abs(
          Number(document.querySelector("#field")?.getAttribute("data-me")?.split(",")[axis]) -
            from,
        ) >= distance,
      [axis, from, distance],
      { timeout: 20_000 },
    );
  } finally {
    await page.keyboard.up(key);
  }
}

browserTest(
  "browser: lobby, tic-tac-toe to a win, connect four clock, arena with a network drop",
  async (server, base, t) => {
    await using browser = await launchBrowser();
    const ann = await player(browser, "Ann");
    const bob = await player(browser, "Bob");
    pageErrors.length = 0;

    await t.step("the lobby creates a room and lists it live for another player", async () => {
      await bob.page.goto(`${base}/`);
      await bob.page.locator("#game option[value=tic_tac_toe]").waitFor({ state: "attached" });
      await ann.page.goto(`${base}/`);
      equal(await ann.page.inputValue("#name"), "Ann");
      await ann.page.selectOption("#game", "tic_tac_toe");
      await ann.page.click("#create");
      await ann.page.waitForURL(/\/play\/tic_tac_toe\?room=/);
      await waitForStatus(ann.page, "connected");
      const room = roomOf(ann.page);
      // Bob's lobby was already open: the room appears by polling, with Ann seated.
      const row = bob.page.locator(`tr[data-room="${room}"]`, { hasText: "1 / 2" });
      await row.waitFor({ timeout: 5000 });
      // The heading counts the game's rooms from the list's total.
      await bob.page.locator('section[data-game="tic_tac_toe"] h3', { hasText: "(1 room)" })
        .waitFor();
      await bob.page.screenshot({ path: screenshotPath("lobby"), fullPage: true });
      await row.getByRole("link", { name: `Join room ${room}` }).click();
      await bob.page.waitForURL(new RegExp(`room=${room}`));
      await waitForStatus(bob.page, "connected");
    });

    await t.step("two pages play tic-tac-toe by clicking until Ann wins", async () => {
      const cell = (page: Page, i: number) => page.locator(`#board button[data-cell="${i}"]`);
      await ann.page.locator("#turn", { hasText: "Your turn" }).waitFor();
      await bob.page.locator("#turn", { hasText: "Ann to move" }).waitFor();
      // Out of turn: the server refuses and the page says why.
      await cell(bob.page, 4).click();
      await bob.page.locator("#message", { hasText: "It is not your turn." }).waitFor();
      const moves: [Page, number][] = [
        [ann.page, 0],
        [bob.page, 3],
        [ann.page, 1],
        [bob.page, 4],
        [ann.page, 2],
      ];
      for (const [page, i] of moves) {
        await cell(page, i).click();
        const mark = page === ann.page ? "X" : "O";
        // Both pages show the mark once the server applied it.
        for (const p of [ann.page, bob.page]) {
          await p.locator(`#board button[data-cell="${i}"]`, { hasText: mark }).waitFor();
        }
      }
      await ann.page.locator("#outcome", { hasText: "You win" }).waitFor();
      await bob.page.locator("#outcome", { hasText: "You lose: Ann wins" }).waitFor();
      equal(await ann.page.getAttribute("#outcome", "data-outcome"), "p1");
      equal(await bob.page.getAttribute("#outcome", "data-outcome"), "p1");
      ok(await cell(ann.page, 5).isDisabled(), "cells stay disabled after the game");
      await ann.page.screenshot({ path: screenshotPath("tic_tac_toe_winner"), fullPage: true });
      await bob.page.screenshot({ path: screenshotPath("tic_tac_toe_loser"), fullPage: true });
    });

    await t.step(
      "the generic room page sends its form's actions and says how they went",
      async () => {
        await openPair(ann.page, bob.page, base, "/play/room?game=tic_tac_toe");
        const send = async (page: Page, payload: string) => {
          await page.selectOption("#action", "place");
          await page.fill("#payload", payload);
          await page.click("#send");
        };
        await send(ann.page, '{"cell": 4}');
        await ann.page.locator("#message", { hasText: "place applied." }).waitFor();
        await bob.page.locator("#state", { hasText: '"next": "p2"' }).waitFor();
        await send(ann.page, '{"cell": 5}');
        await ann.page.locator("#message", { hasText: "It is not your turn." }).waitFor();
        await send(bob.page, "{cell: 5}");
        await bob.page.locator("#message", { hasText: "The payload is not valid JSON." }).waitFor();
      },
    );

    await t.step("connect four shows the turn clock and ends on a timeout", async () => {
      await openPair(ann.page, bob.page, base, "/play/connect_four?turnMs=2500");
      await ann.page.locator("#turn", { hasText: "Your turn" }).waitFor();
      await ann.page.click("#board button[data-column='3']");
      await bob.page.locator("#turn", { hasText: "Your turn" }).waitFor();
      await bob.page.click("#board button[data-column='3']");
      await ann.page.locator("#board button[data-column='3'] .c4-cell.p2").waitFor();
      match(await ann.page.innerText("#clock"), /s left for You/);
      const msLeft = Number(await ann.page.getAttribute("#clock", "data-ms-left"));
      ok(msLeft > 0 && msLeft <= 2500, `clock shows ${msLeft} ms left`);
      await ann.page.screenshot({ path: screenshotPath("connect_four_clock"), fullPage: true });
      // Ann lets her clock run out: Bob wins on time.
      await bob.page.locator("#outcome", { hasText: "You win (timeout)" }).waitFor({
        timeout: 6000,
      });
      await ann.page.locator("#outcome", { hasText: "You lose: Bob wins (timeout)" }).waitFor();
      await bob.page.screenshot({ path: screenshotPath("connect_four_timeout"), fullPage: true });
    });

    await t.step("connect four: a player resigns during the opponent's turn", async () => {
      await openPair(ann.page, bob.page, base, "/play/connect_four");
      await ann.page.locator("#turn", { hasText: "Your turn" }).waitFor();
      await ann.page.click("#board button[data-column='2']");
      await bob.page.locator("#turn", { hasText: "Your turn" }).waitFor();
      // Bob is to move; Ann resigns (an anyTurn action) and confirms.
      ann.page.once("dialog", (dialog) => void dialog.accept());
      await ann.page.click("#resign");
      await bob.page.locator("#outcome", { hasText: "You win (resigned)" }).waitFor();
      await ann.page.locator("#outcome", { hasText: "You lose: Bob wins (resigned)" }).waitFor();
      ok(await ann.page.locator("#resign").isHidden(), "no resign button once the game is over");
    });

    await t.step("arena: the keyboard moves the player; it survives a network drop", async () => {
      // Ann's sockets go through a route the test controls: passed through to the server, until
      // the test kills the live one from the server side and refuses reconnects for a moment.
      let refuse = false;
      let live: WebSocketRoute | null = null;
      await ann.page.routeWebSocket(/\/ws(\?.*)?$/, (ws) => {
        if (refuse) return ws.close({ code: 4500, reason: "test: network down" });
        ws.connectToServer();
        live = ws;
      });
      await openPair(ann.page, bob.page, base, "/play/arena");
      await ann.page.locator("#turn", { hasText: "Collect coins" }).waitFor();

      const start = await arenaPosition(ann.page);
      const key = start.x > 500 ? "ArrowLeft" : "ArrowRight";
      await ann.page.locator("#field").focus();
      await holdUntilMoved(ann.page, key, 0, start.x);
      // Once every move is applied, Ann's prediction, her mirror and Bob's mirror agree.
      const movedX = await settledX(ann.page, bob.page);
      ok(Math.abs(movedX - start.x) >= 50, `moved from ${start.x} to ${movedX}`);
      equal((await arenaPosition(ann.page)).y, start.y);
      await ann.page.screenshot({ path: screenshotPath("arena"), fullPage: true });

      // Record every status the badge shows, then cut the socket and refuse reconnects for a
      // moment so "reconnecting" is visible.
      await ann.page.evaluate(() => {
        const seen: string[] = [];
        (globalThis as unknown as { seenStatuses: string[] }).seenStatuses = seen;
        const badge = document.getElementById("status")!;
        new MutationObserver(() => seen.push(badge.dataset.status ?? "")).observe(badge, {
          attributes: true,
          attributeFilter: ["data-status"],
        });
      });
      const resumesBefore = server.server.metrics.resumes;
      ok(live, "the page's socket went through the route");
      refuse = true;
      // The connection dies under the page (the page did nothing): the page gets an abnormal
      // close and the server loses the socket; the page must notice and reconnect by itself.
      const errorsBefore = pageErrors.length;
      await (live as WebSocketRoute).close({ code: 1011, reason: "test: connection killed" });
      await waitForStatus(ann.page, "reconnecting", 5000);
      await ann.page.screenshot({ path: screenshotPath("arena_reconnecting"), fullPage: true });
      // Moves made while away are not sent; the page keeps rendering.
      await ann.page.waitForTimeout(800);
      refuse = false;
      await waitForStatus(ann.page, "connected", 15_000);
      // Chromium reports the killed socket on the console, as it would a real network failure;
      // that line is expected, anything else is not.
      const killLines = pageErrors.splice(errorsBefore);
      ok(
        killLines.every((line) => /WebSocket connection to .* failed/.test(line)),
        `unexpected page errors: ${killLines.join("; ")}`,
      );
      const seen = await ann.page.evaluate(() =>
        (globalThis as unknown as { seenStatuses: string[] }).seenStatuses
      );
      deepEqual(seen.slice(0, 1), ["reconnecting"]);
      equal(seen.at(-1), "connected");
      ok(server.server.metrics.resumes > resumesBefore, "the seat was resumed, not re-joined");
      equal(
        await ann.page.evaluate(() =>
          (globalThis as unknown as { arbiterRoom: { player: string } }).arbiterRoom.player
        ),
        "p1",
      );

      // Play continues after the resume.
      const before = await arenaPosition(ann.page);
      const back = before.y > 500 ? "ArrowUp" : "ArrowDown";
      await holdUntilMoved(ann.page, back, 1, before.y);
      match(await ann.page.innerText("#rtt"), /\d+(\.\d)? ms/);

      // Pointer (touch or mouse) steering: hold a press on the field; the player heads there.
      const from = await arenaPosition(ann.page);
      const target = { x: from.x > 500 ? 100 : 900, y: from.y > 500 ? 100 : 900 };
      const box = (await ann.page.locator("#field").boundingBox())!;
      await ann.page.mouse.move(
        box.x + (target.x / 1000) * box.width,
        box.y + (target.y / 1000) * box.height,
      );
      await ann.page.mouse.down();
      try {
        await ann.page.waitForFunction(
          ([fx, fy, tx, ty]) => {
            const [x, y] = (document.querySelector("#field")?.getAttribute("data-me") ?? "")
              .split(",").map(Number);
            return Math.hypot(tx - fx, ty - fy) - Math.hypot(tx - x, ty - y) >= 50;
          },
          [from.x, from.y, target.x, target.y],
          { timeout: 20_000 },
        );
      } finally {
        await ann.page.mouse.up();
      }
      const to = await arenaPosition(ann.page);
      const closer = Math.hypot(target.x - from.x, target.y - from.y) -
        Math.hypot(target.x - to.x, target.y - to.y);
      ok(closer >= 50, `the press moved the player ${closer} units toward it`);
      await ann.page.screenshot({ path: screenshotPath("arena_resumed"), fullPage: true });
    });

    await ann.context.close();
    await bob.context.close();
    deepEqual(pageErrors, [], `pages logged errors: ${pageErrors.join("; ")}`);
  },
);

browserTest("browser: the dashboard shows live numbers", async (server, base) => {
  await using browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${base}/dashboard`);
  await page.locator("#value-connections", { hasText: "0" }).waitFor();

  // Traffic from two Deno clients: a tic-tac-toe room with a few moves and an arena room
  // with a stream of moves.
  const ann = await server.client({ name: "ann" }).create("tic_tac_toe");
  const bob = await server.client({ name: "bob" }).join(ann.roomId);
  const cat = await server.client({ name: "cat" }).create("arena");
  const dan = await server.client({ name: "dan" }).join(cat.roomId);
  await ann.send("place", { cell: 0 });
  await bob.send("place", { cell: 4 });
  let seq = 0;
  const mover = setInterval(() => {
    seq++;
    cat.send("move", { dx: seq % 40 < 20 ? 1 : -1, dy: 0, seq }).catch(() => {});
  }, 50);
  try {
    await page.locator("#value-connections", { hasText: /^4$/ }).waitFor({ timeout: 5000 });
    await page.locator(`tr[data-room="${ann.roomId}"]`).waitFor();
    await page.locator(`tr[data-room="${cat.roomId}"]`).waitFor();
    // Rates need two samples; the arena moves keep actions/s above zero.
    await page.waitForFunction(() =>
      Number(document.querySelector("#value-actions")?.textContent) > 5 &&
      Number(document.body.dataset.samples) >= 6
    );
    const text = (id: string) => page.innerText(`#value-${id}`);
    match(await text("rooms"), /^2$/);
    match(await text("messages-in"), /^\d+(\.\d+)?$/);
    ok(Number(await text("messages-out")) > 0, "messages out per second");
    match(await text("bytes-out"), /\d+(\.\d)? (B|KiB|MiB)$/);
    match(await text("join-latency"), /\d+(\.\d+)? ms$/);
    // The moves above were applied and acknowledged: their latency is measured.
    match(await text("action-latency"), /^\d+(\.\d+)? ms$/);
    match(await text("memory"), /\d+(\.\d)? MiB$/);
    const arenaRow = await page.innerText(`tr[data-room="${cat.roomId}"]`);
    match(arenaRow, /arena/);
    match(arenaRow, /playing/);
    const tttRow = page.locator(`tr[data-room="${ann.roomId}"] td`);
    equal(await tttRow.nth(2).innerText(), "2"); // connected
    equal(await tttRow.nth(3).innerText(), "0"); // disconnected
    // Charts were drawn: some canvas pixels are not blank.
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>("[data-card=actions] canvas")!;
      const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
      return painted;
    });
    ok(drawn > 50, `the actions chart has ${drawn} painted pixels`);
    await page.screenshot({ path: screenshotPath("dashboard"), fullPage: true });
  } finally {
    clearInterval(mover);
    for (const room of [ann, bob, cat, dan]) room.leave();
  }
  deepEqual(errors, []);
});

browserTest(
  "browser: the README's page, served from another origin, imports /client.js and joins",
  async (server, arbiter) => {
    const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
    const snippet = readme.match(
      /## Using the client in a browser page[\s\S]*?```html\n([\s\S]*?)```/,
    )
      ?.[1];
    if (!snippet?.includes("http://localhost:8000/client.js")) fail("the README's page is gone");
    const html = `<!doctype html><title>a game</title>\n${
      snippet.replaceAll("http://localhost:8000", arbiter)
    }`;
    // The game's own site: another port, so another origin than the server's.
    await using site = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }),
    );
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    const logged: string[] = [];
    page.on("console", (message) => logged.push(message.text()));
    pageErrors.length = 0;
    watchForErrors(page, "README page");
    await page.goto(`http://127.0.0.1:${site.addr.port}/`);
    // It imported the client across origins, joined, sent, and got the typed refusal.
    await waitFor(
      () => logged.some((line) => line.startsWith("waiting_for_players")),
      () => `the page's refused send; it logged: ${logged.join(" | ")}`,
      15_000,
    );
    const [room] = server.server.manager.list({ game: "tic_tac_toe" });
    equal(room?.players, 1, "the page holds a seat");
    // Bob joins from Deno and finds Ann, the page, seated.
    const bob = await server.client({ name: "bob" }).join(room.id);
    deepEqual(bob.players.map((p) => p.name), ["Ann", "bob"]);
    bob.leave();
    await page.close();
    deepEqual(pageErrors, [], `the page logged errors: ${pageErrors.join("; ")}`);
  },
);

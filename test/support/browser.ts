/**
 * A real headless Chromium for end-to-end tests, driven by Playwright (`playwright-core`, no
 * bundled browsers: it launches the system's `/usr/bin/chromium`, which `.ci/setup_extras.sh`
 * installs). Tests skip themselves when no Chromium is installed.
 *
 * @module
 */
import { type Browser, chromium } from "playwright-core";

/** Where the system Chromium lives (Debian's `chromium` package), or `CHROMIUM_PATH`. */
export const chromiumPath: string = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/**
 * Whether a Chromium executable is installed; browser tests are skipped without one.
 *
 * @example
 * ```ts ignore
 * Deno.test({ name: "page works", ignore: !hasChromium, fn: async () => {} });
 * ```
 */
export const hasChromium: boolean = (() => {
  try {
    return Deno.statSync(chromiumPath).isFile;
  } catch {
    return false;
  }
})();

// Flags for a quiet, deterministic browser in a container: no sandbox (root in CI), no GPU,
// nothing phoning home. Playwright adds a fresh temporary --user-data-dir itself.
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches headless Chromium; close it in a `finally` (or `await using`).
 *
 * @example
 * ```ts ignore
 * await using browser = await launchBrowser();
 * const page = await browser.newPage();
 * await page.goto("http://127.0.0.1:8000/");
 * ```
 */
export async function launchBrowser(): Promise<Browser & AsyncDisposable> {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

/** Where tests save screenshots (git-ignored). */
export const screenshotDir: URL = new URL("../screenshots/", import.meta.url);

/**
 * The path of a screenshot named `name` (`.png` added), creating the folder.
 *
 * @example
 * ```ts ignore
 * await page.screenshot({ path: screenshotPath("lobby") });
 * ```
 */
export function screenshotPath(name: string): string {
  Deno.mkdirSync(screenshotDir, { recursive: true });
  return new URL(`${name}.png`, screenshotDir).pathname;
}

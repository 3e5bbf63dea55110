// What the console's browser specs (console, console-live, console-logs) share: Debian's Chromium
// driven by playwright-core, the console's production build, a page that records its errors and
// CSP violations, axe-core, keyboard reachability and sign-in. Page-side code is passed as
// strings: the project's tsconfig has no DOM lib (server code must not lean on DOM types), as
// test/browser/page/app.ts explains.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";

const chromiumPath = process.env["MODELGATE_CHROMIUM"] ?? "/usr/bin/chromium";
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const root = fileURLToPath(new URL("../..", import.meta.url));
/** Where the specs write their screenshots (gitignored; the README shows copies in docs/console/). */
export const outputDir = fileURLToPath(new URL("./.output/console/", import.meta.url));
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Checks Chromium is there, makes the screenshots folder and the console's production build (as `npm install` leaves it: rebuilt only when stale). */
export async function prepareConsole(): Promise<void> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: the browser tests need it. Install it with ` +
        "`apt-get install -y chromium` (.ci/run does), or point MODELGATE_CHROMIUM at a Chromium binary.",
    );
  }
  mkdirSync(outputDir, { recursive: true });
  await promisify(execFile)(process.execPath, ["scripts/build-console.mjs"], { cwd: root, timeout: 120_000, env: { ...process.env, CONSOLE_BUILD_QUIET: "1" } });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
}

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** Page errors and CSP violations reported in the console. */
  problems: string[];
  /** Every API request the page made (its path). */
  requests: string[];
}

/** A new context and page at `url` (1280 px wide unless told), recording problems and API requests. */
export async function openPage(browser: Browser | undefined, url: string, options: { width?: number; timezoneId?: string } = {}): Promise<Opened> {
  if (!browser) throw new Error("the browser did not start");
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: 900 }, ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}) });
  const page = await context.newPage();
  const problems: string[] = [];
  const requests: string[] = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    if (path.startsWith("/modelgate.v1.")) requests.push(path);
  });
  await page.goto(url);
  return { context, page, problems, requests };
}

/** axe-core in the page (evaluated over the DevTools protocol: the page's CSP forbids injected scripts). */
export async function axeViolations(page: Page): Promise<{ id: string; impact: string; nodes: string[] }[]> {
  await page.evaluate(`${axeSource}\n;0`);
  const result = await page.evaluate<{ passed: number; violations: { id: string; impact: string; nodes: string[] }[] }>(`(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return {
      passed: result.passes.length,
      violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) })),
    };
  })()`);
  // axe really checked the page (labels, contrast, names...), not an empty document.
  expect(result.passed).toBeGreaterThan(5);
  return result.violations;
}

/** No serious or critical axe violation. */
export async function expectAccessible(page: Page): Promise<void> {
  const serious = (await axeViolations(page)).filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(serious).toEqual([]);
}

/**
 * Tabs through the page from the top and checks which enabled controls got the focus: every
 * enabled control must be reachable, and each must have an accessible name.
 */
export async function expectKeyboardReachable(page: Page): Promise<void> {
  const controls = await page.evaluate<string[]>(`
    Array.from(document.querySelectorAll("a[href], button, input, select, textarea"))
      .filter((el) => !el.disabled)
      .map((el, i) => { el.dataset.kbd = String(i); return String(i); })`);
  expect(controls.length).toBeGreaterThan(0);
  await page.evaluate("document.activeElement?.blur()");
  const reached = new Set<string>();
  for (let i = 0; i < controls.length + 5; i++) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate<string | null>("document.activeElement?.dataset?.kbd ?? null");
    if (id !== null) reached.add(id);
  }
  expect(controls.filter((c) => !reached.has(c))).toEqual([]);
  const unnamed = await page.evaluate<string[]>(`
    Array.from(document.querySelectorAll("a[href], button, input, select, textarea"))
      .filter((el) => (el.labels?.length ?? 0) === 0 && !el.getAttribute("aria-label") && (el.textContent ?? "").trim() === "")
      .map((el) => el.outerHTML.slice(0, 80))`);
  expect(unnamed).toEqual([]);
}

export async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel("API key or JWT").fill(key);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

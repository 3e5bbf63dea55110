// The web console (console/, served at /console/ by src/surfaces/console.ts) in a real browser:
// Debian's Chromium driven by playwright-core, as test/browser/connect-web.spec.ts launches it,
// against a real gateway whose chat endpoint is the fake OpenAI upstream on loopback.
// Sign-in (a wrong key refused, the right one kept in sessionStorage only; auth off works without
// a credential), the Endpoints table, the Playground streaming a chat (the DOM shows partial text
// before the final answer), usage/cost/latency/TTFT/target after it, Cancel aborting the upstream
// request (seen at the fake), axe-core with no serious violations, every control reachable by
// keyboard, the CSP never violated. Screenshots go to test/browser/.output/ (gitignored).
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeUpstream, SLOW_CHUNK_COUNT, type FaultyUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "../integration/harness";
import { expectAccessible, expectKeyboardReachable, launchChromium, openPage, outputDir, prepareConsole, root, signIn } from "./console-browser";

const adminKey = "sk-console-admin-0123456789";
const devKey = "sk-console-dev-0123456789";

const endpointsYaml = (fakeUrl: string) => `
endpoints:
  - name: chat-fake
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: m-console, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fakeUrl}/v1" } }
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: { provider: echo, name: echo-embed-1 }
  - name: split
    endpoint_type: llm/v1/chat
    targets:
      - { name: blue, weight: 80, model: { provider: echo, name: echo-1 } }
      - { name: green, weight: 20, model: { provider: echo, name: echo-2 } }
    routing: { strategy: weighted }
prices:
  - { provider: openai, model: m-console, input_per_mtok: 1000, output_per_mtok: 2000 }
`;

let browser: Browser | undefined;
let fake: FaultyUpstream | undefined;
let gw: TestGateway | undefined;
let openGw: TestGateway | undefined;
let ready: Promise<void>;

async function setUp(): Promise<void> {
  await prepareConsole();
  fake = await startFakeUpstream();
  const [withAuth, authOff, launched] = await Promise.allSettled([
    startGateway(`auth: { enabled: true, keys: [{ name: ops, key: $ADMIN_KEY, roles: [admin], team: web }, { name: dev, key: $DEV_KEY, team: web }] }\naccess: { grants: [{ endpoints: ["*"], teams: [web] }] }\n${endpointsYaml(fake.url)}`, { ADMIN_KEY: adminKey, DEV_KEY: devKey }),
    startGateway(endpointsYaml(fake.url)),
    launchChromium(),
  ]);
  if (withAuth.status === "fulfilled") gw = withAuth.value;
  if (authOff.status === "fulfilled") openGw = authOff.value;
  if (launched.status === "fulfilled") browser = launched.value;
  for (const piece of [withAuth, authOff, launched]) if (piece.status === "rejected") throw piece.reason;
}

beforeAll(() => {
  ready = setUp();
  ready.catch(() => undefined);
});

afterAll(async () => {
  await ready.catch(() => undefined);
  await browser?.close();
  await gw?.close();
  await openGw?.close();
  await fake?.close();
});

/** The console at `url`, 1280 px wide unless told. */
const open = (url: string, width = 1280) => openPage(browser, url, { width });

describe("the web console's sources", () => {
  // Vite strips types without checking them, and the project's tsc run (`tsc -p .`) leaves
  // console/ out (it needs the DOM lib and JSX): this is where CI type-checks the console.
  it("type-check (tsc -p console)", async () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const run = await promisify(execFile)(process.execPath, [tsc, "--noEmit", "-p", "console/tsconfig.json"], { cwd: root, timeout: 120_000 }).then(
      () => ({ ok: true, output: "" }),
      (err: { stdout?: string; message: string }) => ({ ok: false, output: err.stdout || err.message }),
    );
    expect(run).toEqual({ ok: true, output: "" });
  }, 130_000);
});

describe("the web console at /console/", () => {
  it("refuses a wrong key, signs in with the right one (sessionStorage only) and lists the endpoints", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/`);
    try {
      await expect.poll(() => page.getByRole("heading", { name: "modelgate console" }).isVisible(), { timeout: 10_000 }).toBe(true);
      await expectAccessible(page);
      await page.screenshot({ path: `${outputDir}signin.png`, fullPage: true });
      await signIn(page, "sk-not-a-key-000000000");
      await page.getByRole("alert").waitFor({ timeout: 10_000 });
      expect(await page.getByRole("alert").textContent()).toMatch(/^Unauthenticated: /);

      await signIn(page, adminKey);
      await page.getByRole("heading", { name: "Endpoints" }).waitFor({ timeout: 10_000 });
      const row = page.locator('tr[data-endpoint="chat-fake"]');
      await row.waitFor({ timeout: 10_000 });
      expect(await row.textContent()).toContain("llm/v1/chat");
      expect(await row.textContent()).toContain("m-console");
      expect(await page.locator('tr[data-endpoint="embeddings"]').textContent()).toContain("llm/v1/embeddings");
      const split = await page.locator('tr[data-endpoint="split"]').textContent();
      expect(split).toContain("weighted");
      expect(split).toMatch(/blue.*weight 80.*green.*weight 20/s);
      expect(await page.evaluate("({ session: sessionStorage.length, local: localStorage.length })")).toEqual({ session: 1, local: 0 });
      expect(await page.evaluate("document.cookie")).toBe("");
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}endpoints.png`, fullPage: true });
      // A narrow window: the same page, still usable.
      await page.setViewportSize({ width: 390, height: 800 });
      await page.screenshot({ path: `${outputDir}endpoints-narrow.png`, fullPage: true });
      expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("works with auth off: continue without a credential", async () => {
    await ready;
    const { context, page, problems } = await open(`${openGw!.url}/console/`);
    try {
      await page.getByRole("button", { name: "Continue without a credential" }).click();
      await page.locator('tr[data-endpoint="chat-fake"]').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId("who").textContent()).toBe("no credential (auth off)");
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("streams a chat in the playground: partial text first, then usage, cost, latency, TTFT and target", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/playground`);
    try {
      await signIn(page, adminKey);
      await page.getByRole("heading", { name: "Playground" }).waitFor({ timeout: 10_000 });
      await expect.poll(() => page.getByLabel("Chat endpoint").inputValue(), { timeout: 10_000 }).toBe("chat-fake");
      // Every text the streaming paragraph shows, recorded in the page as the DOM changes.
      await page.evaluate(`{
        const seen = (window.seen = []);
        new MutationObserver(() => {
          const el = document.querySelector('[data-testid="streaming-text"]');
          if (el && el.textContent !== seen.at(-1)) seen.push(el.textContent ?? "");
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      }`);
      // #slow: the fake sends one piece every 50 ms.
      await page.getByLabel("Message").fill("#slow stream please");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator('[data-status="done"]').waitFor({ timeout: 30_000 });
      const seen = await page.evaluate<string[]>("window.seen");
      const final = (await page.locator('li[data-role="assistant"] p').last().textContent()) ?? "";
      expect(final.split(/\s+/).filter(Boolean).length).toBeGreaterThanOrEqual(SLOW_CHUNK_COUNT / 2);
      const partial = seen.filter((text) => text !== "" && text.length < final.length);
      // Many distinct partial texts, each a prefix of the answer: the tokens arrived one by one.
      expect(partial.length).toBeGreaterThan(10);
      for (const text of partial) expect(final.startsWith(text)).toBe(true);
      expect(await page.getByTestId("usage").textContent()).toMatch(/^\d+ prompt \+ \d+ completion = \d+$/);
      expect(await page.getByTestId("target").textContent()).toBe("m-console (1 upstream request)");
      expect(await page.getByTestId("latency").textContent()).toMatch(/^\d+ ms$/);
      expect(await page.getByTestId("ttft").textContent()).toMatch(/^\d+ ms$/);
      await expect.poll(() => page.getByTestId("cost").textContent(), { timeout: 10_000 }).toMatch(/^\$\d+(\.\d+)?$/);
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}playground.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("Cancel aborts a streaming call and the upstream request (seen at the fake)", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/playground`);
    try {
      await signIn(page, adminKey);
      await expect.poll(() => page.getByLabel("Chat endpoint").inputValue(), { timeout: 10_000 }).toBe("chat-fake");
      const closedBefore = fake!.closedEarly;
      await page.getByLabel("Message").fill("#slow then cancel");
      await page.getByRole("button", { name: "Send" }).click();
      // Some tokens first, so the upstream stream is running when Cancel is pressed.
      await expect.poll(async () => ((await page.getByTestId("streaming-text").textContent()) ?? "").length, { timeout: 10_000 }).toBeGreaterThan(10);
      await page.screenshot({ path: `${outputDir}playground-streaming.png`, fullPage: true });
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.locator('[data-status="cancelled"]').waitFor({ timeout: 10_000 });
      await fake!.waitForClosedEarly(closedBefore + 1, 10_000);
      expect(await page.getByRole("button", { name: "Send" }).isDisabled()).toBe(true); // empty draft
      expect(await page.getByRole("button", { name: "Cancel" }).isDisabled()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
  it("Keys: creates a key (secret shown once, and it works), then revokes it (and it stops working)", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/keys`);
    try {
      await signIn(page, adminKey);
      await page.getByRole("heading", { name: "Create a key" }).waitFor({ timeout: 10_000 });
      await page.getByLabel("Name", { exact: true }).fill("console-made");
      await page.getByLabel("Team", { exact: true }).fill("web");
      await page.getByLabel("Monthly budget (USD)").fill("25");
      await page.getByRole("button", { name: "Create key" }).click();
      const secret = ((await page.getByTestId("secret").textContent({ timeout: 10_000 })) ?? "").trim();
      expect(secret.length).toBeGreaterThan(16);
      const row = page.locator('tr[data-key="console-made"]');
      await row.waitFor({ timeout: 10_000 });
      expect(await row.textContent()).toContain("$25 / month");
      expect(await row.textContent()).toContain("web");
      // The table never shows the secret, only its prefix.
      expect(await page.locator("table.keys").textContent()).not.toContain(secret);
      const listWith = (key: string) =>
        fetch(`${gw!.url}/modelgate.v1.EndpointService/ListEndpoints`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
          body: "{}",
          signal: AbortSignal.timeout(5_000),
        });
      // Gateways learn of store keys on their next key refresh (store.key_refresh_ms, 500 ms).
      await expect.poll(async () => (await listWith(secret)).status, { timeout: 10_000 }).toBe(200);
      // A priced call with the new key: its spend shows up against its budget (the ledger is
      // written in the background, so the page is reloaded until it does).
      const chat = await fetch(`${gw!.url}/modelgate.v1.ChatService/Chat`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
        body: JSON.stringify({ endpoint: "chat-fake", messages: [{ role: "user", content: "spend a little" }] }),
        signal: AbortSignal.timeout(5_000),
      });
      expect(chat.status).toBe(200);
      await expect
        .poll(
          async () => {
            await page.reload();
            await row.waitFor({ timeout: 10_000 });
            return (await row.locator("td").nth(4).textContent()) ?? "";
          },
          { timeout: 15_000 },
        )
        .toMatch(/^\$(?!0\.0000)\d+\.\d{4}/);
      expect(await row.getByRole("meter").count()).toBe(1);
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}keys-created.png`, fullPage: true });

      // Shown once: after the reload the secret is nowhere on the page.
      expect(await page.getByTestId("secret").count()).toBe(0);
      expect(await page.content()).not.toContain(secret);
      await page.getByRole("button", { name: "Revoke console-made" }).click();
      await page.getByRole("button", { name: "Confirm revoking console-made" }).click();
      // Revoked keys leave the default list; "Show revoked" brings the row back, marked.
      await row.waitFor({ state: "detached", timeout: 10_000 });
      await page.getByLabel("Show revoked").check();
      await page.locator('tr[data-key="console-made"][data-revoked="yes"]').waitFor({ timeout: 10_000 });
      await expect.poll(async () => (await listWith(secret)).status, { timeout: 10_000 }).toBe(401);
      await page.screenshot({ path: `${outputDir}keys-revoked.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
  it("Usage: the calls just made, by endpoint and by model, with their cost, and per hour as bars with a CSV download", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/usage`);
    try {
      await signIn(page, adminKey);
      await page.getByLabel("Range").selectOption("1h");
      const row = page.locator('tr[data-group="chat-fake"]');
      // The earlier tests' calls (streamed, cancelled, the new key's): the ledger is written in
      // the background, so Refresh until they are all there.
      await expect
        .poll(
          async () => {
            await page.getByRole("button", { name: "Refresh" }).click();
            return (await row.count()) === 0 ? 0 : Number(await row.getByTestId("calls").textContent());
          },
          { timeout: 45_000 },
        )
        .toBeGreaterThanOrEqual(3);
      expect(await row.locator("td").nth(4).textContent()).toMatch(/^\d+\.\d{4}$/);
      expect(Number(await row.locator("td").nth(4).textContent())).toBeGreaterThan(0);
      // Over time (GetUsageSeries, per hour): the calls just made are in this hour's bar.
      const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
      const bucketRows = page.locator("table.series tbody tr");
      await bucketRows.first().waitFor({ timeout: 10_000 });
      const seriesCalls = (await page.locator("table.series").getByTestId("series-calls").allTextContents()).map(Number);
      expect(seriesCalls.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
      const last = bucketRows.last();
      // The last bucket is this hour (or the one before, if the hour turned since the calls).
      expect([hour.toISOString(), new Date(hour.getTime() - 3_600_000).toISOString()]).toContain(await last.getAttribute("data-bucket"));
      expect(await last.locator('[data-testid="calls-bar"] .fill').getAttribute("class")).toMatch(/^fill w([1-9]|10)$/);
      expect(Number(await last.getByTestId("series-tokens").textContent())).toBeGreaterThan(0);
      const [download] = await Promise.all([
        page.waitForEvent("download", { timeout: 10_000 }),
        page.getByRole("button", { name: "Download CSV" }).click(),
      ]);
      expect(download.suggestedFilename()).toBe("usage-by-hour.csv");
      const csvPath = await download.path();
      const csvLines = readFileSync(csvPath, "utf8").trimEnd().split("\r\n");
      expect(csvLines[0]).toBe("bucket_start,calls,prompt_tokens,completion_tokens,cost_usd");
      expect(csvLines.slice(1).map((l) => Number(l.split(",")[1]))).toEqual(seriesCalls);
      await page.getByLabel("Group by").selectOption("model");
      await page.locator('tr[data-group="m-console"]').waitFor({ timeout: 10_000 });
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}usage.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it("a non-admin key does not see Keys, and the gateway refuses the view's calls", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/`);
    try {
      await signIn(page, devKey);
      await page.locator('tr[data-endpoint="chat-fake"]').waitFor({ timeout: 10_000 });
      await expect.poll(() => page.getByTestId("who").textContent(), { timeout: 10_000 }).toBe("signed in");
      expect(await page.getByRole("link", { name: "Keys" }).count()).toBe(0);
      expect(await page.getByRole("link", { name: "Usage" }).count()).toBe(0);
      expect(await page.getByRole("link", { name: "Playground" }).count()).toBe(1);
      await page.goto(`${gw!.url}/console/#/keys`);
      await page.getByRole("alert").waitFor({ timeout: 10_000 });
      expect(await page.getByRole("alert").textContent()).toMatch(/^PermissionDenied: /);
      expect(await page.getByRole("button", { name: "Create key" }).count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

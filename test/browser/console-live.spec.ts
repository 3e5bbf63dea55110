// The console's live endpoint view and usage charts in a real browser (Debian's Chromium driven by
// playwright-core, set up as test/browser/console.spec.ts does) against a real gateway whose chat
// endpoint is the fake OpenAI upstream on loopback and whose "split" endpoint has two echo targets.
// - Endpoint detail: one StatsService.WatchStats stream (no polling: the page makes that request
//   once) while the test runs load against the gateway; the figures change, end at exactly the
//   calls made, per target too, and the live chart is drawn (its line's pixels on the canvas).
//   A key without a grant for the endpoint sees the gateway's PermissionDenied.
// - Usage: the uPlot chart of calls per hour by key drawn for the calls just made, the cost chart,
//   the top spenders sorted by cost, by key and by team, a custom from/to range (one with calls,
//   one without, one backwards).
// Both: axe-core with no serious violations, 1280 px and a 390 px window without horizontal
// scrolling, the CSP never violated. Screenshots go to test/browser/.output/console/ (copies of them in docs/console/ are shown in the README).
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "../integration/harness";
import { expectAccessible, launchChromium, openPage, outputDir, prepareConsole, signIn } from "./console-browser";

const adminKey = "sk-live-admin-0123456789";
const devKey = "sk-live-dev-0123456789";

const configYaml = (fakeUrl: string) => `
auth:
  enabled: true
  keys:
    - { name: ops, key: $ADMIN_KEY, roles: [admin], team: web }
    - { name: dev, key: $DEV_KEY, team: mobile }
access:
  grants:
    - { endpoints: ["*"], teams: [web] }
    - { endpoints: [chat-fake], teams: [mobile] }
endpoints:
  - name: chat-fake
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: m-live, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fakeUrl}/v1" } }
  - name: split
    endpoint_type: llm/v1/chat
    targets:
      - { name: blue, weight: 50, model: { provider: echo, name: echo-blue } }
      - { name: green, weight: 50, model: { provider: echo, name: echo-green } }
    routing: { strategy: weighted }
prices:
  - { provider: openai, model: m-live, input_per_mtok: 1000, output_per_mtok: 2000 }
`;

let browser: Browser | undefined;
let fake: FaultyUpstream | undefined;
let gw: TestGateway | undefined;
let ready: Promise<void>;

async function setUp(): Promise<void> {
  await prepareConsole();
  fake = await startFakeUpstream();
  const [started, launched] = await Promise.allSettled([
    startGateway(configYaml(fake.url), { ADMIN_KEY: adminKey, DEV_KEY: devKey }),
    launchChromium(),
  ]);
  if (started.status === "fulfilled") gw = started.value;
  if (launched.status === "fulfilled") browser = launched.value;
  for (const piece of [started, launched]) if (piece.status === "rejected") throw piece.reason;
}

beforeAll(() => {
  ready = setUp();
  ready.catch(() => undefined);
});

afterAll(async () => {
  await ready.catch(() => undefined);
  await browser?.close();
  await gw?.close();
  await fake?.close();
});

/** The console at `url`, 1280 px wide unless told (UTC: the custom range's datetime-local inputs are then in UTC too). */
const open = (url: string, width = 1280) => openPage(browser, url, { width, timezoneId: "UTC" });

/** Pixels of the chart's canvas in the first series' colour (#0a58ca): its line is drawn. */
async function firstLinePixels(page: Page, testId: string): Promise<number> {
  return page.evaluate<number>(`(() => {
    const canvas = document.querySelector('[data-testid="${testId}"] canvas');
    if (!canvas || canvas.width === 0) return 0;
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - 10) < 40 && Math.abs(data[i + 1] - 88) < 40 && Math.abs(data[i + 2] - 202) < 40) n++;
    }
    return n;
  })()`);
}

/** The chart canvas's width on the page (CSS pixels). */
function canvasWidth(page: Page, testId: string): Promise<number> {
  return page.evaluate<number>(`document.querySelector('[data-testid="${testId}"] canvas')?.getBoundingClientRect().width ?? -1`);
}

async function expectNoHorizontalScroll(page: Page): Promise<void> {
  expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")).toBe(true);
}

const text = async (page: Page, testId: string) => ((await page.getByTestId(testId).first().textContent()) ?? "").trim();

describe("the console's live endpoint view", () => {
  it("shows live figures over one WatchStats stream while load runs, with a live chart", async () => {
    await ready;
    const { context, page, problems, requests } = await open(`${gw!.url}/console/#/endpoints`);
    try {
      await signIn(page, adminKey);
      await page.getByRole("link", { name: "split (live stats)" }).click();
      await page.getByRole("heading", { name: "split", exact: true }).waitFor({ timeout: 10_000 });
      await page.locator('[data-status="live"]').waitFor({ timeout: 10_000 });
      const watches = () => requests.filter((r) => r.endsWith("/WatchStats")).length;
      // The list's stream (opened first) and this view's.
      expect(watches()).toBe(2);
      expect(await text(page, "live-total")).toBe("0");
      expect(await text(page, "live-p50")).toBe("—");

      // Load: 4 workers calling split (unary, and every third call streamed) for about 2 s.
      const chat = createClient(ChatService, createConnectTransport({ baseUrl: gw!.url, httpVersion: "2" }));
      const headers = { authorization: `Bearer ${adminKey}` };
      const messages = [{ role: "user", content: "live load please" }];
      let made = 0;
      const until = Date.now() + 2_000;
      const worker = async () => {
        for (let i = 0; Date.now() < until; i++) {
          if (i % 3 === 2) {
            for await (const _ of chat.streamChat({ endpoint: "split", messages }, { headers, timeoutMs: 10_000 })) void _;
          } else {
            await chat.chat({ endpoint: "split", messages }, { headers, timeoutMs: 10_000 });
          }
          made++;
        }
      };
      const load = Promise.all([worker(), worker(), worker(), worker()]);
      // The figures move with the load (from 0): calls per second above zero.
      await expect.poll(async () => Number(await text(page, "live-calls-per-second")), { timeout: 10_000 }).toBeGreaterThan(0);
      await load;
      expect(made).toBeGreaterThan(10);
      // Every call made is counted, no more: on the endpoint and split over its two targets.
      await expect.poll(async () => Number(await text(page, "live-total")), { timeout: 10_000 }).toBe(made);
      const targets = (await page.locator("table.live-targets").getByTestId("target-total").allTextContents()).map(Number);
      expect(targets).toHaveLength(2);
      expect(targets.reduce((a, b) => a + b, 0)).toBe(made);
      expect(await text(page, "live-p50")).toMatch(/^\d+(\.\d)? ms$/);
      expect(await text(page, "live-p95")).toMatch(/^\d+(\.\d)? ms$/);
      expect(await text(page, "live-ttft")).toMatch(/^\d+(\.\d)? ms$/);
      expect(Number(await text(page, "live-tokens-per-second"))).toBeGreaterThan(0);
      expect(await text(page, "live-error-rate")).toBe("0.0%");
      expect(await text(page, "live-streams")).toBe("0");
      // The chart: a point per snapshot, growing with no new request, and its calls/s line drawn.
      const points = Number(await page.getByTestId("live-traffic-chart").getAttribute("data-points"));
      await expect.poll(async () => Number(await page.getByTestId("live-traffic-chart").getAttribute("data-points")), { timeout: 10_000 }).toBeGreaterThan(points);
      expect(await firstLinePixels(page, "live-traffic-chart")).toBeGreaterThan(20);
      expect(await firstLinePixels(page, "live-latency-chart")).toBeGreaterThan(20);
      // No polling: every figure came over the view's one stream.
      expect(watches()).toBe(2);
      await expectAccessible(page);
      await page.screenshot({ path: `${outputDir}endpoint-live.png`, fullPage: true });
      await page.setViewportSize({ width: 390, height: 800 });
      await expect.poll(() => canvasWidth(page, "live-traffic-chart"), { timeout: 5_000 }).toBeLessThan(390);
      await expectNoHorizontalScroll(page);
      await expectAccessible(page);
      await page.screenshot({ path: `${outputDir}endpoint-live-narrow.png`, fullPage: true });
      // Back to the list, which shows every endpoint's last 10 s over one stream of its own.
      await page.getByRole("link", { name: "← All endpoints" }).click();
      const cell = page.locator('tr[data-endpoint="split"] [data-testid="endpoint-live"]');
      await expect.poll(() => cell.textContent(), { timeout: 10_000 }).toMatch(/^\d+(\.\d+)? calls\/s · p95 (\d+(\.\d)? ms|—) · (\d+\.\d%|—) errors$/);
      expect(await page.locator('tr[data-endpoint="chat-fake"] [data-testid="endpoint-live"]').textContent()).toBe("0 calls/s · p95 — · — errors");
      expect(watches()).toBe(3);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it("a key without a grant for the endpoint sees the gateway's refusal; one with a grant sees it live", async () => {
    await ready;
    const { context, page, problems, requests } = await open(`${gw!.url}/console/#/endpoints/split`);
    try {
      await signIn(page, devKey);
      await page.getByRole("alert").waitFor({ timeout: 10_000 });
      expect(await page.getByRole("alert").textContent()).toMatch(/^PermissionDenied: needs a grant for endpoint "split" for team "mobile"$/);
      await page.goto(`${gw!.url}/console/#/endpoints/chat-fake`);
      await page.locator('[data-status="live"]').waitFor({ timeout: 10_000 });
      expect(await page.getByRole("heading", { name: "chat-fake", exact: true }).count()).toBe(1);
      // A hidden tab closes its stream; shown again, it opens a new one.
      const watches = () => requests.filter((r) => r.endsWith("/WatchStats")).length;
      const before = watches();
      const setVisibility = (state: string) =>
        page.evaluate(`Object.defineProperty(document, "visibilityState", { value: "${state}", configurable: true }); document.dispatchEvent(new Event("visibilitychange"))`);
      await setVisibility("hidden");
      await page.locator('[data-status="paused"]').waitFor({ timeout: 10_000 });
      await setVisibility("visible");
      await page.locator('[data-status="live"]').waitFor({ timeout: 10_000 });
      expect(watches()).toBe(before + 1);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describe("the console's first load", () => {
  it("is under 250 kB gzipped (index.html and the assets it names, as the gateway serves them)", async () => {
    await ready;
    const get = (path: string) => fetch(`${gw!.url}${path}`, { headers: { "accept-encoding": "gzip" }, signal: AbortSignal.timeout(5_000) });
    const index = await get("/console/");
    expect(index.status).toBe(200);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
    let bytes = Number(index.headers.get("content-length"));
    for (const asset of assets) {
      const res = await get(asset);
      expect(res.headers.get("content-encoding")).toBe("gzip");
      bytes += Number(res.headers.get("content-length"));
      await res.arrayBuffer();
    }
    expect(bytes).toBeGreaterThan(50_000);
    expect(bytes).toBeLessThan(250_000);
  });
});

describe("the console's usage charts", () => {
  it("draws calls, tokens and cost per hour by key for the calls just made, lists the top spenders, takes a custom range", async () => {
    await ready;
    // Priced calls: three with the admin key, one with the dev key (the fake answers with usage).
    const chat = createClient(ChatService, createConnectTransport({ baseUrl: gw!.url, httpVersion: "1.1" }));
    for (const key of [adminKey, adminKey, adminKey, devKey]) {
      await chat.chat({ endpoint: "chat-fake", messages: [{ role: "user", content: "spend for the chart" }] }, { headers: { authorization: `Bearer ${key}` }, timeoutMs: 10_000 });
    }
    await gw!.gateway.flushLedger();
    const { context, page, problems } = await open(`${gw!.url}/console/#/usage`);
    try {
      await signIn(page, adminKey);
      await page.getByLabel("Range").selectOption("1h");
      await page.getByLabel("Group by").selectOption("key");
      const chart = page.getByTestId("usage-chart");
      await chart.waitFor({ timeout: 15_000 });
      expect(await chart.locator("figcaption").textContent()).toBe("Calls per hour by key");
      const legend = await chart.locator("ul.legend li").allTextContents();
      expect(legend).toContain("ops (config key)");
      expect(legend).toContain("dev (config key)");
      // The largest group is the first line (ops: its calls here, plus the live test's load).
      expect(legend[0]).toBe("ops (config key)");
      await expect.poll(() => firstLinePixels(page, "usage-chart"), { timeout: 5_000 }).toBeGreaterThan(5);
      expect(await chart.locator('[role="img"]').getAttribute("aria-label")).toMatch(/^Calls per hour by key: 2 key lines over \d+ hours; the largest is ops \(config key\) with \d+ in all$/);
      await page.getByLabel("Chart").selectOption("cost");
      expect(await chart.locator("figcaption").textContent()).toBe("Cost (USD) per hour by key");
      await expect.poll(() => firstLinePixels(page, "usage-chart"), { timeout: 5_000 }).toBeGreaterThan(5);

      // Top spenders by key: sorted by cost, ops (3 priced calls) above dev (1).
      const spenders = page.locator("table.spenders tbody th");
      await spenders.first().waitFor({ timeout: 10_000 });
      expect(await spenders.allTextContents()).toEqual(["ops (config key)", "dev (config key)"]);
      const costs = (await page.getByTestId("spender-cost").allTextContents()).map((t) => Number.parseFloat(t));
      expect(costs[0]).toBeGreaterThan(costs[1]!);
      expect(costs[1]).toBeGreaterThan(0);
      await page.getByLabel("Spenders by").selectOption("team");
      await expect.poll(() => spenders.allTextContents(), { timeout: 10_000 }).toEqual(["web", "mobile"]);
      await expectAccessible(page);
      await page.screenshot({ path: `${outputDir}usage-charts.png`, fullPage: true });

      // A custom range around now has the calls; one last week has none; a backwards one is refused.
      const local = (ms: number) => new Date(ms).toISOString().slice(0, 16);
      await page.getByLabel("Range").selectOption("custom");
      await page.getByLabel("From", { exact: true }).fill(local(Date.now() - 2 * 3_600_000));
      await page.getByLabel("To", { exact: true }).fill(local(Date.now() + 3_600_000));
      await page.locator('tr[data-group="config:ops"]').waitFor({ timeout: 10_000 });
      await expect.poll(() => firstLinePixels(page, "usage-chart"), { timeout: 5_000 }).toBeGreaterThan(5);
      await page.getByLabel("From", { exact: true }).fill(local(Date.now() - 8 * 86_400_000));
      await page.getByLabel("To", { exact: true }).fill(local(Date.now() - 7 * 86_400_000));
      await page.getByText("No calls in this range.").first().waitFor({ timeout: 10_000 });
      expect(await page.getByTestId("usage-chart").count()).toBe(0);
      await page.getByLabel("From", { exact: true }).fill(local(Date.now()));
      await page.getByLabel("To", { exact: true }).fill(local(Date.now() - 3_600_000));
      expect(await page.getByRole("alert").textContent()).toBe("The start must be before the end.");

      // A narrow window: the same page, no horizontal scrolling, the chart as wide as the window allows.
      await page.getByLabel("Range").selectOption("1h");
      await chart.waitFor({ timeout: 10_000 });
      await page.setViewportSize({ width: 390, height: 800 });
      await expect.poll(() => canvasWidth(page, "usage-chart"), { timeout: 5_000 }).toBeLessThan(390);
      await expectNoHorizontalScroll(page);
      await expectAccessible(page);
      await page.screenshot({ path: `${outputDir}usage-charts-narrow.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);
});

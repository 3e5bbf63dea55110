// The console's Logs view and its completions, embeddings and predict playgrounds in a real
// browser: Debian's Chromium driven by playwright-core (as console.spec.ts), against a real
// gateway whose endpoints are the fake upstream on loopback (OpenAI chat, completions and
// embeddings; an MLflow model server for predict).
// Logs: the calls just made, newest first, each with its trace id (the one the caller's
// traceparent carried), filtered by endpoint and status, paged Older/Newer, a call's details; a
// key without the admin role sees only its own calls. Playgrounds: completion text streaming in
// (the DOM shows many growing prefixes before the end) and Cancel aborting the upstream request;
// embeddings' dimensions and L2 norms equal to the fake's vectors; predictions for records and a
// split dataframe; every call's cost and trace id from the ledger and a link to it in Logs.
// axe-core with no serious violations, every control reachable by keyboard, no CSP violation.
// Screenshots go to test/browser/.output/console/ (gitignored), beside console.spec.ts's.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDING_DIMENSIONS, fakeEmbedding, startFakeUpstream, SLOW_CHUNK_COUNT, type FaultyUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "../integration/harness";
import { expectAccessible, expectKeyboardReachable, launchChromium, openPage, outputDir, prepareConsole, signIn } from "./console-browser";

const adminKey = "sk-logs-admin-0123456789";
const devKey = "sk-logs-dev-0123456789";
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";

const gatewayYaml = (fakeUrl: string) => `
auth:
  enabled: true
  keys:
    - { name: ops, key: $ADMIN_KEY, roles: [admin], team: web }
    - { name: dev, key: $DEV_KEY, team: web }
access: { grants: [{ endpoints: ["*"], teams: [web] }] }
endpoints:
  - name: chat-fake
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: m-console, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fakeUrl}/v1" } }
  - name: text-fake
    endpoint_type: llm/v1/completions
    model: { provider: openai, name: m-text, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fakeUrl}/v1" } }
  - name: embed-fake
    endpoint_type: llm/v1/embeddings
    model: { provider: openai, name: m-embed, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fakeUrl}/v1" } }
  - name: churn
    endpoint_type: predict
    model: { provider: mlflow-model-serving, name: churn, config: { model_server_url: "${fakeUrl}" } }
  - name: echo
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: cached-fake
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: m-console, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fakeUrl}/v1" } }
    policies: { cache: { ttl_ms: 600000 }, guardrails: { input: [{ type: pii }] } }
prices:
  - { provider: openai, model: m-console, input_per_mtok: 1000, output_per_mtok: 2000 }
  - { provider: openai, model: m-text, input_per_mtok: 500, output_per_mtok: 1500 }
  - { provider: openai, model: m-embed, input_per_mtok: 100, output_per_mtok: 0 }
`;

let browser: Browser | undefined;
let fake: FaultyUpstream | undefined;
let gw: TestGateway | undefined;
let ready: Promise<void>;

async function setUp(): Promise<void> {
  await prepareConsole();
  fake = await startFakeUpstream();
  const [started, launched] = await Promise.allSettled([
    startGateway(gatewayYaml(fake.url), { ADMIN_KEY: adminKey, DEV_KEY: devKey }),
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

/** The console at `url`, 1280 px wide unless told. */
const open = (url: string, width = 1280) => openPage(browser, url, { width });

/** Now plus offsetMs as a datetime-local value in the page's time zone (seconds included). */
function localTime(page: Page, offsetMs: number): Promise<string> {
  return page.evaluate<string>(`(() => {
    const d = new Date(Date.now() + ${offsetMs});
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + "T" + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  })()`);
}

/** A unary Connect JSON call, as any client makes it. */
async function connectCall(method: string, body: object, key: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${gw!.url}/modelgate.v1.${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Records, in the page, every text the element with this test id shows as the DOM changes. */
async function recordTexts(page: Page, testId: string): Promise<void> {
  await page.evaluate(`{
    const seen = (window.seen = []);
    new MutationObserver(() => {
      const el = document.querySelector('[data-testid="${testId}"]');
      if (el && el.textContent !== seen.at(-1)) seen.push(el.textContent ?? "");
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  }`);
}

/** The Predict form's submit button (the kind picker has a "Predict" button too). */
function predictButton(page: Page) {
  return page.getByRole("form", { name: "Prediction" }).getByRole("button", { name: "Predict", exact: true });
}

async function openPlayground(page: Page, kind: string): Promise<void> {
  await signIn(page, adminKey);
  await page.getByRole("heading", { name: "Playground" }).waitFor({ timeout: 10_000 });
  await page.getByRole("button", { name: kind, exact: true }).click();
}

describe("the console's Logs view", () => {
  it("shows the calls just made newest first with their trace ids; filters by endpoint and status; pages; opens a call", async () => {
    await ready;
    // 30 calls to the echo endpoint (two pages of 25), then the ones the test looks for.
    for (let i = 0; i < 30; i++) expect(await connectCall("ChatService/Chat", { endpoint: "echo", messages: [{ role: "user", content: `n${i}` }] }, adminKey)).toBe(200);
    expect(await connectCall("ChatService/Chat", { endpoint: "chat-fake", messages: [{ role: "user", content: "traced" }] }, adminKey, { "x-request-id": "logs-traced", traceparent: `00-${traceId}-00f067aa0ba902b7-01` })).toBe(200);
    expect(await connectCall("EmbeddingsService/Embed", { endpoint: "embed-fake", inputs: ["one", "two"] }, adminKey, { "x-request-id": "logs-embed" })).toBe(200);
    expect(await connectCall("ChatService/Chat", { endpoint: "no-such-endpoint", messages: [{ role: "user", content: "x" }] }, adminKey, { "x-request-id": "logs-missing" })).toBe(404);
    await gw!.gateway.flushLedger();

    const { context, page, problems } = await open(`${gw!.url}/console/#/logs`);
    try {
      await signIn(page, adminKey);
      await page.getByRole("heading", { name: "Logs" }).waitFor({ timeout: 10_000 });
      const rows = page.locator("table.calls tbody tr");
      await expect.poll(async () => rows.first().getAttribute("data-request-id"), { timeout: 15_000 }).toBe("logs-missing");
      await page.getByLabel("Per page", { exact: true }).selectOption("25");
      await page.getByRole("button", { name: "Apply" }).click();
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(25);
      // Newest first: the three calls made last, in reverse order, then the echo calls.
      const ids = (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id")))) as string[];
      expect(ids.slice(0, 3)).toEqual(["logs-missing", "logs-embed", "logs-traced"]);
      expect(ids.length).toBe(25);
      const traced = page.locator('tr[data-request-id="logs-traced"]');
      expect(await traced.getByTestId("trace-id").textContent()).toBe(traceId);
      expect(await traced.locator("td").nth(2).textContent()).toBe("ok");
      expect(await traced.locator("td").nth(4).textContent()).toBe("m-console");
      expect(Number(await traced.locator("td").nth(6).textContent())).toBeGreaterThan(0);
      // Every call has a trace id (the gateway starts a trace when the caller sends none).
      for (const text of await page.getByTestId("trace-id").allTextContents()) expect(text).toMatch(/^[0-9a-f]{32}$/);
      expect(await page.locator('tr[data-request-id="logs-missing"] td').nth(2).textContent()).toBe("NotFound");
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}logs.png`, fullPage: true });

      // Older / Newer: the second page holds the rest, nothing twice.
      expect(await page.getByTestId("logs-status").textContent()).toBe("Page 1: 25 calls, more older");
      await page.getByRole("button", { name: "Older" }).click();
      await expect.poll(() => page.getByTestId("logs-status").textContent(), { timeout: 10_000 }).toMatch(/^Page 2: \d+ calls?$/);
      const older = (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id")))) as string[];
      expect(older.length).toBeGreaterThanOrEqual(8);
      expect(older.filter((id) => ids.includes(id))).toEqual([]);
      await page.getByRole("button", { name: "Newer" }).click();
      await expect.poll(() => rows.first().getAttribute("data-request-id"), { timeout: 10_000 }).toBe("logs-missing");

      // Filter by endpoint: only the embeddings call.
      await page.getByLabel("Endpoint", { exact: true }).selectOption("embed-fake");
      await page.getByRole("button", { name: "Apply" }).click();
      await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-endpoint"))), { timeout: 10_000 }).toEqual(["embed-fake"]);
      // Status "any error" (any endpoint): only the failed call.
      await page.getByLabel("Endpoint", { exact: true }).selectOption("");
      await page.getByLabel("Status", { exact: true }).selectOption("error");
      await page.getByRole("button", { name: "Apply" }).click();
      await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id"))), { timeout: 10_000 }).toEqual(["logs-missing"]);
      // A custom range (local time in the page): one in the future has no calls, one the wrong way
      // round is the gateway's INVALID_ARGUMENT, one from ten minutes ago has the calls again.
      await page.getByLabel("Status", { exact: true }).selectOption("");
      await page.getByLabel("Time range", { exact: true }).selectOption("custom");
      await page.getByLabel("From", { exact: true }).fill(await localTime(page, 3_600_000));
      await page.getByLabel("To", { exact: true }).fill(await localTime(page, 7_200_000));
      await page.getByRole("button", { name: "Apply" }).click();
      await page.getByText("No calls match.").waitFor({ timeout: 10_000 });
      await page.getByLabel("To", { exact: true }).fill(await localTime(page, -3_600_000));
      await page.getByRole("button", { name: "Apply" }).click();
      await page.getByRole("alert").waitFor({ timeout: 10_000 });
      expect(await page.getByRole("alert").textContent()).toMatch(/^InvalidArgument: start_time \(.+\) must be before end_time/);
      await page.getByLabel("From", { exact: true }).fill(await localTime(page, -600_000));
      await page.getByLabel("To", { exact: true }).fill("");
      await page.getByRole("button", { name: "Apply" }).click();
      await expect.poll(() => rows.first().getAttribute("data-request-id"), { timeout: 10_000 }).toBe("logs-missing");
      // A call's details.
      await page.getByLabel("Request id", { exact: true }).fill("logs-traced");
      await page.getByRole("button", { name: "Apply" }).click();
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      await page.locator('tr[data-request-id="logs-traced"] button').click();
      const detail = page.getByTestId("call-detail");
      await detail.waitFor({ timeout: 10_000 });
      const text = (await detail.textContent()) ?? "";
      for (const part of [`Trace id${traceId}`, "Endpointchat-fake", "Keyconfig:ops", "Teamweb", "Provideropenai", "Targetm-console", "Streamedno"]) expect(text).toContain(part);
      expect(text).toMatch(/Cost\$0\.\d+/);
      await expectAccessible(page);
      await page.screenshot({ path: `${outputDir}logs-detail.png`, fullPage: true });
      // A narrow window: the table scrolls in its own box, the page does not.
      await page.setViewportSize({ width: 390, height: 800 });
      await page.screenshot({ path: `${outputDir}logs-narrow.png`, fullPage: true });
      expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 90_000);

  it("shows a key without the admin role only its own calls, and the gateway refuses another key's", async () => {
    await ready;
    expect(await connectCall("ChatService/Chat", { endpoint: "echo", messages: [{ role: "user", content: "mine" }] }, devKey, { "x-request-id": "dev-own" })).toBe(200);
    await gw!.gateway.flushLedger();
    const { context, page, problems } = await open(`${gw!.url}/console/#/logs`);
    try {
      await signIn(page, devKey);
      await expect.poll(() => page.getByTestId("who").textContent(), { timeout: 10_000 }).toBe("signed in");
      expect(await page.getByRole("link", { name: "Logs" }).count()).toBe(1);
      const rows = page.locator("table.calls tbody tr");
      await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-request-id"))), { timeout: 15_000 }).toEqual(["dev-own"]);
      expect(await rows.locator("td").nth(3).textContent()).toBe("config:dev");
      await page.getByLabel("Key id", { exact: true }).fill("config:ops");
      await page.getByRole("button", { name: "Apply" }).click();
      await page.getByRole("alert").waitFor({ timeout: 10_000 });
      expect(await page.getByRole("alert").textContent()).toMatch(/^PermissionDenied: ListCalls: without role "admin" a key sees only its own calls/);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("shows a call's policy columns in its details: the cache's answer, the cost it saved, the guardrails' decisions", async () => {
    await ready;
    // temperature 0: deterministic, so cacheable.
    const plain = { endpoint: "cached-fake", temperature: 0, messages: [{ role: "user", content: "what is a gateway?" }] };
    expect(await connectCall("ChatService/Chat", plain, adminKey, { "x-request-id": "policy-miss" })).toBe(200);
    expect(await connectCall("ChatService/Chat", plain, adminKey, { "x-request-id": "policy-hit" })).toBe(200);
    const pii = { endpoint: "cached-fake", messages: [{ role: "user", content: "mail me at jane@example.com" }] };
    expect(await connectCall("ChatService/Chat", pii, adminKey, { "x-request-id": "policy-pii" })).toBe(200);
    await gw!.gateway.flushLedger();
    const { context, page, problems } = await open(`${gw!.url}/console/#/logs/?request_id=policy-hit`);
    try {
      await signIn(page, adminKey);
      const details = async (requestId: string): Promise<string> => {
        await page.getByLabel("Request id", { exact: true }).fill(requestId);
        await page.getByRole("button", { name: "Apply" }).click();
        await page.locator(`tr[data-request-id="${requestId}"] button`).click();
        await expect.poll(() => page.getByTestId("call-detail").getByRole("heading").textContent(), { timeout: 10_000 }).toBe(`Call ${requestId}`);
        return (await page.getByTestId("call-detail").textContent()) ?? "";
      };
      // The link's filter: only that call.
      const row = page.locator('tr[data-request-id="policy-hit"]');
      await row.waitFor({ timeout: 15_000 });
      expect(await page.locator("table.calls tbody tr").count()).toBe(1);
      const hit = await details("policy-hit");
      expect(hit).toContain("Response cachehit");
      expect(hit).toMatch(/Cost saved by the cache\$0\.\d+/);
      expect(hit).not.toContain("Guardrails");
      const miss = await details("policy-miss");
      expect(miss).toContain("Response cachemiss");
      expect(miss).not.toContain("Cost saved");
      const redacted = await details("policy-pii");
      expect(redacted).toMatch(/Guardrailsinput:pii\.email:redact/);
      expect(redacted).not.toContain("jane@example.com");
      await page.screenshot({ path: `${outputDir}logs-policies.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describe("the console's playgrounds beside chat", () => {
  it("streams a completion: growing text first, then usage, cost, trace id and target; the call is linked in Logs", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/playground`);
    try {
      await openPlayground(page, "Completions");
      await expect.poll(() => page.getByLabel("Completions endpoint").inputValue(), { timeout: 10_000 }).toBe("text-fake");
      await recordTexts(page, "completion-text");
      // #slow: the fake sends one piece every 50 ms.
      await page.getByLabel("Prompt").fill("#slow once upon a time");
      await page.getByRole("button", { name: "Complete", exact: true }).click();
      await page.locator('[data-status="done"]').waitFor({ timeout: 30_000 });
      const seen = await page.evaluate<string[]>("window.seen");
      const final = (await page.getByTestId("completion-text").textContent()) ?? "";
      expect(final.split(/\s+/).filter(Boolean).length).toBe(SLOW_CHUNK_COUNT);
      const partial = seen.filter((text) => text !== "" && text.length < final.length);
      expect(partial.length).toBeGreaterThan(10);
      for (const text of partial) expect(final.startsWith(text)).toBe(true);
      expect(await page.getByTestId("usage").textContent()).toMatch(/^\d+ prompt \+ \d+ completion = \d+$/);
      expect(await page.getByTestId("target").textContent()).toBe("m-text (1 upstream request)");
      expect(await page.getByTestId("ttft").textContent()).toMatch(/^\d+ ms$/);
      await expect.poll(() => page.getByTestId("cost").textContent(), { timeout: 10_000 }).toMatch(/^\$\d+(\.\d+)?$/);
      expect(await page.getByTestId("trace-id").textContent()).toMatch(/^[0-9a-f]{32}$/);
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}playground-completions.png`, fullPage: true });
      // The link to the call in Logs finds exactly that call.
      const traced = (await page.getByTestId("trace-id").textContent()) ?? "";
      await page.getByRole("link", { name: "in Logs" }).click();
      await page.getByRole("heading", { name: "Logs" }).waitFor({ timeout: 10_000 });
      const rows = page.locator("table.calls tbody tr");
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      expect(await rows.getAttribute("data-endpoint")).toBe("text-fake");
      expect(await rows.getByTestId("trace-id").textContent()).toBe(traced);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("Cancel aborts a streaming completion and its upstream request (seen at the fake)", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/playground`);
    try {
      await openPlayground(page, "Completions");
      await expect.poll(() => page.getByLabel("Completions endpoint").inputValue(), { timeout: 10_000 }).toBe("text-fake");
      const closedBefore = fake!.closedEarly;
      await page.getByLabel("Prompt").fill("#slow then cancel");
      await page.getByRole("button", { name: "Complete", exact: true }).click();
      await expect.poll(async () => ((await page.getByTestId("completion-text").textContent()) ?? "").length, { timeout: 10_000 }).toBeGreaterThan(10);
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.locator('[data-status="cancelled"]').waitFor({ timeout: 10_000 });
      await fake!.waitForClosedEarly(closedBefore + 1, 10_000);
      expect(await page.getByRole("button", { name: "Cancel" }).isDisabled()).toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("embeds inputs and shows each vector's dimensions and L2 norm", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/playground`);
    try {
      await openPlayground(page, "Embeddings");
      await expect.poll(() => page.getByLabel("Embeddings endpoint").inputValue(), { timeout: 10_000 }).toBe("embed-fake");
      const inputs = ["the quick brown fox", "jumps over", "the lazy dog!"];
      await page.getByLabel("Inputs (one per line)").fill(`${inputs.join("\n")}\n\n`);
      expect(await page.getByText("3 inputs").count()).toBe(1);
      await page.getByRole("button", { name: "Embed", exact: true }).click();
      await page.locator('[data-status="done"]').waitFor({ timeout: 15_000 });
      expect(await page.getByTestId("dimensions").allTextContents()).toEqual(inputs.map(() => String(EMBEDDING_DIMENSIONS)));
      // The fake's vectors are k/256 values, exact in float32: the norms are known to the digit.
      const norms = inputs.map((text) => Math.sqrt(fakeEmbedding(text).reduce((sum, v) => sum + v * v, 0)).toFixed(6));
      expect(await page.getByTestId("norm").allTextContents()).toEqual(norms);
      expect(await page.getByTestId("target").textContent()).toBe("m-embed (1 upstream request)");
      await expect.poll(() => page.getByTestId("cost").textContent(), { timeout: 10_000 }).toMatch(/^\$\d+(\.\d+)?$/);
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}playground-embeddings.png`, fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("predicts from a pasted JSON dataframe, as records and as split; refuses what is neither", async () => {
    await ready;
    const { context, page, problems } = await open(`${gw!.url}/console/#/playground`);
    try {
      await openPlayground(page, "Predict");
      await expect.poll(() => page.getByLabel("Predict endpoint").inputValue(), { timeout: 10_000 }).toBe("churn");
      const input = page.getByLabel("Input (JSON dataframe: records or split)");
      // The fake MLflow model predicts the sum of each row's numbers.
      await input.fill(JSON.stringify([{ age: 40, tenure: 2 }, { age: 1.5, tenure: 0.25 }, { age: 7, tenure: "n/a" }]));
      expect(await page.getByTestId("predict-format").textContent()).toBe("dataframe_records, 3 rows");
      await predictButton(page).click();
      await page.locator('[data-status="done"]').waitFor({ timeout: 15_000 });
      expect(await page.getByTestId("predictions").locator("li").allTextContents()).toEqual(["42", "1.75", "7"]);
      expect(await page.getByTestId("target").textContent()).toBe("churn (1 upstream request)");
      await expect.poll(() => page.getByTestId("cost").textContent(), { timeout: 10_000 }).toBe("unknown (no price known for this model)");
      await expectAccessible(page);
      await expectKeyboardReachable(page);
      await page.screenshot({ path: `${outputDir}playground-predict.png`, fullPage: true });

      await input.fill(JSON.stringify({ columns: ["a", "b"], data: [[1, 2], [10, 20]] }));
      expect(await page.getByTestId("predict-format").textContent()).toBe("dataframe_split, 2 rows");
      await predictButton(page).click();
      await expect.poll(() => page.getByTestId("predictions").locator("li").allTextContents(), { timeout: 15_000 }).toEqual(["3", "30"]);
      await page.locator('[data-status="done"]').waitFor({ timeout: 15_000 });

      for (const [bad, why] of [
        ["{not json", /^not JSON: /],
        ["[1, 2]", /^a list must hold records/],
        [JSON.stringify({ columns: ["a"] }), /^expected records/],
        [JSON.stringify({ dataframe_split: { data: [[1]] }, instances: [1] }), /^name one input format/],
      ] as const) {
        await input.fill(bad);
        expect(await page.getByTestId("predict-format").textContent()).toMatch(why);
        expect(await predictButton(page).isDisabled()).toBe(true);
      }
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

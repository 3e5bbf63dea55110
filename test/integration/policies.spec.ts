// Policies (src/policies) through a real gateway, on the typed API (Connect) and the OpenAI REST
// surface (official `openai` SDK), against the fake OpenAI upstream, which records what it got.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { closePolicyStores } from "../../src/policies/cache";
import { cacheLookups, guardrailDecisions } from "../../src/policies/metrics";
import type { LedgerRow } from "../../src/store/types";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "./harness";

let fake: FakeUpstream;
let gw: TestGateway;
let sdk: OpenAI;
let typed: ReturnType<typeof createClient<typeof ChatService>>;

const openaiModel = (name: string) => `{ provider: openai, name: ${name}, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }`;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(`
endpoints:
  - name: small
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { context: { context_window: 120, max_output_tokens: 50 } }
  - name: trim-oldest
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { context: { context_window: 120, on_overflow: drop_oldest } }
  - name: trim-middle
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { context: { context_window: 120, on_overflow: middle_out } }
  - name: cached
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { cache: { ttl_ms: 600000 } }
  - name: guarded
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies:
      guardrails:
        input:
          - { type: pii }
          - { type: deny_list, terms: [project zeus], reason: confidential }
        output:
          - { type: regex, pattern: "launch\\\\s+codes", action: block, reason: launch_codes }
  - name: redacted-cached
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [{ type: pii }] }, cache: {}, context: { context_window: 100, on_overflow: drop_oldest } }
  - name: text
    endpoint_type: llm/v1/completions
    model: ${openaiModel("gpt-4o-mini")}
    policies:
      context: { context_window: 60 }
      cache: { ttl_ms: 600000 }
      guardrails: { output: [{ type: pii, kinds: [email] }] }
`);
  sdk = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
  typed = createClient(ChatService, createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" }));
});
afterAll(async () => {
  await gw?.close();
  await fake?.close();
  await closePolicyStores();
});
beforeEach(() => fake.reset());

async function ledgerRows(): Promise<LedgerRow[]> {
  await gw.gateway.flushLedger();
  const rows: LedgerRow[] = [];
  for await (const r of gw.gateway.store.ledger.rows({})) rows.push(r);
  return rows;
}

const words = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag}${i}`).join(" ");
const msg = (role: string, content: string) => ({ role, content });

describe("context window", () => {
  it("refuses a chat that does not fit before any upstream call, with the counts (typed API)", async () => {
    const err = await typed.chat({ endpoint: "small", messages: [msg("user", words(200, "w"))] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/^context window exceeded: \d+ prompt tokens > 120 tokens of gpt-4o-mini on endpoint "small"$/);
    expect(fake.requests.length).toBe(0);
  });

  it("counts max_tokens against the window and refuses more than the model's output limit (OpenAI SDK)", async () => {
    const tooMuch = sdk.chat.completions.create({ model: "small", messages: [{ role: "user", content: "hi" }], max_tokens: 51 });
    await expect(tooMuch).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/max_tokens: 51 is more than gpt-4o-mini can generate \(50\)/) });
    const over = sdk.chat.completions.create({ model: "small", messages: [{ role: "user", content: words(80, "w") }], max_tokens: 50 });
    await expect(over).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/\d+ prompt tokens \+ 50 max_tokens = \d+ > 120 tokens/) });
    expect(fake.requests.length).toBe(0);
    const ok = await sdk.chat.completions.create({ model: "small", messages: [{ role: "user", content: "short one" }], max_tokens: 20 });
    expect(ok.choices[0]?.message.content).toBe("echo: short one");
    expect(fake.requests.length).toBe(1);
  });

  it("drop_oldest keeps the system prompt and the latest turns (OpenAI SDK)", async () => {
    const res = await sdk.chat.completions.create({
      model: "trim-oldest",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: words(40, "a") },
        { role: "assistant", content: words(40, "b") },
        { role: "user", content: "last question" },
      ],
    });
    expect(res.choices[0]?.message.content).toBe("echo: last question");
    const sent = fake.requests[0]?.body as { messages: { role: string; content: string }[] };
    expect(sent.messages.map((m) => m.role)).toEqual(["system", "assistant", "user"]);
    expect(sent.messages[0]?.content).toBe("be brief");
  });

  it("middle_out keeps the first and the last turns (typed API), and refuses what still cannot fit", async () => {
    const res = await typed.chat({
      endpoint: "trim-middle",
      messages: [msg("system", "sys"), msg("user", "first task"), msg("assistant", words(40, "x")), msg("user", words(40, "y")), msg("user", "final")],
    });
    expect(res.choices[0]?.message?.content).toBe("echo: final");
    const sent = fake.requests[0]?.body as { messages: { content: string }[] };
    // The turn in the middle went first; the rest then fit.
    expect(sent.messages.map((m) => m.content)).toEqual(["sys", "first task", words(40, "y"), "final"]);
    const err = await typed.chat({ endpoint: "trim-middle", messages: [msg("user", "first"), msg("user", words(200, "z"))] }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toMatch(/still \d+ prompt tokens after middle_out/);
    expect(fake.requests.length).toBe(1);
  });
});

describe("response cache (memory)", () => {
  it("N identical deterministic calls reach the upstream once; hits are marked (OpenAI SDK)", async () => {
    const before = cacheLookups.get({ endpoint: "cached", result: "hit" });
    const marks: (string | null)[] = [];
    for (let i = 0; i < 5; i++) {
      const { data, response } = await sdk.chat.completions
        .create({ model: "cached", messages: [{ role: "user", content: "cache me" }], temperature: 0 })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe("echo: cache me");
      marks.push(response.headers.get("x-modelgate-cache"));
    }
    expect(marks).toEqual(["miss", "hit", "hit", "hit", "hit"]);
    expect(fake.requests.length).toBe(1);
    expect(cacheLookups.get({ endpoint: "cached", result: "hit" }) - before).toBe(4);
    // The ledger: the miss paid, each hit free with what it would have cost at today's price.
    const rows = (await ledgerRows()).filter((r) => r.endpoint === "cached").slice(-5);
    expect(rows.map((r) => r.cache)).toEqual(["miss", "hit", "hit", "hit", "hit"]);
    const paid = rows[0]?.costUsd ?? 0;
    expect(paid).toBeGreaterThan(0);
    expect(rows[0]?.costSavedUsd).toBeNull();
    for (const hit of rows.slice(1)) {
      expect([hit.costUsd, hit.promptTokens, hit.completionTokens]).toEqual([0, 0, 0]);
      expect(hit.costSavedUsd).toBeCloseTo(paid, 12);
    }
    const [total] = await gw.gateway.store.ledger.totals({ groupBy: ["endpoint"] }).then((t) => t.filter((x) => x.group.endpoint === "cached"));
    expect(total?.cacheHits).toBeGreaterThanOrEqual(4);
    expect(total?.costSavedUsd).toBeGreaterThanOrEqual(4 * paid - 1e-12);
  });

  it("is not used for sampled requests, nor with cache-control: no-cache", async () => {
    await sdk.chat.completions.create({ model: "cached", messages: [{ role: "user", content: "sampled" }], temperature: 0.7 });
    await sdk.chat.completions.create({ model: "cached", messages: [{ role: "user", content: "sampled" }], temperature: 0.7 });
    expect(fake.requests.length).toBe(2);
    const opts = { headers: { "cache-control": "no-cache" } };
    await sdk.chat.completions.create({ model: "cached", messages: [{ role: "user", content: "cache me" }], temperature: 0 }, opts);
    expect(fake.requests.length).toBe(3);
  });

  it("cache-control: no-cache as Connect metadata skips the cache on the typed API too", async () => {
    const req = { endpoint: "cached", messages: [msg("user", "typed no-cache")], temperature: 0 };
    await typed.chat(req);
    await typed.chat(req, { headers: { "cache-control": "no-cache" } });
    expect(fake.requests.length).toBe(2);
    const hit = await typed.chat(req);
    expect(hit.routing?.cacheHit).toBe(true);
    expect(fake.requests.length).toBe(2);
  });

  it("replays a cached stream as a stream (typed API), marked in the header and trailer", async () => {
    const req = { endpoint: "cached", messages: [msg("user", "stream me please")], temperature: 0 };
    const collect = async () => {
      let text = "";
      let header: string | null = null;
      let trailer: string | null = null;
      let chunks = 0;
      let cacheHit: boolean | undefined;
      for await (const c of typed.streamChat(req, { onHeader: (h) => (header = h.get("x-modelgate-cache")), onTrailer: (t) => (trailer = t.get("x-modelgate-cache")) })) {
        text += c.choices[0]?.delta?.content ?? "";
        chunks++;
        if (c.routing) cacheHit = c.routing.cacheHit;
      }
      return { text, header, trailer, chunks, cacheHit };
    };
    const first = await collect();
    const second = await collect();
    expect(first.text).toBe("echo: stream me please");
    expect(second.text).toBe(first.text);
    expect(second.chunks).toBe(first.chunks);
    expect(second.chunks).toBeGreaterThan(1);
    expect([first.header, second.header]).toEqual(["miss", "hit"]);
    expect(second.trailer).toBe("hit");
    expect([first.cacheHit, second.cacheHit]).toEqual([false, true]);
    expect(fake.requests.length).toBe(1);
    // The replayed answer's routing says no upstream attempt was made.
    const unary = await typed.chat({ ...req, messages: [msg("user", "typed unary")] });
    const again = await typed.chat({ ...req, messages: [msg("user", "typed unary")] });
    expect([unary.routing?.attempts, again.routing?.attempts]).toEqual([1, 0]);
    expect([unary.routing?.cacheHit, again.routing?.cacheHit]).toEqual([false, true]);
    expect(again.choices[0]?.message?.content).toBe("echo: typed unary");
    expect(fake.requests.length).toBe(2);
  });
});

describe("metrics", () => {
  it("GET /metrics has the policy counters", async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/modelgate_cache_lookups_total\{endpoint="cached",result="hit"\} [1-9]/);
    expect(text).toMatch(/modelgate_context_outcomes_total\{endpoint="small",outcome="refused"\} [1-9]/);
    expect(text).toMatch(/modelgate_context_outcomes_total\{endpoint="trim-oldest",outcome="trimmed"\} 1/);
    // gpt-4o-mini is priced: each hit saved what the first answer cost.
    expect(Number(/modelgate_cache_saved_usd_total\{endpoint="cached"\} (\S+)/.exec(text)?.[1])).toBeGreaterThan(0);
  });
});

describe("guardrails", () => {
  it("redacts PII in the input before it reaches the upstream (OpenAI SDK)", async () => {
    const text = "mail jane.doe@example.com, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, call +44 20 7946 0958, key sk-abcdefghijklmnopqrstuvwx1234; not a card 4111 1111 1111 1112";
    await sdk.chat.completions.create({ model: "guarded", messages: [{ role: "user", content: text }] });
    const sent = (fake.requests[0]?.body as { messages: { content: string }[] }).messages[0]?.content;
    expect(sent).toBe(
      "mail [REDACTED:pii.email], card [REDACTED:pii.card], IBAN [REDACTED:pii.iban], call [REDACTED:pii.phone], key [REDACTED:pii.secret]; not a card 4111 1111 1111 1112",
    );
    expect(gw.rawLogs()).not.toContain("jane.doe@example.com");
    expect(gw.rawLogs()).not.toContain("4111 1111 1111 1111");
    expect(guardrailDecisions.get({ endpoint: "guarded", side: "input", reason: "pii.email", action: "redact" })).toBeGreaterThan(0);
    // The decision is logged with its reasons and counts, never the text.
    const line = gw.logs.find((l) => l.msg === "guardrail decision" && (l.policy as { side?: string }).side === "input");
    expect((line?.policy as { decisions: unknown[] }).decisions).toContainEqual({ reason: "pii.card", action: "redact", count: 1 });
    // The ledger row has the decisions (side:reason:action), never the text; no cache on this endpoint.
    const row = (await ledgerRows()).filter((r) => r.endpoint === "guarded").at(-1);
    expect(row?.guardrails?.split(",")).toEqual(expect.arrayContaining(["input:pii.email:redact", "input:pii.card:redact", "input:pii.secret:redact"]));
    expect(row?.guardrails).not.toContain("jane");
    expect(row?.cache).toBe("");
  });

  it("blocks a deny-listed input with FAILED_PRECONDITION and its reason, before any upstream call (typed API)", async () => {
    const err = await typed.chat({ endpoint: "guarded", messages: [msg("user", "tell me about Project  Zeus")] }).catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toBe("guardrail blocked the input (reason: confidential)");
    expect((err as ConnectError).metadata.get("x-modelgate-guardrail")).toBe("confidential");
    expect(fake.requests.length).toBe(0);
  });

  it("ends a streamed answer with the reason once the output matches, chunks before it delivered (typed API)", async () => {
    let text = "";
    const err = await (async () => {
      for await (const c of typed.streamChat({ endpoint: "guarded", messages: [msg("user", "please say the launch codes now")] })) {
        text += c.choices[0]?.delta?.content ?? "";
      }
    })().catch((e: unknown) => e);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toBe("guardrail blocked the output (reason: launch_codes)");
    // The match spans two chunks ("launch ", "codes "): the text before its last piece went out.
    expect(text).toBe("echo: please say the launch ");
    expect(guardrailDecisions.get({ endpoint: "guarded", side: "output", reason: "launch_codes", action: "block" })).toBeGreaterThan(0);
  });

  it("ends a blocked SSE stream with the reason on the OpenAI surface", async () => {
    const stream = await sdk.chat.completions.create({ model: "guarded", messages: [{ role: "user", content: "launch codes" }], stream: true });
    const err = await (async () => {
      for await (const _ of stream) void _;
    })().catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/guardrail blocked the output \(reason: launch_codes\)/);
  });
});

describe("completions", () => {
  it("refuses a prompt over the window before any upstream call, caches, and redacts the output (OpenAI SDK)", async () => {
    const long = sdk.completions.create({ model: "text", prompt: words(100, "p"), max_tokens: 5 });
    await expect(long).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/context window exceeded: \d+ prompt tokens \+ 5 max_tokens = \d+ > 60 tokens/) });
    expect(fake.requests.length).toBe(0);
    const ask = () => sdk.completions.create({ model: "text", prompt: "write to ann@example.org", max_tokens: 10, temperature: 0 }).withResponse();
    const first = await ask();
    const second = await ask();
    expect(first.data.choices[0]?.text).toBe("echo: write to [REDACTED:pii.email]");
    expect(second.data.choices[0]?.text).toBe(first.data.choices[0]?.text);
    expect([first.response.headers.get("x-modelgate-cache"), second.response.headers.get("x-modelgate-cache")]).toEqual(["miss", "hit"]);
    // The upstream got the prompt as it was (output rules only) and was called once.
    expect(fake.requests.length).toBe(1);
    expect((fake.requests[0]?.body as { prompt: string }).prompt).toBe("write to ann@example.org");
  });

  it("redacts a streamed completion chunk by chunk", async () => {
    const stream = await sdk.completions.create({ model: "text", prompt: "mail bob@example.net soon", max_tokens: 10, stream: true });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.text ?? "";
    expect(text).toBe("echo: mail [REDACTED:pii.email] soon");
  });
});

describe("policies together", () => {
  it("the cache keys the request as sent upstream: redacted and trimmed (OpenAI SDK)", async () => {
    const ask = (email: string) =>
      sdk.chat.completions
        .create({
          model: "redacted-cached",
          temperature: 0,
          messages: [
            { role: "system", content: "sys" },
            { role: "user", content: words(60, email[0]!) },
            { role: "user", content: `my mail is ${email}` },
          ],
        })
        .withResponse();
    const a = await ask("ann@example.org");
    const b = await ask("bob@example.net");
    expect(a.data.choices[0]?.message.content).toBe("echo: my mail is [REDACTED:pii.email]");
    expect(b.data.choices[0]?.message.content).toBe(a.data.choices[0]?.message.content);
    expect([a.response.headers.get("x-modelgate-cache"), b.response.headers.get("x-modelgate-cache")]).toEqual(["miss", "hit"]);
    expect(fake.requests.length).toBe(1);
    const sent = fake.requests[0]?.body as { messages: { content: string }[] };
    expect(sent.messages.map((m) => m.content)).toEqual(["sys", "my mail is [REDACTED:pii.email]"]);
  });
});

describe("MLflow surface", () => {
  it("runs the same policies on /gateway/{endpoint}/invocations", async () => {
    const post = (endpoint: string, body: unknown) =>
      fetch(`${gw.url}/gateway/${endpoint}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const blocked = await post("guarded", { messages: [{ role: "user", content: "project zeus" }] });
    expect(blocked.status).toBe(400);
    expect(await blocked.text()).toContain("guardrail blocked the input (reason: confidential)");
    const redacted = await post("guarded", { messages: [{ role: "user", content: "mail x@y.io" }] });
    expect(redacted.status).toBe(200);
    expect(((await redacted.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe("echo: mail [REDACTED:pii.email]");
    const tooLong = await post("small", { messages: [{ role: "user", content: words(200, "w") }] });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toMatch(/context window exceeded/);
    expect(fake.requests.length).toBe(1);
  });
});

// Remote guardrails (src/policies/guardrails-remote.ts): an OpenAI-shaped moderation endpoint and
// a webhook (test/fakes/fake-guard.ts) asked about inputs and outputs through a real gateway, on
// gRPC (connect-node's gRPC transport) and the OpenAI REST surface (official `openai` SDK), with
// auth on so the webhook sees the key's name and team. The fake OpenAI upstream records what
// reached it.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { guardrailDecisions, remoteChecks } from "../../src/policies/metrics";
import type { LedgerRow } from "../../src/store/types";
import { startFakeGuard, type FakeGuard } from "../fakes/fake-guard";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startOtlpReceiver } from "../otel/otlp-receiver";
import { startGateway, type TestGateway } from "./harness";

let fake: FakeUpstream;
let guard: FakeGuard;
let gw: TestGateway;
let sdk: OpenAI;
let typed: ReturnType<typeof createClient<typeof ChatService>>;
let embeddings: ReturnType<typeof createClient<typeof EmbeddingsService>>;

const appKey = "mg-app-key-0123456789";
const moderationKey = "sk-moderation-secret-42";
const hookToken = "Bearer hook-token-secret-7";

const openaiModel = (name: string) => `{ provider: openai, name: ${name}, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }`;

beforeAll(async () => {
  fake = await startFakeUpstream();
  guard = await startFakeGuard();
  const moderation = (extra = "") => `{ type: moderation, api_base: "${guard.url}/v1", api_key: $MOD_KEY${extra} }`;
  const hook = (extra = "") => `{ type: webhook, url: "${guard.url}/hook", headers: { authorization: $HOOK_AUTH }${extra} }`;
  gw = await startGateway(
    `
auth:
  enabled: true
  keys: [{ name: support-app, key: $APP_KEY, team: support }]
endpoints:
  - name: moderated
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [${moderation()}] } }
  - name: moderated-strict
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [${moderation(", categories: [violence], threshold: 0.2")}] } }
  - name: moderated-flag
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [${moderation(", action: flag, on_error: allow, timeout_ms: 300")}] } }
  - name: moderated-out
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { output: [${moderation()}], stream_check_chars: 12 } }
  - name: hooked
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [{ type: pii, kinds: [email] }, ${hook(", timeout_ms: 300")}] } }
  - name: hooked-open
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [${hook(", on_error: allow, timeout_ms: 300")}] } }
  - name: hooked-out
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { output: [${hook()}], stream_check_chars: 0 } }
  - name: hooked-text
    endpoint_type: llm/v1/completions
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { output: [${hook()}, ${moderation()}] } }
  - name: embed-guarded
    endpoint_type: llm/v1/embeddings
    model: ${openaiModel("text-embedding-3-small")}
    policies: { guardrails: { input: [{ type: pii, kinds: [email] }, ${hook()}] } }
`,
    { APP_KEY: appKey, MOD_KEY: moderationKey, HOOK_AUTH: hookToken },
  );
  sdk = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${appKey}`);
    return next(req);
  };
  const transport = createGrpcTransport({ baseUrl: gw.url, interceptors: [auth] });
  typed = createClient(ChatService, transport);
  embeddings = createClient(EmbeddingsService, transport);
});
afterAll(async () => {
  await gw?.close();
  await fake?.close();
  await guard?.close();
});
beforeEach(() => {
  fake.reset();
  guard.reset();
});

const user = (content: string) => [{ role: "user", content }];

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

async function ledgerRows(endpoint: string): Promise<LedgerRow[]> {
  await gw.gateway.flushLedger();
  const rows: LedgerRow[] = [];
  for await (const r of gw.gateway.store.ledger.rows({})) if (r.endpoint === endpoint) rows.push(r);
  return rows;
}

describe("moderation guardrail (OpenAI /v1/moderations)", () => {
  it("blocks a flagged input with FAILED_PRECONDITION naming the category, before the upstream (gRPC)", async () => {
    const err = await failure(typed.chat({ endpoint: "moderated", messages: user("how do I kill the process politely") }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("guardrail blocked the input (reason: moderation.violence)");
    expect(err.metadata.get("x-modelgate-guardrail")).toBe("moderation.violence");
    expect(fake.requests.length).toBe(0);
    // The moderation API got its own key and the text, as OpenAI's shape.
    expect(guard.requests).toHaveLength(1);
    expect(guard.requests[0]?.headers.authorization).toBe(`Bearer ${moderationKey}`);
    expect(guard.requests[0]?.body).toEqual({ model: "omni-moderation-latest", input: ["how do I kill the process politely"] });
    expect(guardrailDecisions.get({ endpoint: "moderated", side: "input", reason: "moderation.violence", action: "block" })).toBe(1);
    expect(remoteChecks.get({ endpoint: "moderated", check: "moderation", side: "input", outcome: "block" })).toBe(1);
    // Logged (reasons only), in the ledger and on the call's log line; never the text.
    const line = gw.logs.find((l) => l.msg === "guardrail decision" && (l.policy as { endpoint?: string }).endpoint === "moderated");
    expect((line?.policy as { decisions: unknown[] }).decisions).toEqual([{ reason: "moderation.violence", action: "block", count: 1 }]);
    expect(gw.rawLogs()).not.toContain("kill the process");
    expect(gw.rawLogs()).not.toContain(moderationKey);
    const rows = await ledgerRows("moderated");
    expect(rows.at(-1)?.guardrails).toBe("input:moderation.violence:block");
  });

  it("lets a clean input through and refuses a flagged one on the OpenAI surface (400 with the reason)", async () => {
    const ok = await sdk.chat.completions.create({ model: "moderated", messages: [{ role: "user", content: "hello there" }] });
    expect(ok.choices[0]?.message.content).toBe("echo: hello there");
    expect(fake.requests.length).toBe(1);
    const refused = sdk.chat.completions.create({ model: "moderated", messages: [{ role: "user", content: "this is a threat" }] });
    await expect(refused).rejects.toMatchObject({ status: 400, message: expect.stringContaining("guardrail blocked the input (reason: moderation.harassment.threatening)") });
    expect(fake.requests.length).toBe(1);
  });

  it("counts only the configured categories, by score when a threshold is set", async () => {
    // 0.3 for violence: under OpenAI's flag, over the 0.2 threshold.
    const err = await failure(typed.chat({ endpoint: "moderated-strict", messages: user("a maybe-violent story") }));
    expect(err.metadata.get("x-modelgate-guardrail")).toBe("moderation.violence");
    // A threat is flagged by the upstream but is not a configured category.
    const ok = await typed.chat({ endpoint: "moderated-strict", messages: user("a threat") });
    expect(ok.choices[0]?.message?.content).toBe("echo: a threat");
    const plain = await typed.chat({ endpoint: "moderated", messages: user("a maybe-violent story") });
    expect(plain.choices[0]?.message?.content).toBe("echo: a maybe-violent story");
  });

  it("flag passes the call and records it; on_error: allow fails open on 5xx and on a timeout", async () => {
    const flagged = await typed.chat({ endpoint: "moderated-flag", messages: user("I want to hurt myself") });
    expect(flagged.choices[0]?.message?.content).toBe("echo: I want to hurt myself");
    expect((await ledgerRows("moderated-flag")).at(-1)?.guardrails).toBe("input:moderation.self-harm.intent:flag");
    const down = await typed.chat({ endpoint: "moderated-flag", messages: user("hello #mod-500") });
    expect(down.choices[0]?.message?.content).toBe("echo: hello #mod-500");
    const slow = await typed.chat({ endpoint: "moderated-flag", messages: user("hello #mod-hang") });
    expect(slow.choices[0]?.message?.content).toBe("echo: hello #mod-hang");
    expect((await ledgerRows("moderated-flag")).at(-1)?.guardrails).toBe("input:moderation.error:flag");
    expect(remoteChecks.get({ endpoint: "moderated-flag", check: "moderation", side: "input", outcome: "error" })).toBe(2);
    const warned = gw.logs.filter((l) => l.msg === "remote guardrail check failed").map((l) => (l.policy as { error: string }).error);
    expect(warned).toEqual(expect.arrayContaining(["status 500", "timeout"]));
  });

  it("on_error: block (the default) fails closed when the moderation API is down", async () => {
    const err = await failure(typed.chat({ endpoint: "moderated", messages: user("hello #mod-500") }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.metadata.get("x-modelgate-guardrail")).toBe("moderation.error");
    expect(fake.requests.length).toBe(0);
  });

  it("checks a stream's output every stream_check_chars and ends it with the reason; no unchecked text reaches the client (gRPC)", async () => {
    let text = "";
    const err = await failure(
      (async () => {
        for await (const c of typed.streamChat({ endpoint: "moderated-out", messages: user("one two three four and then kill it") })) {
          text += c.choices[0]?.delta?.content ?? "";
        }
      })(),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("guardrail blocked the output (reason: moderation.violence)");
    // Checked in windows of >= 12 characters: what passed was released, the flagged window never was.
    expect(text.length).toBeGreaterThan(0);
    expect("echo: one two three four and then kill it".startsWith(text)).toBe(true);
    expect(text).not.toContain("kill");
    const asked = guard.requests.map((r) => (r.body as { input: string[] }).input[0] ?? "");
    expect(asked.length).toBeGreaterThan(1);
    // Moderation sees the text so far (context for the classifier), growing at each check.
    for (let i = 1; i < asked.length; i++) expect(asked[i]!.startsWith(asked[i - 1]!)).toBe(true);
    expect(asked.at(-1)).toContain("kill");
  });

  it("a clean stream arrives whole, checked in pieces (OpenAI SDK)", async () => {
    const stream = await sdk.chat.completions.create({ model: "moderated-out", messages: [{ role: "user", content: "a calm and quiet reply please" }], stream: true });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("echo: a calm and quiet reply please");
    expect(guard.requests.length).toBeGreaterThan(1);
    expect((guard.requests.at(-1)?.body as { input: string[] }).input).toEqual(["echo: a calm and quiet reply please"]);
  });
});

describe("webhook guardrail", () => {
  it("sends the texts and who asks (names, never secrets) and blocks with the hook's reason (gRPC)", async () => {
    const err = await failure(typed.chat({ endpoint: "hooked", messages: [{ role: "system", content: "be nice" }, { role: "user", content: "a forbidden topic" }] }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe("guardrail blocked the input (reason: policy.forbidden)");
    expect(fake.requests.length).toBe(0);
    const sent = guard.requests[0];
    expect(sent?.headers.authorization).toBe(hookToken);
    expect(sent?.headers["x-request-id"]).toMatch(/.+/);
    expect(sent?.body).toEqual({
      version: 1,
      side: "input",
      endpoint: "hooked",
      endpoint_type: "llm/v1/chat",
      key_name: "support-app",
      team: "support",
      request_id: sent?.headers["x-request-id"],
      final: true,
      texts: ["be nice", "a forbidden topic"],
    });
    expect(JSON.stringify(sent?.body)).not.toContain(appKey);
    // A flag lets the call through and is recorded with the hook's reason.
    const flagged = await typed.chat({ endpoint: "hooked", messages: user("a borderline question") });
    expect(flagged.choices[0]?.message?.content).toBe("echo: a borderline question");
    expect((await ledgerRows("hooked")).at(-1)?.guardrails).toBe("input:review.borderline:flag");
    expect(remoteChecks.get({ endpoint: "hooked", check: "webhook", side: "input", outcome: "flag" })).toBe(1);
  });

  it("applies the hook's redaction after the local rules (OpenAI SDK): the upstream gets the redacted text", async () => {
    const res = await sdk.chat.completions.create({ model: "hooked", messages: [{ role: "user", content: "customer ACME-991 wrote from ann@example.org" }] });
    expect(res.choices[0]?.message.content).toBe("echo: customer [customer] wrote from [REDACTED:pii.email]");
    expect((fake.requests[0]?.body as { messages: { content: string }[] }).messages[0]?.content).toBe("customer [customer] wrote from [REDACTED:pii.email]");
    // The hook saw the text after the local redaction.
    expect((guard.requests[0]?.body as { texts: string[] }).texts).toEqual(["customer ACME-991 wrote from [REDACTED:pii.email]"]);
    expect((await ledgerRows("hooked")).at(-1)?.guardrails?.split(",")).toEqual(["input:pii.email:redact", "input:pii.customer_id:redact"]);
  });

  it("on_error decides on 5xx, a body that is not JSON, an unknown action and a timeout", async () => {
    for (const directive of ["#hook-500", "#hook-garbage", "#hook-bad", "#hook-hang"]) {
      const closed = await failure(typed.chat({ endpoint: "hooked", messages: user(`hi ${directive}`) }));
      expect(closed.code).toBe(Code.FailedPrecondition);
      expect(closed.metadata.get("x-modelgate-guardrail")).toBe("webhook.error");
      const open = await typed.chat({ endpoint: "hooked-open", messages: user(`hi ${directive}`) });
      expect(open.choices[0]?.message?.content).toBe(`echo: hi ${directive}`);
    }
    expect(fake.requests.length).toBe(4);
    expect(remoteChecks.get({ endpoint: "hooked", check: "webhook", side: "input", outcome: "error" })).toBe(4);
    const scraped = await (await fetch(`${gw.url}/metrics`)).text();
    expect(scraped).toContain('modelgate_guardrail_remote_checks_total{endpoint="hooked",check="webhook",side="input",outcome="error"} 4');
    expect(scraped).toContain('modelgate_guardrail_decisions_total{endpoint="hooked",side="input",reason="webhook.error",action="block"} 4');
    const errors = gw.logs.filter((l) => l.msg === "remote guardrail check failed" && (l.policy as { endpoint: string }).endpoint === "hooked").map((l) => (l.policy as { error: string }).error);
    expect(errors).toEqual(["status 500", "bad answer", "bad answer", "timeout"]);
  });

  it("redacts a streamed output held to the end (stream_check_chars: 0), on gRPC and SSE", async () => {
    let text = "";
    for await (const c of typed.streamChat({ endpoint: "hooked-out", messages: user("ticket ACME-77 is closed") })) text += c.choices[0]?.delta?.content ?? "";
    expect(text).toBe("echo: ticket [customer] is closed");
    expect(guard.requests).toHaveLength(1);
    expect(guard.requests[0]?.body).toMatchObject({ side: "output", final: true, texts: ["echo: ticket ACME-77 is closed"] });
    const sse = await sdk.chat.completions.create({ model: "hooked-out", messages: [{ role: "user", content: "ACME-5 borderline" }], stream: true });
    let sseText = "";
    for await (const c of sse) sseText += c.choices[0]?.delta?.content ?? "";
    expect(sseText).toBe("echo: [customer] borderline");
    // Held to the end, nothing was sent before the block: the SSE call fails with a status.
    const blocked = sdk.chat.completions.create({ model: "hooked-out", messages: [{ role: "user", content: "forbidden words" }], stream: true });
    await expect(blocked).rejects.toMatchObject({ status: 400, message: expect.stringContaining("guardrail blocked the output (reason: policy.forbidden)") });
  });

  it("checks a unary completion's output with the hook then moderation (OpenAI SDK)", async () => {
    const redacted = await sdk.completions.create({ model: "hooked-text", prompt: "account ACME-3" });
    expect(redacted.choices[0]?.text).toBe("echo: account [customer]");
    expect(guard.requests.map((r) => r.path)).toEqual(["/hook", "/v1/moderations"]);
    await expect(sdk.completions.create({ model: "hooked-text", prompt: "kill switch" })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining("guardrail blocked the output (reason: moderation.violence)"),
    });
  });
});

describe("input guardrails on embeddings", () => {
  it("redacts (local rule, then hook) before embedding, and blocks on the hook's word (gRPC and OpenAI SDK)", async () => {
    const res = await embeddings.embed({ endpoint: "embed-guarded", inputs: ["mail bob@example.com", "order ACME-12"] });
    expect(res.data).toHaveLength(2);
    expect((fake.requests[0]?.body as { input: string[] }).input).toEqual(["mail [REDACTED:pii.email]", "order [customer]"]);
    expect(guard.requests[0]?.body).toMatchObject({ endpoint: "embed-guarded", endpoint_type: "llm/v1/embeddings", texts: ["mail [REDACTED:pii.email]", "order ACME-12"] });
    const err = await failure(embeddings.embed({ endpoint: "embed-guarded", inputs: ["fine", "forbidden"] }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.metadata.get("x-modelgate-guardrail")).toBe("policy.forbidden");
    await expect(sdk.embeddings.create({ model: "embed-guarded", input: "forbidden thing" })).rejects.toMatchObject({ status: 400, message: expect.stringContaining("reason: policy.forbidden") });
    expect(fake.requests.length).toBe(1);
    expect((await ledgerRows("embed-guarded")).at(-1)?.guardrails).toBe("input:policy.forbidden:block");
  });
});

describe("remote guardrail decisions on the call's span", () => {
  it("a moderation block and a webhook redaction are on the server span (reason codes, never the text)", async () => {
    const receiver = await startOtlpReceiver();
    const traced = await startGateway(
      `
telemetry: { export_delay_ms: 50 }
endpoints:
  - name: guarded
    endpoint_type: llm/v1/chat
    model: ${openaiModel("gpt-4o-mini")}
    policies: { guardrails: { input: [{ type: webhook, url: "${guard.url}/hook" }, { type: moderation, api_base: "${guard.url}/v1" }] } }
`,
      {},
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "modelgate-test" } },
    );
    try {
      const client = createClient(ChatService, createGrpcTransport({ baseUrl: traced.url }));
      const ids = ["c".repeat(32), "d".repeat(32)];
      const traceparent = (id: string) => ({ headers: { traceparent: `00-${id}-${"e".repeat(16)}-01` } });
      await client.chat({ endpoint: "guarded", messages: user("order ACME-7") }, traceparent(ids[0]!));
      await failure(client.chat({ endpoint: "guarded", messages: user("kill it") }, traceparent(ids[1]!)));
      await traced.gateway.flushTraces();
      const server = (id: string) => receiver.spans.find((s) => s.traceId === id && s.kind === "server");
      await receiver.waitFor(() => ids.every((id) => server(id) !== undefined));
      expect(server(ids[0]!)?.attributes["modelgate.guardrails"]).toEqual(["input:pii.customer_id:redact"]);
      expect(server(ids[1]!)?.attributes["modelgate.guardrails"]).toEqual(["input:moderation.violence:block"]);
      expect(server(ids[1]!)?.status).toBe("error");
      expect(JSON.stringify(receiver.spans.map((s) => s.attributes))).not.toMatch(/ACME-7|kill it/);
    } finally {
      await traced.close();
      await receiver.close();
    }
  });
});

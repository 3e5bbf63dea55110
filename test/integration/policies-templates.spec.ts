// Prompt templates from the config (src/policies/templates.ts) through a real gateway: callers
// send template_variables instead of the prompt on gRPC (@grpc/grpc-js, stubs from the .proto
// files), Connect, the OpenAI REST surface (official `openai` SDK, extra body field) and the
// MLflow REST surface; the fake OpenAI upstream records the rendered prompt it received, and the
// ledger the template's name@version.
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import type { LedgerRow } from "../../src/store/types";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startOtlpReceiver } from "../otel/otlp-receiver";
import { grpcJsClient, loadGrpcJsPackage } from "./clients";
import { startGateway, type TestGateway } from "./harness";

let fake: FakeUpstream;
let gw: TestGateway;
let sdk: OpenAI;
let chat: ReturnType<typeof createClient<typeof ChatService>>;
let completions: ReturnType<typeof createClient<typeof CompletionsService>>;

const openaiModel = () => `{ provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }`;

const templatesYaml = `
templates:
  support:
    versions:
      - version: 1
        user: "Old prompt: {{question}}"
        variables: { question: { type: string } }
      - version: 2
        system: "You answer questions about {{product}} in at most {{max_words}} words.{{formal_note}}"
        user: "Question: {{question}} (formal: {{formal}})"
        variables:
          product: { type: string, default: modelgate }
          question: { type: string }
          max_words: { type: number, default: 50 }
          formal: { type: bool, default: false }
          formal_note: { type: string, default: "" }
  summary:
    versions:
      - version: 7
        system: "Summarize in {{lang}}."
        user: "Text:"
        variables: { lang: { type: string } }
`;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(`
${templatesYaml}
endpoints:
  - name: support
    endpoint_type: llm/v1/chat
    model: ${openaiModel()}
    policies: { template: support }
  - name: support-v1
    endpoint_type: llm/v1/chat
    model: ${openaiModel()}
    policies: { template: support@1 }
  - name: summary
    endpoint_type: llm/v1/completions
    model: ${openaiModel()}
    policies: { template: summary }
  - name: plain
    endpoint_type: llm/v1/chat
    model: ${openaiModel()}
`);
  sdk = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const transport = createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" });
  chat = createClient(ChatService, transport);
  completions = createClient(CompletionsService, transport);
});
afterAll(async () => {
  await gw?.close();
  await fake?.close();
});
beforeEach(() => fake.reset());

type SentMessage = { role: string; content: string };
const sentMessages = (i = 0) => (fake.requests[i]?.body as { messages: SentMessage[] }).messages;

async function ledgerRow(requestId: string): Promise<LedgerRow | undefined> {
  await gw.gateway.flushLedger();
  for await (const r of gw.gateway.store.ledger.rows({})) if (r.requestId === requestId) return r;
  return undefined;
}

async function refusal(promise: Promise<unknown>): Promise<ConnectError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

describe("config templates", () => {
  it("Connect: renders the highest version around the caller's messages, defaults filled in; the ledger has name@version", async () => {
    const res = await chat.chat(
      { endpoint: "support", messages: [{ role: "user", content: "earlier turn" }], templateVariables: { question: "How do I rotate a key?", max_words: "30" } },
      { headers: { "x-request-id": "tmpl-connect" } },
    );
    expect(res.choices[0]?.message?.content).toBe("echo: Question: How do I rotate a key? (formal: false)");
    expect(sentMessages()).toEqual([
      { role: "system", content: "You answer questions about modelgate in at most 30 words." },
      { role: "user", content: "earlier turn" },
      { role: "user", content: "Question: How do I rotate a key? (formal: false)" },
    ]);
    expect((await ledgerRow("tmpl-connect"))?.template).toBe("support@2");
    // The call's log line names it too (the variables' values never appear there).
    const line = gw.logs.find((l) => l.msg === "call" && l.requestId === "tmpl-connect");
    expect(line?.template).toBe("support@2");
    expect(gw.rawLogs()).not.toContain("How do I rotate a key?");
  });

  it("a pinned version (support@1) renders that version", async () => {
    await chat.chat({ endpoint: "support-v1", messages: [], templateVariables: { question: "q1" } }, { headers: { "x-request-id": "tmpl-pinned" } });
    expect(sentMessages()).toEqual([{ role: "user", content: "Old prompt: q1" }]);
    expect((await ledgerRow("tmpl-pinned"))?.template).toBe("support@1");
  });

  it("gRPC (@grpc/grpc-js): unary and streamed, with a map<string,string> of variables", async () => {
    const client = grpcJsClient(loadGrpcJsPackage(), "ChatService", gw.port);
    try {
      const res = await new Promise<{ choices: { message: { content: string } }[] }>((resolve, reject) => {
        (client as unknown as Record<string, Function>)["Chat"]!.call(
          client,
          { endpoint: "support", templateVariables: { question: "from grpc", product: "grpc-js", formal: "true" } },
          new grpc.Metadata(),
          (err: grpc.ServiceError | null, r: { choices: { message: { content: string } }[] }) => (err ? reject(err) : resolve(r)),
        );
      });
      expect(res.choices[0]?.message.content).toBe("echo: Question: from grpc (formal: true)");
      expect(sentMessages()[0]).toEqual({ role: "system", content: "You answer questions about grpc-js in at most 50 words." });

      const stream = (client as unknown as Record<string, Function>)["StreamChat"]!.call(client, {
        endpoint: "support",
        templateVariables: { question: "streamed" },
      }) as grpc.ClientReadableStream<{ choices: { delta: { content: string } }[] }>;
      let text = "";
      for await (const chunk of stream) text += chunk.choices.map((c: { delta: { content: string } }) => c.delta.content).join("");
      expect(text).toBe("echo: Question: streamed (formal: false)");
      expect(sentMessages(1).at(-1)).toEqual({ role: "user", content: "Question: streamed (formal: false)" });

      // A bad variable over gRPC: INVALID_ARGUMENT naming it.
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        (client as unknown as Record<string, Function>)["Chat"]!.call(client, { endpoint: "support", templateVariables: { questoin: "typo" } }, new grpc.Metadata(), (e: grpc.ServiceError) => resolve(e));
      });
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toBe('template_variables: template support@2: missing variable question; unknown variable "questoin" (it takes: formal, formal_note, max_words, product, question)');
    } finally {
      client.close();
    }
  });

  it("OpenAI SDK: template_variables as an extra body field, JSON numbers and booleans accepted", async () => {
    const { data, response } = await sdk.chat.completions
      .create({ model: "support", messages: [], template_variables: { question: "via openai", max_words: 12, formal: true } } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(data.choices[0]?.message.content).toBe("echo: Question: via openai (formal: true)");
    expect(sentMessages()[0]?.content).toBe("You answer questions about modelgate in at most 12 words.");
    // The variables never reach the provider (not an extras passthrough).
    expect(fake.requests[0]?.body).not.toHaveProperty("template_variables");
    expect((await ledgerRow(response.headers.get("x-request-id") ?? ""))?.template).toBe("support@2");

    const stream = await sdk.chat.completions.create({ model: "support", messages: [], stream: true, template_variables: { question: "sse" } } as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("echo: Question: sse (formal: false)");
  });

  it("OpenAI SDK: a completions template goes before the caller's prompt", async () => {
    const res = await sdk.completions.create({ model: "summary", prompt: "The gateway routes calls.", template_variables: { lang: "French" } } as unknown as OpenAI.CompletionCreateParamsNonStreaming);
    expect((fake.requests[0]?.body as { prompt: string }).prompt).toBe("Summarize in French.\n\nText:\n\nThe gateway routes calls.");
    expect(res.choices[0]?.text).toContain("Summarize in French.");
  });

  it("Connect: completions with variables only (no prompt)", async () => {
    await completions.complete({ endpoint: "summary", templateVariables: { lang: "German" } });
    expect((fake.requests[0]?.body as { prompt: string }).prompt).toBe("Summarize in German.\n\nText:");
  });

  it("MLflow REST (/gateway/{endpoint}/invocations): chat and completions with template_variables", async () => {
    const post = (endpoint: string, body: unknown) =>
      fetch(`${gw.url}/gateway/${endpoint}/invocations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const res = await post("support", { template_variables: { question: "from mlflow", product: "MLflow" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content).toBe("echo: Question: from mlflow (formal: false)");
    expect(sentMessages()[0]?.content).toBe("You answer questions about MLflow in at most 50 words.");

    const done = await post("summary", { template_variables: { lang: "Spanish" }, prompt: "hola" });
    expect(done.status).toBe(200);
    expect((fake.requests[1]?.body as { prompt: string }).prompt).toBe("Summarize in Spanish.\n\nText:\n\nhola");

    const bad = await post("support", { template_variables: { question: "q", max_words: "many" } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('template_variables.max_words: template support@2 wants a number, got \\"many\\"');
  });

  it("refuses missing, unknown and mistyped variables, and variables on an endpoint without a template, before any upstream call", async () => {
    const cases: [Parameters<typeof chat.chat>[0], string][] = [
      [{ endpoint: "support", templateVariables: { product: "x" } }, "template_variables: template support@2: missing variable question (it takes: formal, formal_note, max_words, product, question)"],
      [{ endpoint: "support", templateVariables: { question: "q", extra: "1", other: "2" } }, 'unknown variables "extra", "other"'],
      [{ endpoint: "support", templateVariables: { question: "q", formal: "yes" } }, 'template_variables.formal: template support@2 wants true or false, got "yes"'],
      [{ endpoint: "support", templateVariables: { question: "q", max_words: "12abc" } }, 'template_variables.max_words: template support@2 wants a number, got "12abc"'],
      [{ endpoint: "support", templateVariables: { question: "x".repeat(40_000) } }, "template_variables.question: longer than 32768 characters"],
      [{ endpoint: "plain", messages: [{ role: "user", content: "hi" }], templateVariables: { question: "q" } }, 'template_variables: endpoint "plain" has no prompt template (got "question")'],
      [{ endpoint: "plain", messages: [] }, "messages: at least one message is required"],
    ];
    for (const [req, message] of cases) {
      const err = await refusal(chat.chat(req));
      expect(err.code, message).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toContain(message);
    }
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`v${i}`, "x"]));
    expect((await refusal(chat.chat({ endpoint: "support", templateVariables: many }))).rawMessage).toBe("template_variables: at most 64 variables");
    const tokens = await refusal(completions.complete({ endpoint: "summary", tokenPrompts: [{ ids: [1, 2] }], templateVariables: { lang: "x" } }));
    expect(tokens.code).toBe(Code.InvalidArgument);
    expect(fake.requests).toHaveLength(0);
  });

  it("GET /metrics counts renders by template version and result", async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/^modelgate_template_renders_total\{endpoint="support",template="support@2",result="ok"\} [1-9]/m);
    expect(text).toMatch(/^modelgate_template_renders_total\{endpoint="support",template="support@2",result="invalid"\} [1-9]/m);
    expect(text).toMatch(/^modelgate_template_renders_total\{endpoint="support-v1",template="support@1",result="ok"\} [1-9]/m);
  });
});

describe("reload", () => {
  it("a config reload switches the endpoint's template version; the next call renders the new one", async () => {
    const before = await chat.chat({ endpoint: "support-v1", templateVariables: { question: "r" } });
    expect(before.choices[0]?.message?.content).toBe("echo: Old prompt: r");
    const base = `${templatesYaml}
endpoints:
  - { name: support-v1, endpoint_type: llm/v1/chat, model: ${openaiModel()}, policies: { template: support@2 } }
`;
    gw.gateway.reload(parseConfig(base, "test.yaml", modelFactories, {}));
    const after = await chat.chat({ endpoint: "support-v1", templateVariables: { question: "r" } });
    expect(after.choices[0]?.message?.content).toBe("echo: Question: r (formal: false)");
    // Endpoints the new config leaves out are gone (the tests before this one are done with them).
    const err = await refusal(chat.chat({ endpoint: "support", templateVariables: { question: "r" } }));
    expect(err.code).toBe(Code.NotFound);
  });
});

describe("tracing", () => {
  it("the call's span names the template (modelgate.template), never the variables' values", async () => {
    const receiver = await startOtlpReceiver();
    const traced = await startGateway(`${templatesYaml}\ntelemetry: { export_delay_ms: 50 }\nendpoints:\n  - { name: support, endpoint_type: llm/v1/chat, model: ${openaiModel()}, policies: { template: support } }\n`, {}, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "modelgate-templates-test" },
    });
    try {
      const traceId = "7".repeat(32);
      const client = createClient(ChatService, createConnectTransport({ baseUrl: traced.url, httpVersion: "1.1" }));
      await client.chat({ endpoint: "support", templateVariables: { question: "secret-question-text" } }, { headers: { traceparent: `00-${traceId}-${"1".repeat(16)}-01` } });
      await traced.gateway.flushTraces();
      await receiver.waitFor((spans) => spans.some((s) => s.traceId === traceId && s.kind === "server"));
      const server = receiver.spans.find((s) => s.traceId === traceId && s.kind === "server")!;
      expect(server.attributes["modelgate.template"]).toBe("support@2");
      const attributes = receiver.spans.filter((s) => s.traceId === traceId).map((s) => s.attributes);
      expect(JSON.stringify(attributes, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain("secret-question-text");
    } finally {
      await traced.close();
      await receiver.close();
    }
  });
});

describe("config checks", () => {
  const load = (yaml: string) => () => parseConfig(yaml, "test.yaml", modelFactories, {});
  const endpoint = (policies: string, type = "llm/v1/chat") =>
    `endpoints:\n  - name: e\n    endpoint_type: ${type}\n    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: k } }\n    policies: ${policies}\n`;

  it("refuses unknown templates and versions, undeclared or unused variables, bad defaults, and templates on embeddings", () => {
    expect(load(`${templatesYaml}${endpoint("{ template: nope }")}`)).toThrow(/endpoints\[0\]\.policies\.template: unknown template "nope" \(templates: support, summary\)/);
    expect(load(`${templatesYaml}${endpoint("{ template: support@9 }")}`)).toThrow(/template "support" has no version 9 \(versions: 1, 2\)/);
    expect(load(`${templatesYaml}${endpoint("{ template: summary }", "llm/v1/embeddings")}`)).toThrow(/prompt templates apply to llm\/v1\/chat and llm\/v1\/completions endpoints/);
    const bad = (version: string) => `templates:\n  t:\n    versions:\n      - ${version}\n${endpoint("{ template: t }")}`;
    expect(load(bad(`{ version: 1, user: "{{a}} {{b}}", variables: { a: {} } }`))).toThrow(/\{\{b\}\} is used but not declared/);
    expect(load(bad(`{ version: 1, user: "{{a}}", variables: { a: {}, z: {} } }`))).toThrow(/templates\.t\.versions\[0\]\.variables\.z: declared but not used/);
    expect(load(bad(`{ version: 1, user: "{{n}}", variables: { n: { type: number, default: "ten" } } }`))).toThrow(/variables\.n\.default: must be a number/);
    expect(load(bad(`{ version: 1, variables: {} }`))).toThrow(/give `system`, `user` or both/);
    expect(load(`templates:\n  m:\n    mlflow: { uri: "prompts:/m@prod", tracking_uri: "http://127.0.0.1:1" }\n${endpoint("{ template: m@2 }")}`)).toThrow(/comes from MLflow \(prompts:\/m@prod\): pin its version in the uri/);
    expect(load(`templates:\n  m:\n    mlflow: { uri: "models:/m@prod", tracking_uri: "http://127.0.0.1:1" }\n${endpoint("{ template: m }")}`)).toThrow(/expected prompts:\/NAME@ALIAS or prompts:\/NAME\/VERSION/);
    expect(load(`${templatesYaml}${endpoint("{ template: support@1 }")}`)).not.toThrow();
  });
});

// Prompt templates from MLflow 3's prompt registry: prompts registered with the mlflow Python
// client (`mlflow.genai.register_prompt`, a text prompt and a chat prompt) on a real
// `mlflow server`, resolved by the gateway through the tracking server's REST API. Moving the
// alias changes the prompt within the cache TTL, with no restart; a fixed version is fetched
// once; an outage keeps the last known version (stale-while-error).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { templateRenders } from "../../src/policies/metrics";
import type { LedgerRow } from "../../src/store/types";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startMlflowServer, type MlflowServer } from "../support/mlflow-server";
import { startGateway, type TestGateway } from "./harness";

describe("prompt templates from a real MLflow prompt registry", () => {
  let mlflow: MlflowServer;
  let fake: FakeUpstream;
  let gw: TestGateway;
  let sdk: OpenAI;
  let chat: ReturnType<typeof createClient<typeof ChatService>>;

  beforeAll(async () => {
    mlflow = await startMlflowServer();
    mlflow.python(`
import mlflow
mlflow.genai.register_prompt(name="support", template="Answer about {{product}}: {{ question }}", commit_message="v1 text")
mlflow.genai.register_prompt(name="support", template=[{"role": "system", "content": "You help with {{product}}."}, {"role": "user", "content": "{{question}} ({{n}} words)"}], commit_message="v2 chat")
mlflow.genai.set_prompt_alias("support", alias="production", version=1)
`);
    fake = await startFakeUpstream();
    const model = `{ provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } }`;
    gw = await startGateway(`
templates:
  support-prod:
    mlflow:
      uri: "prompts:/support@production"
      tracking_uri: ${mlflow.url}
      cache_ttl_ms: 200
      variables: { product: { type: string, default: modelgate }, n: { type: number } }
  support-v2:
    mlflow: { uri: "prompts:/support/2", tracking_uri: ${mlflow.url}, variables: { n: { type: number, default: 20 } } }
  missing-alias:
    mlflow: { uri: "prompts:/support@nope", tracking_uri: ${mlflow.url} }
endpoints:
  - { name: ask, endpoint_type: llm/v1/chat, model: ${model}, policies: { template: support-prod } }
  - { name: ask-v2, endpoint_type: llm/v1/chat, model: ${model}, policies: { template: support-v2 } }
  - { name: ask-text, endpoint_type: llm/v1/completions, model: ${model}, policies: { template: support-v2 } }
  - { name: ask-missing, endpoint_type: llm/v1/chat, model: ${model}, policies: { template: missing-alias } }
`);
    sdk = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    chat = createClient(ChatService, createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" }));
  }, 960_000);

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
    await mlflow?.stop();
  }, 30_000);

  beforeEach(() => fake.reset());

  const sent = (i = 0) => (fake.requests[i]?.body as { messages: { role: string; content: string }[] }).messages;

  async function ledgerTemplate(requestId: string): Promise<string | undefined> {
    await gw.gateway.flushLedger();
    let found: LedgerRow | undefined;
    for await (const r of gw.gateway.store.ledger.rows({})) if (r.requestId === requestId) found = r;
    return found?.template;
  }

  it("OpenAI SDK: the text prompt the alias points to, rendered as the user turn; the ledger has name@version", async () => {
    const { data, response } = await sdk.chat.completions
      .create({ model: "ask", messages: [], template_variables: { question: "How do I rotate a key?" } } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(sent()).toEqual([{ role: "user", content: "Answer about modelgate: How do I rotate a key?" }]);
    expect(data.choices[0]?.message.content).toBe("echo: Answer about modelgate: How do I rotate a key?");
    expect(await ledgerTemplate(response.headers.get("x-request-id") ?? "")).toBe("support-prod@1");
  });

  it("Connect: a fixed version (a chat prompt): system before the caller's messages, user after, typed variables", async () => {
    await chat.chat(
      { endpoint: "ask-v2", messages: [{ role: "user", content: "context turn" }], templateVariables: { product: "MLflow", question: "What is an alias?", n: "25" } },
      { headers: { "x-request-id": "mlflow-fixed" } },
    );
    expect(sent()).toEqual([
      { role: "system", content: "You help with MLflow." },
      { role: "user", content: "context turn" },
      { role: "user", content: "What is an alias? (25 words)" },
    ]);
    expect(await ledgerTemplate("mlflow-fixed")).toBe("support-v2@2");
    const err = await chat.chat({ endpoint: "ask-v2", templateVariables: { product: "p", question: "q", n: "lots" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe('template_variables.n: template support-v2@2 wants a number, got "lots"');
    const missing = (await chat.chat({ endpoint: "ask-v2", templateVariables: { question: "q" } }).catch((e: unknown) => e)) as ConnectError;
    expect(missing.rawMessage).toBe("template_variables: template support-v2@2: missing variable product (it takes: n, product, question)");
  });

  it("MLflow REST: a completions endpoint on the chat prompt gets its parts joined before the prompt", async () => {
    const res = await fetch(`${gw.url}/gateway/ask-text/invocations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Be brief.", template_variables: { product: "gateways", question: "Why?" } }),
    });
    expect(res.status).toBe(200);
    expect((fake.requests[0]?.body as { prompt: string }).prompt).toBe("You help with gateways.\n\nWhy? (20 words)\n\nBe brief.");
  });

  it("an alias that does not exist: UNAVAILABLE naming the prompt and MLflow's reason, nothing sent upstream", async () => {
    const err = (await chat.chat({ endpoint: "ask-missing", templateVariables: { question: "q", product: "p" } }).catch((e: unknown) => e)) as ConnectError;
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toContain("cannot resolve prompts:/support@nope");
    expect(err.rawMessage).toMatch(/alias nope not found/i);
    expect(fake.requests).toHaveLength(0);
    expect(templateRenders.get({ endpoint: "ask-missing", template: "missing-alias", result: "unavailable" })).toBeGreaterThan(0);
  });

  it("moving the alias changes the prompt within the TTL, without a restart; an outage keeps the last version", async () => {
    const ask = async (id: string) => {
      fake.reset();
      await chat.chat({ endpoint: "ask", templateVariables: { question: "Q", n: "5" } }, { headers: { "x-request-id": id } });
      return sent();
    };
    // n is declared in the config for the prompt: version 1 does not use it, and takes it all the same.
    expect(await ask("before-move")).toEqual([{ role: "user", content: "Answer about modelgate: Q" }]);
    const typo = (await chat.chat({ endpoint: "ask", templateVariables: { question: "Q", n: "five" } }).catch((e: unknown) => e)) as ConnectError;
    expect(typo.rawMessage).toBe('template_variables.n: template support-prod@1 wants a number, got "five"');
    mlflow.python(`import mlflow; mlflow.genai.set_prompt_alias("support", alias="production", version=2)`);
    // The alias is looked up again once the 200 ms TTL has passed: a bounded wait, no timing assertion.
    const until = Date.now() + 30_000;
    let lastId = "after-move-0";
    let messages = await ask(lastId);
    for (let i = 1; messages.length === 1 && Date.now() < until; i++) {
      await new Promise((r) => setTimeout(r, 100));
      lastId = `after-move-${i}`;
      messages = await ask(lastId);
    }
    expect(messages).toEqual([
      { role: "system", content: "You help with modelgate." },
      { role: "user", content: "Q (5 words)" },
    ]);
    expect(await ledgerTemplate(lastId)).toBe("support-prod@2");

    // The tracking server goes away: the version known last keeps serving.
    await mlflow.stop();
    await new Promise((r) => setTimeout(r, 300)); // past the TTL, so the next call looks up (and fails)
    expect(await ask("during-outage")).toEqual(messages);
    expect(await ledgerTemplate("during-outage")).toBe("support-prod@2");
    const warning = gw.logs.find((l) => l.msg === "prompt template: MLflow lookup failed; the last known version keeps serving");
    expect(warning?.policy).toMatchObject({ template: "support-prod", uri: "prompts:/support@production", serving: "support-prod@2" });
  });
});

// Extras cannot lengthen or multiply the output past the token reservation (issue 8, item 4),
// and an Anthropic base URL in the SDK's form (without /v1) works (item 17): through the real
// gateway, the official `openai` npm SDK and Connect, against the fake upstream.
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { ChatMessageSchema } from "../../gen/modelgate/v1/common_pb";
import type { LedgerRow } from "../../src/store/types";
import { estimateReservation } from "../../src/usage/tokens";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { failure, startGateway, type TestGateway } from "./harness";

const smallKey = "sk-small-tpm-5000-0123456789";
const wideKey = "sk-wide-tpm-10000-0123456789";
const sdkBaseKey = "sk-anthropic-sdk-base-012345";

let gw: TestGateway;
let fake: FakeUpstream;
let small: OpenAI;

beforeAll(async () => {
  fake = await startFakeUpstream();
  const openai = `{ openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" }`;
  gw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: small, key: $SMALL_KEY, limits: { tpm: 5000 } }
    - { name: wide, key: $WIDE_KEY, limits: { tpm: 10000 } }
    - { name: sdk-base, key: $SDK_BASE_KEY }
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai} } }
  - { name: gpt-text, endpoint_type: llm/v1/completions, model: { provider: openai, name: gpt-3.5-turbo-instruct, config: ${openai} } }
  # Never reached: the fake upstream serves neither, so a call that got through would fail with 404.
  - { name: gemini, endpoint_type: llm/v1/chat, model: { provider: gemini, name: gemini-2.5-flash, config: { gemini_api_key: k, gemini_api_base: "${fake.url}/v1beta" } } }
  - { name: ollama, endpoint_type: llm/v1/chat, model: { provider: ollama, name: llama3.2, config: { ollama_api_base: "${fake.url}" } } }
  # Anthropic's base as its SDK takes it (ANTHROPIC_BASE_URL): no /v1.
  - { name: claude-sdk-base, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: sk-ant-upstream, anthropic_api_base: "${fake.url}" } } }
  - { name: claude-sdk-base-slash, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: sk-ant-upstream, anthropic_api_base: "${fake.url}/" } } }
`,
    { SMALL_KEY: smallKey, WIDE_KEY: wideKey, SDK_BASE_KEY: sdkBaseKey },
  );
  small = new OpenAI({ apiKey: smallKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const messages = [{ role: "user" as const, content: "hi" }];

/** A body with keys the SDK's types do not know: the SDK sends them as they are (extra body params). */
function withExtras(body: ChatCompletionCreateParamsNonStreaming, extras: Record<string, unknown>): ChatCompletionCreateParamsNonStreaming {
  return { ...body, ...extras } as ChatCompletionCreateParamsNonStreaming;
}

async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAI.APIError);
    return err as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error("expected the call to fail");
}

async function ledgerRows(keyId: string): Promise<LedgerRow[]> {
  await gw.gateway.flushLedger();
  const rows: LedgerRow[] = [];
  for await (const row of gw.gateway.store.ledger.rows({ keyId })) rows.push(row);
  return rows;
}

describe("extras that lengthen or multiply the output (key with tpm 5000)", () => {
  const cases: { endpoint: string; extras: Record<string, unknown>; says: string }[] = [
    // the issue: 100,000 output tokens asked for three times on a 5,000-token TPM
    { endpoint: "gpt", extras: { max_output_tokens: 100_000 }, says: "openai: extras.max_output_tokens is not allowed: use the max_tokens field instead" },
    { endpoint: "gpt", extras: { max_new_tokens: 100_000 }, says: "openai: extras.max_new_tokens is not allowed: use the max_tokens field instead" },
    // under the key the provider nests them in
    {
      endpoint: "gemini",
      extras: { generationConfig: { maxOutputTokens: 100_000 } },
      says: "gemini: extras.generationConfig.maxOutputTokens is not allowed: use the max_tokens field instead",
    },
    { endpoint: "gemini", extras: { generation_config: { max_output_tokens: 100_000 } }, says: "gemini: extras.generation_config is not allowed: write it as extras.generationConfig" },
    { endpoint: "ollama", extras: { options: { num_predict: 100_000 } }, says: "ollama: extras.options.num_predict is not allowed: use the max_tokens field instead" },
    { endpoint: "gemini", extras: { generationConfig: { candidateCount: 8 } }, says: "gemini: extras.generationConfig.candidateCount is not allowed: use the n field instead" },
  ];

  it.each(cases.map((c) => [`${c.endpoint} ${JSON.stringify(c.extras)}`, c] as const))(
    "%s: 400 naming the key and the typed field, three times over, and the upstream never called",
    async (_, { endpoint, extras, says }) => {
      for (let i = 0; i < 3; i++) {
        const err = await apiError(small.chat.completions.create(withExtras({ model: endpoint, messages }, extras)));
        expect(err.status).toBe(400);
        expect(err.message).toContain(says);
      }
      expect(fake.requests).toEqual([]);
    },
  );

  it("streams are refused before the upstream too", async () => {
    const body = { model: "gpt", messages, stream: true, max_output_tokens: 100_000 } as unknown as ChatCompletionCreateParamsStreaming;
    const err = await apiError(
      (async () => {
        for await (const _ of await small.chat.completions.create(body)) void _;
      })(),
    );
    expect(err.message).toContain("openai: extras.max_output_tokens is not allowed: use the max_tokens field instead");
    expect(fake.requests).toEqual([]);
  });

  it("best_of on legacy completions is refused (the upstream would generate and bill that many)", async () => {
    const err = await apiError(small.completions.create({ model: "gpt-text", prompt: "Say hi", max_tokens: 5, best_of: 20 }));
    expect(err.status).toBe(400);
    expect(err.message).toContain("openai: extras.best_of is not allowed");
    expect(fake.requests).toEqual([]);
  });

  it("over Connect, extras.max_completion_tokens is refused with INVALID_ARGUMENT", async () => {
    const chat = createClient(ChatService, createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" }));
    for (let i = 0; i < 3; i++) {
      const err = await failure(
        chat.chat({ endpoint: "gpt", messages, extras: { max_completion_tokens: 100_000 } }, { headers: { authorization: `Bearer ${smallKey}` } }),
      );
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe("openai: extras.max_completion_tokens is not allowed: use the max_tokens field instead");
    }
    expect(fake.requests).toEqual([]);
  });

  it("refused calls count as requests with no tokens: the ledger and the token quota say so", async () => {
    await small.chat.completions.create(withExtras({ model: "gpt", messages }, { max_output_tokens: 100_000 })).catch(() => undefined);
    const refused = (await ledgerRows("config:small")).filter((r) => r.status === "InvalidArgument");
    expect(refused.length).toBeGreaterThan(0);
    for (const row of refused) expect(row).toMatchObject({ promptTokens: 0, completionTokens: 0 });
    // What the refused calls reserved was given back: a call now sees (nearly) the whole 5,000
    // minus its own reservation (more only if the minute's window turned over meanwhile).
    const { response } = await small.chat.completions.create({ model: "gpt", messages, max_tokens: 100 }).withResponse();
    const own = estimateReservation({ messages: [create(ChatMessageSchema, { role: "user", content: "hi" })], maxTokens: 100 }, 1024);
    expect(Number(response.headers.get("x-ratelimit-remaining-tokens"))).toBeGreaterThanOrEqual(5000 - own.promptTokens - own.maxCompletionTokens);
    expect(fake.requests).toHaveLength(1);
  });

  it("typed max_completion_tokens in the body is the typed field: reserved, so 100,000 is over the limit", async () => {
    const err = await apiError(small.chat.completions.create({ model: "gpt", messages, max_completion_tokens: 100_000 }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.message).toMatch(/token/);
    expect(fake.requests).toEqual([]);
  });
});

describe("n multiplies the reservation", () => {
  it("n: 3 with max_tokens 2000 reserves 6000: over a 5000 TPM", async () => {
    const err = await apiError(small.chat.completions.create({ model: "gpt", messages, max_tokens: 2000, n: 3 }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(fake.requests).toEqual([]);
  });

  it("and within a 10000 TPM, the reservation shown is the prompt plus 6000", async () => {
    const wide = new OpenAI({ apiKey: wideKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const { data, response } = await wide.chat.completions.create({ model: "gpt", messages, max_tokens: 2000, n: 3 }).withResponse();
    expect(data.choices).toHaveLength(3);
    expect(fake.requests[0]?.body).toMatchObject({ max_tokens: 2000, n: 3 });
    const expected = estimateReservation({ messages: [create(ChatMessageSchema, { role: "user", content: "hi" })], maxTokens: 2000, n: 3 }, 1024);
    expect(expected.maxCompletionTokens).toBe(6000);
    // This key's only call: the remaining tokens are what it reserved, taken from 10,000.
    expect(Number(response.headers.get("x-ratelimit-remaining-tokens"))).toBe(10_000 - expected.promptTokens - 6000);
  });
});

describe("anthropic_api_base in the Anthropic SDK's form (no /v1)", () => {
  it.each(["claude-sdk-base", "claude-sdk-base-slash"])("%s reaches /v1/messages", async (model) => {
    const client = new OpenAI({ apiKey: sdkBaseKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const res = await client.chat.completions.create({ model, messages: [{ role: "user", content: "hello claude" }] });
    expect(res.choices[0]?.message.content).toBe("echo: hello claude");
    expect(fake.requests.map((r) => r.path)).toEqual(["/v1/messages"]);
  });
});

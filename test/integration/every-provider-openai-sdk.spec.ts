// Every provider behind the gateway's OpenAI-compatible surface, driven only by the official
// `openai` npm SDK: one gateway, one chat endpoint per chat-capable provider, each against its
// fake. Per provider: unary chat with usage, streamed chat with stream_options.include_usage
// (the same text, usage last), a tool round trip where the provider has tools, and embeddings
// with the SDK's default base64 encoding. The fakes answer deterministically (see their
// headers): a chat reply is fakeReplyText(last user text), an embedding fakeEmbedding(text).
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from "openai/resources/chat/completions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { echoEmbedding } from "../../src/providers/echo/index";
import { FAKE_BEDROCK_CREDENTIALS, startFakeBedrock, type FakeBedrock } from "../fakes/fake-bedrock";
import { startFakeCohere } from "../fakes/fake-cohere";
import { startFakeGemini } from "../fakes/fake-gemini";
import { startFakeOllama, type FakeOllama } from "../fakes/fake-ollama";
import { startFakeTgi, type FakeTgi } from "../fakes/fake-tgi";
import { fakeEmbedding, fakeReplyText, startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "./harness";

let openaiFake: FakeUpstream; // OpenAI, Azure OpenAI, Anthropic and MLflow scoring routes
let gemini: FakeUpstream;
let cohere: FakeUpstream;
let bedrock: FakeBedrock;
let tgi: FakeTgi;
let ollama: FakeOllama;
let gw: TestGateway;
let client: OpenAI;

const env = {
  OPENAI_KEY: "sk-openai-secret-for-tests-0101",
  AZURE_KEY: "azure-secret-for-tests-0102",
  MISTRAL_KEY: "mistral-secret-for-tests-0103",
  ANTHROPIC_KEY: "sk-ant-secret-for-tests-0104",
  GEMINI_KEY: "AIza-secret-for-tests-0105",
  COHERE_KEY: "co-secret-for-tests-0106",
  AWS_KEY_ID: FAKE_BEDROCK_CREDENTIALS.accessKeyId,
  AWS_SECRET: FAKE_BEDROCK_CREDENTIALS.secretAccessKey,
};

/** The endpoints' YAML lines, built once the fakes have their ports. */
function endpointsYaml(): string {
  const endpoint = (name: string, type: string, provider: string, model: string, config: string) =>
    `  - { name: ${name}, endpoint_type: ${type}, model: { provider: ${provider}, name: "${model}", config: ${config} } }`;
  const chat = (name: string, provider: string, model: string, config: string) => endpoint(name, "llm/v1/chat", provider, model, config);
  const embed = (name: string, provider: string, model: string, config: string) => endpoint(`${name}-embed`, "llm/v1/embeddings", provider, model, config);
  const openai = `{ openai_api_key: $OPENAI_KEY, openai_api_base: "${openaiFake.url}/v1" }`;
  const azure = `{ openai_api_key: $AZURE_KEY, openai_api_base: "${openaiFake.url}", openai_deployment_name: prod, openai_api_version: "2024-10-21" }`;
  const mistral = `{ mistral_api_key: $MISTRAL_KEY, mistral_api_base: "${openaiFake.url}/mistral/v1" }`;
  const geminiConfig = `{ gemini_api_key: $GEMINI_KEY, gemini_api_base: "${gemini.url}/v1beta" }`;
  const cohereConfig = `{ cohere_api_key: $COHERE_KEY, cohere_api_base: "${cohere.url}" }`;
  const bedrockConfig = `{ aws_region: us-east-1, aws_access_key_id: $AWS_KEY_ID, aws_secret_access_key: $AWS_SECRET, bedrock_api_base: "${bedrock.url}" }`;
  const ollamaConfig = `{ ollama_api_base: "${ollama.url}" }`;
  return [
    chat("openai", "openai", "gpt-4o-mini", openai),
    chat("azure-openai", "azure-openai", "gpt-4o", azure),
    chat("mistral", "mistral", "mistral-small-latest", mistral),
    chat("anthropic", "anthropic", "claude-sonnet-4-5", `{ anthropic_api_key: $ANTHROPIC_KEY, anthropic_api_base: "${openaiFake.url}/v1" }`),
    chat("gemini", "gemini", "gemini-2.5-flash", geminiConfig),
    chat("cohere", "cohere", "command-a-03-2025", cohereConfig),
    chat("bedrock", "bedrock", "anthropic.claude-3-haiku-20240307-v1:0", bedrockConfig),
    chat("huggingface-tgi", "huggingface-tgi", "tgi", `{ hf_server_url: "${tgi.url}" }`),
    chat("ollama", "ollama", "llama3.2", ollamaConfig),
    chat("mlflow-model-serving", "mlflow-model-serving", "chat-bot", `{ model_server_url: "${openaiFake.url}/llm" }`),
    chat("echo", "echo", "echo-1", "{}"),
    embed("openai", "openai", "text-embedding-3-small", openai),
    embed("azure-openai", "azure-openai", "text-embedding-3-small", azure),
    embed("mistral", "mistral", "mistral-embed", mistral),
    embed("cohere", "cohere", "embed-v4.0", cohereConfig),
    embed("gemini", "gemini", "gemini-embedding-001", geminiConfig),
    embed("bedrock-titan", "bedrock", "amazon.titan-embed-text-v2:0", bedrockConfig),
    embed("ollama", "ollama", "all-minilm", ollamaConfig),
    embed("mlflow-model-serving", "mlflow-model-serving", "sentence-piece", `{ model_server_url: "${openaiFake.url}/embeddings" }`),
    embed("echo", "echo", "echo-embed-1", "{}"),
  ].join("\n");
}

beforeAll(async () => {
  [openaiFake, gemini, cohere, bedrock, tgi, ollama] = await Promise.all([
    startFakeUpstream(),
    startFakeGemini(),
    startFakeCohere(),
    startFakeBedrock(),
    startFakeTgi(),
    startFakeOllama(),
  ]);
  gw = await startGateway(`endpoints:\n${endpointsYaml()}\n`, env);
  client = new OpenAI({ apiKey: "unused-gateway-auth-is-off", baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw.close();
  await Promise.all([openaiFake, gemini, cohere, bedrock, tgi, ollama].map((f) => f.close()));
});

interface ChatCase {
  /** The endpoint name (= the provider's name). */
  provider: string;
  /** Usage for "hello world" ("echo: hello world" back), or "none" where the provider reports none. */
  usage: { prompt_tokens: number; completion_tokens: number } | "none";
  /**
   * How a stream ends: "usage-last" = a usage-only chunk after the content; "refused" = no
   * streaming at all (MLflow AI Gateway does not stream mlflow-model-serving, and neither do we).
   */
  stream: "usage-last" | "refused";
  /** The answer to a tool result `result` from tool get_weather; undefined = no tools. */
  toolAnswer?: (result: string) => string;
}

const echoed = (result: string) => fakeReplyText(result);
const usage = (prompt_tokens: number, completion_tokens: number) => ({ prompt_tokens, completion_tokens });

/** Every fake counts words; TGI counts the closing </s> it generates too. */
const chatCases: ChatCase[] = [
  { provider: "openai", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  { provider: "azure-openai", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  // Mistral ends every stream with usage unasked and refuses stream_options, so the preset never
  // asks; the fake speaks OpenAI, which sends stream usage only when asked: none reaches us.
  { provider: "mistral", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  { provider: "anthropic", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  { provider: "gemini", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  { provider: "cohere", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  { provider: "bedrock", usage: usage(2, 3), stream: "usage-last", toolAnswer: echoed },
  { provider: "huggingface-tgi", usage: usage(2, 4), stream: "usage-last" },
  // Ollama's tool message names the tool (tool_name), and the fake says so in its answer.
  { provider: "ollama", usage: usage(2, 3), stream: "usage-last", toolAnswer: (result) => `echo: tool get_weather said ${result}` },
  // A model behind an MLflow scoring server returns predictions only: no token counts.
  { provider: "mlflow-model-serving", usage: "none", stream: "refused" },
  { provider: "echo", usage: usage(2, 3), stream: "usage-last" },
];

const question = "hello world";
const ask = (provider: string) => ({ model: provider, messages: [{ role: "user" as const, content: question }] });

/** Drains an SDK stream, keeping every chunk. */
async function chunksOf(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const out: ChatCompletionChunk[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}

describe.each(chatCases)("chat via $provider", ({ provider, usage: expectedUsage }) => {
  it("unary: the fake's answer, with usage where the provider reports it", async () => {
    const res = await client.chat.completions.create(ask(provider));
    expect(res.object).toBe("chat.completion");
    expect(res.choices).toHaveLength(1);
    expect(res.choices[0]?.message.role).toBe("assistant");
    expect(res.choices[0]?.message.content).toBe(fakeReplyText(question));
    if (expectedUsage === "none") {
      expect(res.usage).toBeUndefined();
      // MLflow scoring servers give no finish reason either; OpenAI's null says "not known".
      expect(res.choices[0]?.finish_reason).toBeNull();
      return;
    }
    expect(res.choices[0]?.finish_reason).toBe("stop");
    // The totals; OpenAI-format upstreams may add their breakdowns (prompt_tokens_details ...).
    expect(res.usage).toMatchObject({ ...expectedUsage, total_tokens: expectedUsage.prompt_tokens + expectedUsage.completion_tokens });
  });
});

describe.each(chatCases.filter((c) => c.stream !== "refused"))("streamed chat via $provider", ({ provider, usage: expectedUsage }) => {
  it("with include_usage: the unary text, then the usage chunk last", async () => {
    const chunks = await chunksOf(
      await client.chat.completions.create({ ...ask(provider), stream: true, stream_options: { include_usage: true } }),
    );
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    const text = chunks.flatMap((c) => c.choices.map((d) => d.delta.content ?? "")).join("");
    expect(text).toBe(fakeReplyText(question));
    expect(chunks.flatMap((c) => c.choices.map((d) => d.finish_reason)).filter(Boolean)).toEqual(["stop"]);
    // Mistral refuses stream_options and always ends with usage on its last chunk; the gateway
    // still gives the OpenAI client its usage-only closing chunk.
    if (provider === "mistral") expect(openaiFake.requests.at(-1)?.body).not.toHaveProperty("stream_options");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.total_tokens).toBe((last.usage?.prompt_tokens ?? NaN) + (last.usage?.completion_tokens ?? NaN));
    // the same counts as the unary answer (the fakes count the same words either way)
    if (expectedUsage !== "none") expect(last.usage).toMatchObject(expectedUsage);
    // with include_usage every other chunk carries `usage: null`, as OpenAI sends it
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });
});

describe.each(chatCases.filter((c) => c.stream === "refused"))("streamed chat via $provider", ({ provider }) => {
  it("is refused before any upstream call, as a BadRequestError naming the provider", async () => {
    openaiFake.reset();
    const err = await client.chat.completions
      .create({ ...ask(provider), stream: true, stream_options: { include_usage: true } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/^400 mlflow-model-serving does not stream .*; call Chat instead of StreamChat \(on the REST surfaces: send "stream": false\)$/);
    expect(openaiFake.requests).toEqual([]);
  });
});

const weatherTool: ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
  },
};

describe.each(chatCases.filter((c) => c.toolAnswer))("tools via $provider", ({ provider, toolAnswer }) => {
  it("round trip: tools -> tool_calls -> tool message -> answer", async () => {
    const messages: ChatCompletionMessageParam[] = [{ role: "user", content: "#tool weather in Paris" }];
    const first = await client.chat.completions.create({ model: provider, messages, tools: [weatherTool] });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0]!;
    if (call.type !== "function") throw new Error(`expected a function call, got ${call.type}`);
    expect(call.id).not.toBe("");
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ q: "weather in Paris" });

    // As an SDK user does: the assistant message goes back as received, then the tool result.
    const result = '{"temp_c":18}';
    messages.push(choice.message, { role: "tool", tool_call_id: call.id, content: result });
    const second = await client.chat.completions.create({ model: provider, messages, tools: [weatherTool] });
    expect(second.choices[0]?.message.content).toBe(toolAnswer!(result));
    expect(second.choices[0]?.message.tool_calls).toBeUndefined();
    expect(second.choices[0]?.finish_reason).toBe("stop");
  });
});

interface EmbedCase {
  endpoint: string;
  inputs: string[];
  vector: (text: string) => number[];
  /** prompt_tokens the provider reports for `inputs` (0 where it reports none). */
  promptTokens: number;
}

const two = ["first text", "second"];
const embedCases: EmbedCase[] = [
  { endpoint: "openai-embed", inputs: two, vector: fakeEmbedding, promptTokens: 3 },
  { endpoint: "azure-openai-embed", inputs: two, vector: fakeEmbedding, promptTokens: 3 },
  { endpoint: "mistral-embed", inputs: two, vector: fakeEmbedding, promptTokens: 3 },
  { endpoint: "cohere-embed", inputs: two, vector: fakeEmbedding, promptTokens: 3 },
  // Gemini's batchEmbedContents reports no token counts.
  { endpoint: "gemini-embed", inputs: two, vector: fakeEmbedding, promptTokens: 0 },
  // Titan embeds one text per InvokeModel call.
  { endpoint: "bedrock-titan-embed", inputs: ["first text here"], vector: fakeEmbedding, promptTokens: 3 },
  { endpoint: "ollama-embed", inputs: two, vector: fakeEmbedding, promptTokens: 3 },
  { endpoint: "mlflow-model-serving-embed", inputs: two, vector: fakeEmbedding, promptTokens: 0 },
  { endpoint: "echo-embed", inputs: two, vector: (text) => echoEmbedding(text, 8), promptTokens: 3 },
];

describe.each(embedCases)("embeddings via $endpoint", ({ endpoint, inputs, vector, promptTokens }) => {
  it("the SDK's default base64 decodes to the fake's vectors, in input order", async () => {
    const res = await client.embeddings.create({ model: endpoint, input: inputs });
    expect(res.object).toBe("list");
    expect(res.data.map((d) => d.index)).toEqual(inputs.map((_, i) => i));
    // The fakes' vectors are float32-exact, so base64 float32 carries them unchanged.
    expect(res.data.map((d) => d.embedding)).toEqual(inputs.map(vector));
    expect(res.usage).toEqual({ prompt_tokens: promptTokens, total_tokens: promptTokens });
  });
});

// The OpenAI family through the gateway against the fake upstream: tool calls (unary, streamed
// deltas joined by index, the round trip with the tool result), structured output, image parts,
// Azure OpenAI deployments (api-key and Entra ID bearer), and the Mistral preset end to end.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import type { ChatMessage, ToolCall } from "../../gen/modelgate/v1/common_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { modelFactories } from "../../src/providers/catalog";
import { parseConfig } from "../../src/config/load";
import {
  fakeEmbedding,
  fakeToolArguments,
  splitToolArguments,
  startFakeUpstream,
  type FakeUpstream,
  type JsonObject,
} from "../fakes/fake-upstream";
import { clientFor, type ProtocolName } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const openaiKey = "sk-openai-secret-for-tests-0003";
const azureKey = "azure-secret-for-tests-0004";
const entraToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.entra-token-for-tests";
const mistralKey = "mistral-secret-for-tests-0005";

let fake: FakeUpstream;
let gw: TestGateway;

const azureConfig = (fakeUrl: string, extra: string) =>
  `{ openai_api_base: "${fakeUrl}", openai_deployment_name: gpt4o-prod, openai_api_version: "2024-10-21", ${extra} }`;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(
    `
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: $OPENAI_KEY, openai_api_base: "${fake.url}/v1" } } }
  - { name: azure, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o, config: ${azureConfig(fake.url, "openai_api_type: azure, openai_api_key: $AZURE_KEY")} } }
  - { name: azure-ad, endpoint_type: llm/v1/chat, model: { provider: azure-openai, name: gpt-4o, config: ${azureConfig(fake.url, "openai_api_type: azuread, openai_api_key: $ENTRA_TOKEN")} } }
  - { name: azure-embed, endpoint_type: llm/v1/embeddings, model: { provider: azure-openai, name: text-embedding-3-small, config: ${azureConfig(fake.url, "openai_api_key: $AZURE_KEY")} } }
  - { name: mistral, endpoint_type: llm/v1/chat, model: { provider: mistral, name: mistral-small-latest, config: { mistral_api_key: $MISTRAL_KEY, mistral_api_base: "${fake.url}/v1" } } }
  - { name: deepseek, endpoint_type: llm/v1/chat, model: { provider: deepseek, name: deepseek-chat, config: { deepseek_api_key: $MISTRAL_KEY, deepseek_api_base: "${fake.url}/v1" } } }
`,
    { OPENAI_KEY: openaiKey, AZURE_KEY: azureKey, ENTRA_TOKEN: entraToken, MISTRAL_KEY: mistralKey },
  );
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const user = (content: string) => ({ role: "user", content });

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city",
    parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
    strict: true,
  },
};

/** Joins streamed tool-call deltas by index, as a client would. */
function joinToolCalls(deltas: ToolCall[]): { id: string; type: string; name: string; arguments: string }[] {
  const calls: { id: string; type: string; name: string; arguments: string }[] = [];
  for (const d of deltas) {
    const call = (calls[d.index] ??= { id: "", type: "", name: "", arguments: "" });
    call.id ||= d.id;
    call.type ||= d.type;
    call.name ||= d.function?.name ?? "";
    call.arguments += d.function?.arguments ?? "";
  }
  return calls;
}

const recordedBody = (i = 0) => fake.requests[i]?.body as JsonObject;

describe.each<ProtocolName>(["grpc", "connect-json-h1"])("openai tool calling over %s", (protocol) => {
  const chat = () => clientFor(ChatService, protocol, gw.url);

  it("round trip: tools -> assistant tool call -> tool result -> answer", async () => {
    const question = user("#tool weather in Paris");
    const first = await chat().chat({ endpoint: "gpt", messages: [question], tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "auto" } } });
    const choice = first.choices[0];
    expect(choice?.finishReason).toBe("tool_calls");
    const assistant = choice?.message as ChatMessage;
    expect(assistant.content).toBe("");
    expect(assistant.toolCalls).toHaveLength(1);
    const call = assistant.toolCalls[0]!;
    expect(call).toMatchObject({ type: "function", index: 0, function: { name: "get_weather", arguments: fakeToolArguments("#tool weather in Paris") } });
    expect(JSON.parse(call.function?.arguments ?? "")).toEqual({ q: "weather in Paris" });
    expect(recordedBody(0)).toMatchObject({
      tools: [{ type: "function", function: { name: "get_weather", strict: true, parameters: weatherTool.function.parameters } }],
      tool_choice: "auto",
    });

    const second = await chat().chat({
      endpoint: "gpt",
      messages: [question, assistant, { role: "tool", toolCallId: call.id, content: "14 degrees and sunny" }],
      tools: [weatherTool],
    });
    expect(second.choices[0]?.message?.content).toBe("echo: 14 degrees and sunny");
    expect(second.choices[0]?.finishReason).toBe("stop");
    expect(recordedBody(1).messages).toEqual([
      { role: "user", content: "#tool weather in Paris" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: call.id, type: "function", function: { name: "get_weather", arguments: '{"q":"weather in Paris"}' } }],
      },
      { role: "tool", content: "14 degrees and sunny", tool_call_id: call.id },
    ]);
  });

  it("streamed tool-call deltas joined by index give valid JSON arguments", async () => {
    const text = "#tool weather in Tokyo tomorrow";
    const chunks = await collect(chat().streamChat({ endpoint: "gpt", messages: [user(text)], tools: [weatherTool] }));
    const deltas = chunks.flatMap((c) => c.choices.flatMap((d) => d.delta?.toolCalls ?? []));
    const fragments = splitToolArguments(fakeToolArguments(text));
    expect(fragments.length).toBeGreaterThan(2);
    // the first delta names the call, then one delta per arguments fragment
    expect(deltas).toHaveLength(1 + fragments.length);
    expect(deltas.slice(1).map((d) => d.function?.arguments)).toEqual(fragments);
    const [call, ...rest] = joinToolCalls(deltas);
    expect(rest).toEqual([]);
    expect(call).toMatchObject({ type: "function", name: "get_weather" });
    expect(call?.id).toMatch(/^call_fake/);
    expect(JSON.parse(call?.arguments ?? "")).toEqual({ q: "weather in Tokyo tomorrow" });
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "tool_calls"))).toBe(true);
    expect(chunks.at(-1)?.usage).toMatchObject({ completionTokens: fragments.length });
  });

  it("response_format json_schema passes through", async () => {
    const schema = { type: "object", properties: { colour: { type: "string" } }, required: ["colour"], additionalProperties: false };
    await chat().chat({
      endpoint: "gpt",
      messages: [user("a colour")],
      responseFormat: { type: "json_schema", jsonSchema: { name: "colour", schema, strict: true } },
    });
    expect(recordedBody().response_format).toEqual({ type: "json_schema", json_schema: { name: "colour", schema, strict: true } });
  });

  it("image parts arrive as the OpenAI content array", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const res = await chat().chat({
      endpoint: "gpt",
      messages: [
        {
          role: "user",
          content: "compare",
          parts: [
            { part: { case: "imageUrl", value: { url: "https://example.com/a.jpg", detail: "low" } } },
            { part: { case: "image", value: { data: png, mimeType: "image/png" } } },
          ],
        },
      ],
    });
    expect(recordedBody().messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "compare" },
          { type: "image_url", image_url: { url: "https://example.com/a.jpg", detail: "low" } },
          { type: "image_url", image_url: { url: `data:image/png;base64,${Buffer.from(png).toString("base64")}` } },
        ],
      },
    ]);
    expect(res.choices[0]?.message?.content).toBe("echo: compare");
  });

  it("a bad tool request is refused before the upstream is called", async () => {
    const err = await failure(
      chat().chat({ endpoint: "gpt", messages: [user("hi")], tools: [weatherTool], toolChoice: { choice: { case: "functionName", value: "get_time" } } }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("openai: tool_choice.function_name: get_time is not one of the tools");
    expect(fake.requests).toHaveLength(0);
  });
});

describe("Azure OpenAI", () => {
  it.each<ProtocolName>(["grpc", "connect-json-h1"])("api-key deployment URL, unary and streamed over %s", async (protocol) => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const res = await chat.chat({ endpoint: "azure", messages: [user("hello azure")] });
    expect(res.choices[0]?.message?.content).toBe("echo: hello azure");
    expect(res.model).toBe("gpt4o-prod");
    const chunks = await collect(chat.streamChat({ endpoint: "azure", messages: [user("one two")] }));
    expect(chunks.flatMap((c) => c.choices.map((d) => d.delta?.content ?? "")).join("")).toBe("echo: one two");
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 2, completionTokens: 3 });
    for (const req of fake.requests) {
      expect(req.path).toBe("/openai/deployments/gpt4o-prod/chat/completions");
      expect(req.query).toBe("api-version=2024-10-21");
      expect(req.headers["api-key"]).toBe(azureKey);
      expect(req.headers.authorization).toBeUndefined();
      expect(req.body).not.toHaveProperty("model");
    }
  });

  it("azure-openai with azuread sends the Entra ID token as a bearer", async () => {
    await clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "azure-ad", messages: [user("hi")] });
    const req = fake.requests[0]!;
    expect(req.path).toBe("/openai/deployments/gpt4o-prod/chat/completions");
    expect(req.headers.authorization).toBe(`Bearer ${entraToken}`);
    expect(req.headers["api-key"]).toBeUndefined();
  });

  it("azure-openai embeddings go to the deployment's embeddings route", async () => {
    const res = await clientFor(EmbeddingsService, "connect-json-h1", gw.url).embed({ endpoint: "azure-embed", inputs: ["vector me"] });
    expect(res.data[0]?.values).toEqual(fakeEmbedding("vector me"));
    expect(fake.requests[0]?.path).toBe("/openai/deployments/gpt4o-prod/embeddings");
    expect(fake.requests[0]?.query).toBe("api-version=2024-10-21");
  });

  it("a config missing the deployment is refused at load, naming the key", () => {
    const yaml = `
endpoints:
  - { name: a, endpoint_type: llm/v1/chat, model: { provider: openai, name: x, config: { openai_api_type: azure, openai_api_key: k, openai_api_base: "https://r.openai.azure.com", openai_api_version: "2024-10-21" } } }
`;
    expect(() => parseConfig(yaml, "test.yaml", modelFactories, {})).toThrow(/openai_deployment_name: required when openai_api_type is azure/);
  });
});

describe("Mistral preset end to end", () => {
  it("seed -> random_seed, tool_choice required -> any, bearer key, no stream_options", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    const res = await chat.chat({ endpoint: "mistral", messages: [user("bonjour")], seed: 42n, maxTokens: 20 });
    expect(res.choices[0]?.message?.content).toBe("echo: bonjour");
    expect(res.usage).toMatchObject({ promptTokens: 1, completionTokens: 2, totalTokens: 3 });
    const unary = fake.requests[0]!;
    expect(unary.path).toBe("/v1/chat/completions");
    expect(unary.headers.authorization).toBe(`Bearer ${mistralKey}`);
    expect(unary.body).toMatchObject({ model: "mistral-small-latest", random_seed: 42, max_tokens: 20 });
    expect(unary.body).not.toHaveProperty("seed");

    const chunks = await collect(
      chat.streamChat({
        endpoint: "mistral",
        messages: [user("#tool heure à Paris")],
        tools: [weatherTool],
        toolChoice: { choice: { case: "mode", value: "required" } },
      }),
    );
    const streamed = fake.requests[1]!;
    expect(streamed.body).toMatchObject({ tool_choice: "any", stream: true });
    expect(streamed.body).not.toHaveProperty("stream_options");
    const [call] = joinToolCalls(chunks.flatMap((c) => c.choices.flatMap((d) => d.delta?.toolCalls ?? [])));
    expect(JSON.parse(call?.arguments ?? "")).toEqual({ q: "heure à Paris" });
  });

  it("user is refused for mistral (an unknown field there), images for deepseek", async () => {
    const chat = clientFor(ChatService, "connect-json-h1", gw.url);
    const noUser = await failure(chat.chat({ endpoint: "mistral", messages: [user("hi")], user: "u-1" }));
    expect(noUser.code).toBe(Code.InvalidArgument);
    expect(noUser.rawMessage).toBe("mistral: user is not supported");
    const noImage = await failure(
      chat.chat({
        endpoint: "deepseek",
        messages: [{ role: "user", parts: [{ part: { case: "imageUrl", value: { url: "https://example.com/a.png" } } }] }],
      }),
    );
    expect(noImage.code).toBe(Code.InvalidArgument);
    expect(noImage.rawMessage).toBe("deepseek: messages[0].parts[0]: images are not supported by deepseek");
    expect(fake.requests).toHaveLength(0);
  });
});

// The gateway against fake Gemini and Cohere APIs and the fake Anthropic API, through real
// gRPC and Connect clients: chat (unary and streamed, with usage), a tool-call round trip per
// provider, streamed tool-call arguments, embeddings, error mapping and cancellation.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import type { ToolCall } from "../../gen/modelgate/v1/common_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { startFakeCohere } from "../fakes/fake-cohere";
import { FAKE_THOUGHT_SIGNATURE, startFakeGemini } from "../fakes/fake-gemini";
import { fakeEmbedding, startFakeUpstream, type FakeUpstream, type JsonObject } from "../fakes/fake-upstream";
import { clientFor, type ProtocolName } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const geminiKey = "AIza-secret-for-tests-0003";
const cohereKey = "co-secret-for-tests-0004";
const anthropicKey = "sk-ant-secret-for-tests-0005";
const secrets = [geminiKey, cohereKey, anthropicKey];

let gemini: FakeUpstream;
let cohere: FakeUpstream;
let anthropic: FakeUpstream;
let gw: TestGateway;

/** Which fake serves each chat endpoint. */
const fakeOf = (endpoint: string): FakeUpstream => ({ gemini, cohere, claude: anthropic })[endpoint as "gemini"]!;

beforeAll(async () => {
  [gemini, cohere, anthropic] = await Promise.all([startFakeGemini(), startFakeCohere(), startFakeUpstream()]);
  const geminiConfig = `{ gemini_api_key: $GEMINI_KEY, gemini_api_base: "${gemini.url}/v1beta" }`;
  const cohereConfig = `{ cohere_api_key: $COHERE_KEY, cohere_api_base: "${cohere.url}" }`;
  gw = await startGateway(
    `
endpoints:
  - { name: gemini, endpoint_type: llm/v1/chat, model: { provider: gemini, name: gemini-2.5-flash, config: ${geminiConfig} } }
  - { name: gemini-embed, endpoint_type: llm/v1/embeddings, model: { provider: gemini, name: gemini-embedding-001, config: ${geminiConfig} } }
  - { name: cohere, endpoint_type: llm/v1/chat, model: { provider: cohere, name: command-a-03-2025, config: ${cohereConfig} } }
  - { name: cohere-embed, endpoint_type: llm/v1/embeddings, model: { provider: cohere, name: embed-v4.0, config: ${cohereConfig} } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: $ANTHROPIC_KEY, anthropic_api_base: "${anthropic.url}/v1" } } }
`,
    { GEMINI_KEY: geminiKey, COHERE_KEY: cohereKey, ANTHROPIC_KEY: anthropicKey },
  );
});
afterAll(async () => {
  await gw.close();
  await Promise.all([gemini.close(), cohere.close(), anthropic.close()]);
});
beforeEach(() => {
  gemini.reset();
  cohere.reset();
  anthropic.reset();
});

const user = (content: string) => ({ role: "user", content });
const chatProtocols: ProtocolName[] = ["grpc", "connect-json-h1", "connect-binary-h2"];

describe.each(["gemini", "cohere"])("chat via %s", (endpoint) => {
  it.each(chatProtocols)("unary over %s, with usage", async (protocol) => {
    const res = await clientFor(ChatService, protocol, gw.url).chat({
      endpoint,
      messages: [{ role: "system", content: "be brief" }, user("hello world")],
      maxTokens: 50,
    });
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hello world" });
    expect(res.choices[0]?.finishReason).toBe("stop");
    expect(res.usage).toMatchObject({ promptTokens: 4, completionTokens: 3, totalTokens: 7 });
    expect(res.id).not.toBe("");
  });

  it.each(chatProtocols)("streamed over %s, usage on the last message only", async (protocol) => {
    const chunks = await collect(clientFor(ChatService, protocol, gw.url).streamChat({ endpoint, messages: [user("one two three four")] }));
    const text = chunks.flatMap((c) => c.choices.map((d) => d.delta?.content ?? "")).join("");
    expect(text).toBe("echo: one two three four");
    expect(chunks.filter((c) => c.choices.some((d) => d.delta?.content)).length).toBeGreaterThanOrEqual(5);
    expect(chunks[0]?.choices[0]?.delta?.role).toBe("assistant");
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 4, completionTokens: 5, totalTokens: 9 });
    expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "stop"))).toBe(true);
  });

  it("max_tokens caps the answer: finish_reason length", async () => {
    const res = await clientFor(ChatService, "grpc", gw.url).chat({ endpoint, messages: [user("a b c d e f")], maxTokens: 2 });
    expect(res.choices[0]?.message?.content).toBe("echo: a");
    expect(res.choices[0]?.finishReason).toBe("length");
  });
});

describe("what the upstream receives", () => {
  it("gemini: generateContent / streamGenerateContent?alt=sse with the key in x-goog-api-key", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    await chat.chat({ endpoint: "gemini", messages: [{ role: "system", content: "be brief" }, user("hi")], temperature: 0.5, stop: ["\n"] });
    await collect(chat.streamChat({ endpoint: "gemini", messages: [user("hi")] }));
    const [unary, streamed] = gemini.requests;
    expect(unary?.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent");
    expect(unary?.headers["x-goog-api-key"]).toBe(geminiKey);
    expect(unary?.body).toEqual({
      systemInstruction: { parts: [{ text: "be brief" }] },
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      generationConfig: { temperature: 0.5, stopSequences: ["\n"] },
    });
    expect(streamed?.path).toBe("/v1beta/models/gemini-2.5-flash:streamGenerateContent");
    expect(streamed?.query).toBe("alt=sse");
  });

  it("cohere: POST /v2/chat with a Bearer key; p and stop_sequences; stream: true when streamed", async () => {
    const chat = clientFor(ChatService, "connect-json-h1", gw.url);
    await collect(chat.streamChat({ endpoint: "cohere", messages: [user("hi")], topP: 0.5, stop: ["x"], seed: 3n }));
    const req = cohere.requests[0]!;
    expect(req.path).toBe("/v2/chat");
    expect(req.headers["authorization"]).toBe(`Bearer ${cohereKey}`);
    expect(req.body).toEqual({
      model: "command-a-03-2025",
      messages: [{ role: "user", content: "hi" }],
      p: 0.5,
      stop_sequences: ["x"],
      seed: 3,
      stream: true,
    });
  });

  it("gemini: images become inlineData and fileData parts", async () => {
    const png = Buffer.from("89504e470d0a1a0a", "hex");
    await clientFor(ChatService, "connect-binary-h2", gw.url).chat({
      endpoint: "gemini",
      messages: [{
        role: "user",
        content: "what is this?",
        parts: [
          { part: { case: "image", value: { data: png, mimeType: "image/png" } } },
          { part: { case: "imageUrl", value: { url: "https://example.com/cat.webp" } } },
        ],
      }],
    });
    expect((gemini.requests[0]?.body as JsonObject).contents).toEqual([{
      role: "user",
      parts: [
        { text: "what is this?" },
        { inlineData: { mimeType: "image/png", data: png.toString("base64") } },
        { fileData: { mimeType: "image/webp", fileUri: "https://example.com/cat.webp" } },
      ],
    }]);
  });
});

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a city",
    parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
  },
};

/** Joins streamed tool-call deltas by index, as a client does. */
function joinToolCalls(deltas: ToolCall[]): { id: string; name: string; arguments: string }[] {
  const calls: { id: string; name: string; arguments: string }[] = [];
  for (const delta of deltas) {
    const call = (calls[delta.index] ??= { id: "", name: "", arguments: "" });
    call.id ||= delta.id;
    call.name ||= delta.function?.name ?? "";
    call.arguments += delta.function?.arguments ?? "";
  }
  return calls;
}

describe.each(["claude", "gemini", "cohere"])("tool calling via %s", (endpoint) => {
  it.each<ProtocolName>(["grpc", "connect-json-h1"])("round trip over %s: tools -> tool call -> tool result -> answer", async (protocol) => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const ask = user("#tool weather in Paris");
    const first = await chat.chat({ endpoint, messages: [ask], tools: [weatherTool] });
    const choice = first.choices[0]!;
    expect(choice.finishReason).toBe("tool_calls");
    expect(choice.message?.toolCalls).toHaveLength(1);
    const call = choice.message!.toolCalls[0]!;
    expect(call.id).not.toBe("");
    expect(call.function?.name).toBe("get_weather");
    expect(JSON.parse(call.function!.arguments)).toEqual({ q: "weather in Paris" });

    const second = await chat.chat({
      endpoint,
      messages: [
        ask,
        { role: "assistant", content: choice.message!.content, toolCalls: [call] },
        { role: "tool", toolCallId: call.id, content: '{"temp_c":18}' },
      ],
      tools: [weatherTool],
    });
    expect(second.choices[0]?.message?.content).toBe('echo: {"temp_c":18}');
    expect(second.choices[0]?.finishReason).toBe("stop");
    expect(second.usage?.promptTokens).toBeGreaterThan(0);

    // The fakes check the history as the real APIs do (ids match, Gemini's signature came back);
    // here, the tool result reached the upstream in the provider's own shape.
    const sent = fakeOf(endpoint).requests.at(-1)!.body as JsonObject;
    const messages = (sent.messages ?? sent.contents) as JsonObject[];
    const last = messages.at(-1)!;
    if (endpoint === "claude") {
      expect(last).toEqual({ role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: '{"temp_c":18}' }] });
    } else if (endpoint === "gemini") {
      expect(last).toEqual({ role: "user", parts: [{ functionResponse: { name: "get_weather", response: { temp_c: 18 } } }] });
      expect(messages.at(-2)).toMatchObject({ role: "model", parts: [{ thoughtSignature: FAKE_THOUGHT_SIGNATURE }] });
    } else {
      expect(last).toEqual({ role: "tool", tool_call_id: call.id, content: '{"temp_c":18}' });
    }
  });

  it.each<ProtocolName>(["grpc", "connect-binary-h2"])("streamed over %s: argument deltas joined by index are valid JSON", async (protocol) => {
    const chunks = await collect(
      clientFor(ChatService, protocol, gw.url).streamChat({ endpoint, messages: [user("#tool weather in Paris, in detail")], tools: [weatherTool] }),
    );
    const deltas = chunks.flatMap((c) => c.choices.flatMap((d) => d.delta?.toolCalls ?? []));
    expect(deltas.length).toBeGreaterThanOrEqual(1);
    const calls = joinToolCalls(deltas);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.id).not.toBe("");
    expect(calls[0]?.name).toBe("get_weather");
    expect(JSON.parse(calls[0]!.arguments)).toEqual({ q: "weather in Paris, in detail" });
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "tool_calls"))).toBe(true);
    expect(chunks.at(-1)?.usage?.completionTokens).toBeGreaterThan(0);
  });

  it("tool_choice none keeps the model from calling", async () => {
    const res = await clientFor(ChatService, "grpc", gw.url).chat({
      endpoint,
      messages: [user("#tool weather")],
      tools: [weatherTool],
      toolChoice: { choice: { case: "mode", value: "none" } },
    });
    expect(res.choices[0]?.message?.toolCalls ?? []).toEqual([]);
    expect(res.choices[0]?.message?.content).toBe("echo: #tool weather");
  });
});

describe("gemini thought signatures", () => {
  it("a client that drops the signature from the call id gets Gemini's 400 as INVALID_ARGUMENT", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    const ask = user("#tool weather in Oslo");
    const call = (await chat.chat({ endpoint: "gemini", messages: [ask], tools: [weatherTool] })).choices[0]!.message!.toolCalls[0]!;
    expect(call.id).toContain(FAKE_THOUGHT_SIGNATURE);
    const stripped = { ...call, id: "call_0" };
    const err = await failure(
      chat.chat({
        endpoint: "gemini",
        messages: [ask, { role: "assistant", toolCalls: [stripped] }, { role: "tool", toolCallId: "call_0", content: "{}" }],
        tools: [weatherTool],
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/^gemini: upstream rejected the request \(HTTP 400\): Function call is missing a thought_signature/);
  });
});

describe("embeddings", () => {
  it.each<[string, ProtocolName]>([
    ["gemini-embed", "grpc"],
    ["cohere-embed", "connect-json-h1"],
  ])("%s over %s: one vector per input, in order", async (endpoint, protocol) => {
    const res = await clientFor(EmbeddingsService, protocol, gw.url).embed({ endpoint, inputs: ["first text", "second"] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.values).toEqual(fakeEmbedding("first text"));
    expect(res.data[1]?.values).toEqual(fakeEmbedding("second"));
    if (endpoint === "cohere-embed") expect(res.usage).toMatchObject({ promptTokens: 3, completionTokens: 0, totalTokens: 3 });
  });

  it("gemini: batchEmbedContents with one request per input and extras on each", async () => {
    await clientFor(EmbeddingsService, "grpc", gw.url).embed({ endpoint: "gemini-embed", inputs: ["a", "b"], extras: { taskType: "RETRIEVAL_QUERY" } });
    const req = gemini.requests[0]!;
    expect(req.path).toBe("/v1beta/models/gemini-embedding-001:batchEmbedContents");
    expect(req.body).toEqual({
      requests: ["a", "b"].map((text) => ({ model: "models/gemini-embedding-001", content: { parts: [{ text }] }, taskType: "RETRIEVAL_QUERY" })),
    });
  });

  it("cohere: input_type defaults to search_document and extras can change it", async () => {
    const embed = clientFor(EmbeddingsService, "grpc", gw.url);
    await embed.embed({ endpoint: "cohere-embed", inputs: ["a"] });
    await embed.embed({ endpoint: "cohere-embed", inputs: ["a"], extras: { input_type: "search_query" } });
    expect(cohere.requests.map((r) => (r.body as JsonObject).input_type)).toEqual(["search_document", "search_query"]);
    expect(cohere.requests[0]?.body).toMatchObject({ model: "embed-v4.0", texts: ["a"], embedding_types: ["float"] });
  });
});

describe.each<[string, ProtocolName]>([
  ["gemini", "grpc"],
  ["gemini", "connect-json-h1"],
  ["cohere", "grpc"],
  ["cohere", "connect-json-h1"],
])("upstream failures via %s over %s", (endpoint, protocol) => {
  const chat = () => clientFor(ChatService, protocol, gw.url);

  it.each([
    ["#status:429", Code.ResourceExhausted],
    ["#status:500", Code.Unavailable],
    ["#status:400", Code.InvalidArgument],
    ["#status:403", Code.Unavailable],
    ["#garbage", Code.Unavailable],
    ["#break", Code.Unavailable],
  ])("%s -> %s (unary)", async (directive, code) => {
    const err = await failure(chat().chat({ endpoint, messages: [user(`${directive} hi`)] }));
    expect(Code[err.code]).toBe(Code[code]);
    for (const secret of secrets) expect(err.rawMessage).not.toContain(secret);
    expect(err.rawMessage.startsWith(`${endpoint}: `)).toBe(true);
    if (code === Code.ResourceExhausted) expect(err.metadata.get("retry-after")).toBe("7");
    if (directive === "#status:400") expect(err.rawMessage).toMatch(/upstream rejected the request \(HTTP 400\): fake/);
  });

  it.each(["#break", "#stream-error", "#status:500", "#garbage"])("a stream failing with %s ends with UNAVAILABLE, never a clean end", async (directive) => {
    const received: string[] = [];
    const err = await failure(
      (async () => {
        for await (const c of chat().streamChat({ endpoint, messages: [user(`${directive} a b c d`)] })) {
          received.push(...c.choices.map((d) => d.delta?.content ?? ""));
        }
      })(),
    );
    expect(Code[err.code]).toBe(Code[Code.Unavailable]);
    if (directive === "#break" || directive === "#stream-error") expect(received.join("").length).toBeGreaterThan(0);
  });

  it("a streamed 429 keeps its retry-after", async () => {
    const err = await failure(collect(chat().streamChat({ endpoint, messages: [user("#status:429 hi")] })));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.metadata.get("retry-after")).toBe("7");
  });
});

describe.each(["gemini", "cohere"])("cancellation reaches the upstream (%s)", (endpoint) => {
  it.each(chatProtocols)("a client that stops reading a #slow stream over %s closes the upstream request", async (protocol) => {
    const controller = new AbortController();
    let seen = 0;
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, protocol, gw.url).streamChat(
          { endpoint, messages: [user("#slow go")] },
          { signal: controller.signal },
        )) {
          if (c.choices.some((d) => d.delta?.content) && ++seen === 3) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe(Code.Canceled);
    await fakeOf(endpoint).waitForClosedEarly(1, 3_000);
  });

  it("a deadline aborts a hanging upstream with DEADLINE_EXCEEDED", async () => {
    // The deadline must leave time for the call to reach the upstream (a new connection, on a
    // loaded machine), or the upstream never sees a request to abort.
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint, messages: [user("#hang x")] }, { timeoutMs: 2_000 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await fakeOf(endpoint).waitForClosedEarly(1, 3_000);
  });
});

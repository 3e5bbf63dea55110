// The gateway against fake Hugging Face TGI and Ollama servers speaking their real wire formats
// (SSE and NDJSON streams): chat and completions with usage, Ollama tool calls and embeddings,
// error mapping, broken streams, and cancellation reaching the upstream.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { fakeEmbedding, type JsonObject } from "../fakes/fake-upstream";
import { startFakeOllama, type FakeOllama } from "../fakes/fake-ollama";
import { TGI_MODEL_ID, startFakeTgi, type FakeTgi } from "../fakes/fake-tgi";
import { clientFor, type ProtocolName } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const hfKey = "hf_secret_for_tests_0003";
const weatherTool = {
  type: "function",
  function: {
    name: "get_current_weather",
    description: "Get the current weather for a location",
    parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
  },
};

let tgi: FakeTgi;
let ollama: FakeOllama;
let gw: TestGateway;

beforeAll(async () => {
  tgi = await startFakeTgi({ apiKey: hfKey });
  ollama = await startFakeOllama();
  const hf = `{ hf_server_url: "${tgi.url}", huggingface_api_key: $HF_KEY }`;
  const local = `{ ollama_api_base: "${ollama.url}" }`;
  gw = await startGateway(
    `
endpoints:
  - { name: tgi-chat, endpoint_type: llm/v1/chat, model: { provider: huggingface-text-generation-inference, name: tgi, config: ${hf} } }
  - { name: tgi-text, endpoint_type: llm/v1/completions, model: { provider: huggingface-tgi, name: tgi, config: ${hf} } }
  - { name: tgi-nokey, endpoint_type: llm/v1/completions, model: { provider: huggingface-tgi, name: tgi, config: { hf_server_url: "${tgi.url}" } } }
  - { name: llama, endpoint_type: llm/v1/chat, model: { provider: ollama, name: "llama3.2", config: ${local} } }
  - { name: llama-text, endpoint_type: llm/v1/completions, model: { provider: ollama, name: "llama3.2", config: ${local} } }
  - { name: minilm, endpoint_type: llm/v1/embeddings, model: { provider: ollama, name: all-minilm, config: ${local} } }
  - { name: not-pulled, endpoint_type: llm/v1/chat, model: { provider: ollama, name: missing, config: ${local} } }
`,
    { HF_KEY: hfKey },
  );
});
afterAll(async () => {
  await gw.close();
  await tgi.close();
  await ollama.close();
});
beforeEach(() => {
  tgi.reset();
  ollama.reset();
});

const user = (content: string) => ({ role: "user", content });
const tested: ProtocolName[] = ["grpc", "connect-json-h1", "connect-binary-h2"];
const deltaText = (chunks: { choices: { delta?: { content: string } }[] }[]) =>
  chunks.flatMap((c) => c.choices.map((d) => d.delta?.content ?? "")).join("");

describe.each(tested)("chat over %s", (protocol) => {
  const chat = () => clientFor(ChatService, protocol, gw.url);

  it("TGI (Messages API): unary, with usage", async () => {
    const res = await chat().chat({ endpoint: "tgi-chat", messages: [{ role: "system", content: "be brief" }, user("hello world")] });
    expect(res.model).toBe(TGI_MODEL_ID);
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hello world" });
    expect(res.choices[0]?.finishReason).toBe("stop");
    // 4 prompt words; 3 reply words + the </s> TGI counts
    expect(res.usage).toMatchObject({ promptTokens: 4, completionTokens: 4, totalTokens: 8 });
  });

  it("TGI (Messages API): streamed, usage on the last message", async () => {
    const chunks = await collect(chat().streamChat({ endpoint: "tgi-chat", messages: [user("one two three")] }));
    expect(deltaText(chunks)).toBe("echo: one two three");
    expect(chunks.filter((c) => c.choices.some((d) => d.delta?.content)).length).toBe(4);
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 3, completionTokens: 5, totalTokens: 8 });
    expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
  });

  it("Ollama: unary, with usage", async () => {
    const res = await chat().chat({ endpoint: "llama", messages: [{ role: "system", content: "be brief" }, user("hello world")] });
    expect(res.model).toBe("llama3.2");
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hello world" });
    expect(res.choices[0]?.finishReason).toBe("stop");
    expect(res.usage).toMatchObject({ promptTokens: 4, completionTokens: 3, totalTokens: 7 });
  });

  it("Ollama: streamed NDJSON, usage on the last message", async () => {
    const chunks = await collect(chat().streamChat({ endpoint: "llama", messages: [user("one two three four")] }));
    expect(deltaText(chunks)).toBe("echo: one two three four");
    expect(chunks.filter((c) => c.choices.some((d) => d.delta?.content)).length).toBe(5);
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "stop"))).toBe(true);
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 4, completionTokens: 5, totalTokens: 9 });
    expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
  });
});

describe("completions", () => {
  it.each<[string, ProtocolName]>([
    ["grpc", "grpc"],
    ["connect", "connect-json-h1"],
  ])("TGI native /generate and /generate_stream over %s", async (_name, protocol) => {
    const client = clientFor(CompletionsService, protocol, gw.url);
    const res = await client.complete({ endpoint: "tgi-text", prompt: "tell me", maxTokens: 50 });
    expect(res.choices[0]).toMatchObject({ text: "echo: tell me", finishReason: "stop" });
    // prefill: <s> + 2 words; generated: 3 words + </s>
    expect(res.usage).toMatchObject({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
    const chunks = await collect(client.streamComplete({ endpoint: "tgi-text", prompt: "tell me", maxTokens: 2 }));
    // TGI cuts at a token, keeping what the token holds
    expect(chunks.flatMap((c) => c.choices.map((x) => x.text)).join("")).toBe("echo: tell ");
    expect(chunks.flatMap((c) => c.choices.map((x) => x.finishReason)).filter(Boolean)).toEqual(["length"]);
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 3, completionTokens: 2, totalTokens: 5 });
  });

  it.each<[string, ProtocolName]>([
    ["grpc", "grpc"],
    ["connect", "connect-binary-h2"],
  ])("Ollama /api/generate unary and streamed over %s", async (_name, protocol) => {
    const client = clientFor(CompletionsService, protocol, gw.url);
    const res = await client.complete({ endpoint: "llama-text", prompt: "tell me" });
    expect(res.choices[0]).toMatchObject({ text: "echo: tell me", finishReason: "stop" });
    expect(res.usage).toMatchObject({ promptTokens: 2, completionTokens: 3, totalTokens: 5 });
    const chunks = await collect(client.streamComplete({ endpoint: "llama-text", prompt: "tell me", maxTokens: 2 }));
    expect(chunks.flatMap((c) => c.choices.map((x) => x.text)).join("")).toBe("echo: tell");
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 2, completionTokens: 2 });
    expect(chunks.flatMap((c) => c.choices.map((x) => x.finishReason)).filter(Boolean)).toEqual(["length"]);
  });
});

describe("what the upstream receives", () => {
  it("TGI /generate: bearer key, sampling as TGI wants it, details for usage", async () => {
    await clientFor(CompletionsService, "grpc", gw.url).complete({
      endpoint: "tgi-text",
      prompt: "hi",
      temperature: 0,
      topP: 0.5,
      stop: ["\n"],
      seed: 7n,
      extras: { top_k: 10 },
    });
    const req = tgi.requests[0]!;
    expect(req.path).toBe("/generate");
    expect(req.headers.authorization).toBe(`Bearer ${hfKey}`);
    // temperature 0 is greedy decoding: TGI refuses temperature 0, and top_p would make it sample
    expect(req.body).toEqual({
      inputs: "hi",
      parameters: { do_sample: false, stop: ["\n"], seed: 7, details: true, decoder_input_details: true, top_k: 10 },
    });
  });

  it("TGI streams go to /generate_stream without decoder_input_details (TGI refuses it there)", async () => {
    await collect(clientFor(CompletionsService, "grpc", gw.url).streamComplete({ endpoint: "tgi-text", prompt: "hi", temperature: 0.7, topP: 1 }));
    const req = tgi.requests[0]!;
    expect(req.path).toBe("/generate_stream");
    expect(req.body).toEqual({ inputs: "hi", parameters: { do_sample: true, temperature: 0.7, details: true } });
  });

  it("TGI chat: the Messages API with usage asked for, structured output as TGI's grammar", async () => {
    const res = await clientFor(ChatService, "grpc", gw.url).chat({
      endpoint: "tgi-chat",
      messages: [user("as json")],
      responseFormat: { type: "json_object" },
    });
    expect(JSON.parse(res.choices[0]?.message?.content ?? "")).toEqual({ reply: "echo: as json" });
    await collect(clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint: "tgi-chat", messages: [user("x")], topP: 1 }));
    expect(tgi.requests.map((r) => r.path)).toEqual(["/v1/chat/completions", "/v1/chat/completions"]);
    expect(tgi.requests[0]?.body).toMatchObject({ model: "tgi", response_format: { type: "json", value: { type: "object" } } });
    expect(tgi.requests[1]?.body).toEqual({ model: "tgi", messages: [user("x")], stream: true, stream_options: { include_usage: true } });
  });

  it("Ollama /api/chat: stream false for unary, options, images as base64", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const res = await clientFor(ChatService, "connect-json-h1", gw.url).chat({
      endpoint: "llama",
      messages: [{ role: "user", content: "what is this?", parts: [{ part: { case: "image", value: { data: png, mimeType: "image/png" } } }] }],
      temperature: 0.2,
      maxTokens: 50,
      seed: 3n,
      extras: { keep_alive: "1m", options: { num_ctx: 2048 } },
    });
    expect(res.choices[0]?.message?.content).toBe("echo: what is this? [1 images]");
    expect(ollama.requests[0]?.path).toBe("/api/chat");
    expect(ollama.requests[0]?.body).toEqual({
      model: "llama3.2",
      messages: [{ role: "user", content: "what is this?", images: [Buffer.from(png).toString("base64")] }],
      stream: false,
      keep_alive: "1m",
      options: { temperature: 0.2, num_predict: 50, seed: 3, num_ctx: 2048 },
    });
  });
});

describe("Ollama tool calls", () => {
  it.each<ProtocolName>(["grpc", "connect-json-h1"])("a round trip over %s: call, result, answer", async (protocol) => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const question = user("#tool weather in Paris");
    const first = await chat.chat({ endpoint: "llama", messages: [question], tools: [weatherTool] });
    const call = first.choices[0]?.message?.toolCalls[0];
    expect(first.choices[0]?.finishReason).toBe("tool_calls");
    expect(call?.function).toEqual(expect.objectContaining({ name: "get_current_weather" }));
    // Ollama's object arguments arrive as JSON text, with an id Ollama did not send.
    expect(JSON.parse(call?.function?.arguments ?? "")).toEqual({ q: "weather in Paris" });
    expect(call?.id).toMatch(/^call_\d+_0$/);

    const second = await chat.chat({
      endpoint: "llama",
      messages: [
        question,
        { role: "assistant", content: "", toolCalls: [call!] },
        { role: "tool", content: "22 degrees", toolCallId: call!.id },
      ],
      tools: [weatherTool],
    });
    expect(second.choices[0]?.message?.content).toBe("echo: tool get_current_weather said 22 degrees");
    const sent = ollama.requests[1]?.body as JsonObject;
    expect(sent.messages).toEqual([
      { role: "user", content: "#tool weather in Paris" },
      { role: "assistant", content: "", tool_calls: [{ function: { name: "get_current_weather", arguments: { q: "weather in Paris" } } }] },
      { role: "tool", content: "22 degrees", tool_name: "get_current_weather" },
    ]);
    expect(sent.tools).toEqual([weatherTool]);
  });

  it("a streamed tool call arrives whole, then the finish", async () => {
    const chunks = await collect(
      clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint: "llama", messages: [user("#tool weather in Oslo")], tools: [weatherTool] }),
    );
    const calls = chunks.flatMap((c) => c.choices.flatMap((d) => d.delta?.toolCalls ?? []));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_current_weather", arguments: '{"q":"weather in Oslo"}' } });
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "tool_calls"))).toBe(true);
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(1);
  });
});

describe("Ollama embeddings", () => {
  it("vectors in input order, with the prompt token count", async () => {
    const res = await clientFor(EmbeddingsService, "connect-binary-h2", gw.url).embed({ endpoint: "minilm", inputs: ["first text", "second"] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.values).toEqual(fakeEmbedding("first text"));
    expect(res.data[1]?.values).toEqual(fakeEmbedding("second"));
    expect(res.usage).toMatchObject({ promptTokens: 3, totalTokens: 3 });
    expect(ollama.requests[0]?.body).toEqual({ model: "all-minilm", input: ["first text", "second"] });
  });
});

describe("errors", () => {
  it.each([
    ["tgi-chat", "#status:429", Code.ResourceExhausted],
    ["tgi-chat", "#status:422", Code.InvalidArgument],
    ["tgi-chat", "#status:500", Code.Unavailable],
    ["tgi-chat", "#garbage", Code.Unavailable],
    ["tgi-chat", "#break", Code.Unavailable],
    ["llama", "#status:429", Code.ResourceExhausted],
    ["llama", "#status:400", Code.InvalidArgument],
    ["llama", "#status:500", Code.Unavailable],
    ["llama", "#garbage", Code.Unavailable],
    ["llama", "#break", Code.Unavailable],
  ])("%s %s -> %s (unary)", async (endpoint, directive, code) => {
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint, messages: [user(`${directive} hi`)] }));
    expect(Code[err.code]).toBe(Code[code]);
    expect(err.rawMessage).not.toContain(hfKey);
    if (code === Code.ResourceExhausted) expect(err.metadata.get("retry-after")).toBe("7");
  });

  it("TGI's own error message is kept for a request it refused", async () => {
    const err = await failure(clientFor(CompletionsService, "grpc", gw.url).complete({ endpoint: "tgi-text", prompt: "#status:422 hi" }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("huggingface-tgi: upstream rejected the request (HTTP 422): fake tgi: status 422");
  });

  it("an Inference Endpoint refusing the gateway's missing key is an operator problem", async () => {
    const err = await failure(clientFor(CompletionsService, "grpc", gw.url).complete({ endpoint: "tgi-nokey", prompt: "hi" }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/credentials were refused/);
  });

  it("a model Ollama has not pulled: UNAVAILABLE with Ollama's message", async () => {
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "not-pulled", messages: [user("hi")] }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toContain('model "missing" not found, try pulling it first');
  });

  it.each([
    ["llama", { n: 2 }, "ollama does not support n > 1"],
    ["tgi-chat", { n: 2 }, "huggingface-text-generation-inference: n must be at most 1"],
    ["llama", { toolChoice: { choice: { case: "mode" as const, value: "required" } }, tools: [weatherTool] }, 'ollama does not support tool_choice "required"'],
  ])("%s refuses what it cannot do before calling the upstream", async (endpoint, extra, message) => {
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint, messages: [user("hi")], ...extra }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain(message);
    expect(tgi.requests.length + ollama.requests.length).toBe(0);
  });

  it("an https image URL is refused for Ollama (it takes inline images only)", async () => {
    const err = await failure(
      clientFor(ChatService, "grpc", gw.url).chat({
        endpoint: "llama",
        messages: [{ role: "user", content: "what?", parts: [{ part: { case: "imageUrl", value: { url: "https://example.com/a.png", detail: "" } } }] }],
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/inline only/);
  });
});

describe("broken streams end with an error, never a clean end", () => {
  it.each<[string, string, Code]>([
    ["llama", "#break", Code.Unavailable],
    ["llama", "#stream-error", Code.Unavailable],
    ["llama", "#garbage", Code.Unavailable],
    ["tgi-chat", "#break", Code.Unavailable],
    ["tgi-chat", "#stream-error", Code.Unavailable],
  ])("%s %s -> %s", async (endpoint, directive, code) => {
    const received: string[] = [];
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, "connect-json-h1", gw.url).streamChat({ endpoint, messages: [user(`${directive} a b c d`)] })) {
          received.push(...c.choices.map((d) => d.delta?.content ?? ""));
        }
      })(),
    );
    expect(Code[err.code]).toBe(Code[code]);
    // the fakes send two pieces before breaking: "echo: " and the directive
    if (directive !== "#garbage") expect(received.join("")).toBe(`echo: ${directive} `);
  });

  it("TGI /generate_stream: a mid-stream generation error is UNAVAILABLE after the text so far", async () => {
    const texts: string[] = [];
    const err = await failure(
      (async () => {
        for await (const c of clientFor(CompletionsService, "grpc", gw.url).streamComplete({ endpoint: "tgi-text", prompt: "#stream-error a b c" })) {
          texts.push(...c.choices.map((x) => x.text));
        }
      })(),
    );
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/^huggingface-tgi: upstream stream error \(generation\): /);
    expect(texts.join("")).toBe("echo: #stream-error ");
  });
});

describe.each([
  ["llama", () => ollama],
  ["tgi-chat", () => tgi],
])("cancellation reaches the upstream (%s)", (endpoint, fake) => {
  it.each<ProtocolName>(["grpc", "connect-json-h1"])("a client that stops reading over %s closes the upstream request", async (protocol) => {
    const controller = new AbortController();
    let seen = 0;
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, protocol, gw.url).streamChat({ endpoint, messages: [user("#slow go")] }, { signal: controller.signal })) {
          if (c.choices.length > 0 && ++seen === 3) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe(Code.Canceled);
    await fake().waitForClosedEarly(1, 3_000);
  });

  it("a deadline aborts a hanging upstream with DEADLINE_EXCEEDED", async () => {
    // The deadline must leave time for the call to reach the upstream (a new connection, on a
    // loaded machine), or the upstream never sees a request to abort.
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint, messages: [user("#hang x")] }, { timeoutMs: 2_000 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await fake().waitForClosedEarly(1, 3_000);
  });
});

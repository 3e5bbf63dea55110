// The gateway against a fake Amazon Bedrock that verifies SigV4 signatures for real and speaks
// Converse JSON, ConverseStream event-stream frames and InvokeModel (Titan, Cohere): chat,
// streaming with usage, tool calls, embeddings, error mapping and cancellation, over gRPC and
// Connect.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService, type StreamChatResponse } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import type { JsonObject } from "@bufbuild/protobuf";
import { bedrockConfigSchema, bedrockPost, modelPath } from "../../src/providers/bedrock/config";
import { signRequest } from "../../src/providers/bedrock/signing";
import { FAKE_BEDROCK_CREDENTIALS, type FakeBedrock, startFakeBedrock } from "../fakes/fake-bedrock";
import { fakeEmbedding } from "../fakes/fake-upstream";
import { clientFor, protocols, type ProtocolName } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const { accessKeyId, secretAccessKey, apiKey } = FAKE_BEDROCK_CREDENTIALS;
const sessionToken = "FwoGZXIvYXdzEFAKESESSIONTOKEN0001";
const wrongSecret = "not/the/right/Secret+Key/000000000000000";
const haiku = "anthropic.claude-3-haiku-20240307-v1:0";

let fake: FakeBedrock;
let fakeWithToken: FakeBedrock;
let gw: TestGateway;

beforeAll(async () => {
  fake = await startFakeBedrock();
  fakeWithToken = await startFakeBedrock({ credentials: { sessionToken } });
  const keys = `aws_region: us-east-1, aws_access_key_id: $AWS_KEY_ID, aws_secret_access_key: $AWS_SECRET`;
  const flat = `{ ${keys}, bedrock_api_base: "${fake.url}" }`;
  gw = await startGateway(
    `
endpoints:
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: bedrock, name: "${haiku}", config: ${flat} } }
  - { name: claude-text, endpoint_type: llm/v1/completions, model: { provider: bedrock, name: "${haiku}", config: ${flat} } }
  - { name: titan, endpoint_type: llm/v1/embeddings, model: { provider: bedrock, name: "amazon.titan-embed-text-v2:0", config: ${flat} } }
  - { name: cohere, endpoint_type: llm/v1/embeddings, model: { provider: bedrock, name: cohere.embed-english-v3, config: ${flat} } }
  - name: mlflow-style
    endpoint_type: llm/v1/chat
    model:
      provider: amazon-bedrock
      name: "${haiku}"
      config:
        bedrock_api_base: "${fake.url}"
        aws_config: { aws_region: us-east-1, aws_access_key_id: $AWS_KEY_ID, aws_secret_access_key: $AWS_SECRET }
  - { name: temporary-keys, endpoint_type: llm/v1/chat, model: { provider: bedrock, name: "${haiku}", config: { ${keys}, aws_session_token: $AWS_TOKEN, bedrock_api_base: "${fakeWithToken.url}" } } }
  - { name: api-key, endpoint_type: llm/v1/chat, model: { provider: bedrock, name: us.amazon.nova-lite-v1:0, config: { aws_region: us-east-1, bedrock_api_key: $BEDROCK_KEY, bedrock_api_base: "${fake.url}" } } }
  - { name: wrong-secret, endpoint_type: llm/v1/chat, model: { provider: bedrock, name: "${haiku}", config: { aws_region: us-east-1, aws_access_key_id: $AWS_KEY_ID, aws_secret_access_key: $WRONG_SECRET, bedrock_api_base: "${fake.url}" } } }
`,
    {
      AWS_KEY_ID: accessKeyId,
      AWS_SECRET: secretAccessKey,
      AWS_TOKEN: sessionToken,
      BEDROCK_KEY: apiKey,
      WRONG_SECRET: wrongSecret,
    },
  );
});
afterAll(async () => {
  await gw.close();
  await fake.close();
  await fakeWithToken.close();
});
beforeEach(() => {
  fake.reset();
  fakeWithToken.reset();
});

const user = (content: string) => ({ role: "user", content });
const chat = (protocol: ProtocolName = "grpc") => clientFor(ChatService, protocol, gw.url);
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather for a place.",
    parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] },
  },
};

function streamedText(chunks: StreamChatResponse[]): string {
  return chunks.flatMap((c) => c.choices.map((d) => d.delta?.content ?? "")).join("");
}

describe("chat", () => {
  it.each(protocols)("unary over %s, signed and verified", async (protocol) => {
    const res = await chat(protocol).chat({
      endpoint: "claude",
      messages: [{ role: "system", content: "be brief" }, user("hello world")],
      maxTokens: 50,
    });
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hello world" });
    expect(res.choices[0]?.finishReason).toBe("stop");
    expect(res.usage).toMatchObject({ promptTokens: 4, completionTokens: 3, totalTokens: 7 });
    const req = fake.requests[0]!;
    expect([req.auth, req.authError]).toEqual(["sigv4", undefined]);
    expect(req.path).toBe("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
    expect(String(req.headers.authorization)).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${accessKeyId}/\\d{8}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$`),
    );
    expect(req.body).toEqual({
      messages: [{ role: "user", content: [{ text: "hello world" }] }],
      system: [{ text: "be brief" }],
      inferenceConfig: { maxTokens: 50 },
    });
  });

  it.each(protocols)("streamed over %s: event-stream frames, usage on the last message", async (protocol) => {
    const chunks = await collect(chat(protocol).streamChat({ endpoint: "claude", messages: [user("one two three four")] }));
    expect(fake.requests[0]?.path).toBe("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
    expect(streamedText(chunks)).toBe("echo: one two three four");
    expect(chunks.filter((c) => c.choices.some((d) => d.delta?.content)).length).toBe(5);
    expect(chunks[0]?.choices[0]?.delta?.role).toBe("assistant");
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 4, completionTokens: 5, totalTokens: 9 });
    expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "stop"))).toBe(true);
  });

  it("sampling parameters, stop sequences and the user travel in Converse's fields", async () => {
    const res = await chat("connect-json-h1").chat({
      endpoint: "claude",
      messages: [user("a b c d e f")],
      temperature: 0.3,
      topP: 0.8,
      maxTokens: 3,
      stop: ["zzz"],
      user: "user-7",
      extras: { top_k: 5 },
    });
    expect(res.choices[0]?.message?.content).toBe("echo: a b");
    expect(res.choices[0]?.finishReason).toBe("length");
    expect(fake.requests[0]?.body).toMatchObject({
      inferenceConfig: { maxTokens: 3, temperature: 0.3, topP: 0.8, stopSequences: ["zzz"] },
      additionalModelRequestFields: { top_k: 5 },
      requestMetadata: { user: "user-7" },
    });
  });

  it("MLflow's provider name and nested aws_config work the same", async () => {
    const res = await chat("connect-binary-h2").chat({ endpoint: "mlflow-style", messages: [user("hi there")] });
    expect(res.choices[0]?.message?.content).toBe("echo: hi there");
    expect(fake.requests[0]?.auth).toBe("sigv4");
  });

  it("temporary credentials sign and send the session token", async () => {
    const res = await chat().chat({ endpoint: "temporary-keys", messages: [user("hi")] });
    expect(res.choices[0]?.message?.content).toBe("echo: hi");
    const req = fakeWithToken.requests[0]!;
    expect(req.headers["x-amz-security-token"]).toBe(sessionToken);
    expect(String(req.headers.authorization)).toContain("x-amz-security-token");
  });

  it("a Bedrock API key is sent as a bearer token, unsigned", async () => {
    const res = await chat().chat({ endpoint: "api-key", messages: [user("hi")] });
    expect(res.choices[0]?.message?.content).toBe("echo: hi");
    expect(fake.requests[0]?.auth).toBe("bearer");
    expect(fake.requests[0]?.path).toBe("/model/us.amazon.nova-lite-v1%3A0/converse");
    expect(fake.requests[0]?.headers["x-amz-date"]).toBeUndefined();
  });

  it("a wrong secret fails the fake's signature check: UNAVAILABLE, credentials refused, no secret leaked", async () => {
    for (const call of [
      () => chat().chat({ endpoint: "wrong-secret", messages: [user("hi")] }),
      () => collect(chat("connect-json-h1").streamChat({ endpoint: "wrong-secret", messages: [user("hi")] })),
    ]) {
      const err = await failure(call());
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toMatch(/^bedrock: the gateway's credentials were refused by the upstream \(HTTP 403\)/);
      expect(err.rawMessage).not.toContain(wrongSecret);
      expect(err.rawMessage).not.toContain(accessKeyId);
    }
    expect(fake.requests.map((r) => [r.auth, r.authError])).toEqual([
      ["sigv4", "InvalidSignatureException"],
      ["sigv4", "InvalidSignatureException"],
    ]);
    expect(gw.rawLogs()).not.toContain(wrongSecret);
  });

  it("images go as bytes; an https image URL is refused before any upstream call", async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
    const res = await chat().chat({
      endpoint: "claude",
      messages: [{ role: "user", content: "describe", parts: [{ part: { case: "image", value: { data: png, mimeType: "image/png" } } }] }],
    });
    expect(res.choices[0]?.message?.content).toBe("echo: describe");
    expect(fake.requests[0]?.body).toMatchObject({
      messages: [{ role: "user", content: [{ text: "describe" }, { image: { format: "png", source: { bytes: Buffer.from(png).toString("base64") } } }] }],
    });
    const err = await failure(
      chat().chat({
        endpoint: "claude",
        messages: [{ role: "user", content: "x", parts: [{ part: { case: "imageUrl", value: { url: "https://example.com/a.png" } } }] }],
      }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/Bedrock needs the image bytes/);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("tool calls", () => {
  it.each<ProtocolName>(["grpc", "connect-json-h1"])("a unary round trip over %s", async (protocol) => {
    const first = await chat(protocol).chat({
      endpoint: "claude",
      messages: [user("#tool weather in Paris")],
      tools: [weatherTool],
      toolChoice: { choice: { case: "mode", value: "required" } },
    });
    const choice = first.choices[0]!;
    expect(choice.finishReason).toBe("tool_calls");
    expect(choice.message?.content).toBe("Let me check.");
    const call = choice.message!.toolCalls[0]!;
    expect(call).toMatchObject({ type: "function", function: { name: "get_weather" } });
    expect(JSON.parse(call.function!.arguments)).toEqual({ q: "weather in Paris" });
    expect(fake.requests[0]?.body).toMatchObject({
      toolConfig: {
        tools: [{ toolSpec: { name: "get_weather", description: "Current weather for a place.", inputSchema: { json: weatherTool.function.parameters } } }],
        toolChoice: { any: {} },
      },
    });

    const second = await chat(protocol).chat({
      endpoint: "claude",
      messages: [
        user("#tool weather in Paris"),
        { role: "assistant", content: choice.message!.content, toolCalls: [call] },
        { role: "tool", toolCallId: call.id, content: '{"temp_c": 18}' },
      ],
      tools: [weatherTool],
    });
    expect(second.choices[0]?.message?.content).toBe('echo: {"temp_c":18}');
    expect(second.choices[0]?.finishReason).toBe("stop");
    expect(fake.requests[1]?.body).toMatchObject({
      messages: [
        { role: "user", content: [{ text: "#tool weather in Paris" }] },
        { role: "assistant", content: [{ text: "Let me check." }, { toolUse: { toolUseId: call.id, name: "get_weather", input: { q: "weather in Paris" } } }] },
        { role: "user", content: [{ toolResult: { toolUseId: call.id, content: [{ json: { temp_c: 18 } }] } }] },
      ],
    });
  });

  it.each(protocols)("streamed over %s: argument fragments joined by index are valid JSON", async (protocol) => {
    const chunks = await collect(
      chat(protocol).streamChat({ endpoint: "claude", messages: [user("#tool forecast for Lyon tomorrow")], tools: [weatherTool] }),
    );
    const calls = new Map<number, { id: string; name: string; args: string }>();
    for (const c of chunks) {
      for (const tc of c.choices.flatMap((d) => d.delta?.toolCalls ?? [])) {
        const entry = calls.get(tc.index) ?? { id: "", name: "", args: "" };
        entry.id ||= tc.id;
        entry.name ||= tc.function?.name ?? "";
        entry.args += tc.function?.arguments ?? "";
        calls.set(tc.index, entry);
      }
    }
    expect([...calls.keys()]).toEqual([0]);
    const call = calls.get(0)!;
    expect(call.id).toMatch(/^tooluse_fake/);
    expect(call.name).toBe("get_weather");
    expect(JSON.parse(call.args)).toEqual({ q: "forecast for Lyon tomorrow" });
    // the arguments came in several fragments, not in one piece
    expect(chunks.filter((c) => c.choices.some((d) => d.delta?.toolCalls.some((t) => t.function?.arguments)))).not.toHaveLength(1);
    expect(streamedText(chunks)).toBe("Let me check.");
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "tool_calls"))).toBe(true);
    expect(chunks.at(-1)?.usage?.completionTokens).toBeGreaterThan(0);
  });
});

describe("completions", () => {
  it("unary and streamed over Converse", async () => {
    const client = clientFor(CompletionsService, "grpc", gw.url);
    const res = await client.complete({ endpoint: "claude-text", prompt: "tell me" });
    expect(res.choices[0]?.text).toBe("echo: tell me");
    expect(res.usage?.totalTokens).toBe(5);
    const chunks = await collect(client.streamComplete({ endpoint: "claude-text", prompt: "tell me" }));
    expect(chunks.flatMap((c) => c.choices.map((x) => x.text)).join("")).toBe("echo: tell me");
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 2, completionTokens: 3, totalTokens: 5 });
  });
});

describe("embeddings", () => {
  it.each<ProtocolName>(["grpc", "connect-binary-h2"])("Titan over %s: one input per call, with its token count", async (protocol) => {
    const res = await clientFor(EmbeddingsService, protocol, gw.url).embed({ endpoint: "titan", inputs: ["first text here"] });
    expect(res.data).toHaveLength(1);
    expect(res.data[0]?.values).toEqual(fakeEmbedding("first text here"));
    expect(res.usage?.promptTokens).toBe(3);
    expect(fake.requests[0]?.path).toBe("/model/amazon.titan-embed-text-v2%3A0/invoke");
    expect(fake.requests[0]?.body).toEqual({ inputText: "first text here" });
  });

  it("Titan refuses several inputs without calling the upstream", async () => {
    const err = await failure(clientFor(EmbeddingsService, "grpc", gw.url).embed({ endpoint: "titan", inputs: ["a", "b"] }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toMatch(/Titan embedding models take one input per call, got 2/);
    expect(fake.requests).toHaveLength(0);
  });

  it("Cohere embeds a batch in order", async () => {
    const res = await clientFor(EmbeddingsService, "connect-json-h1", gw.url).embed({ endpoint: "cohere", inputs: ["alpha", "beta gamma"] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.values).toEqual(fakeEmbedding("alpha"));
    expect(res.data[1]?.values).toEqual(fakeEmbedding("beta gamma"));
    expect(fake.requests[0]?.body).toEqual({ texts: ["alpha", "beta gamma"], input_type: "search_document" });
  });
});

describe("upstream failures", () => {
  it.each([
    ["#status:429", Code.ResourceExhausted],
    ["#status:400", Code.InvalidArgument],
    ["#status:500", Code.Unavailable],
    ["#status:503", Code.Unavailable],
    ["#garbage", Code.Unavailable],
    ["#break", Code.Unavailable],
  ])("%s -> %s (unary)", async (directive, code) => {
    const err = await failure(chat().chat({ endpoint: "claude", messages: [user(`${directive} hi`)] }));
    expect(Code[err.code]).toBe(Code[code]);
    if (code === Code.ResourceExhausted) {
      expect(err.metadata.get("retry-after")).toBe("7");
      expect(err.rawMessage).toBe("bedrock: upstream rate limit: Too many requests, please wait before trying again.");
    }
    if (directive === "#status:400") expect(err.rawMessage).toMatch(/Malformed input request/);
  });

  it.each<[string, Code, RegExp]>([
    ["#throttle-midstream", Code.ResourceExhausted, /^bedrock: upstream rate limit \(throttlingException\): Too many tokens/],
    ["#stream-error", Code.Unavailable, /^bedrock: upstream stream error \(modelStreamErrorException\): Model stream error\./],
    ["#break", Code.Unavailable, /^bedrock: upstream connection failed/],
    ["#garbage", Code.Unavailable, /^bedrock: upstream connection failed \(AWS event stream: .*checksum/i],
  ])("a stream failing with %s ends with %s after the partial content", async (directive, code, message) => {
    const received: string[] = [];
    const err = await failure(
      (async () => {
        for await (const c of chat("connect-json-h1").streamChat({ endpoint: "claude", messages: [user(`${directive} a b c d`)] })) {
          received.push(...c.choices.map((d) => d.delta?.content ?? ""));
        }
      })(),
    );
    expect(Code[err.code]).toBe(Code[code]);
    expect(err.rawMessage).toMatch(message);
    if (directive !== "#garbage") expect(received.join("")).toBe(`echo: ${directive} `);
  });

  it("a rejected conversation keeps Bedrock's own message", async () => {
    // Converse refuses a conversation that starts with the assistant.
    const err = await failure(chat().chat({ endpoint: "claude", messages: [{ role: "assistant", content: "hi" }, user("x")] }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe(
      "bedrock: upstream rejected the request (HTTP 400): A conversation must start with a user message. Try again with a conversation that starts with a user message.",
    );
  });
});

describe("the fake's signature check is real", () => {
  async function signed(body: string) {
    const config = bedrockConfigSchema.parse({ aws_region: "us-east-1", aws_access_key_id: accessKeyId, aws_secret_access_key: secretAccessKey, bedrock_api_base: fake.url });
    const req = bedrockPost({ name: haiku, config }, modelPath(haiku, "converse"), JSON.parse(body) as JsonObject);
    return { url: req.url, headers: { ...req.headers, ...(await signRequest(req, body, config)) } };
  }
  const body = JSON.stringify({ messages: [{ role: "user", content: [{ text: "hi" }] }] });
  const post = async (url: string, headers: Record<string, string>, payload: string) => {
    const res = await fetch(url, { method: "POST", headers, body: payload });
    return { status: res.status, type: res.headers.get("x-amzn-errortype")?.split(":")[0], body: (await res.json()) as { message?: string } };
  };

  it("accepts the request as signed", async () => {
    const { url, headers } = await signed(body);
    expect((await post(url, headers, body)).status).toBe(200);
  });

  it.each<[string, (h: Record<string, string>) => Record<string, string>, string]>([
    ["a changed body", (h) => h, body.replace("hi", "ho")],
    ["a changed signed header", (h) => ({ ...h, "content-type": "application/json; charset=utf-8" }), body],
    ["a signature from another date", (h) => ({ ...h, "x-amz-date": h["x-amz-date"]!.replace(/\d{2}Z$/, (s) => `${(Number(s.slice(0, 2)) + 1) % 60}`.padStart(2, "0") + "Z") }), body],
  ])("refuses %s with InvalidSignatureException", async (_what, change, payload) => {
    const { url, headers } = await signed(body);
    const res = await post(url, change(headers), payload);
    expect(res).toMatchObject({ status: 403, type: "InvalidSignatureException" });
    expect(res.body.message).toMatch(/^The request signature we calculated does not match the signature you provided/);
  });

  it("refuses an unsigned request and an unknown key", async () => {
    const { url, headers } = await signed(body);
    expect(await post(url, { "content-type": "application/json" }, body)).toMatchObject({ status: 403, type: "MissingAuthenticationTokenException" });
    const other = { ...headers, authorization: headers.authorization!.replace(accessKeyId, "AKIAOTHERKEY00000000") };
    expect(await post(url, other, body)).toMatchObject({ status: 403, type: "UnrecognizedClientException" });
  });
});

describe("cancellation reaches the upstream", () => {
  it.each(protocols)("a client that stops reading a stream over %s closes the upstream request", async (protocol) => {
    const controller = new AbortController();
    let seen = 0;
    const err = await failure(
      (async () => {
        for await (const c of chat(protocol).streamChat({ endpoint: "claude", messages: [user("#slow go")] }, { signal: controller.signal })) {
          if (c.choices.length > 0 && ++seen === 3) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe(Code.Canceled);
    await fake.waitForClosedEarly(1, 3_000);
  });

  it("a deadline aborts a hanging upstream with DEADLINE_EXCEEDED", async () => {
    // The deadline must leave time for the call to reach the upstream (a new connection, on a
    // loaded machine), or the upstream never sees a request to abort.
    const err = await failure(chat().chat({ endpoint: "claude", messages: [user("#hang x")] }, { timeoutMs: 2_000 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await fake.waitForClosedEarly(1, 3_000);
  });
});

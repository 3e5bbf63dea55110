// The OpenAI-compatible surface, driven by the official `openai` npm SDK, unchanged.
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { echoEmbedding } from "../../src/providers/echo/index";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "./harness";

const key = "sk-gateway-key-0123456789";
let gw: TestGateway;
let fake: FakeUpstream;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(
    `
auth:
  enabled: true
  keys: [{ name: app, key: $APP_KEY }]
endpoints:
  - { name: echo-chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
  - { name: echo-text, endpoint_type: llm/v1/completions, model: { provider: echo, name: echo-1 } }
  - { name: echo-embed, endpoint_type: llm/v1/embeddings, model: { provider: echo, name: e } }
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: sk-ant-upstream, anthropic_api_base: "${fake.url}/v1" } } }
  - name: tight
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: { renewal_period: minute, calls: 1 }
`,
    { APP_KEY: key },
  );
  client = new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});
beforeEach(() => fake.reset());

describe("chat.completions", () => {
  it("answers like OpenAI", async () => {
    const res = await client.chat.completions.create({ model: "echo-chat", messages: [{ role: "user", content: "hello sdk" }] });
    expect(res.object).toBe("chat.completion");
    // ChatCompletionResponseMessage: refusal is required (null unless the model refused).
    expect(res.choices[0]?.message).toEqual({ role: "assistant", content: "echo: hello sdk", refusal: null });
    expect(res.choices[0]?.finish_reason).toBe("stop");
    expect(res.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  });

  it("streams chunks, then a usage chunk with include_usage", async () => {
    const stream = await client.chat.completions.create({
      model: "echo-chat",
      messages: [{ role: "user", content: "a b c" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage;
    let finish;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      for (const c of chunk.choices) {
        text += c.delta.content ?? "";
        finish = c.finish_reason ?? finish;
      }
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe("echo: a b c");
    expect(finish).toBe("stop");
    expect(usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  });

  it("passes through a real OpenAI upstream, extras included, developer role and max_completion_tokens as sent", async () => {
    const res = await client.chat.completions.create({
      model: "gpt",
      messages: [{ role: "developer", content: "be brief" }, { role: "user", content: "hi" }],
      max_completion_tokens: 20,
      presence_penalty: 0.5,
    });
    expect(res.choices[0]?.message.content).toBe("echo: hi");
    expect(fake.requests[0]?.body).toMatchObject({
      model: "gpt-4o-mini",
      messages: [{ role: "developer", content: "be brief" }, { role: "user", content: "hi" }],
      max_completion_tokens: 20,
      presence_penalty: 0.5,
    });
    expect(fake.requests[0]?.body).not.toHaveProperty("max_tokens");
  });

  it("a stream that breaks upstream surfaces as an APIError in the SDK", async () => {
    const stream = await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "#break a b c" }], stream: true });
    const read = async () => {
      for await (const _ of stream) void _;
    };
    await expect(read()).rejects.toBeInstanceOf(OpenAI.APIError);
  });
});

describe.each(["gpt", "claude"])("tools through the SDK, upstream %s", (model) => {
  const tools = [
    {
      type: "function" as const,
      function: { name: "search", description: "Search the docs", parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] } },
    },
  ];

  it("round trip: tool call, tool result, answer", async () => {
    const first = await client.chat.completions.create({ model, messages: [{ role: "user", content: "#tool gateway docs" }], tools });
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(first.choices[0]?.finish_reason).toBe("tool_calls");
    expect(call?.type).toBe("function");
    if (call?.type !== "function") throw new Error("expected a function call");
    expect(call.function.name).toBe("search");
    expect(JSON.parse(call.function.arguments)).toEqual({ q: "gateway docs" });
    const second = await client.chat.completions.create({
      model,
      tools,
      messages: [
        { role: "user", content: "#tool gateway docs" },
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: "found 3 pages" },
      ],
    });
    expect(second.choices[0]?.message.content).toBe("echo: found 3 pages");
  });

  it("streamed tool-call deltas join by index into valid JSON arguments", async () => {
    const stream = await client.chat.completions.create({ model, messages: [{ role: "user", content: "#tool streamed args" }], tools, stream: true });
    const calls = new Map<number, { id: string; name: string; args: string }>();
    let fragments = 0;
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
        const c = calls.get(d.index) ?? { id: "", name: "", args: "" };
        c.id ||= d.id ?? "";
        c.name ||= d.function?.name ?? "";
        c.args += d.function?.arguments ?? "";
        if (d.function?.arguments) fragments++;
        calls.set(d.index, c);
      }
    }
    expect(fragments).toBeGreaterThan(1);
    expect(calls.size).toBe(1);
    const only = calls.get(0)!;
    expect(only.name).toBe("search");
    expect(only.id).not.toBe("");
    expect(JSON.parse(only.args)).toEqual({ q: "streamed args" });
  });
});

describe("completions, embeddings, models", () => {
  it("completions.create", async () => {
    const res = await client.completions.create({ model: "echo-text", prompt: "once upon" });
    expect(res.object).toBe("text_completion");
    expect(res.choices[0]?.text).toBe("echo: once upon");
  });

  it("embeddings.create with the SDK's default base64 and with float", async () => {
    const res = await client.embeddings.create({ model: "echo-embed", input: ["abc", "de"] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.embedding).toEqual(echoEmbedding("abc", 8));
    const floats = await client.embeddings.create({ model: "echo-embed", input: "abc", encoding_format: "float" });
    expect(floats.data[0]?.embedding).toEqual(echoEmbedding("abc", 8));
  });

  it("models.list and retrieve name the endpoints", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(["echo-chat", "echo-text", "echo-embed", "gpt", "claude", "tight"]);
    expect((await client.models.retrieve("gpt")).owned_by).toBe("openai");
  });
});

describe("errors as the SDK's typed exceptions", () => {
  it("unknown model -> NotFoundError", async () => {
    const err = await client.chat.completions.create({ model: "nope", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).message).toContain('unknown endpoint "nope"');
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
  });

  it("invalid request -> BadRequestError naming the field", async () => {
    const err = await client.chat.completions.create({ model: "echo-chat", messages: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toContain("messages: at least one message is required");
    const tools = await client.chat.completions
      .create({ model: "echo-chat", messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "f" } }] })
      .catch((e: unknown) => e);
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tools as Error).message).toContain("echo: tools are not supported");
  });

  it("a field its message's role cannot carry -> BadRequestError naming the message and field", async () => {
    const refused = async (messages: unknown[]) => {
      const err = await client.chat.completions.create({ model: "echo-chat", messages: messages as never }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      return (err as Error).message;
    };
    const call = { id: "call_1", type: "function", function: { name: "f", arguments: "{}" } };
    expect(await refused([{ role: "system", content: "s" }, { role: "user", content: "x", tool_calls: [call] }])).toContain(
      "messages[1].tool_calls: only allowed on assistant messages",
    );
    expect(await refused([{ role: "assistant", content: "x", tool_call_id: "call_1" }])).toContain("messages[0].tool_call_id: only allowed on tool messages");
    expect(await refused([{ role: "user", content: "x" }, { role: "function", content: "r" }])).toContain(
      "messages[1].name: required for role function (the function's name)",
    );
    expect(await refused([{ role: "user", content: "x" }, { role: "assistant", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }])).toContain(
      "messages[1].content[0]: image parts are only allowed in user messages",
    );
    // The same messages in their right roles are answered.
    const ok = await client.chat.completions.create({
      model: "echo-chat",
      messages: [{ role: "assistant", content: null, tool_calls: [call] } as never, { role: "tool", tool_call_id: "call_1", content: "r" }, { role: "user", content: "x" }],
    });
    expect(ok.object).toBe("chat.completion");
  });

  it("wrong key -> AuthenticationError", async () => {
    const bad = new OpenAI({ apiKey: "sk-wrong-000000000000", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("rate limit -> RateLimitError with retry-after", async () => {
    await client.chat.completions.create({ model: "tight", messages: [{ role: "user", content: "1" }] });
    const err = await client.chat.completions.create({ model: "tight", messages: [{ role: "user", content: "2" }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(Number((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("wire details", () => {
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${gw.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers }, body });

  it("SSE is `data: <json>` blocks ending with `data: [DONE]`", async () => {
    const res = await post("/v1/chat/completions", JSON.stringify({ model: "echo-chat", messages: [{ role: "user", content: "x" }], stream: true }));
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("x-request-id")).toMatch(/.+/);
    const text = await res.text();
    const blocks = text.split("\n\n").filter(Boolean);
    expect(blocks.every((b) => b.startsWith("data: "))).toBe(true);
    expect(blocks.at(-1)).toBe("data: [DONE]");
    expect(JSON.parse(blocks[0]!.slice(6))).toMatchObject({ object: "chat.completion.chunk", choices: [{ index: 0, delta: { role: "assistant" } }] });
  });

  it("bad JSON, wrong types and oversize bodies get OpenAI error JSON", async () => {
    const bad = await post("/v1/chat/completions", "{nope");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { type: "invalid_request_error", param: null, code: null } });
    const wrong = await post("/v1/chat/completions", JSON.stringify({ model: "echo-chat", messages: "hi" }));
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/^messages: /);
    // 413, not a 429 the SDKs would retry with the same 5 MB body.
    const big = await post("/v1/embeddings", JSON.stringify({ model: "echo-embed", input: "x".repeat(5 * 1024 * 1024) }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { type: "invalid_request_error", code: "request_too_large" } });
    // The same without a Content-Length (chunked): found while reading, still a 413 the client
    // gets (not a reset), and the connection serves on.
    const chunked = await fetch(`${gw.url}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: new Blob([JSON.stringify({ model: "echo-embed", input: "x".repeat(5 * 1024 * 1024) })]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(await chunked.json()).toMatchObject({ error: { code: "request_too_large" } });
    expect((await post("/v1/chat/completions", JSON.stringify({ model: "echo-chat", messages: [{ role: "user", content: "x" }] }))).status).toBe(200);
  });

  it("a wrong method on a known path is 405", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(405);
  });

  it("the request id from the caller comes back and reaches the log line", async () => {
    const res = await post("/v1/chat/completions", JSON.stringify({ model: "echo-chat", messages: [{ role: "user", content: "x" }] }), { "x-request-id": "rest-rid-1" });
    expect(res.headers.get("x-request-id")).toBe("rest-rid-1");
    expect(gw.logs.some((l) => l["requestId"] === "rest-rid-1" && l["procedure"] === "modelgate.v1.ChatService/Chat" && l["key"] === "app")).toBe(true);
  });
});

// POST /v1/responses (OpenAI's Responses API), driven by the official `openai` npm SDK:
// client.responses.create and client.responses.stream, unchanged, through the same pipeline as
// chat (auth, quotas, ledger, routing). Stored responses (retrieve, delete, input_items,
// previous_response_id): openai-responses-stored.spec.ts.
import OpenAI from "openai";
import type { ResponseStreamEvent } from "openai/resources/responses/responses";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LedgerRow } from "../../src/store/types";
import { responsesBody } from "../../src/surfaces/openai/responses";
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

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("responses.create", () => {
  it("string input: a completed Response with one output_text message, usage and the SDK's output_text", async () => {
    const res = await client.responses.create({ model: "echo-chat", input: "hello sdk" });
    expect(res.object).toBe("response");
    expect(res.id).toMatch(/^resp_.+/);
    expect(res.status).toBe("completed");
    expect(res.error).toBeNull();
    expect(res.incomplete_details).toBeNull();
    expect(res.output).toEqual([
      { type: "message", id: expect.stringMatching(/^msg_/), status: "completed", role: "assistant", content: [{ type: "output_text", text: "echo: hello sdk", annotations: [], logprobs: [] }] },
    ]);
    expect(res.output_text).toBe("echo: hello sdk");
    expect(res.usage).toEqual({
      input_tokens: 2,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 5,
    });
    expect(res).not.toHaveProperty("store");
  });

  it("the id starts with the gateway's request id (the caller's x-request-id when given), then a random part", async () => {
    const res = await client.responses.create({ model: "echo-chat", input: "x" }, { headers: { "x-request-id": "rid-responses-1" } });
    expect(res.id).toMatch(/^resp_rid-responses-1_[0-9a-f]{12}$/);
    // The same request id twice: two answers, two ids.
    const again = await client.responses.create({ model: "echo-chat", input: "x" }, { headers: { "x-request-id": "rid-responses-1" } });
    expect(again.id).not.toBe(res.id);
    const raw = await client.responses.create({ model: "echo-chat", input: "x" }).withResponse();
    expect(raw.data.id.startsWith(`resp_${raw.response.headers.get("x-request-id")}_`)).toBe(true);
  });

  it("item input with instructions reaches the upstream as a system message, then the turns in order", async () => {
    const res = await client.responses.create({
      model: "gpt",
      instructions: "be brief",
      input: [
        { role: "user", content: "first" },
        { type: "message", id: "msg_1", status: "completed", role: "assistant", content: [{ type: "output_text", text: "echo: first", annotations: [] }] },
        { role: "developer", content: [{ type: "input_text", text: "keep it short" }] },
        { role: "user", content: [{ type: "input_text", text: "second" }] },
      ],
      max_output_tokens: 50,
      temperature: 0.5,
      metadata: { app: "t" },
    });
    expect(res.output_text).toBe("echo: second");
    expect(res.instructions).toBe("be brief");
    expect(res.metadata).toEqual({ app: "t" });
    expect(res.temperature).toBe(0.5);
    expect(res.max_output_tokens).toBe(50);
    const sent = fake.requests[0]?.body as Record<string, unknown>;
    expect(sent).toMatchObject({
      model: "gpt-4o-mini",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "first" },
        { role: "assistant", content: "echo: first" },
        { role: "developer", content: "keep it short" },
        { role: "user", content: "second" },
      ],
      max_completion_tokens: 50,
      temperature: 0.5,
    });
    // metadata is the Response's, not the upstream chat's (which would need store: true there).
    expect(sent).not.toHaveProperty("metadata");
  });

  it("max_output_tokens cutting the answer: status incomplete, reason max_output_tokens", async () => {
    const res = await client.responses.create({ model: "echo-chat", input: "one two three four five", max_output_tokens: 2 });
    expect(res.status).toBe("incomplete");
    expect(res.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(res.output_text).toBe("echo: one");
    expect(res.output[0]).toMatchObject({ type: "message", status: "incomplete" });
  });

  it("text.format json_schema maps to the chat response_format", async () => {
    const schema = { type: "object", properties: { a: { type: "string" } }, required: ["a"], additionalProperties: false };
    await client.responses.create({ model: "gpt", input: "x", text: { format: { type: "json_schema", name: "thing", schema, strict: true } } });
    expect(fake.requests[0]?.body).toMatchObject({ response_format: { type: "json_schema", json_schema: { name: "thing", schema, strict: true } } });
  });
});

describe.each(["gpt", "claude"])("function tools round trip, upstream %s", (model) => {
  const tools: OpenAI.Responses.FunctionTool[] = [
    { type: "function", name: "search", description: "Search the docs", parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] }, strict: false },
  ];

  it("unary: a function_call item, then its output answered", async () => {
    const first = await client.responses.create({ model, input: "#tool gateway docs", tools });
    const call = first.output.find((o) => o.type === "function_call");
    if (call?.type !== "function_call") throw new Error(`expected a function call: ${JSON.stringify(first.output)}`);
    expect(call.name).toBe("search");
    expect(call.id).toMatch(/^fc_/);
    expect(JSON.parse(call.arguments)).toEqual({ q: "gateway docs" });
    expect(first.status).toBe("completed");
    expect(first.tools).toEqual([{ type: "function", name: "search", description: "Search the docs", parameters: tools[0]!.parameters, strict: false }]);
    // The stateless round trip: the whole conversation again, the call and its output included.
    const second = await client.responses.create({
      model,
      tools,
      input: [{ role: "user", content: "#tool gateway docs" }, ...(first.output as OpenAI.Responses.ResponseInputItem[]), { type: "function_call_output", call_id: call.call_id, output: "found 3 pages" }],
    });
    expect(second.output_text).toBe("echo: found 3 pages");
  });

  it("streamed: function_call_arguments deltas join into the final item's arguments", async () => {
    const stream = client.responses.stream({ model, input: "#tool streamed args", tools });
    const deltas: string[] = [];
    stream.on("response.function_call_arguments.delta", (e) => deltas.push(e.delta));
    const final = await stream.finalResponse();
    const call = final.output.find((o) => o.type === "function_call");
    if (call?.type !== "function_call") throw new Error("expected a function call");
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.join("")).toBe(call.arguments);
    expect(JSON.parse(call.arguments)).toEqual({ q: "streamed args" });
    expect(call.call_id).not.toBe("");
  });
});

describe("streaming", () => {
  async function collect(stream: AsyncIterable<ResponseStreamEvent>): Promise<ResponseStreamEvent[]> {
    const events: ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    return events;
  }

  it("create({stream: true}): the Responses event sequence, sequence numbers 0, 1, 2, ...", async () => {
    const events = await collect(await client.responses.create({ model: "echo-chat", input: "a b c", stream: true }));
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]);
    const text = events.flatMap((e) => (e.type === "response.output_text.delta" ? [e.delta] : [])).join("");
    expect(text).toBe("echo: a b c");
    const completed = events.at(-1);
    if (completed?.type !== "response.completed") throw new Error("expected response.completed last");
    expect(completed.response.status).toBe("completed");
    expect(completed.response.usage).toMatchObject({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
    expect(completed.response.output).toEqual([
      { type: "message", id: expect.stringMatching(/^msg_/), status: "completed", role: "assistant", content: [{ type: "output_text", text: "echo: a b c", annotations: [], logprobs: [] }] },
    ]);
    const created = events[0];
    if (created?.type !== "response.created") throw new Error("expected response.created first");
    expect(created.response.id).toBe(completed.response.id);
    expect(created.response.status).toBe("in_progress");
  });

  it("responses.stream(): text deltas and finalResponse(), with output_text", async () => {
    const stream = client.responses.stream({ model: "gpt", input: "hello there" });
    let text = "";
    stream.on("response.output_text.delta", (e) => (text += e.delta));
    const final = await stream.finalResponse();
    expect(text).toBe("echo: hello there");
    expect(final.output_text).toBe("echo: hello there");
    expect(final.status).toBe("completed");
    expect(final.usage?.total_tokens).toBeGreaterThan(0);
  });

  it("cut by max_output_tokens: ends with response.incomplete", async () => {
    const events = await collect(await client.responses.create({ model: "echo-chat", input: "one two three four", max_output_tokens: 2, stream: true }));
    const last = events.at(-1);
    if (last?.type !== "response.incomplete") throw new Error(`expected response.incomplete, got ${last?.type}`);
    expect(last.response.incomplete_details).toEqual({ reason: "max_output_tokens" });
  });

  it("SSE wire: `event:` and `data:` lines, no [DONE]", async () => {
    const res = await post("/v1/responses", { model: "echo-chat", input: "x", stream: true });
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("x-request-id")).toMatch(/.+/);
    const blocks = (await res.text()).split("\n\n").filter(Boolean);
    for (const b of blocks) {
      const [event, data] = b.split("\n");
      expect(event).toMatch(/^event: response\./);
      expect(JSON.parse(data!.slice("data: ".length))).toMatchObject({ type: event!.slice("event: ".length) });
    }
    expect(blocks.some((b) => b.includes("[DONE]"))).toBe(false);
  });

  it("an upstream that breaks midway: response.failed with the error and the partial output", async () => {
    const events = await collect(await client.responses.create({ model: "gpt", input: "#break a b c", stream: true }));
    const last = events.at(-1);
    if (last?.type !== "response.failed") throw new Error(`expected response.failed, got ${last?.type}`);
    expect(last.response.status).toBe("failed");
    expect(last.response.error?.code).toBe("server_error");
    expect(last.response.error?.message).toMatch(/.+/);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
  });

  it("a client that goes away cancels the upstream call", async () => {
    const controller = new AbortController();
    const stream = await client.responses.create({ model: "gpt", input: "#slow", stream: true }, { signal: controller.signal });
    let deltas = 0;
    try {
      for await (const e of stream) {
        if (e.type === "response.output_text.delta" && ++deltas === 2) controller.abort();
      }
    } catch (err) {
      expect(err).toBeInstanceOf(OpenAI.APIUserAbortError);
    }
    expect(deltas).toBe(2);
    // The fake sees its client (the gateway) close the slow stream before its end.
    await fake.waitForClosedEarly(1, 5_000);
  });
});

describe("refused fields: BadRequestError naming the field", () => {
  const refused = async (body: Record<string, unknown>) => {
    const err = await client.responses.create({ model: "echo-chat", input: "x", ...body } as never).catch((e: unknown) => e);
    expect(err, JSON.stringify(body)).toBeInstanceOf(OpenAI.BadRequestError);
    return err as InstanceType<typeof OpenAI.BadRequestError>;
  };

  it.each([
    ["an unknown previous_response_id", { previous_response_id: "resp_123" }, "previous_response_id", /No response with id "resp_123"/],
    ["an unknown conversation", { conversation: "conv_123" }, "conversation", /No conversation with id "conv_123"/],
    ["background", { background: true }, "background", /background responses are not supported/],
    ["a built-in tool", { tools: [{ type: "web_search" }] }, "tools[0]", /web_search tools are not supported/],
    ["an image input", { input: [{ role: "user", content: [{ type: "input_image", image_url: "https://x/y.png" }] }] }, "input[0].content[0].type", /input_image/],
    ["an item reference", { input: [{ type: "item_reference", id: "msg_1" }] }, "input[0].type", /item references/],
    ["a reasoning summary", { reasoning: { summary: "auto" } }, "reasoning.summary", /reasoning summaries/],
    ["include", { include: ["message.output_text.logprobs"] }, "include[0]", /no include values/],
    ["truncation auto", { truncation: "auto" }, "truncation", /only "disabled"/],
    ["stored prompts", { prompt: { id: "pmpt_1" } }, "prompt", /stored prompts/],
    ["a chat-only field", { messages: [{ role: "user", content: "x" }] }, "messages", /use input/],
    ["no input", { input: [] }, "input", /input: required/],
  ])("%s", async (_label, body, param, message) => {
    const err = await refused(body);
    expect(err.param).toBe(param);
    expect(err.message).toMatch(message);
  });

  it("store true and false both answer (what each keeps: openai-responses-stored.spec.ts)", async () => {
    expect((await client.responses.create({ model: "echo-chat", input: "x", store: true })).status).toBe("completed");
    expect((await client.responses.create({ model: "echo-chat", input: "x", store: false })).status).toBe("completed");
  });
});

describe("errors as the SDK's typed exceptions", () => {
  it("unknown model -> NotFoundError model_not_found", async () => {
    const err = await client.responses.create({ model: "nope", input: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
  });

  it("wrong key -> AuthenticationError (streamed too: before any event)", async () => {
    const bad = new OpenAI({ apiKey: "sk-wrong-000000000000", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await expect(bad.responses.create({ model: "echo-chat", input: "x" })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(bad.responses.create({ model: "echo-chat", input: "x", stream: true })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("quota -> RateLimitError with retry-after", async () => {
    await client.responses.create({ model: "tight", input: "1" });
    const err = await client.responses.create({ model: "tight", input: "2" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(Number((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after"))).toBeGreaterThan(0);
  });

  it("a completions endpoint is refused as chat would refuse it", async () => {
    const err = await client.responses.create({ model: "echo-text", input: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    const chat = await client.chat.completions.create({ model: "echo-text", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe((chat as InstanceType<typeof OpenAI.APIError>).status);
  });

  it("retrieve, delete, input_items and cancel of an unknown id: NotFoundError naming it", async () => {
    const calls = [
      () => client.responses.retrieve("resp_abc"),
      () => client.responses.delete("resp_abc"),
      () => client.responses.inputItems.list("resp_abc"),
      () => client.responses.cancel("resp_abc"),
    ];
    for (const call of calls) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as Error).message).toContain('No response with id "resp_abc"');
    }
    // An id as long as the request line allows is not echoed whole.
    const long = await fetch(`${gw.url}/v1/responses/resp_${"x".repeat(8000)}`, { headers: { authorization: `Bearer ${key}` } });
    expect(long.status).toBe(404);
    const message = ((await long.json()) as { error: { message: string } }).error.message;
    expect(message.length).toBeLessThan(400);
    expect(message).toContain("No response with id");
  });

  it("oversize body -> 413 request_too_large", async () => {
    const res = await post("/v1/responses", { model: "echo-chat", input: "x".repeat(5 * 1024 * 1024) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error", code: "request_too_large" } });
  });
});

describe("the one request path", () => {
  it("writes a usage ledger row and a log line as ChatService/Chat", async () => {
    await client.responses.create({ model: "echo-chat", input: "ledger me" }, { headers: { "x-request-id": "rid-responses-ledger" } });
    await gw.gateway.flushLedger();
    let row: LedgerRow | undefined;
    for await (const r of gw.gateway.store.ledger.rows({})) if (r.requestId === "rid-responses-ledger") row = r;
    expect(row).toMatchObject({ endpoint: "echo-chat", promptTokens: 2, completionTokens: 3 });
    expect(gw.logs.some((l) => l["requestId"] === "rid-responses-ledger" && l["procedure"] === "modelgate.v1.ChatService/Chat" && l["key"] === "app")).toBe(true);
  });

  it("streamed calls are StreamChat calls, with rate-limit headers passed back", async () => {
    const res = await post("/v1/responses", { model: "echo-chat", input: "x", stream: true }, { "x-request-id": "rid-responses-stream" });
    await res.text();
    expect(gw.logs.some((l) => l["requestId"] === "rid-responses-stream" && l["procedure"] === "modelgate.v1.ChatService/StreamChat")).toBe(true);
  });
});

describe("the gateway's OpenAPI document", () => {
  it("lists POST /v1/responses with the body it validates with", async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    expect(doc.paths["/v1/responses"]?.["post"]?.requestBody).toMatchObject({ content: { "application/json": { schema: { $ref: "#/components/schemas/CreateResponse" } } } });
    expect(Object.keys(doc.components.schemas["CreateResponse"]!.properties)).toEqual(Object.keys(responsesBody.shape));
  });
});

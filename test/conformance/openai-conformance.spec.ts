// Every answer the OpenAI surface gives, checked against OpenAI's own definitions of it: the
// OpenAPI document (vendored at a pinned commit, openai-openapi/SOURCE.md) with ajv, and the
// openai Python SDK's pydantic models in strict mode (sdk_models_check.py, in the interop venv).
// Each case drives the real gateway; upstream answers are scripted in the shapes OpenAI sends
// (refusals, logprobs, audio, annotations, deprecated function_call, usage details), plus the
// echo provider and an Anthropic upstream, so translation from another format is covered too.
//
// Two checks per body: valid against the spec's schema, and no property the spec does not
// define (objects closed), except the deliberate supersets in `supersets` below. Where OpenAI's
// own wire disagrees with its spec, the difference is listed in `specDifferences` with why.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { openaiError } from "../../src/surfaces/openai/errors";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { startGateway, type TestGateway } from "../integration/harness";
import { interopPython } from "../interop/python-env";
import { describeErrors, openaiSpec } from "./openapi-schemas";
import { type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream";

const run = promisify(execFile);
const key = "sk-conformance-app-0001";
const narrowKey = "sk-conformance-narrow-01";
const meteredKey = "sk-conformance-metered-1";

/** Properties the gateway adds on purpose, by schema: JSON pointers with `*` for any index. */
const supersets: Record<string, { pointer: RegExp; why: string }[]> = {
  Model: [{ pointer: /^\/(endpoint_type|model)$/, why: "the endpoint's type and upstream model, for clients that list endpoints" }],
  ListModelsResponse: [{ pointer: /^\/data\/\d+\/(endpoint_type|model)$/, why: "as Model" }],
};

/**
 * Where OpenAI's API itself answers outside its published schemas (and so must the gateway, for
 * clients written against the API): the errors these produce are not counted.
 */
const specDifferences: Record<string, { error: (instancePath: string, value: unknown) => boolean; why: string }[]> = {
  CompletionChunk: [
    {
      error: (path, value) => /^\/choices\/\d+\/finish_reason$/.test(path) && value === null,
      why: "streamed text_completion chunks carry finish_reason null until the last one (as the real API sends them); the spec shares CreateCompletionResponse, whose finish_reason is a non-null enum, between unary answers and chunks",
    },
  ],
  EmbeddingBase64: [
    {
      error: (path) => /^\/data\/\d+\/embedding$/.test(path),
      why: "encoding_format base64 answers a base64 string, which the spec's Embedding.embedding (a list of numbers) does not describe",
    },
  ],
};

type SdkModel =
  | "ChatCompletion"
  | "ChatCompletionChunk"
  | "Completion"
  | "CreateEmbeddingResponse"
  | "Model"
  | "ModelList"
  | "ErrorResponse"
  | "Response"
  | "ResponseItemList"
  | "ResponseStreamEvent"
  | "Conversation"
  | "ConversationDeletedResource"
  | "ConversationItem"
  | "ConversationItemList";

interface Kind {
  schema: string;
  sdk: SdkModel;
  /** Key into specDifferences. */
  differences?: string;
}

const kinds = {
  chat: { schema: "CreateChatCompletionResponse", sdk: "ChatCompletion" },
  chatChunk: { schema: "CreateChatCompletionStreamResponse", sdk: "ChatCompletionChunk" },
  completion: { schema: "CreateCompletionResponse", sdk: "Completion" },
  completionChunk: { schema: "CreateCompletionResponse", sdk: "Completion", differences: "CompletionChunk" },
  embeddings: { schema: "CreateEmbeddingResponse", sdk: "CreateEmbeddingResponse" },
  embeddingsBase64: { schema: "CreateEmbeddingResponse", sdk: "CreateEmbeddingResponse", differences: "EmbeddingBase64" },
  model: { schema: "Model", sdk: "Model" },
  models: { schema: "ListModelsResponse", sdk: "ModelList" },
  error: { schema: "ErrorResponse", sdk: "ErrorResponse" },
  response: { schema: "Response", sdk: "Response" },
  responseItems: { schema: "ResponseItemList", sdk: "ResponseItemList" },
  conversation: { schema: "ConversationResource", sdk: "Conversation" },
  conversationDeleted: { schema: "DeletedConversationResource", sdk: "ConversationDeletedResource" },
  conversationItem: { schema: "ConversationItem", sdk: "ConversationItem" },
  conversationItems: { schema: "ConversationItemList", sdk: "ConversationItemList" },
} satisfies Record<string, Kind>;

/** Each Responses stream event type, checked against its own schema (not only the ResponseStreamEvent union). */
const responseEventSchemas: Record<string, string> = {
  "response.created": "ResponseCreatedEvent",
  "response.in_progress": "ResponseInProgressEvent",
  "response.output_item.added": "ResponseOutputItemAddedEvent",
  "response.content_part.added": "ResponseContentPartAddedEvent",
  "response.output_text.delta": "ResponseTextDeltaEvent",
  "response.output_text.done": "ResponseTextDoneEvent",
  "response.refusal.delta": "ResponseRefusalDeltaEvent",
  "response.refusal.done": "ResponseRefusalDoneEvent",
  "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
  "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
  "response.content_part.done": "ResponseContentPartDoneEvent",
  "response.output_item.done": "ResponseOutputItemDoneEvent",
  "response.completed": "ResponseCompletedEvent",
  "response.incomplete": "ResponseIncompleteEvent",
  "response.failed": "ResponseFailedEvent",
};
/** The event types the stream cases below produced (each type must be covered). */
const responseEventTypesSeen = new Set<string>();

function expectResponseEventConforms(label: string, event: unknown): void {
  const type = (event as { type?: string }).type ?? "";
  const schema = responseEventSchemas[type];
  expect(schema, `${label}: an event type the gateway should not send: ${type}`).toBeDefined();
  responseEventTypesSeen.add(type);
  expectConforms(label, { schema: schema!, sdk: "ResponseStreamEvent" }, event);
  expect(describeErrors(openaiSpec().check("ResponseStreamEvent").spec(event)), `${label}: against ResponseStreamEvent`).toBe("");
}

const checked: { label: string; model: SdkModel; body: unknown }[] = [];

function valueAt(body: unknown, pointer: string): unknown {
  let v: unknown = body;
  for (const part of pointer.split("/").slice(1)) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

/** Asserts `body` is a valid `kind` per the spec, with no undefined property, and queues it for the SDK check. */
function expectConforms(label: string, kind: Kind, body: unknown): void {
  const check = openaiSpec().check(kind.schema);
  const known = kind.differences === undefined ? [] : (specDifferences[kind.differences] ?? []);
  const errors = check.spec(body).filter((e) => !known.some((d) => d.error(e.instancePath, valueAt(body, e.instancePath))));
  expect(describeErrors(errors), `${label}: against ${kind.schema}`).toBe("");
  const allowed = supersets[kind.schema] ?? [];
  const undefinedProps = check.undefinedProperties(body).filter((p) => !allowed.some((a) => a.pointer.test(p)));
  expect(undefinedProps, `${label}: properties ${kind.schema} does not define`).toEqual([]);
  // The SDK check gets what the SDK would parse; a listed spec difference is put right first.
  let sdkBody = body;
  if (kind.differences === "CompletionChunk") {
    sdkBody = JSON.parse(JSON.stringify(body, (k, v: unknown) => (k === "finish_reason" && v === null ? "stop" : v))) as unknown;
  }
  checked.push({ label, model: kind.sdk, body: sdkBody });
}

let up: ScriptedUpstream;
let fake: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startScriptedUpstream();
  fake = await startFakeUpstream();
  const openai = (name: string) => `{ provider: openai, name: ${name}, config: { openai_api_key: sk-upstream-0000, openai_api_base: "${up.url}/v1" } }`;
  gw = await startGateway(
    `
server: { max_body_bytes: 65536 }
auth:
  enabled: true
  keys:
    - { name: app, key: $APP_KEY }
    - { name: narrow, key: $NARROW_KEY, endpoints: [echo-chat] }
    - { name: metered, key: $METERED_KEY, limits: { rpm: 1 } }
endpoints:
  - { name: oa-chat, endpoint_type: llm/v1/chat, model: ${openai("gpt-4o")} }
  - { name: oa-text, endpoint_type: llm/v1/completions, model: ${openai("gpt-3.5-turbo-instruct")} }
  - { name: oa-embed, endpoint_type: llm/v1/embeddings, model: ${openai("text-embedding-3-small")} }
  - { name: echo-chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
  - { name: echo-text, endpoint_type: llm/v1/completions, model: { provider: echo, name: echo-1 } }
  - { name: echo-embed, endpoint_type: llm/v1/embeddings, model: { provider: echo, name: echo-e } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: { anthropic_api_key: sk-ant-upstream, anthropic_api_base: "${fake.url}/v1" } } }
`,
    { APP_KEY: key, NARROW_KEY: narrowKey, METERED_KEY: meteredKey },
  );
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await up?.close();
  await fake?.close();
});

function request(path: string, body: unknown, options: { key?: string; method?: string } = {}) {
  return fetch(`${gw.url}${path}`, {
    method: options.method ?? "POST",
    headers: { authorization: `Bearer ${options.key ?? key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function json(path: string, body: unknown): Promise<unknown> {
  const res = await request(path, body);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as unknown;
}

/** The JSON `data:` events of an SSE answer, without the final [DONE]. */
async function events(path: string, body: unknown): Promise<unknown[]> {
  const res = await request(path, body);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const data = text
    .split("\n\n")
    .filter((b) => b.startsWith("data: "))
    .map((b) => b.slice("data: ".length));
  expect(data.at(-1)).toBe("[DONE]");
  return data.slice(0, -1).map((d) => JSON.parse(d) as unknown);
}

/** The events of a Responses SSE answer: `event: <type>` and `data: <json>` per block, no [DONE]. */
async function responseEvents(body: unknown): Promise<unknown[]> {
  const res = await request("/v1/responses", body);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return text
    .split("\n\n")
    .filter(Boolean)
    .map((block) => {
      const [event, data] = block.split("\n");
      const parsed = JSON.parse(data!.slice("data: ".length)) as { type: string };
      expect(event).toBe(`event: ${parsed.type}`);
      return parsed;
    });
}

// ------------------------------------------------------------------------------------------
// Upstream answers in OpenAI's shapes

const created = 1741570283;
const chatAnswer = (message: Record<string, unknown>, extra: Record<string, unknown> = {}, finish = "stop") => ({
  json: {
    id: "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    object: "chat.completion",
    created,
    model: "gpt-4o-2024-08-06",
    choices: [{ index: 0, message: { role: "assistant", content: null, refusal: null, annotations: [], ...message }, logprobs: null, finish_reason: finish }],
    usage: {
      prompt_tokens: 1117,
      completion_tokens: 46,
      total_tokens: 1163,
      prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
    },
    service_tier: "default",
    system_fingerprint: "fp_fc9f1d7035",
    ...extra,
  },
});

const tokenLogprob = (token: string, logprob: number) => ({
  token,
  logprob,
  bytes: [...Buffer.from(token)],
  top_logprobs: [{ token, logprob, bytes: [...Buffer.from(token)] }, { token: "x", logprob: logprob - 3, bytes: null }],
});

const chunkBase = { id: "chatcmpl-stream-1", object: "chat.completion.chunk", created, model: "gpt-4o-2024-08-06", service_tier: "default", system_fingerprint: "fp_fc9f1d7035" };
const chunk = (delta: Record<string, unknown>, finish: string | null = null, logprobs: unknown = null) => ({
  ...chunkBase,
  choices: [{ index: 0, delta, logprobs, finish_reason: finish }],
});
const usageChunk = { ...chunkBase, choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29, prompt_tokens_details: { cached_tokens: 0 } } };

const user = (content: string) => [{ role: "user", content }];
const weatherTool = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];

describe("chat.completion (unary)", () => {
  const cases: [string, () => void, Record<string, unknown>][] = [
    ["echo", () => undefined, { model: "echo-chat", messages: user("hi") }],
    ["openai plain, full metadata", () => up.next("/v1/chat/completions", chatAnswer({ content: "Hello." })), { model: "oa-chat", messages: user("hi") }],
    [
      "openai tool calls",
      () =>
        up.next(
          "/v1/chat/completions",
          chatAnswer({ tool_calls: [{ id: "call_abc", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] }, {}, "tool_calls"),
        ),
      { model: "oa-chat", messages: user("weather?"), tools: weatherTool },
    ],
    ["openai refusal", () => up.next("/v1/chat/completions", chatAnswer({ refusal: "I can't help with that." })), { model: "oa-chat", messages: user("x") }],
    [
      "openai logprobs",
      () =>
        up.next("/v1/chat/completions", {
          json: {
            ...chatAnswer({ content: "Hi!" }).json,
            choices: [
              {
                index: 0,
                message: { role: "assistant", content: "Hi!", refusal: null, annotations: [] },
                logprobs: { content: [tokenLogprob("Hi", -0.01), tokenLogprob("!", -0.2)], refusal: null },
                finish_reason: "stop",
              },
            ],
          },
        }),
      { model: "oa-chat", messages: user("x"), logprobs: true, top_logprobs: 2 },
    ],
    [
      "openai audio answer",
      () =>
        up.next(
          "/v1/chat/completions",
          chatAnswer({ audio: { id: "audio_abc", expires_at: created + 3600, data: Buffer.from("RIFF....WAVE").toString("base64"), transcript: "Hello!" } }),
        ),
      { model: "oa-chat", messages: user("say hello"), modalities: ["text", "audio"], audio: { voice: "alloy", format: "wav" } },
    ],
    [
      "openai annotations",
      () =>
        up.next(
          "/v1/chat/completions",
          chatAnswer({
            content: "It is 21 degrees (example.com).",
            annotations: [{ type: "url_citation", url_citation: { start_index: 18, end_index: 29, url: "https://example.com/paris", title: "Paris" } }],
          }),
        ),
      { model: "oa-chat", messages: user("weather"), web_search_options: {} },
    ],
    [
      "openai deprecated function_call",
      () => up.next("/v1/chat/completions", chatAnswer({ function_call: { name: "get_weather", arguments: '{"city":"Paris"}' } }, {}, "function_call")),
      { model: "oa-chat", messages: user("weather"), functions: [{ name: "get_weather", parameters: { type: "object", properties: {} } }] },
    ],
    [
      "openai n=2",
      () =>
        up.next("/v1/chat/completions", {
          json: {
            ...chatAnswer({}).json,
            choices: [0, 1].map((index) => ({ index, message: { role: "assistant", content: `answer ${index}`, refusal: null, annotations: [] }, logprobs: null, finish_reason: index ? "length" : "stop" })),
          },
        }),
      { model: "oa-chat", messages: user("x"), n: 2 },
    ],
    [
      "a finish_reason OpenAI does not have (vLLM's abort) as stop",
      () => up.next("/v1/chat/completions", chatAnswer({ content: "partial" }, {}, "abort")),
      { model: "oa-chat", messages: user("x") },
    ],
    ["anthropic", () => undefined, { model: "claude", messages: user("hello") }],
    ["anthropic tool call", () => undefined, { model: "claude", messages: user("#tool docs"), tools: weatherTool }],
  ];
  it.each(cases)("%s", async (label, script, body) => {
    script();
    const res = await json("/v1/chat/completions", body);
    expectConforms(`chat ${label}`, kinds.chat, res);
  });

  it("carries the upstream's metadata and usage details, not the gateway's clock", async () => {
    up.next("/v1/chat/completions", chatAnswer({ content: "Hello." }, { usage: { prompt_tokens: 10, completion_tokens: 30, total_tokens: 40, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 20 } } }));
    const res = (await json("/v1/chat/completions", { model: "oa-chat", messages: user("hi") })) as Record<string, unknown>;
    expect(res).toMatchObject({
      created,
      service_tier: "default",
      system_fingerprint: "fp_fc9f1d7035",
      usage: { prompt_tokens: 10, completion_tokens: 30, total_tokens: 40, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 20 } },
    });
  });

  it("a refusal is message.refusal, never content", async () => {
    up.next("/v1/chat/completions", chatAnswer({ refusal: "I can't help with that." }));
    const res = (await json("/v1/chat/completions", { model: "oa-chat", messages: user("x") })) as { choices: { message: unknown }[] };
    expect(res.choices[0]?.message).toEqual({ role: "assistant", content: null, refusal: "I can't help with that." });
  });
});

describe("chat.completion.chunk (streams)", () => {
  const cases: [string, () => void, Record<string, unknown>][] = [
    ["echo with include_usage", () => undefined, { model: "echo-chat", messages: user("a b c"), stream: true, stream_options: { include_usage: true } }],
    ["echo without include_usage", () => undefined, { model: "echo-chat", messages: user("a b c"), stream: true }],
    [
      "openai tool-call deltas",
      () =>
        up.next("/v1/chat/completions", {
          sse: [
            chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_abc", type: "function", function: { name: "get_weather", arguments: "" } }], refusal: null }),
            chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
            chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
            chunk({}, "tool_calls"),
            usageChunk,
          ],
        }),
      { model: "oa-chat", messages: user("weather?"), tools: weatherTool, stream: true, stream_options: { include_usage: true } },
    ],
    [
      "openai refusal deltas",
      () =>
        up.next("/v1/chat/completions", {
          sse: [chunk({ role: "assistant", content: null, refusal: "" }), chunk({ refusal: "I can't " }), chunk({ refusal: "help with that." }), chunk({}, "stop"), usageChunk],
        }),
      { model: "oa-chat", messages: user("x"), stream: true },
    ],
    [
      "openai logprobs",
      () =>
        up.next("/v1/chat/completions", {
          sse: [
            chunk({ role: "assistant", content: "", refusal: null }, null, { content: [], refusal: null }),
            chunk({ content: "Hi" }, null, { content: [tokenLogprob("Hi", -0.01)], refusal: null }),
            chunk({ content: "!" }, null, { content: [tokenLogprob("!", -0.3)], refusal: null }),
            chunk({}, "stop"),
            usageChunk,
          ],
        }),
      { model: "oa-chat", messages: user("x"), stream: true, logprobs: true, top_logprobs: 2, stream_options: { include_usage: true } },
    ],
    [
      "openai deprecated function_call deltas",
      () =>
        up.next("/v1/chat/completions", {
          sse: [
            chunk({ role: "assistant", content: null, function_call: { name: "get_weather", arguments: "" } }),
            chunk({ function_call: { arguments: '{"city":"Paris"}' } }),
            chunk({}, "function_call"),
            usageChunk,
          ],
        }),
      { model: "oa-chat", messages: user("x"), stream: true, functions: [{ name: "get_weather", parameters: { type: "object", properties: {} } }] },
    ],
    ["anthropic tool use", () => undefined, { model: "claude", messages: user("#tool streamed args"), tools: weatherTool, stream: true, stream_options: { include_usage: true } }],
  ];
  it.each(cases)("%s", async (label, script, body) => {
    script();
    const chunks = await events("/v1/chat/completions", body);
    expect(chunks.length).toBeGreaterThan(1);
    chunks.forEach((c, i) => expectConforms(`chat chunk ${label} #${i}`, kinds.chatChunk, c));
    const includeUsage = (body["stream_options"] as { include_usage?: boolean } | undefined)?.include_usage === true;
    // The spec: with include_usage every chunk has `usage` (null but on the last); without, none has.
    for (const c of chunks as Record<string, unknown>[]) expect("usage" in c).toBe(includeUsage);
    // created is the same on every chunk.
    expect(new Set((chunks as { created: number }[]).map((c) => c.created)).size).toBe(1);
  });

  it("refusal text streams as delta.refusal, never as content", async () => {
    up.next("/v1/chat/completions", { sse: [chunk({ role: "assistant", content: null, refusal: "" }), chunk({ refusal: "No." }), chunk({}, "stop"), usageChunk] });
    const chunks = (await events("/v1/chat/completions", { model: "oa-chat", messages: user("x"), stream: true })) as { choices: { delta: Record<string, unknown> }[] }[];
    const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta));
    expect(deltas.map((d) => d["refusal"] ?? "").join("")).toBe("No.");
    expect(deltas.some((d) => typeof d["content"] === "string" && d["content"] !== "")).toBe(false);
  });

  it("a failure mid-stream is an ErrorResponse event (and no [DONE])", async () => {
    up.next("/v1/chat/completions", { sse: [chunk({ role: "assistant", content: "Hel" }), { error: { message: "The server had an error", type: "server_error", param: null, code: null } }], done: false });
    const res = await request("/v1/chat/completions", { model: "oa-chat", messages: user("x"), stream: true });
    const blocks = (await res.text()).split("\n\n").filter((b) => b.startsWith("data: "));
    expect(blocks).not.toContain("data: [DONE]");
    const last = JSON.parse(blocks.at(-1)!.slice("data: ".length)) as unknown;
    expectConforms("chat stream error event", kinds.error, last);
  });
});

describe("response (POST /v1/responses)", () => {
  const cases: [string, () => void, Record<string, unknown>][] = [
    ["echo", () => undefined, { model: "echo-chat", input: "hi" }],
    ["echo cut by max_output_tokens (incomplete)", () => undefined, { model: "echo-chat", input: "one two three", max_output_tokens: 1 }],
    [
      "openai plain, items, instructions, metadata",
      () => up.next("/v1/chat/completions", chatAnswer({ content: "Hello." })),
      { model: "oa-chat", instructions: "be brief", input: [{ role: "user", content: [{ type: "input_text", text: "hi" }] }], metadata: { a: "b" }, temperature: 0.2, top_p: 0.9, user: "u1" },
    ],
    [
      "openai tool calls",
      () =>
        up.next(
          "/v1/chat/completions",
          chatAnswer({ tool_calls: [{ id: "call_abc", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] }, {}, "tool_calls"),
        ),
      { model: "oa-chat", input: "weather?", tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }], tool_choice: "auto" },
    ],
    ["openai refusal", () => up.next("/v1/chat/completions", chatAnswer({ refusal: "I can't help with that." })), { model: "oa-chat", input: "x" }],
    [
      "openai annotations",
      () =>
        up.next(
          "/v1/chat/completions",
          chatAnswer({
            content: "It is 21 degrees (example.com).",
            annotations: [{ type: "url_citation", url_citation: { start_index: 18, end_index: 29, url: "https://example.com/paris", title: "Paris" } }],
          }),
        ),
      { model: "oa-chat", input: "weather" },
    ],
    [
      "openai json_schema text format",
      () => up.next("/v1/chat/completions", chatAnswer({ content: '{"a":"b"}' })),
      { model: "oa-chat", input: "x", text: { format: { type: "json_schema", name: "thing", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true }, verbosity: "low" } },
    ],
    ["anthropic", () => undefined, { model: "claude", input: "hello" }],
    ["anthropic tool call", () => undefined, { model: "claude", input: "#tool docs", tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: {} }, strict: null }] }],
  ];
  it.each(cases)("%s", async (label, script, body) => {
    script();
    expectConforms(`response ${label}`, kinds.response, await json("/v1/responses", body));
  });

  it("stored: GET answers a Response, input_items a ResponseItemList (every input item kind, a continued conversation)", async () => {
    up.next(
      "/v1/chat/completions",
      chatAnswer({ content: "Sure.", tool_calls: [{ id: "call_x", type: "function", function: { name: "f", arguments: "{}" } }] }, {}, "tool_calls"),
    );
    const first = (await json("/v1/responses", {
      model: "oa-chat",
      instructions: "be brief",
      input: [
        { role: "user", content: "plain" },
        { role: "developer", content: [{ type: "input_text", text: "parts" }] },
        { type: "message", id: "msg_given", status: "completed", role: "assistant", content: [{ type: "output_text", text: "earlier", annotations: [] }] },
        { type: "function_call", call_id: "call_0", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "call_0", output: "done" },
      ],
      tools: [{ type: "function", name: "f", parameters: { type: "object", properties: {} }, strict: false }],
    })) as { id: string };
    const retrieved = await (await request(`/v1/responses/${first.id}`, undefined, { method: "GET" })).json();
    expectConforms("stored response retrieved", kinds.response, retrieved);
    expect(retrieved).toEqual(first);
    up.next("/v1/chat/completions", chatAnswer({ content: "Again." }));
    const second = (await json("/v1/responses", { model: "oa-chat", previous_response_id: first.id, input: "next" })) as { id: string };
    for (const [id, query] of [[first.id, ""], [second.id, "?order=asc&limit=100"], [second.id, "?limit=2"]] as const) {
      const res = await request(`/v1/responses/${id}/input_items${query}`, undefined, { method: "GET" });
      expect(res.status).toBe(200);
      expectConforms(`stored response input_items ${query || "(defaults)"}`, kinds.responseItems, await res.json());
    }
  });

  it("usage details: cached and reasoning tokens", async () => {
    up.next("/v1/chat/completions", chatAnswer({ content: "Hello." }, { usage: { prompt_tokens: 10, completion_tokens: 30, total_tokens: 40, prompt_tokens_details: { cached_tokens: 8 }, completion_tokens_details: { reasoning_tokens: 20 } } }));
    const res = (await json("/v1/responses", { model: "oa-chat", input: "hi" })) as Record<string, unknown>;
    expect(res["usage"]).toEqual({ input_tokens: 10, input_tokens_details: { cached_tokens: 8, cache_write_tokens: 0 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 20 }, total_tokens: 40 });
    expect(res["created_at"]).toBe(created);
  });

  const streams: [string, () => void, Record<string, unknown>][] = [
    ["echo", () => undefined, { model: "echo-chat", input: "a b c", stream: true }],
    ["echo incomplete", () => undefined, { model: "echo-chat", input: "a b c", max_output_tokens: 1, stream: true }],
    [
      "openai tool-call deltas",
      () =>
        up.next("/v1/chat/completions", {
          sse: [
            chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_abc", type: "function", function: { name: "get_weather", arguments: "" } }], refusal: null }),
            chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
            chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
            chunk({}, "tool_calls"),
            usageChunk,
          ],
        }),
      { model: "oa-chat", input: "weather?", tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: {} }, strict: true }], stream: true },
    ],
    [
      "openai text then refusal",
      () =>
        up.next("/v1/chat/completions", {
          sse: [chunk({ role: "assistant", content: "Well, " }), chunk({ refusal: "I can't " }), chunk({ refusal: "help with that." }), chunk({}, "stop"), usageChunk],
        }),
      { model: "oa-chat", input: "x", stream: true },
    ],
    ["anthropic tool use", () => undefined, { model: "claude", input: "#tool streamed args", tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: {} }, strict: true }], stream: true }],
    [
      "a failure midway (response.failed)",
      () => up.next("/v1/chat/completions", { sse: [chunk({ role: "assistant", content: "Hel" }), { error: { message: "The server had an error", type: "server_error", param: null, code: null } }], done: false }),
      { model: "oa-chat", input: "x", stream: true },
    ],
  ];
  it.each(streams)("stream: %s", async (label, script, body) => {
    script();
    const events = (await responseEvents(body)) as { type: string; sequence_number: number }[];
    events.forEach((e, i) => expectResponseEventConforms(`response event ${label} #${i} ${e.type}`, e));
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events[0]?.type).toBe("response.created");
    expect(["response.completed", "response.incomplete", "response.failed"]).toContain(events.at(-1)?.type);
  });

  it("every event type the gateway sends was checked", () => {
    expect([...responseEventTypesSeen].sort()).toEqual(Object.keys(responseEventSchemas).sort());
  });
});

describe("conversations (/v1/conversations)", () => {
  const get = async (path: string, method = "GET") => {
    const res = await request(path, undefined, { method });
    expect(res.status, path).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };

  it("the conversation, its items (every input item kind, and a response's answer) and a deletion", async () => {
    const conversation = (await json("/v1/conversations", {
      metadata: { topic: "demo" },
      items: [
        { role: "user", content: "plain" },
        { role: "developer", content: [{ type: "input_text", text: "parts" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "earlier", annotations: [] }] },
        { type: "function_call", call_id: "call_0", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "call_0", output: "done" },
      ],
    })) as { id: string };
    expectConforms("conversation created", kinds.conversation, conversation);
    up.next("/v1/chat/completions", chatAnswer({ content: "Sure." }));
    expectConforms("response in a conversation", kinds.response, await json("/v1/responses", { model: "oa-chat", conversation: conversation.id, input: "next" }));
    expectConforms("conversation retrieved", kinds.conversation, await get(`/v1/conversations/${conversation.id}`));
    const all = await get(`/v1/conversations/${conversation.id}/items?order=asc&limit=100`);
    expectConforms("conversation items", kinds.conversationItems, all);
    const items = all["data"] as { id: string }[];
    expect(items).toHaveLength(7);
    for (const item of items) expectConforms(`conversation item ${item.id}`, kinds.conversationItem, await get(`/v1/conversations/${conversation.id}/items/${item.id}`));
    expectConforms("conversation items added", kinds.conversationItems, await json(`/v1/conversations/${conversation.id}/items`, { items: [{ role: "user", content: "more" }] }));
    expectConforms("conversation after an item's deletion", kinds.conversation, await get(`/v1/conversations/${conversation.id}/items/${items[0]!.id}`, "DELETE"));
    expectConforms("conversation deleted", kinds.conversationDeleted, await get(`/v1/conversations/${conversation.id}`, "DELETE"));
  });
});

describe("text_completion", () => {
  const completion = (choices: unknown[]) => ({
    json: { id: "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", object: "text_completion", created, model: "gpt-3.5-turbo-instruct", system_fingerprint: "fp_44709d6fcb", choices, usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } },
  });
  const logprobs = { tokens: ["\n", "This"], token_logprobs: [-0.1, -0.5], top_logprobs: [{ "\n": -0.1, " ": -2.3 }, { This: -0.5 }], text_offset: [5, 6] };
  const cases: [string, () => void, Record<string, unknown>][] = [
    ["echo", () => undefined, { model: "echo-text", prompt: "once upon" }],
    ["openai logprobs", () => up.next("/v1/completions", completion([{ text: "\nThis", index: 0, logprobs, finish_reason: "length" }])), { model: "oa-text", prompt: "Say this", logprobs: 1 }],
    [
      "openai several prompts",
      () => up.next("/v1/completions", completion([0, 1].map((index) => ({ text: `t${index}`, index, logprobs: null, finish_reason: "stop" })))),
      { model: "oa-text", prompt: ["a", "b"] },
    ],
    ["openai token ids", () => up.next("/v1/completions", completion([{ text: "x", index: 0, logprobs: null, finish_reason: "stop" }])), { model: "oa-text", prompt: [1212, 318] }],
  ];
  it.each(cases)("%s", async (label, script, body) => {
    script();
    expectConforms(`completion ${label}`, kinds.completion, await json("/v1/completions", body));
  });

  const streams: [string, () => void, Record<string, unknown>][] = [
    ["echo with include_usage", () => undefined, { model: "echo-text", prompt: "a b c", stream: true, stream_options: { include_usage: true } }],
    ["echo", () => undefined, { model: "echo-text", prompt: "a b c", stream: true }],
    [
      "openai logprobs",
      () => {
        const base = { id: "cmpl-s1", object: "text_completion", created, model: "gpt-3.5-turbo-instruct" };
        up.next("/v1/completions", {
          sse: [
            { ...base, choices: [{ text: "\n", index: 0, logprobs: { tokens: ["\n"], token_logprobs: [-0.1], top_logprobs: [{ "\n": -0.1 }], text_offset: [5] }, finish_reason: null }] },
            { ...base, choices: [{ text: "This", index: 0, logprobs: { tokens: ["This"], token_logprobs: [-0.5], top_logprobs: [{ This: -0.5 }], text_offset: [6] }, finish_reason: "length" }] },
            { ...base, choices: [], usage: { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 } },
          ],
        });
      },
      { model: "oa-text", prompt: "Say this", logprobs: 1, stream: true, stream_options: { include_usage: true } },
    ],
  ];
  it.each(streams)("stream: %s", async (label, script, body) => {
    script();
    const chunks = await events("/v1/completions", body);
    chunks.forEach((c, i) => expectConforms(`completion chunk ${label} #${i}`, kinds.completionChunk, c));
    // No `usage: null` on completion chunks (the spec's CompletionUsage is not nullable).
    for (const c of chunks as Record<string, unknown>[]) expect(c["usage"]).not.toBeNull();
  });
});

describe("embeddings", () => {
  it.each([
    ["openai float", { model: "oa-embed", input: "The food was delicious", encoding_format: "float" }, kinds.embeddings],
    ["openai base64", { model: "oa-embed", input: ["a", "b"] }, kinds.embeddingsBase64],
    ["openai token ids", { model: "oa-embed", input: [[1212, 318], [257]], encoding_format: "float" }, kinds.embeddings],
    ["echo float", { model: "echo-embed", input: ["abc"], encoding_format: "float" }, kinds.embeddings],
  ] as const)("%s", async (label, body, kind) => {
    expectConforms(`embeddings ${label}`, kind, await json("/v1/embeddings", body));
  });

  it("returns the upstream's numbers exactly (not float32 printed as float64)", async () => {
    const values = [0.1, -0.0023064255, 0.30000001192092896, 1e-7, 0.123456789012345];
    up.next("/v1/embeddings", { json: { object: "list", data: [{ object: "embedding", index: 0, embedding: values }], model: "text-embedding-3-small", usage: { prompt_tokens: 1, total_tokens: 1 } } });
    const res = (await json("/v1/embeddings", { model: "oa-embed", input: "x", encoding_format: "float" })) as { data: { embedding: number[] }[] };
    expect(res.data[0]?.embedding).toEqual(values);
  });
});

describe("models", () => {
  it("list", async () => {
    const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expectConforms("models list", kinds.models, await res.json());
  });
  it("retrieve", async () => {
    const res = await fetch(`${gw.url}/v1/models/oa-chat`, { headers: { authorization: `Bearer ${key}` } });
    expectConforms("models retrieve", kinds.model, await res.json());
  });
});

describe("errors: every status as an ErrorResponse", () => {
  const cases: [string, number, () => Promise<Response>, { code?: string | null; param?: string | null; type?: string }][] = [
    ["invalid JSON", 400, () => request("/v1/chat/completions", "{nope"), { type: "invalid_request_error", code: null }],
    ["a field out of range names it", 400, () => request("/v1/chat/completions", { model: "echo-chat", messages: user("x"), temperature: 7 }), { param: "temperature" }],
    ["a message field names its path", 400, () => request("/v1/chat/completions", { model: "echo-chat", messages: [{ role: "bot", content: "x" }] }), { param: "messages[0].role" }],
    ["an extra the provider refuses names it", 400, () => request("/v1/chat/completions", { model: "oa-chat", messages: user("x"), best_of: 3 }), { param: "best_of" }],
    [
      "upstream 400",
      400,
      () => {
        up.next("/v1/chat/completions", { status: 400, json: { error: { message: "Unsupported value: 'temperature'", type: "invalid_request_error", param: "temperature", code: "unsupported_value" } } });
        return request("/v1/chat/completions", { model: "oa-chat", messages: user("x") });
      },
      { type: "invalid_request_error" },
    ],
    [
      "upstream context length",
      400,
      () => {
        up.next("/v1/chat/completions", { status: 400, json: { error: { message: "This model's maximum context length is 128000 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } } });
        return request("/v1/chat/completions", { model: "oa-chat", messages: user("x") });
      },
      { code: "context_length_exceeded" },
    ],
    ["wrong key", 401, () => request("/v1/chat/completions", { model: "echo-chat", messages: user("x") }, { key: "sk-wrong-key-000000000" }), { code: "invalid_api_key" }],
    ["endpoint not allowed for the key", 403, () => request("/v1/chat/completions", { model: "oa-chat", messages: user("x") }, { key: narrowKey }), {}],
    ["unknown model", 404, () => request("/v1/chat/completions", { model: "nope", messages: user("x") }), { code: "model_not_found" }],
    ["unknown path", 404, () => request("/v1/nope", {}), { type: "invalid_request_error", code: null }],
    ["responses: an unknown previous response names the field", 400, () => request("/v1/responses", { model: "echo-chat", input: "x", previous_response_id: "resp_1" }), { param: "previous_response_id" }],
    ["responses: a built-in tool names it", 400, () => request("/v1/responses", { model: "echo-chat", input: "x", tools: [{ type: "file_search" }] }), { param: "tools[0]" }],
    ["responses: unknown model", 404, () => request("/v1/responses", { model: "nope", input: "x" }), { code: "model_not_found" }],
    ["responses: wrong key", 401, () => request("/v1/responses", { model: "echo-chat", input: "x" }, { key: "sk-wrong-key-000000000" }), { code: "invalid_api_key" }],
    ["responses: retrieve an unknown id", 404, () => request("/v1/responses/resp_1", undefined, { method: "GET" }), { type: "invalid_request_error" }],
    ["responses: delete an unknown id", 404, () => request("/v1/responses/resp_1", undefined, { method: "DELETE" }), { type: "invalid_request_error" }],
    ["responses: body over the limit", 413, () => request("/v1/responses", { model: "echo-chat", input: "x".repeat(70_000) }), { code: "request_too_large" }],
    ["wrong method", 405, () => request("/v1/chat/completions", undefined, { method: "GET" }), { type: "invalid_request_error" }],
    ["body over the limit", 413, () => request("/v1/embeddings", { model: "echo-embed", input: "x".repeat(70_000) }), { code: "request_too_large" }],
    [
      "upstream 500",
      503,
      () => {
        up.next("/v1/chat/completions", { status: 500, json: { error: { message: "The server had an error", type: "server_error", param: null, code: null } } });
        return request("/v1/chat/completions", { model: "oa-chat", messages: user("x") });
      },
      { type: "server_error" },
    ],
  ];
  it.each(cases)("%s -> %i", async (label, status, send, expected) => {
    const res = await send();
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(res.status, JSON.stringify(body)).toBe(status);
    expectConforms(`error ${label}`, kinds.error, body);
    expect(body.error).toMatchObject(expected);
    if (status === 405) expect(res.headers.get("allow")).toBe("POST");
  });

  it("429 from a key's limit carries retry-after and the x-ratelimit-* headers", async () => {
    const first = await request("/v1/chat/completions", { model: "echo-chat", messages: user("1") }, { key: meteredKey });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit-requests")).toBe("1");
    const res = await request("/v1/chat/completions", { model: "echo-chat", messages: user("2") }, { key: meteredKey });
    const body = await res.json();
    expect(res.status).toBe(429);
    expectConforms("error rate limit", kinds.error, body);
    expect(body).toMatchObject({ error: { type: "requests", code: "rate_limit_exceeded" } });
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const responses = await request("/v1/responses", { model: "echo-chat", input: "3" }, { key: meteredKey });
    expect(responses.status).toBe(429);
    expectConforms("error rate limit (responses)", kinds.error, await responses.json());
    expect(Number(responses.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("1");
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    expect(res.headers.get("x-ratelimit-reset-requests")).toMatch(/^\d+s$/);
  });

  it.each(Object.values(Code).filter((c): c is Code => typeof c === "number"))("renderer: Connect code %i gives a valid ErrorResponse", (code) => {
    const { status, body } = openaiError(new ConnectError(`messages[0].content: something about code ${Code[code]}`, code));
    expect(status).toBeGreaterThanOrEqual(400);
    expectConforms(`error renderer ${Code[code]}`, kinds.error, body);
  });
});

describe("the checks themselves", () => {
  it("report a missing required property, a wrong type and an undefined property", () => {
    const check = openaiSpec().check("CreateChatCompletionResponse");
    const body = {
      id: "x",
      object: "chat.completion",
      created: "1",
      model: "m",
      choices: [{ index: 0, message: { role: "assistant", content: "hi", reasoning: "hidden" }, logprobs: null, finish_reason: "stop" }],
    };
    const errors = describeErrors(check.spec(body));
    expect(errors).toContain("/created must be integer");
    expect(errors).toContain("must have required property 'refusal'");
    expect(check.undefinedProperties(body)).toEqual(["/choices/0/message/reasoning"]);
  });

  it("report an undefined property of a schema made of allOf branches (Response), and not its branches' own", () => {
    const check = openaiSpec().check("Response");
    const base = {
      id: "resp_1", object: "response", created_at: 1, status: "completed", error: null, incomplete_details: null, instructions: null, model: "m",
      tools: [], output: [], parallel_tool_calls: true, metadata: {}, tool_choice: "auto", temperature: null, top_p: null, truncation: "disabled",
    };
    expect(describeErrors(check.spec(base))).toBe("");
    expect(check.undefinedProperties(base)).toEqual([]);
    expect(check.undefinedProperties({ ...base, store: false, output: [{ type: "message", id: "m", status: "completed", role: "assistant", content: [], extra: 1 }] })).toEqual(
      expect.arrayContaining(["/store", "/output/0/extra"]),
    );
  });
});

/** A body the SDK must refuse, so a checker that accepts everything cannot pass. */
const negativeControl = {
  label: "negative control",
  model: "ChatCompletion" as const,
  body: { id: "x", object: "chat.completion", created: "1", model: "m", choices: [] },
};

describe("the openai Python SDK's models (pydantic, strict)", () => {
  it("accept every body checked above", async () => {
    expect(checked.length).toBeGreaterThan(50);
    const dir = mkdtempSync(join(tmpdir(), "modelgate-conformance-"));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "answers.jsonl");
    writeFileSync(file, [...checked, negativeControl].map((c) => JSON.stringify(c)).join("\n") + "\n");
    const python = await interopPython();
    const script = fileURLToPath(new URL("./sdk_models_check.py", import.meta.url));
    const { stdout } = await run(python, [script, file], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? "" }),
    );
    const results = stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { check: string; ok: boolean; detail: unknown });
    expect(results.length, "the checker printed a line per body").toBe(checked.length + 1);
    expect(results.pop()?.ok, "the negative control is refused").toBe(false);
    expect(results.filter((r) => !r.ok)).toEqual([]);
  }, 300_000);
});

import { spawn } from "node:child_process";
import { once } from "node:events";
import { Agent, request as httpRequest } from "node:http";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  COMPLETIONS_DEFAULT_MAX_TOKENS,
  EMBEDDING_DIMENSIONS,
  SLOW_CHUNK_COUNT,
  countWords,
  fakeEmbedding,
  fakePredictions,
  fakeReplyText,
  parseDirectives,
  slowReplyText,
  splitIntoChunks,
  startFakeUpstream,
  type FakeUpstream,
  type JsonValue,
} from "./fake-upstream";

// --- wire shapes the tests read ------------------------------------------------------------------

interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens?: number;
  total_tokens: number;
}
interface ChatCompletion {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; message: { role: string; content: string }; finish_reason: string }[];
  usage: OpenAIUsage;
}
interface ChatChunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta: { role?: string; content?: string }; finish_reason: string | null }[];
  usage?: OpenAIUsage | null;
}
interface TextCompletion {
  id: string;
  object: string;
  model: string;
  choices: { text: string; index: number; logprobs: null; finish_reason: string | null }[];
  usage?: OpenAIUsage | null;
}
interface EmbeddingList {
  object: string;
  model: string;
  data: { object: string; index: number; embedding: number[] | string }[];
  usage: OpenAIUsage;
}
interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null };
}
interface AnthropicMessage {
  id: string;
  type: string;
  role: string;
  model: string;
  content: { type: string; text: string }[];
  stop_reason: string;
  stop_sequence: string | null;
  usage: { input_tokens: number; output_tokens: number };
}
interface AnthropicEvent {
  type: string;
  index?: number;
  message?: { id: string; model: string; content: unknown[]; usage: { input_tokens: number; output_tokens: number } };
  content_block?: { type: string; text: string };
  delta?: { type?: string; text?: string; stop_reason?: string; stop_sequence?: string | null };
  usage?: { output_tokens: number };
  error?: { type: string; message: string };
}
interface AnthropicError {
  type: string;
  error: { type: string; message: string };
}
interface MlflowError {
  error_code: string;
  message: string;
}

// --- helpers -------------------------------------------------------------------------------------

let fake: FakeUpstream;

beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
});

const ANTHROPIC_HEADERS = { "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" };

function post(
  path: string,
  body: JsonValue | string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(fake.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: signal ?? null,
  });
}

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Reads a whole SSE body. `error` is set when the body stream failed (e.g. the socket closed). */
async function readSse(res: Response): Promise<{ events: EventSourceMessage[]; error?: unknown }> {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => events.push(e) });
  const body = res.body;
  if (body === null) return { events };
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    return { events, error };
  }
  return { events };
}

const dataOf = <T>(e: EventSourceMessage): T => JSON.parse(e.data) as T;

function chat(content: string, extra: Record<string, JsonValue> = {}): Record<string, JsonValue> {
  return {
    model: "gpt-4o-mini",
    messages: [
      { role: "system", content: "be brief" },
      { role: "user", content },
    ],
    ...extra,
  };
}

function anthropic(content: string, extra: Record<string, JsonValue> = {}): Record<string, JsonValue> {
  return { model: "claude-sonnet-4-5", max_tokens: 1024, messages: [{ role: "user", content }], ...extra };
}

// --- pure helpers --------------------------------------------------------------------------------

describe("helpers", () => {
  it("splitIntoChunks keeps the whitespace so the pieces concatenate to the text", () => {
    expect(splitIntoChunks("echo: hello  big\nworld")).toEqual(["echo: ", "hello  ", "big\n", "world"]);
    expect(splitIntoChunks("")).toEqual([]);
    const text = fakeReplyText("a b   c \t d ");
    expect(splitIntoChunks(text).join("")).toBe(text);
    expect(splitIntoChunks(text)).toHaveLength(countWords(text));
  });

  it("countWords counts whitespace-separated words", () => {
    expect(countWords("")).toBe(0);
    expect(countWords("  one two\tthree\nfour  ")).toBe(4);
  });

  it("parseDirectives reads leading directives only", () => {
    expect(parseDirectives("hello #status:500")).toMatchObject({ status: 0, delayMs: 0 });
    expect(parseDirectives("#delay:20 #status:503 hi")).toMatchObject({ status: 503, delayMs: 20 });
    expect(parseDirectives("#slow")).toMatchObject({ slow: true });
    expect(parseDirectives("#nope #status:500")).toMatchObject({ status: 0 });
  });

  it("fakeEmbedding is deterministic, 8-dimensional and float32-exact", () => {
    const v = fakeEmbedding("hello world");
    expect(v).toHaveLength(EMBEDDING_DIMENSIONS);
    expect(fakeEmbedding("hello world")).toEqual(v);
    expect(fakeEmbedding("hello world!")).not.toEqual(v);
    expect(Array.from(new Float32Array(v))).toEqual(v);
    for (const x of v) {
      expect(x).toBeGreaterThanOrEqual(-1);
      expect(x).toBeLessThan(1);
    }
  });

  it("slowReplyText has SLOW_CHUNK_COUNT pieces", () => {
    expect(splitIntoChunks(slowReplyText())).toHaveLength(SLOW_CHUNK_COUNT);
  });
});

// --- OpenAI --------------------------------------------------------------------------------------

describe("OpenAI chat completions", () => {
  it("answers a unary chat.completion", async () => {
    const res = await post("/v1/chat/completions", chat("hello there world"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
    const body = await json<ChatCompletion>(res);
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "gpt-4o-mini",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "echo: hello there world", refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
    expect(Number.isInteger(body.created)).toBe(true);
  });

  it("reads content given as a list of text parts", async () => {
    const res = await post("/v1/chat/completions", {
      model: "m",
      messages: [{ role: "user", content: [{ type: "text", text: "part one" }] }],
    });
    const body = await json<ChatCompletion>(res);
    expect(body.choices[0]?.message.content).toBe("echo: part one");
    expect(body.usage.prompt_tokens).toBe(2);
  });

  it("echoes the LAST user message", async () => {
    const res = await post("/v1/chat/completions", {
      model: "m",
      messages: [
        { role: "user", content: "first" },
        { role: "assistant", content: "echo: first" },
        { role: "user", content: "second one" },
      ],
    });
    const body = await json<ChatCompletion>(res);
    expect(body.choices[0]?.message.content).toBe("echo: second one");
    expect(body.usage.prompt_tokens).toBe(1 + 2 + 2);
  });

  it("streams chat.completion.chunk events ending in [DONE]", async () => {
    const res = await post("/v1/chat/completions", chat("one two three", { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const { events, error } = await readSse(res);
    expect(error).toBeUndefined();
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => dataOf<ChatChunk>(e));
    for (const c of chunks) {
      expect(c.object).toBe("chat.completion.chunk");
      expect(c.model).toBe("gpt-4o-mini");
      expect(c.id).toBe(chunks[0]?.id);
      expect("usage" in c).toBe(false);
      expect(events[0]?.event).toBeUndefined();
    }
    expect(chunks[0]?.choices[0]?.delta).toMatchObject({ role: "assistant", content: "" });
    const contents = chunks.slice(1, -1).map((c) => c.choices[0]?.delta.content);
    expect(contents).toEqual(["echo: ", "one ", "two ", "three"]);
    expect(contents.join("")).toBe(fakeReplyText("one two three"));
    expect(chunks.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
  });

  it("adds a usage chunk with choices [] when stream_options.include_usage is set", async () => {
    const res = await post(
      "/v1/chat/completions",
      chat("one two three", { stream: true, stream_options: { include_usage: true } }),
    );
    const { events } = await readSse(res);
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => dataOf<ChatChunk>(e));
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toEqual(expect.objectContaining({ prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 }));
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
  });

  it("caps the reply at max_tokens words with finish_reason length", async () => {
    const unary = await json<ChatCompletion>(await post("/v1/chat/completions", chat("a b c d e", { max_tokens: 3 })));
    expect(unary.choices[0]).toMatchObject({ message: { content: "echo: a b" }, finish_reason: "length" });
    expect(unary.usage.completion_tokens).toBe(3);

    const { events } = await readSse(
      await post("/v1/chat/completions", chat("a b c d e", { max_completion_tokens: 3, stream: true })),
    );
    const chunks = events.slice(0, -1).map((e) => dataOf<ChatChunk>(e));
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("echo: a b");
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("length");
  });

  it("cuts the reply at a stop sequence", async () => {
    const body = await json<ChatCompletion>(await post("/v1/chat/completions", chat("a b STOP c", { stop: ["STOP"] })));
    expect(body.choices[0]).toMatchObject({ message: { content: "echo: a b " }, finish_reason: "stop" });
  });

  it("returns n choices", async () => {
    const body = await json<ChatCompletion>(await post("/v1/chat/completions", chat("x y", { n: 2 })));
    expect(body.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, "echo: x y"],
      [1, "echo: x y"],
    ]);
    expect(body.usage.completion_tokens).toBe(6);
  });

  it("rejects bad requests with OpenAI's error JSON", async () => {
    const noMessages = await post("/v1/chat/completions", { model: "m" });
    expect(noMessages.status).toBe(400);
    expect(await json<OpenAIError>(noMessages)).toEqual({
      error: {
        message: "Missing required parameter: 'messages'.",
        type: "invalid_request_error",
        param: "messages",
        code: "missing_required_parameter",
      },
    });
    const noModel = await post("/v1/chat/completions", { messages: [{ role: "user", content: "x" }] });
    expect(noModel.status).toBe(400);
    expect((await json<OpenAIError>(noModel)).error.type).toBe("invalid_request_error");
    const notJson = await post("/v1/chat/completions", "{not json");
    expect(notJson.status).toBe(400);
    expect((await json<OpenAIError>(notJson)).error.message).toMatch(/parse the JSON body/);
  });
});

describe("OpenAI completions", () => {
  it("answers a unary text_completion", async () => {
    const res = await post("/v1/completions", { model: "gpt-3.5-turbo-instruct", prompt: "say this" });
    const body = await json<TextCompletion>(res);
    expect(body).toMatchObject({
      object: "text_completion",
      model: "gpt-3.5-turbo-instruct",
      choices: [{ text: "echo: say this", index: 0, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    });
    expect(body.id).toMatch(/^cmpl-/);
  });

  it("defaults max_tokens to 16 like the real API", async () => {
    const prompt = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
    const body = await json<TextCompletion>(await post("/v1/completions", { model: "m", prompt }));
    expect(body.choices[0]?.finish_reason).toBe("length");
    expect(countWords(body.choices[0]?.text ?? "")).toBe(COMPLETIONS_DEFAULT_MAX_TOKENS);
  });

  it("streams text_completion chunks with a usage chunk and [DONE]", async () => {
    const res = await post("/v1/completions", {
      model: "m",
      prompt: "say this please",
      stream: true,
      stream_options: { include_usage: true },
    });
    const { events } = await readSse(res);
    expect(events.at(-1)?.data).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => dataOf<TextCompletion>(e));
    for (const c of chunks) expect(c.object).toBe("text_completion");
    const usageChunk = chunks.at(-1);
    expect(usageChunk?.choices).toEqual([]);
    expect(usageChunk?.usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
    const finish = chunks.at(-2);
    expect(finish?.choices[0]).toEqual({ text: "", index: 0, logprobs: null, finish_reason: "stop" });
    expect(chunks.slice(0, -2).map((c) => c.choices[0]?.text).join("")).toBe("echo: say this please");
    expect(chunks.slice(0, -2).every((c) => c.usage === null && c.choices[0]?.finish_reason === null)).toBe(true);
  });
});

describe("OpenAI embeddings", () => {
  it("returns one deterministic 8-dim vector per input", async () => {
    const res = await post("/v1/embeddings", { model: "text-embedding-3-small", input: ["hello world", "bye"] });
    expect(res.status).toBe(200);
    expect(await json<EmbeddingList>(res)).toEqual({
      object: "list",
      model: "text-embedding-3-small",
      data: [
        { object: "embedding", index: 0, embedding: fakeEmbedding("hello world") },
        { object: "embedding", index: 1, embedding: fakeEmbedding("bye") },
      ],
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
  });

  it("accepts a single string and encoding_format base64 (little-endian float32)", async () => {
    const body = await json<EmbeddingList>(
      await post("/v1/embeddings", { model: "m", input: "abc", encoding_format: "base64" }),
    );
    const b64 = body.data[0]?.embedding;
    expect(typeof b64).toBe("string");
    const buf = Buffer.from(b64 as string, "base64");
    const floats = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    expect(Array.from(floats)).toEqual(fakeEmbedding("abc"));
  });

  it("rejects an empty or non-string input", async () => {
    for (const input of ["", [1, 2], []] satisfies JsonValue[]) {
      const res = await post("/v1/embeddings", { model: "m", input });
      expect(res.status).toBe(400);
      expect((await json<OpenAIError>(res)).error.param).toBe("input");
    }
  });
});

// --- Anthropic -----------------------------------------------------------------------------------

describe("Anthropic messages", () => {
  it("requires x-api-key and anthropic-version (401, Anthropic error JSON)", async () => {
    const noKey = await post("/v1/messages", anthropic("hi"), { "anthropic-version": "2023-06-01" });
    expect(noKey.status).toBe(401);
    expect(await json<AnthropicError>(noKey)).toEqual({
      type: "error",
      error: { type: "authentication_error", message: "x-api-key header is required" },
    });
    const noVersion = await post("/v1/messages", anthropic("hi"), { "x-api-key": "k" });
    expect(noVersion.status).toBe(401);
    expect((await json<AnthropicError>(noVersion)).error.type).toBe("authentication_error");
  });

  it("requires max_tokens (400 invalid_request_error)", async () => {
    const res = await post("/v1/messages", { model: "c", messages: [{ role: "user", content: "hi" }] }, ANTHROPIC_HEADERS);
    expect(res.status).toBe(400);
    expect(await json<AnthropicError>(res)).toEqual({
      type: "error",
      error: { type: "invalid_request_error", message: "max_tokens: Field required" },
    });
  });

  it("answers a unary message", async () => {
    const res = await post(
      "/v1/messages",
      anthropic("hello there", { system: "you are terse" }),
      ANTHROPIC_HEADERS,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    const body = await json<AnthropicMessage>(res);
    expect(body).toMatchObject({
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "echo: hello there" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 5, output_tokens: 3 },
    });
    expect(body.id).toMatch(/^msg_/);
  });

  it("streams the real event sequence with event: lines", async () => {
    const res = await post(
      "/v1/messages",
      anthropic("one two", { stream: true, messages: [{ role: "user", content: [{ type: "text", text: "one two" }] }] }),
      ANTHROPIC_HEADERS,
    );
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const { events, error } = await readSse(res);
    expect(error).toBeUndefined();
    const types = events.map((e) => e.event);
    expect(types).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    const data = events.map((e) => dataOf<AnthropicEvent>(e));
    data.forEach((d, i) => expect(d.type).toBe(types[i]));
    expect(data[0]?.message).toMatchObject({ model: "claude-sonnet-4-5", content: [], usage: { input_tokens: 2 } });
    expect(data[1]?.content_block).toEqual({ type: "text", text: "" });
    const text = data
      .filter((d) => d.type === "content_block_delta")
      .map((d) => {
        expect(d.delta?.type).toBe("text_delta");
        return d.delta?.text;
      })
      .join("");
    expect(text).toBe("echo: one two");
    expect(data[7]).toEqual({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 3 },
    });
  });

  it("maps max_tokens and stop_sequences to stop_reason", async () => {
    const capped = await json<AnthropicMessage>(
      await post("/v1/messages", anthropic("a b c d", { max_tokens: 2 }), ANTHROPIC_HEADERS),
    );
    expect(capped).toMatchObject({ stop_reason: "max_tokens", content: [{ text: "echo: a" }], usage: { output_tokens: 2 } });
    const stopped = await json<AnthropicMessage>(
      await post("/v1/messages", anthropic("a b END c", { stop_sequences: ["END"] }), ANTHROPIC_HEADERS),
    );
    expect(stopped).toMatchObject({ stop_reason: "stop_sequence", stop_sequence: "END", content: [{ text: "echo: a b " }] });
  });
});

// --- MLflow --------------------------------------------------------------------------------------

describe("MLflow /invocations", () => {
  const predict = async (body: JsonValue): Promise<Response> => post("/invocations", body);

  it("sums each row for dataframe_split and dataframe_records", async () => {
    const split = await predict({
      dataframe_split: { columns: ["a", "b", "c"], data: [[1, 2, 3], [4, "x", 6.5]], index: [0, 1] },
    });
    expect(split.status).toBe(200);
    expect(await split.json()).toEqual({ predictions: [6, 10.5] });
    const records = await predict({ dataframe_records: [{ a: 1, b: 2 }, { a: 10, b: null }] });
    expect(await records.json()).toEqual({ predictions: [3, 10] });
  });

  it("sums each instance for instances and inputs (row and columnar), honouring params.multiplier", async () => {
    expect(await (await predict({ instances: [1, [2, 3], [[1, 1], [1, 1]]] })).json()).toEqual({ predictions: [1, 5, 4] });
    expect(await (await predict({ inputs: [[1, 2], [3, 4], [5, 6]] })).json()).toEqual({ predictions: [3, 7, 11] });
    expect(await (await predict({ inputs: { a: [1, 2], b: [[10, 10], 20] } })).json()).toEqual({ predictions: [21, 22] });
    expect(await (await predict({ inputs: [[1, 2]], params: { multiplier: 3 } })).json()).toEqual({ predictions: [9] });
    expect(fakePredictions({ dataframe_records: [{ a: 2 }] })).toEqual([2]);
  });

  it("rejects bad shapes with MLflow's error JSON", async () => {
    const bodies: JsonValue[] = [
      { not: "a dataframe" },
      { dataframe_records: [], dataframe_split: { data: [] } },
      [1, 2],
      { dataframe_split: { columns: ["a"] } },
      { dataframe_split: { columns: ["a", "b"], data: [[1]] } },
      { dataframe_records: [1, 2] },
      { instances: { a: 1 } },
      { inputs: { a: [1, 2], b: [1] } },
    ];
    for (const body of bodies) {
      const res = await predict(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = await json<MlflowError>(res);
      expect(err.error_code).toBe("BAD_REQUEST");
      expect(typeof err.message).toBe("string");
    }
    const res = await predict({ not: "a dataframe" });
    expect((await json<MlflowError>(res)).message).toContain(
      "The input must be a JSON dictionary with exactly one of the input fields",
    );
    const notJson = await post("/invocations", "{oops");
    expect(notJson.status).toBe(400);
    expect((await json<MlflowError>(notJson)).error_code).toBe("BAD_REQUEST");
  });

  it("answers 415 for a non-JSON content type and serves /ping", async () => {
    const res = await fetch(fake.url + "/invocations", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "{}",
    });
    expect(res.status).toBe(415);
    await res.text();
    const ping = await fetch(fake.url + "/ping");
    expect(ping.status).toBe(200);
    await ping.text();
  });
});

// --- directives ----------------------------------------------------------------------------------

describe("directives", () => {
  it("#status:429 answers each provider's error format with retry-after: 7", async () => {
    const o = await post("/v1/chat/completions", chat("#status:429 hi"));
    expect(o.status).toBe(429);
    expect(o.headers.get("retry-after")).toBe("7");
    expect(await json<OpenAIError>(o)).toMatchObject({
      error: { type: "requests", code: "rate_limit_exceeded", param: null },
    });

    const a = await post("/v1/messages", anthropic("#status:429"), ANTHROPIC_HEADERS);
    expect(a.status).toBe(429);
    expect(a.headers.get("retry-after")).toBe("7");
    expect(await json<AnthropicError>(a)).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });

    const m = await post("/invocations", { dataframe_split: { columns: ["cmd"], data: [["#status:429"]] } });
    expect(m.status).toBe(429);
    expect(m.headers.get("retry-after")).toBe("7");
    expect((await json<MlflowError>(m)).error_code).toBe("REQUEST_LIMIT_EXCEEDED");
  });

  it("#status:500 / 400 / 401 use the provider's error JSON, also for stream requests", async () => {
    const cases: [number, string, string][] = [
      [500, "server_error", "api_error"],
      [400, "invalid_request_error", "invalid_request_error"],
      [401, "invalid_request_error", "authentication_error"],
    ];
    for (const [status, openaiType, anthropicType] of cases) {
      const o = await post("/v1/chat/completions", chat(`#status:${status}`, { stream: true }));
      expect(o.status).toBe(status);
      expect(o.headers.get("retry-after")).toBeNull();
      const oe = await json<OpenAIError>(o);
      expect(oe.error.type).toBe(openaiType);
      expect(oe.error.message.length).toBeGreaterThan(0);
      expect(oe.error).toHaveProperty("param");
      expect(oe.error).toHaveProperty("code");

      const a = await post("/v1/messages", anthropic(`#status:${status}`, { stream: true }), ANTHROPIC_HEADERS);
      expect(a.status).toBe(status);
      expect(await json<AnthropicError>(a)).toMatchObject({ type: "error", error: { type: anthropicType } });
    }
    const c = await post("/v1/completions", { model: "m", prompt: "#status:500" });
    expect(c.status).toBe(500);
    const e = await post("/v1/embeddings", { model: "m", input: ["#status:401", "x"] });
    expect(e.status).toBe(401);
    expect((await json<OpenAIError>(e)).error.code).toBe("invalid_api_key");
    const m = await post("/invocations", { inputs: [[1]], params: { directive: "#status:500" } });
    expect(m.status).toBe(500);
    expect((await json<MlflowError>(m)).error_code).toBe("INTERNAL_ERROR");
  });

  it("#garbage answers 200 with a body that is not JSON", async () => {
    const res = await post("/v1/chat/completions", chat("#garbage"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const text = await res.text();
    expect(() => JSON.parse(text) as unknown).toThrow();

    const s = await post("/v1/chat/completions", chat("#garbage", { stream: true }));
    const { events } = await readSse(s);
    expect(() => JSON.parse(events[1]?.data ?? "") as unknown).toThrow();

    const m = await post("/invocations", { instances: ["#garbage"] });
    expect(m.status).toBe(200);
    await expect(m.json()).rejects.toThrow();
  });

  it("#break on a unary request destroys the socket (not counted as closedEarly)", async () => {
    await expect(post("/v1/chat/completions", chat("#break"))).rejects.toThrow();
    await expect(post("/v1/messages", anthropic("#break"), ANTHROPIC_HEADERS)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.closedEarly).toBe(0);
  });

  it("#break on an OpenAI stream sends 2 content chunks then drops the connection", async () => {
    const res = await post("/v1/chat/completions", chat("#break a b c d e", { stream: true }));
    expect(res.status).toBe(200);
    const { events, error } = await readSse(res);
    expect(error).toBeDefined();
    expect(events.map((e) => e.data)).not.toContain("[DONE]");
    const chunks = events.map((e) => dataOf<ChatChunk>(e));
    expect(chunks.map((c) => c.choices[0]?.delta.content)).toEqual(["", "echo: ", "#break "]);
    expect(fake.closedEarly).toBe(0);
  });

  it("#break on an Anthropic stream never sends message_stop", async () => {
    const res = await post("/v1/messages", anthropic("#break a b c", { stream: true }), ANTHROPIC_HEADERS);
    const { events, error } = await readSse(res);
    expect(error).toBeDefined();
    expect(events.map((e) => e.event)).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_delta",
    ]);
  });

  it("#stream-error ends the stream with the provider's in-stream error", async () => {
    const o = await readSse(await post("/v1/chat/completions", chat("#stream-error x y z", { stream: true })));
    expect(o.error).toBeUndefined();
    const last = o.events.at(-1);
    expect(dataOf<OpenAIError>(last ?? { data: "{}" }).error.type).toBe("server_error");
    expect(o.events.map((e) => e.data)).not.toContain("[DONE]");

    const a = await readSse(await post("/v1/messages", anthropic("#stream-error x y", { stream: true }), ANTHROPIC_HEADERS));
    expect(a.events.at(-1)?.event).toBe("error");
    expect(dataOf<AnthropicError>(a.events.at(-1) ?? { data: "{}" })).toEqual({
      type: "error",
      error: { type: "overloaded_error", message: "Overloaded" },
    });
  });

  it("#slow streams one chunk per 50 ms and can be cancelled midway (counted in closedEarly)", async () => {
    const ac = new AbortController();
    const res = await post("/v1/messages", anthropic("#slow", { stream: true }), ANTHROPIC_HEADERS, ac.signal);
    const body = res.body;
    if (body === null) throw new Error("no body");
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const deltas: { text: string; at: number }[] = [];
    const parser = createParser({
      onEvent: (e) => {
        if (e.event === "content_block_delta") {
          deltas.push({ text: dataOf<AnthropicEvent>(e).delta?.text ?? "", at: performance.now() });
        }
      },
    });
    while (deltas.length < 4) {
      const { done, value } = await reader.read();
      if (done) throw new Error("stream ended early");
      parser.feed(decoder.decode(value, { stream: true }));
    }
    expect(deltas.slice(0, 4).map((d) => d.text)).toEqual(["slow0 ", "slow1 ", "slow2 ", "slow3 "]);
    const first = deltas[0];
    const fourth = deltas[3];
    if (first === undefined || fourth === undefined) throw new Error("missing deltas");
    expect(fourth.at - first.at).toBeGreaterThanOrEqual(100);
    ac.abort();
    await fake.waitForClosedEarly(1, 2000);
    expect(fake.closedEarly).toBe(1);
  });

  it("#hang never answers until the client goes away", async () => {
    const ac = new AbortController();
    let settled = false;
    const pending = post("/v1/chat/completions", chat("#hang"), {}, ac.signal).then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await fake.waitForRequests(1);
    await new Promise((r) => setTimeout(r, 150));
    expect(settled).toBe(false);
    expect(fake.closedEarly).toBe(0);
    ac.abort();
    await pending;
    await fake.waitForClosedEarly(1);
    expect(fake.closedEarly).toBe(1);
  });

  it("#delay:N waits N ms first, and combines with other directives", async () => {
    let t0 = performance.now();
    const res = await post("/v1/embeddings", { model: "m", input: "#delay:120 hi" });
    expect(res.status).toBe(200);
    await res.json();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);

    t0 = performance.now();
    const err = await post("/v1/chat/completions", chat("#delay:80 #status:500"));
    expect(err.status).toBe(500);
    await err.json();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
  });

  it("a client leaving during #delay counts as closedEarly", async () => {
    const ac = new AbortController();
    const pending = post("/v1/completions", { model: "m", prompt: "#delay:2000 x" }, {}, ac.signal).catch(() => undefined);
    await fake.waitForRequests(1);
    ac.abort();
    await pending;
    await fake.waitForClosedEarly(1);
    expect(fake.closedEarly).toBe(1);
  });
});

// --- recording and lifecycle ---------------------------------------------------------------------

describe("recording and lifecycle", () => {
  it("records method, path, headers and parsed body; reset() clears", async () => {
    const res = await post("/v1/chat/completions?api-version=1", chat("hi"), { authorization: "Bearer sk-test" });
    await res.json();
    expect(fake.requests).toHaveLength(1);
    const r = fake.requests[0];
    expect(r).toMatchObject({
      method: "POST",
      path: "/v1/chat/completions",
      body: chat("hi"),
      rawBody: JSON.stringify(chat("hi")),
    });
    expect(r?.headers.authorization).toBe("Bearer sk-test");
    expect(r?.headers["content-type"]).toBe("application/json");

    const bad = await post("/v1/chat/completions", "{nope");
    await bad.text();
    expect(fake.requests[1]?.body).toBeUndefined();

    const requests = fake.requests;
    fake.reset();
    expect(requests).toHaveLength(0);
    expect(fake.closedEarly).toBe(0);
  });

  it("answers 404 for unknown paths and 405 for a wrong method", async () => {
    const nf = await post("/v1/nope", {});
    expect(nf.status).toBe(404);
    expect((await json<OpenAIError>(nf)).error.message).toBe("Invalid URL (POST /v1/nope)");
    const get = await fetch(fake.url + "/v1/chat/completions");
    expect(get.status).toBe(405);
    await get.text();
  });

  it("keeps connections alive (HTTP/1.1)", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const once1 = (): Promise<boolean> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          fake.url + "/v1/embeddings",
          { method: "POST", agent, headers: { "content-type": "application/json" } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(req.reusedSocket));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ model: "m", input: "x" }));
      });
    expect(await once1()).toBe(false);
    expect(await once1()).toBe(true);
    agent.destroy();
  });

  it("waitForClosedEarly rejects after its timeout", async () => {
    await expect(fake.waitForClosedEarly(1, 30)).rejects.toThrow(/closedEarly/);
  });

  it("record: false keeps requests empty; close() ends hanging requests", async () => {
    const other = await startFakeUpstream({ record: false });
    expect(other.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const hanging = fetch(other.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chat("#hang")),
    }).then(
      () => "answered",
      () => "failed",
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(other.requests).toHaveLength(0);
    // close() does not wait for the hanging request (it would hang with it).
    await other.close();
    expect(await hanging).toBe("failed");
  });

  it("listens on a given port", async () => {
    const probe = await startFakeUpstream();
    const port = probe.port;
    await probe.close();
    const fixed = await startFakeUpstream({ port });
    expect(fixed.url).toBe(`http://127.0.0.1:${port}`);
    await fixed.close();
  });
});

describe("bench/fake-upstream-main.ts", () => {
  it("prints its URL, serves, and exits 0 on SIGTERM", { timeout: 20_000 }, async () => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", "bench/fake-upstream-main.ts", "--port", "0"], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const [line] = (await once(lines, "line")) as [string];
      const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      expect(m).not.toBeNull();
      const url = m?.[1] ?? "";
      const res = await fetch(url + "/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(chat("ok")),
      });
      expect((await json<ChatCompletion>(res)).choices[0]?.message.content).toBe("echo: ok");
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

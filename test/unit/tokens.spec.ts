import { create } from "@bufbuild/protobuf";
import { GptEncoding } from "gpt-tokenizer/GptEncoding";
import o200kBase from "gpt-tokenizer/bpeRanks/o200k_base";
import { computeChatCompletionTokenCount } from "gpt-tokenizer/functionCalling";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema, StreamChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { CompleteRequestSchema } from "../../gen/modelgate/v1/completions_pb";
import { EmbedRequestSchema } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictRequestSchema } from "../../gen/modelgate/v1/predict_pb";
import type { ChatChunk, CompleteChunk } from "../../src/providers/types";
import {
  chatPromptTokens,
  countTokens,
  estimateReservation,
  exactCountChars,
  imageTokens,
  imageTokensLow,
  longRunChars,
  reservationForRequest,
  StreamedTokenCounter,
  toolCallTokens,
  type StreamChunkLike,
} from "../../src/usage/tokens";

// An independent encoder from the same package, to check the counts against.
const reference = GptEncoding.getEncodingApi("o200k_base", () => o200kBase);
const exact = (text: string) => reference.encode(text, { disallowedSpecial: new Set() }).length;

const chat = (messages: { role: string; content: string; name?: string }[], extra: object = {}) =>
  create(ChatRequestSchema, { endpoint: "e", messages, ...extra });

describe("countTokens", () => {
  it("counts with o200k_base", () => {
    expect(countTokens("")).toBe(0);
    expect(countTokens("hello world")).toBe(2);
    const text = "Der schnelle braune Fuchs 🦊 springt über den faulen Hund. 速い茶色の狐。";
    expect(countTokens(text)).toBe(exact(text));
  });

  it("counts special-token text as plain text instead of throwing", () => {
    expect(countTokens("<|endoftext|> and <|im_start|>")).toBe(exact("<|endoftext|> and <|im_start|>"));
    expect(countTokens("<|endoftext|>")).toBeGreaterThan(1);
  });

  it("extrapolates beyond exactCountChars from the counted prefix, within a few percent", () => {
    const words = ["gateway", "tokens", "budget", "replica", "ledger", "stream", "quota", "1234", "é", "—"];
    let seed = 1;
    const parts: string[] = [];
    let length = 0;
    while (length < exactCountChars * 3) {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      const w = words[seed % words.length]!;
      parts.push(w);
      length += w.length + 1;
    }
    const text = parts.join(" ");
    const estimate = countTokens(text);
    expect(Math.abs(estimate - exact(text)) / exact(text)).toBeLessThan(0.03);
  });

  it("cuts a long text on a character boundary (no lone surrogate)", () => {
    // The same mix throughout (extrapolation assumes it), shifted so the cut falls inside a pair.
    const body = "🦊 word ".repeat(Math.ceil((exactCountChars * 1.5) / 8));
    const shift = [0, 1, 2, 3, 4, 5, 6, 7].find((p) => (exactCountChars - p) % 8 === 1)!;
    const text = `${"x".repeat(shift)}${body}`;
    expect(text.charCodeAt(exactCountChars)).toBeGreaterThanOrEqual(0xdc00);
    const estimate = countTokens(text);
    expect(Math.abs(estimate - exact(text)) / exact(text)).toBeLessThan(0.03);
  });

  it("counts long runs without spaces in slices, close to the exact count", () => {
    // BPE is quadratic in one pre-token: 100,000 repeated letters would take seconds whole, so
    // they are counted in slices of longRunChars (bench/tokens.ts times it; no clock here).
    expect(countTokens("a".repeat(100_000))).toBe(12_500); // 8 a's per token, as exact counting says
    const blob = Buffer.from(Array.from({ length: 3_000 }, (_, i) => (i * 2_654_435_761) % 256)).toString("base64");
    expect(Math.abs(countTokens(blob) - exact(blob)) / exact(blob)).toBeLessThan(0.03);
    const foxes = "🦊".repeat(300); // slices must not split a surrogate pair
    expect(Math.abs(countTokens(foxes) - exact(foxes))).toBeLessThanOrEqual(6);
    expect(longRunChars).toBe(128);
  });

  it("counts long runs of white space in slices too (100,000 spaces were one pre-token: seconds of BPE)", () => {
    // Each slice is counted alone: the count is the slices' exact counts added up.
    const slices = (unit: string, length: number) => {
      const full = Math.floor(length / longRunChars);
      const rest = length % longRunChars;
      return full * exact(unit.repeat(longRunChars)) + (rest > 0 ? exact(unit.repeat(rest)) : 0);
    };
    expect(countTokens(" ".repeat(100_000))).toBe(slices(" ", 100_000));
    expect(countTokens("\n".repeat(99_999))).toBe(slices("\n", 99_999));
    // A short run is counted whole, exactly.
    expect(countTokens(`a${" ".repeat(longRunChars)}b`)).toBe(exact(`a${" ".repeat(longRunChars)}b`));
  });
});

describe("chat prompt estimate", () => {
  it("matches OpenAI's message framing (3 per message + 3 to prime the reply, +1 per name)", () => {
    const messages = [
      { role: "system", content: "You are a helpful, pattern-following assistant." },
      { role: "user", content: "New synergies will help drive top-line growth.", name: "example_user" },
      { role: "assistant", content: "Things working well together will increase revenue." },
      { role: "user", content: "Translate: Let's talk later when we're less busy about how to do better." },
    ];
    const expected = computeChatCompletionTokenCount({ messages }, exact);
    expect(chatPromptTokens(chat(messages))).toBe(expected);
  });

  it("adds tool definitions, a forced tool, a response schema, tool calls and images", () => {
    const base = chatPromptTokens(chat([{ role: "user", content: "Weather in Paris?" }]));
    const parameters = { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] };
    const withTools = chatPromptTokens(
      chat([{ role: "user", content: "Weather in Paris?" }], {
        tools: [{ type: "function", function: { name: "get_weather", description: "Current weather", parameters } }],
        toolChoice: { choice: { case: "functionName", value: "get_weather" } },
      }),
    );
    const toolTokens = 9 + exact("get_weather") + exact("Current weather") + exact(JSON.stringify(parameters));
    expect(withTools).toBe(base + toolTokens + 4 + exact("get_weather"));

    const schema = { type: "object", properties: { answer: { type: "string" } } };
    const withSchema = chatPromptTokens(
      chat([{ role: "user", content: "Weather in Paris?" }], {
        responseFormat: { type: "json_schema", jsonSchema: { name: "reply", description: "", schema } },
      }),
    );
    expect(withSchema).toBe(base + exact("reply") + exact(JSON.stringify(schema)));

    const conversation = create(ChatRequestSchema, {
      messages: [
        {
          role: "user",
          content: "",
          parts: [
            { part: { case: "text", value: "What is in these?" } },
            { part: { case: "imageUrl", value: { url: "https://example.com/a.png", detail: "low" } } },
            { part: { case: "imageUrl", value: { url: "https://example.com/b.png" } } },
            { part: { case: "image", value: { data: new Uint8Array([1, 2, 3]), mimeType: "image/png" } } },
          ],
        },
        {
          role: "assistant",
          content: "",
          toolCalls: [{ id: "call_1", type: "function", function: { name: "look", arguments: '{"at":"a.png"}' } }],
        },
        { role: "tool", content: "a cat", toolCallId: "call_1" },
      ],
    });
    const expected =
      3 +
      (3 + exact("user") + exact("What is in these?") + imageTokensLow + 2 * imageTokens) +
      (3 + exact("assistant") + 3 + exact("call_1") + exact("look") + exact('{"at":"a.png"}')) +
      (3 + exact("tool") + exact("a cat") + exact("call_1"));
    expect(chatPromptTokens(conversation)).toBe(expected);
  });
});

describe("estimateReservation", () => {
  it("reserves the prompt estimate and max_tokens (or the default) times n", () => {
    const req = chat([{ role: "user", content: "hi" }]);
    const prompt = chatPromptTokens(req);
    expect(estimateReservation(req, 1_024)).toEqual({ promptTokens: prompt, maxCompletionTokens: 1_024 });
    expect(estimateReservation({ ...req, maxTokens: 100, n: 3 }, 1_024)).toEqual({ promptTokens: prompt, maxCompletionTokens: 300 });
  });

  it("completions count the prompt; embeddings count every input and generate nothing", () => {
    expect(estimateReservation({ prompt: "Once upon a time", maxTokens: 50 }, 1_024)).toEqual({
      promptTokens: exact("Once upon a time"),
      maxCompletionTokens: 50,
    });
    expect(estimateReservation({ inputs: ["hello world", "second input"] }, 1_024)).toEqual({
      promptTokens: 2 + exact("second input"),
      maxCompletionTokens: 0,
    });
  });

  it("reads request messages as interceptors see them, by type name", () => {
    const messages = [{ role: "user", content: "Tell me a story" }];
    const unary = create(ChatRequestSchema, { endpoint: "e", messages, maxTokens: 64 });
    const streamed = create(StreamChatRequestSchema, { endpoint: "e", messages, maxTokens: 64 });
    expect(reservationForRequest(streamed, 1_000)).toEqual(estimateReservation(unary, 1_000));
    expect(reservationForRequest(create(CompleteRequestSchema, { prompt: "abc" }), 10)).toEqual({ promptTokens: exact("abc"), maxCompletionTokens: 10 });
    expect(reservationForRequest(create(EmbedRequestSchema, { inputs: ["abc"] }), 10)).toEqual({ promptTokens: exact("abc"), maxCompletionTokens: 0 });
    expect(reservationForRequest(create(PredictRequestSchema, {}), 10)).toEqual({ promptTokens: 0, maxCompletionTokens: 0 });
    expect(reservationForRequest(undefined, 10)).toEqual({ promptTokens: 0, maxCompletionTokens: 0 });
    expect(reservationForRequest({ messages: "not a request" }, 10)).toEqual({ promptTokens: 0, maxCompletionTokens: 0 });
  });

  it("estimates a 2,000-token chat close to its exact count (bench/tokens.ts times it)", () => {
    const paragraph = "The gateway reserves tokens before each call and settles them afterwards. ";
    const content = paragraph.repeat(Math.ceil(2_000 / exact(paragraph)));
    const messages = [
      { role: "system", content: "You are terse." },
      { role: "user", content },
    ];
    const { promptTokens, maxCompletionTokens } = estimateReservation(chat(messages), 512);
    const expected = computeChatCompletionTokenCount({ messages }, exact);
    expect(Math.abs(promptTokens - expected) / expected).toBeLessThan(0.03);
    expect(maxCompletionTokens).toBe(512);
  });
});

describe("StreamedTokenCounter", () => {
  it("counts a stream of tool-call deltas only (id and name first, then argument fragments)", () => {
    const counter = new StreamedTokenCounter();
    expect(counter.hasOutput).toBe(false);
    const head: ChatChunk = { id: "c", model: "m", choices: [{ index: 0, delta: { role: "assistant", toolCalls: [{ index: 0, id: "call_1", function: { name: "lookup", arguments: "" } }] } }] };
    counter.addChunk(head);
    for (const fragment of ['{"q":', '"par', 'is"}']) {
      counter.addChunk({ choices: [{ index: 0, delta: { toolCalls: [{ index: 0, function: { arguments: fragment } }] } }] });
    }
    expect(counter.hasOutput).toBe(true);
    expect(counter.tokens()).toBe(3 + exact("call_1") + exact("lookup") + exact('{"q":"paris"}'));
    expect(counter.tokens()).toBeGreaterThan(exact('{"q":"paris"}'));
  });

  it("counts the joined text once, not each delta (BPE merges across deltas)", () => {
    const counter = new StreamedTokenCounter();
    for (const piece of ["Hel", "lo", " wor", "ld"]) counter.add(piece);
    expect(counter.tokens()).toBe(2);
    expect(["Hel", "lo", " wor", "ld"].reduce((n, p) => n + exact(p), 0)).toBeGreaterThan(2);
    counter.add("!");
    expect(counter.tokens()).toBe(exact("Hello world!"));
  });

  it("reads chat deltas (content and tool calls) and completion chunks", () => {
    const chatChunk: ChatChunk = {
      id: "c",
      model: "m",
      choices: [
        { index: 0, delta: { role: "assistant", content: "Let me check." } },
        { index: 1, delta: { toolCalls: [{ index: 0, function: { name: "get_weather", arguments: '{"city":' } }] } },
      ],
    };
    const completeChunk: CompleteChunk = { id: "c", model: "m", choices: [{ index: 0, text: " Paris" }] };
    const counter = new StreamedTokenCounter();
    counter.addChunk(chatChunk);
    counter.addChunk(completeChunk);
    // Each choice's text joined; a tool call counted as in a prompt (framing, id, name, arguments).
    expect(counter.tokens()).toBe(exact("Let me check. Paris") + toolCallTokens("", "get_weather", '{"city":'));
    expect(toolCallTokens("", "get_weather", '{"city":')).toBe(3 + exact("get_weather") + exact('{"city":'));
    // The generated proto chunks fit too.
    const asLike: StreamChunkLike = chatChunk;
    expect(asLike.choices).toHaveLength(2);
  });
});

// Differential fuzzing of the hand-written chat checks against the zod schemas they stand in for.
// The OpenAI and MLflow chat routes take the common body through plainChatBody, the MLflow route
// its payload through plainChatPayload first (MLflow's own schema, pydantic's defaults), and
// ChatService the common request through plainChatRequest; zod parses the rest and words every
// refusal.
// The hand-written checks may pass a body on to zod for any reason, but what they accept, zod must
// accept too, and plainChatBody's object must be zod's: the same values, the keys in the same
// order (compared as JSON text, which keeps the order).
//
// The bodies are near misses: a valid body with random keys added, removed or given values from
// a pool of right and wrong ones, messages likewise, and raw `__proto__` keys from JSON.parse.
//
// A longer run: FUZZ_RUNS=2000 FUZZ_SEED=$RANDOM npx vitest run test/fuzz/chat-body-diff.spec.ts
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { chatRequestSchema, plainChatRequest } from "../../src/services/validate";
import { validate as pydanticValidate } from "../../src/surfaces/mlflow/pydantic";
import { chatRequest as mlflowChatRequest, plainChatPayload } from "../../src/surfaces/mlflow/schemas";
import { chatCompletionBody, openaiChatCompletionBody, parseChatBody, plainChatBody } from "../../src/surfaces/openai/chat";
import { fuzzRuns, fuzzSeed, hashText, nastyStrings, randomJson, Rng } from "./values";

const runs = fuzzRuns * 100;

/** Values of every kind a body field may be given, right and wrong for each. */
const values: unknown[] = [
  null, true, false, 0, -0, 1, 2, 2.5, -1, 128, 129, 4_294_967_295, 4_294_967_296, 2 ** 53, 2 ** 53 + 2, 1e308, Infinity, -Infinity, 0.5, 1.0000001,
  "", "x", "auto", "user", "\u0000", "\ud800", [], [""], ["x", "y"], ["x", 1], Array.from({ length: 17 }, () => "s"), {}, { include_usage: true },
  { include_usage: "yes" }, { include_obfuscation: false, include_usage: false }, { include_usage: true, other: 1 }, { a: { b: [1] } },
];
const roles = ["system", "developer", "user", "assistant", "tool", "function", "bot", "", "USER"];
const messageKeys = ["role", "content", "name", "tool_calls", "tool_call_id", "refusal", "function_call", "audio", "annotations", "extra", "weight"];
const bodyKeys = Object.keys(openaiChatCompletionBody.shape);
/** Valid values of the fields the plain path leaves to zod. */
const zodFields: [string, unknown][] = [
  ["tools", [{ type: "function", function: { name: "f", parameters: { type: "object" } } }]],
  ["tools", null],
  ["tool_choice", "auto"],
  ["response_format", { type: "json_object" }],
  ["template_variables", { topic: "sea", n: 3 }],
  ["user", "ada"],
];
const extraKeys = ["metadata", "store", "logprobs", "x", "reasoning_effort", "toString", "constructor"];

function pickValue(rng: Rng): unknown {
  return rng.chance(0.1) ? randomJson(rng) : rng.chance(0.1) ? rng.pick(nastyStrings) : rng.pick(values);
}

function randomMessage(rng: Rng): unknown {
  if (rng.chance(0.03)) return pickValue(rng);
  const m: Record<string, unknown> = { role: rng.chance(0.85) ? rng.pick(roles.slice(0, 6)) : rng.pick(roles), content: rng.chance(0.8) ? rng.pick(nastyStrings) : pickValue(rng) };
  if (rng.chance(0.2)) m["name"] = rng.chance(0.8) ? "fn" : pickValue(rng);
  if (rng.chance(0.15)) m[rng.pick(messageKeys)] = pickValue(rng);
  if (rng.chance(0.05)) m["content"] = [{ type: "text", text: "x" }];
  if (rng.chance(0.1)) delete m[rng.pick(["role", "content"])];
  if (rng.chance(0.2)) return Object.fromEntries(Object.entries(m).reverse()); // another key order
  return m;
}

/** A body: mostly plain, with random keys from the schema, the messages' fields and beyond. */
function randomBody(rng: Rng): unknown {
  if (rng.chance(0.02)) return pickValue(rng);
  const body: Record<string, unknown> = {};
  const add = (key: string, value: unknown) => (body[key] = value);
  if (rng.chance(0.95)) add("model", rng.chance(0.9) ? "chat" : pickValue(rng));
  if (rng.chance(0.95)) add("messages", rng.chance(0.95) ? Array.from({ length: rng.int(4) }, () => randomMessage(rng)) : pickValue(rng));
  for (let i = rng.int(5); i > 0; i--) add(rng.pick(bodyKeys), pickValue(rng));
  for (let i = rng.chance(0.4) ? rng.int(4) : 0; i > 0; i--) add(rng.pick(extraKeys), pickValue(rng));
  if (rng.chance(0.15)) add(...rng.pick(zodFields));
  if (rng.chance(0.2)) add("stream_options", rng.pick([{ include_usage: true }, { include_usage: false, include_obfuscation: true }, null, {}]));
  return throughJson(rng, body);
}

/** `body` as a client sends it and JSON.parse reads it: keys in another order now and then, and sometimes a raw "__proto__" key (an own property after JSON.parse), at the top or in a message. */
function throughJson(rng: Rng, body: Record<string, unknown>): unknown {
  const entries = Object.entries(body);
  if (rng.chance(0.3)) entries.reverse();
  let text = JSON.stringify(Object.fromEntries(entries));
  if (rng.chance(0.03) && text.startsWith("{")) text = `{"__proto__":{"role":"user"},${text.slice(1)}`.replace(",}", "}");
  if (rng.chance(0.03)) text = text.replace(/\{"role":/, '{"__proto__":1,"role":');
  return JSON.parse(text) as unknown;
}

describe("plainChatBody against the chat body's zod schemas (differential)", () => {
  for (const strict of [true, false]) {
    const schema = strict ? openaiChatCompletionBody : chatCompletionBody;
    it(`accepts only what zod accepts, giving zod's object (${strict ? "strict" : "lenient"} messages; seed ${fuzzSeed}, ${runs} bodies)`, () => {
      const rng = new Rng(fuzzSeed ^ hashText(`chat-body ${strict}`));
      let plain = 0;
      let zodOnly = 0;
      for (let i = 0; i < runs; i++) {
        const body = randomBody(rng);
        const fast = plainChatBody(body, strict);
        const parsed = schema.safeParse(body);
        if (fast === undefined) {
          if (parsed.success) zodOnly++;
          continue;
        }
        plain++;
        if (!parsed.success) throw new Error(`plainChatBody accepted what zod refuses (${parsed.error.issues[0]?.message}): ${JSON.stringify(body)}`);
        expect(JSON.stringify(fast), JSON.stringify(body)).toBe(JSON.stringify(parsed.data));
      }
      // Both kinds of valid body came up often enough for the comparison to mean something.
      expect(plain).toBeGreaterThan(runs / 20);
      expect(zodOnly).toBeGreaterThan(runs / 50);
    });
  }

  it("takes the bodies the SDKs send without zod, and gives zod's refusals for the rest", () => {
    const sdkBody = {
      model: "chat",
      messages: [
        { role: "system", content: "You are a helpful assistant." },
        { role: "user", content: "Write one sentence about the sea.", name: "ada" },
        { role: "assistant", content: null },
      ],
      temperature: 0.2,
      max_completion_tokens: 64,
      stream: true,
      stream_options: { include_usage: true },
      metadata: { app: "docs" },
    };
    const fast = plainChatBody(sdkBody, true);
    expect(fast).toBeDefined();
    expect(JSON.stringify(fast)).toBe(JSON.stringify(openaiChatCompletionBody.parse(sdkBody)));
    // Tools are zod's; an unknown message field is refused by the strict schema with its name.
    expect(plainChatBody({ ...sdkBody, tools: [] }, true)).toBeUndefined();
    expect(() => parseChatBody({ model: "chat", messages: [{ role: "user", content: "x", weight: 1 }] }, true)).toThrow(/Unrecognized key: "weight"/);
    expect(parseChatBody({ model: "chat", messages: [{ role: "user", content: "x", weight: 1 }] }, false)).toEqual({ model: "chat", messages: [{ role: "user", content: "x" }] });
    expect(() => parseChatBody({ model: "chat", messages: [], n: 0 }, true)).toThrow(/n: must be >= 1/);
  });
});

describe("plainChatPayload against MLflow's chat payload schema (differential)", () => {
  const mlflowKeys = Object.keys(mlflowChatRequest.shape);
  /** A payload: mostly plain, with MLflow's keys, pydantic's lax values ("0.5", true for 1) and beyond. */
  function randomPayload(rng: Rng): unknown {
    if (rng.chance(0.02)) return pickValue(rng);
    const body: Record<string, unknown> = {};
    if (rng.chance(0.95)) body["messages"] = rng.chance(0.95) ? Array.from({ length: rng.int(4) }, () => randomMessage(rng)) : pickValue(rng);
    for (let i = rng.int(5); i > 0; i--) body[rng.pick(mlflowKeys)] = rng.chance(0.2) ? rng.pick(["0.5", "2", true, "true", 1.0, "1_0"]) : pickValue(rng);
    for (let i = rng.chance(0.4) ? rng.int(4) : 0; i > 0; i--) body[rng.pick(extraKeys)] = pickValue(rng);
    if (rng.chance(0.1)) body["tools"] = [{ type: "function", function: { name: "f" } }];
    return throughJson(rng, body);
  }

  it(`accepts only what the schema accepts, giving its object with MLflow's defaults (seed ${fuzzSeed}, ${runs} payloads)`, () => {
    const rng = new Rng(fuzzSeed ^ hashText("mlflow-chat-payload"));
    let plain = 0;
    let zodOnly = 0;
    for (let i = 0; i < runs; i++) {
      const body = randomPayload(rng);
      const fast = plainChatPayload(body);
      let parsed: unknown;
      let refusal: string | undefined;
      try {
        parsed = pydanticValidate(mlflowChatRequest, body);
      } catch (err) {
        refusal = (err as Error).message;
      }
      if (fast === undefined) {
        if (refusal === undefined) zodOnly++;
        continue;
      }
      plain++;
      if (refusal !== undefined) throw new Error(`plainChatPayload accepted what the schema refuses (${refusal}): ${JSON.stringify(body)}`);
      expect(JSON.stringify(fast), JSON.stringify(body)).toBe(JSON.stringify(parsed));
    }
    expect(plain).toBeGreaterThan(runs / 20);
    expect(zodOnly).toBeGreaterThan(runs / 50);
  });

  it("fills in MLflow's defaults and keeps the keys MLflow passes on", () => {
    expect(plainChatPayload({ messages: [{ role: "user", content: "hi", name: "ada" }], top_k: 3 })).toEqual({ temperature: 0, n: 1, messages: [{ role: "user", content: "hi", name: "ada" }], top_k: 3 });
    // A string where MLflow wants a number is pydantic's to coerce: left to the schema.
    expect(plainChatPayload({ messages: [{ role: "user", content: "hi" }], temperature: "0.5" })).toBeUndefined();
    expect(pydanticValidate(mlflowChatRequest, { messages: [{ role: "user", content: "hi" }], temperature: "0.5" })).toMatchObject({ temperature: 0.5 });
  });
});

describe("plainChatRequest against ChatService's zod schema (differential)", () => {
  const numbers = [undefined, 0, -0, 1, 2, 2.0000001, -0.1, 0.5, 1.5, 128, 129, 2 ** 32, Number.NaN, Infinity, 1e-9];
  it(`is true only where zod accepts the request (seed ${fuzzSeed}, ${runs} requests)`, () => {
    const rng = new Rng(fuzzSeed ^ hashText("chat-request"));
    let plain = 0;
    for (let i = 0; i < runs; i++) {
      const req = create(ChatRequestSchema, {
        endpoint: "chat",
        messages: Array.from({ length: rng.int(3) }, () => ({ role: rng.pick(roles), content: rng.pick(nastyStrings) })),
        templateVariables: rng.chance(0.2) ? { name: "x" } : {},
        stop: Array.from({ length: rng.chance(0.1) ? 17 : rng.int(3) }, () => rng.pick(["", "x", "\n"])),
      });
      // Raw numbers the types allow (NaN, out of range): what a gRPC caller's float or uint32 can hold or a bug could set.
      for (const field of ["temperature", "topP", "maxTokens", "n"] as const) if (rng.chance(0.4)) (req as Record<string, unknown>)[field] = rng.pick(numbers);
      const accepted = chatRequestSchema.safeParse(req).success;
      if (plainChatRequest(req)) {
        plain++;
        if (!accepted) throw new Error(`plainChatRequest accepted what zod refuses: ${JSON.stringify(req, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
      }
    }
    expect(plain).toBeGreaterThan(runs / 20);
  });
});

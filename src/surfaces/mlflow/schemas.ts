// MLflow 3's gateway payloads as zod schemas: requests as mlflow/gateway/schemas/{chat,
// completions,embeddings}.py validate them (pydantic, through FastAPI), responses and listings
// as MLflow sends them. The surface validates with these, the OpenAPI document is generated from
// them, and the renderers are typed by them.
//
// Field order is pydantic's (the order of its error list); unknown top-level keys are kept and
// passed on to the provider (MLflow's RequestModel is extra="allow"). Defaults are MLflow's:
// an unset temperature is 0.0 and n is 1, and MLflow sends both upstream.
import { z } from "zod";
import { isRecord } from "../../json";
import { copyUndeclared, plainKeys, type PlainShape } from "../plain-body";
import { bool, float, int, tagged, union } from "./pydantic";

const str = () => z.string();

// ------------------------------------------------------------------------------------------------
// Requests

const textPart = z.object({ type: z.literal("text"), text: str() });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.object({ url: str(), detail: z.enum(["auto", "low", "high"]).nullish() }),
});
const audioPart = z.object({
  type: z.literal("input_audio"),
  input_audio: z.object({ data: str(), format: z.enum(["wav", "mp3"]) }),
});

const toolCall = z.looseObject({
  id: str(),
  type: str().default("function"),
  function: z.looseObject({ name: str().nullish(), arguments: str().nullish() }),
});

/** mlflow.types.chat.ChatMessage (unknown keys, such as `name`, are passed on). */
export const chatMessage = z.looseObject({
  role: str(),
  content: union(
    ["str", "list[tagged-union[TextContentPart,ImageContentPart,AudioContentPart]]"],
    [str(), z.array(tagged("type", [textPart, imagePart, audioPart]))],
  ).nullish(),
  tool_calls: z.array(toolCall).nullish(),
  refusal: str().nullish(),
  tool_call_id: str().nullish(),
});

const functionParams = z.looseObject({
  properties: z.record(z.string(), z.looseObject({})),
  type: z.literal("object").default("object"),
  required: z.array(str()).nullish(),
  additionalProperties: bool().nullish(),
});

const chatTool = z.looseObject({
  type: z.enum(["function", "uc_function"]),
  function: z
    .looseObject({ name: str(), description: str().nullish(), parameters: functionParams.nullish(), strict: bool().nullish() })
    .nullish(),
  uc_function: z.looseObject({ name: str() }).nullish(),
});

/** mlflow.types.chat.BaseRequestPayload, shared by chat and completions. */
const baseRequest = {
  temperature: float(z.number().min(0).max(2)).default(0),
  n: int(z.number().min(1)).default(1),
  stop: z.array(str()).min(1).nullish(),
  max_tokens: int(z.number().min(1)).nullish(),
  stream: bool().nullish(),
  stream_options: z.record(z.string(), z.unknown()).nullish(),
  /** Refused when set: the endpoint already names the model (MLflow answers 422). */
  model: str().nullish(),
};

export const chatRequest = z
  .looseObject({ ...baseRequest, messages: z.array(chatMessage).min(1), tools: z.array(chatTool).nullish() })
  .describe("An llm/v1/chat endpoint's payload (mlflow.gateway.schemas.chat.RequestPayload).");

export type ChatPayload = z.output<typeof chatRequest>;

const chatKeys: readonly string[] = Object.keys(chatRequest.shape);
const chatKeySet: ReadonlySet<string> = new Set(chatKeys);
const messageKeys: readonly string[] = Object.keys(chatMessage.shape);
const messageKeySet: ReadonlySet<string> = new Set(messageKeys);
const isSafeCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1;
/** MLflow's defaults, which the payload holds when the caller leaves them out. */
const defaults: Readonly<Record<string, unknown>> = { temperature: 0, n: 1 };
/** The payload's keys as the plain path takes them: every one nullish but the two with defaults. */
const plainPayload: PlainShape = {
  known: chatKeySet,
  checks: new Map<string, (v: unknown) => boolean>([
    ["temperature", (v) => typeof v === "number" && v >= 0 && v <= 2],
    ["n", isSafeCount],
    ["stop", (v) => Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string")],
    ["max_tokens", isSafeCount],
    ["stream", (v) => typeof v === "boolean"],
    ["stream_options", (v) => isRecord(v) && !Object.hasOwn(v, "__proto__")],
    ["model", (v) => typeof v === "string"],
  ]),
  notNull: new Set(Object.keys(defaults)),
  own: new Set(["messages"]),
};

/**
 * What `validate(chatRequest, payload)` gives for the common payload (text messages, the sampling
 * fields in JSON's own types, any key MLflow's models pass on), built by hand: the same object,
 * its keys in the same order, MLflow's defaults filled in. Anything else (tools, content parts,
 * tool calls, a value pydantic would coerce from another type or refuse, a `__proto__` key) gives
 * undefined, and zod parses it and words the refusal as FastAPI does.
 * test/fuzz/chat-body-diff.spec.ts holds the two to the same answers.
 */
export function plainChatPayload(value: unknown): ChatPayload | undefined {
  if (!isRecord(value)) return undefined;
  const messages = plainMessages(value["messages"]);
  if (messages === undefined) return undefined;
  const undeclared = plainKeys(value, plainPayload);
  if (undeclared === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of chatKeys) {
    if (key === "messages") out[key] = messages;
    else if (Object.hasOwn(value, key)) {
      const v = value[key];
      out[key] = key === "stream_options" && v !== null ? { ...(v as Record<string, unknown>) } : key === "stop" && v !== null ? [...(v as string[])] : v;
    } else if (Object.hasOwn(defaults, key)) out[key] = defaults[key];
  }
  if (undeclared) copyUndeclared(value, chatKeySet, out);
  return out as ChatPayload;
}

/** At least one message, each a role, text or null content, and keys MLflow passes on; or undefined. */
function plainMessages(v: unknown): Record<string, unknown>[] | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const out = new Array<Record<string, unknown>>(v.length);
  for (let i = 0; i < v.length; i++) {
    const m: unknown = v[i];
    if (!isRecord(m) || typeof m["role"] !== "string") return undefined;
    const content = m["content"];
    if (content !== undefined && content !== null && typeof content !== "string") return undefined;
    const message: Record<string, unknown> = { role: m["role"] };
    if (Object.hasOwn(m, "content")) message["content"] = content;
    for (const key of Object.keys(m)) {
      if (key === "role" || key === "content") continue;
      if (messageKeySet.has(key) || key === "__proto__") return undefined; // tool calls, refusal, …: zod's
      message[key] = m[key];
    }
    out[i] = message;
  }
  return out;
}

/**
 * The same payloads on an endpoint with a prompt template, when the caller sends
 * `template_variables` (modelgate's extension): the template supplies the prompt, so `messages`
 * may be empty and `prompt` absent.
 */
export const templatedChatRequest = chatRequest.extend({ messages: z.array(chatMessage).default([]) });

export const completionsRequest = z
  .looseObject({ ...baseRequest, prompt: str() })
  .describe("An llm/v1/completions endpoint's payload (mlflow.gateway.schemas.completions.RequestPayload).");

export const templatedCompletionsRequest = completionsRequest.extend({ prompt: str().default("") });

export const embeddingsRequest = z
  .looseObject({
    input: union(
      ["str", "list[str]", "list[int]", "list[list[int]]"],
      [str(), z.array(str()), z.array(int()), z.array(z.array(int()))],
    ),
  })
  .describe("An llm/v1/embeddings endpoint's payload (mlflow.gateway.schemas.embeddings.RequestPayload); modelgate also reads the older `text` for `input`.");

/** A predict endpoint's payload (modelgate's extension: MLflow's scoring formats, exactly one of them). */
export const predictRequest = z
  .looseObject({
    dataframe_split: z.unknown().optional(),
    dataframe_records: z.unknown().optional(),
    instances: z.unknown().optional(),
    inputs: z.unknown().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  })
  .describe("A predict endpoint's payload (modelgate's extension): one of MLflow's scoring formats.");

/** mlflow.gateway.base_models.SetLimitsModel (the set_limits API is not available in MLflow either). */
export const setLimitsRequest = z.looseObject({ route: str(), limits: z.array(z.record(z.string(), z.unknown())) });

// ------------------------------------------------------------------------------------------------
// Responses

/** The fields every MLflow chat/completions answer and chunk starts with. */
const answerHeader = { id: z.string().nullable(), object: z.string(), created: z.number().int(), model: z.string() };

const usage = z.object({ prompt_tokens: z.number().int().nullable(), completion_tokens: z.number().int().nullable(), total_tokens: z.number().int().nullable() });
const responseToolCall = z.object({ id: z.string(), type: z.string(), function: z.object({ name: z.string().nullable(), arguments: z.string().nullable() }) });

export const chatResponse = z
  .object({
    ...answerHeader,
    choices: z.array(
      z.object({
        index: z.number().int(),
        message: z.object({
          role: z.string(),
          content: z.string().nullable(),
          tool_calls: z.array(responseToolCall).nullable(),
          refusal: z.string().nullable(),
        }),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage,
  })
  ;

const toolCallDelta = z.object({
  index: z.number().int(),
  id: z.string().nullable(),
  type: z.string().nullable(),
  function: z.object({ name: z.string().nullable(), arguments: z.string().nullable() }),
});

export const chatChunk = z
  .object({
    ...answerHeader,
    choices: z.array(
      z.object({
        index: z.number().int(),
        finish_reason: z.string().nullable(),
        delta: z.object({ role: z.string().nullable(), content: z.string().nullable(), tool_calls: z.array(toolCallDelta).nullable() }),
      }),
    ),
    /** Only on the closing chunk, when the request asked for it (stream_options.include_usage). */
    usage: usage.optional(),
  })
  .describe("One `data:` event of a streamed chat.");

export const completionsResponse = z
  .object({
    ...answerHeader,
    choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: z.string().nullable() })),
    usage,
  })
  ;

export const completionsChunk = z
  .object({
    ...answerHeader,
    choices: z.array(z.object({ index: z.number().int(), finish_reason: z.string().nullable(), text: z.string().nullable() })),
    usage: usage.optional(),
  })
  .describe("One `data:` event of a streamed completion.");

export const embeddingsResponse = z
  .object({
    object: z.string(),
    data: z.array(z.object({ object: z.string(), embedding: z.union([z.array(z.number()), z.string()]), index: z.number().int() })),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.number().int().nullable(), total_tokens: z.number().int().nullable() }),
  })
  ;

export const predictResponse = z
  .object({ predictions: z.unknown(), model: z.string(), model_version: z.string().optional() })
  ;

export const limit = z
  .object({
    calls: z.number().int(),
    key: z.string().nullable(),
    renewal_period: z.string(),
    /** modelgate's extension: tokens per renewal_period, when configured. */
    tokens: z.number().int().optional(),
  })
  ;

const modelInfo = z.object({ name: z.string().nullable(), provider: z.string() });

export const endpoint = z
  .object({ name: z.string(), endpoint_type: z.string(), model: modelInfo, endpoint_url: z.string(), limit: limit.nullable() })
  ;

export const listEndpointsResponse = z
  .object({ endpoints: z.array(endpoint), next_page_token: z.string().nullable() })
  ;

export const legacyRoute = z
  .object({ name: z.string(), route_type: z.string(), model: modelInfo, route_url: z.string(), limit: limit.nullable() })
  ;

export const legacySearchRoutesResponse = z
  .object({ routes: z.array(legacyRoute), next_page_token: z.string().nullable() })
  ;

export const healthResponse = z.object({ status: z.string() });

/** FastAPI's error bodies: `detail` is a message, or the list of a 422. */
export const validationError = z
  .object({
    type: z.string(),
    loc: z.array(z.union([z.string(), z.number().int()])),
    msg: z.string(),
    input: z.unknown(),
    ctx: z.record(z.string(), z.unknown()).optional(),
  })
  ;

export const httpValidationError = z.object({ detail: z.array(validationError) });
export const httpError = z.object({ detail: z.string() });
/** The gateway's own rate limit (slowapi's body in MLflow); retry-after and x-ratelimit-* come with it. */
export const rateLimitError = z.object({ error: z.string() });

export type ChatResponseJson = z.input<typeof chatResponse>;
export type ChatChunkJson = z.input<typeof chatChunk>;
export type CompletionsResponseJson = z.input<typeof completionsResponse>;
export type CompletionsChunkJson = z.input<typeof completionsChunk>;
export type EmbeddingsResponseJson = z.input<typeof embeddingsResponse>;
export type EndpointJson = z.input<typeof endpoint>;
export type LegacyRouteJson = z.input<typeof legacyRoute>;

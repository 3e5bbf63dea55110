// POST /v1/chat/completions in OpenAI's shapes, onto ChatService. `model` is the endpoint name;
// OpenAI parameters we have no typed field for travel in `extras` to the provider. Every field
// of CreateChatCompletionRequest either has a typed field, travels in extras unchanged, or is
// refused with a message naming it; none is dropped (README, "Request fidelity").
import type { JsonObject } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { z } from "zod";
import { MaxTokensField, type ChatRequest, type ChatRequestSchema, type ChatResponse, type StreamChatResponse } from "../../../gen/modelgate/v1/chat_pb";
import type {
  Annotation,
  ChatLogprobs,
  ChatMessage,
  ChatMessageSchema,
  FunctionCall,
  TokenLogprob,
  ToolCall,
  TopLogprob,
  Usage,
} from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import { isRecord } from "../../json";
import { copyUndeclared, plainKeys, type PlainShape } from "../plain-body";
import { parseBody } from "../../services/validate";

const text = z.string();
const textPart = z.object({ type: z.literal("text"), text });
const contentPart = z.discriminatedUnion(
  "type",
  [
    textPart,
    z.object({
      type: z.literal("image_url"),
      image_url: z.object({ url: z.string().min(1), detail: z.string().optional() }),
    }),
    // Assistant history: a refusal part (ChatCompletionRequestAssistantMessageContentPart).
    z.object({ type: z.literal("refusal"), refusal: text }),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? "content part type must be text, image_url or refusal (input_audio and file parts are not supported)" : undefined) },
);
const contentParts = z.array(contentPart);
/**
 * A string, null, or content parts. Parsed by hand rather than as a union, so a bad part is
 * reported at its own path with its own reason instead of as "Invalid input" for the content.
 */
const content = z.unknown().transform((value, ctx) => {
  if (value === undefined || value === null || typeof value === "string") return value;
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: "custom", message: "must be a string, a list of content parts or null" });
    return z.NEVER;
  }
  const parsed = contentParts.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
  return z.NEVER;
});
const functionCall = z.object({ name: z.string(), arguments: z.string() });
const toolCall = z.object({
  id: z.string(),
  type: z.literal("function", { error: "custom tool calls are not supported (only function tool calls)" }).default("function"),
  function: functionCall,
});
const annotation = z.object({
  type: z.string(),
  url_citation: z.object({ start_index: z.number().int().min(0), end_index: z.number().int().min(0), url: z.string(), title: z.string() }).optional(),
});
const messageShape = {
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content,
  name: z.string().optional(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().optional(),
  refusal: z.string().nullish(),
  function_call: functionCall.nullish(),
  audio: z.object({ id: z.string().min(1) }).nullish(),
  annotations: z.array(annotation).nullish(),
};
/** OpenAI's messages: an unknown field is refused, never dropped. */
const strictMessage = z.strictObject(messageShape);
/** The same, ignoring unknown fields (the MLflow surface's payloads, validated by its own schema first). */
const lenientMessage = z.object(messageShape);
type Message = z.infer<typeof strictMessage>;
const jsonObject = z.record(z.string(), z.unknown());

/** Counts that travel as proto uint32 (max_tokens, n): out of range is the caller's error, not ours. */
export const countField = z.number().int().min(1, "must be >= 1").max(4_294_967_295, "must be <= 4294967295").nullish();
/** The seed travels as int64 from a JSON number: only integers a double holds exactly. */
export const seedField = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish();

/**
 * `template_variables`: values for the endpoint's prompt template (modelgate's extension; the
 * `openai` SDKs send it as an extra body field). Numbers and booleans become text ("3", "true"),
 * as the typed API's map<string, string> carries them; the template checks their types.
 */
export const templateVariablesField = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()], { error: "must be a string, a number or a boolean" }))
  .nullish()
  .transform((v) => (v == null ? undefined : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)]))));

const toolChoice = z.union(
  [z.enum(["auto", "none", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })],
  { error: 'must be "auto", "none", "required" or {"type": "function", "function": {"name"}} (allowed_tools and custom tools are not supported)' },
);

function chatBodySchema(message: typeof strictMessage | typeof lenientMessage) {
  return z
    .object({
      model: z.string().min(1, "model is required (the endpoint name)"),
      messages: z.array(message),
      temperature: z.number().nullish(),
      top_p: z.number().nullish(),
      max_tokens: countField,
      max_completion_tokens: countField,
      stop: z.union([z.string(), z.array(z.string())]).nullish(),
      n: countField,
      seed: seedField,
      user: z.string().optional(),
      stream: z.boolean().nullish(),
      // include_obfuscation is accepted: the gateway's chunks carry no obfuscation padding.
      stream_options: z.strictObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() }).nullish(),
      tools: z
        .array(
          z.object({
            type: z.literal("function", { error: "custom tools are not supported (only function tools)" }),
            function: z.object({
              name: z.string(),
              description: z.string().optional(),
              parameters: jsonObject.optional(),
              strict: z.boolean().nullish(),
            }),
          }),
        )
        .nullish(),
      tool_choice: toolChoice.nullish(),
      parallel_tool_calls: z.boolean().nullish(),
      response_format: z
        .discriminatedUnion("type", [
          z.object({ type: z.literal("text") }),
          z.object({ type: z.literal("json_object") }),
          z.object({
            type: z.literal("json_schema"),
            json_schema: z.object({ name: z.string(), description: z.string().optional(), schema: jsonObject.optional(), strict: z.boolean().nullish() }),
          }),
        ])
        .nullish(),
      template_variables: templateVariablesField,
    })
    .catchall(z.unknown());
}

/** The OpenAI surface's body: unknown message fields are refused. */
export const openaiChatCompletionBody = chatBodySchema(strictMessage);
/** The same body with unknown message fields ignored (for surfaces that validated them already). */
export const chatCompletionBody = chatBodySchema(lenientMessage);

export type ChatCompletionBody = z.infer<typeof openaiChatCompletionBody>;

/**
 * A chat body as `openaiChatCompletionBody` (`strictMessages`) or `chatCompletionBody` parses it,
 * or INVALID_ARGUMENT naming the field. The common body is checked by `plainChatBody`; zod
 * parses every other one and words every refusal.
 */
export function parseChatBody(value: unknown, strictMessages: boolean): ChatCompletionBody {
  return plainChatBody(value, strictMessages) ?? parseBody(strictMessages ? openaiChatCompletionBody : chatCompletionBody, value);
}

const bodyKeys: readonly string[] = Object.keys(openaiChatCompletionBody.shape);
/** Top-level keys we map to typed fields; everything else is passed on as extras. */
const bodyKeySet: ReadonlySet<string> = new Set(bodyKeys);
const messageKeySet: ReadonlySet<string> = new Set(Object.keys(messageShape));
const messageRoles: ReadonlySet<string> = new Set(messageShape.role.options);
const isFiniteNumber = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= 4_294_967_295;
const isBoolean = (v: unknown) => typeof v === "boolean";
/** The body's keys as the plain path takes them: every one nullish but `user` (a string when present). */
const plainBody: PlainShape = {
  known: bodyKeySet,
  checks: new Map<string, (v: unknown) => boolean>([
  ["temperature", isFiniteNumber],
  ["top_p", isFiniteNumber],
  ["max_tokens", isCount],
  ["max_completion_tokens", isCount],
  ["n", isCount],
  ["seed", Number.isSafeInteger],
  ["stop", (v) => typeof v === "string" || (Array.isArray(v) && v.every((s) => typeof s === "string"))],
  ["user", (v) => typeof v === "string"],
  ["stream", isBoolean],
  ["stream_options", (v) => plainStreamOptions(v) !== undefined],
  ["parallel_tool_calls", isBoolean],
  ]),
  notNull: new Set(["user"]),
  own: new Set(["model", "messages"]),
};

/**
 * What the chat body's zod schema makes of the common body (text messages with a role, content
 * and name, the sampling fields, stream options, any unknown top-level key), built by hand: the
 * same object, its keys in the same order. Anything else (tools, content parts, a response
 * format, template variables, a value zod might refuse, a `__proto__` key) gives undefined, and
 * zod parses it. zod's parse of a body allocates a payload object per key the schema declares,
 * present or not: ~10 KB a call in all (bench/README.md, "Fifteenth pass").
 * test/fuzz/chat-body-diff.spec.ts holds the two to the same answers.
 */
export function plainChatBody(value: unknown, strictMessages: boolean): ChatCompletionBody | undefined {
  if (!isRecord(value)) return undefined;
  const { model } = value;
  if (typeof model !== "string" || model === "") return undefined;
  const messages = plainMessages(value["messages"], strictMessages);
  if (messages === undefined) return undefined;
  const undeclared = plainKeys(value, plainBody);
  if (undeclared === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of bodyKeys) {
    if (!Object.hasOwn(value, key)) continue;
    const v = value[key];
    out[key] = key === "messages" ? messages : key === "stream_options" && v !== null ? plainStreamOptions(v) : v;
  }
  if (undeclared) copyUndeclared(value, bodyKeySet, out);
  return out as ChatCompletionBody;
}

/** Text messages as the message schema gives them ({role, content, name?}), or undefined. */
function plainMessages(v: unknown, strict: boolean): Message[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out = new Array<Message>(v.length);
  for (let i = 0; i < v.length; i++) {
    const m: unknown = v[i];
    if (!isRecord(m)) return undefined;
    const { role, content, name } = m;
    if (typeof role !== "string" || !messageRoles.has(role)) return undefined;
    if (typeof content !== "string" && content !== null) return undefined;
    if (name !== undefined && typeof name !== "string") return undefined;
    for (const key of Object.keys(m)) {
      if (key === "role" || key === "content" || key === "name") continue;
      // The lenient schema drops a key it does not know; a known one (tool calls, …) is zod's.
      if (strict || messageKeySet.has(key) || key === "__proto__") return undefined;
    }
    out[i] = (name === undefined ? { role, content } : { role, content, name }) as Message;
  }
  return out;
}

/** stream_options as its strict schema gives it (a fresh object of the two booleans), or undefined. */
function plainStreamOptions(v: unknown): { include_usage?: boolean; include_obfuscation?: boolean } | undefined {
  if (!isRecord(v)) return undefined;
  const out: { include_usage?: boolean; include_obfuscation?: boolean } = {};
  for (const key of Object.keys(v)) if (key !== "include_usage" && key !== "include_obfuscation") return undefined;
  const { include_usage: usage, include_obfuscation: obfuscation } = v;
  if (usage !== undefined) {
    if (typeof usage !== "boolean") return undefined;
    out.include_usage = usage;
  }
  if (obfuscation !== undefined) {
    if (typeof obfuscation !== "boolean") return undefined;
    out.include_obfuscation = obfuscation;
  }
  return out;
}

export function extrasOf(body: Record<string, unknown>, known: ReadonlySet<string>): JsonObject | undefined {
  let extras: JsonObject | undefined;
  for (const [k, v] of Object.entries(body)) {
    if (known.has(k) || v === undefined) continue;
    (extras ??= {})[k] = v as JsonObject[string];
  }
  return extras;
}

/** A plain init object: usable for ChatRequest and StreamChatRequest alike. */
export type ChatRequestInit = Exclude<MessageInitShape<typeof ChatRequestSchema>, ChatRequest>;

/** The token limit and which name it came under; both names with different values is ambiguous. */
function tokenLimit(body: ChatCompletionBody): Pick<ChatRequestInit, "maxTokens" | "maxTokensField"> {
  const legacy = body.max_tokens ?? undefined;
  const current = body.max_completion_tokens ?? undefined;
  if (current === undefined) return { maxTokens: legacy };
  if (legacy !== undefined && legacy !== current) {
    throw invalidArgument("max_completion_tokens: max_tokens and max_completion_tokens differ; send one (max_tokens is deprecated)");
  }
  return { maxTokens: current, maxTokensField: MaxTokensField.MAX_COMPLETION_TOKENS };
}

export function toChatRequest(body: ChatCompletionBody): ChatRequestInit {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    endpoint: body.model,
    messages: body.messages.map(toMessage),
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    ...tokenLimit(body),
    stop,
    n: body.n ?? undefined,
    seed: body.seed == null ? undefined : BigInt(body.seed),
    user: body.user ?? "",
    extras: extrasOf(body, bodyKeySet),
    templateVariables: body.template_variables,
    tools: (body.tools ?? []).map((t) => ({
      type: "function",
      function: {
        name: t.function.name,
        description: t.function.description ?? "",
        parameters: t.function.parameters as JsonObject | undefined,
        strict: t.function.strict ?? undefined,
      },
    })),
    toolChoice:
      body.tool_choice == null
        ? undefined
        : typeof body.tool_choice === "string"
          ? { choice: { case: "mode", value: body.tool_choice } }
          : { choice: { case: "functionName", value: body.tool_choice.function.name } },
    responseFormat:
      body.response_format == null
        ? undefined
        : body.response_format.type === "json_schema"
          ? {
              type: "json_schema",
              jsonSchema: {
                name: body.response_format.json_schema.name,
                description: body.response_format.json_schema.description ?? "",
                schema: body.response_format.json_schema.schema as JsonObject | undefined,
                strict: body.response_format.json_schema.strict ?? undefined,
              },
            }
          : { type: body.response_format.type },
    parallelToolCalls: body.parallel_tool_calls ?? undefined,
  };
}

type MessageInit = Exclude<MessageInitShape<typeof ChatMessageSchema>, ChatMessage>;

function onlyFor(i: number, field: string, roles: string) {
  return invalidArgument(`messages[${i}].${field}: only allowed on ${roles} messages`);
}

/** One message as the proto's init; `i` names it in errors (the text is built only for one). */
function toMessage(m: Message, i: number): MessageInit {
  const { role } = m;
  if (m.tool_calls?.length && role !== "assistant") throw onlyFor(i, "tool_calls", "assistant");
  if (m.function_call && role !== "assistant") throw onlyFor(i, "function_call", "assistant");
  if (m.refusal && role !== "assistant") throw onlyFor(i, "refusal", "assistant");
  if (m.audio && role !== "assistant") throw onlyFor(i, "audio", "assistant");
  if (m.tool_call_id !== undefined && role !== "tool") throw onlyFor(i, "tool_call_id", "tool");
  if (role === "function" && !m.name) throw invalidArgument(`messages[${i}].name: required for role function (the function's name)`);
  // Absent lists stay absent (the message gets its own empty ones): no arrays for most messages.
  const message: MessageInit = {
    role,
    name: m.name ?? "",
    toolCallId: m.tool_call_id ?? "",
    toolCalls: m.tool_calls?.map((c, index) => ({ id: c.id, type: c.type, index, function: c.function })),
    refusal: m.refusal ?? "",
    functionCall: m.function_call ?? undefined,
    audio: m.audio ? { id: m.audio.id } : undefined,
    annotations: m.annotations?.map((a) => ({
      type: a.type,
      urlCitation: a.url_citation && {
        startIndex: a.url_citation.start_index,
        endIndex: a.url_citation.end_index,
        url: a.url_citation.url,
        title: a.url_citation.title,
      },
    })),
    content: "",
  };
  if (typeof m.content === "string" || m.content == null) {
    message.content = m.content ?? "";
    return message;
  }
  const parts: NonNullable<MessageInit["parts"]> = [];
  let refusal = message.refusal ?? "";
  m.content.forEach((p, j) => {
    if (p.type === "text") parts.push({ part: { case: "text", value: p.text } });
    else if (p.type === "image_url") {
      if (role !== "user") throw invalidArgument(`messages[${i}].content[${j}]: image parts are only allowed in user messages`);
      parts.push({ part: { case: "imageUrl", value: { url: p.image_url.url, detail: p.image_url.detail ?? "" } } });
    } else {
      if (role !== "assistant") throw invalidArgument(`messages[${i}].content[${j}]: refusal parts are only allowed in assistant messages`);
      refusal += p.refusal;
    }
  });
  message.parts = parts;
  message.refusal = refusal;
  return message;
}

// ------------------------------------------------------------------------------------------
// Answers, in OpenAI's shapes.

/** CompletionUsage: the totals, and the breakdowns the upstream reported. */
export function usageJson(u: Usage | undefined) {
  if (!u) return undefined;
  const out: Record<string, unknown> = { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
  const prompt = definedOnly({ cached_tokens: u.cachedPromptTokens, audio_tokens: u.promptAudioTokens, cache_write_tokens: u.cacheWritePromptTokens });
  const completion = definedOnly({
    reasoning_tokens: u.reasoningTokens,
    audio_tokens: u.completionAudioTokens,
    accepted_prediction_tokens: u.acceptedPredictionTokens,
    rejected_prediction_tokens: u.rejectedPredictionTokens,
  });
  if (prompt) out["prompt_tokens_details"] = prompt;
  if (completion) out["completion_tokens_details"] = completion;
  return out;
}

function definedOnly(values: Record<string, number | undefined>): Record<string, number> | undefined {
  let out: Record<string, number> | undefined;
  for (const k in values) {
    const v = values[k];
    if (v !== undefined) (out ??= {})[k] = v;
  }
  return out;
}

function toolCallsJson(calls: ToolCall[], delta: boolean) {
  return calls.map((c) =>
    delta
      ? {
          index: c.index,
          ...(c.id ? { id: c.id, type: c.type || "function" } : {}),
          function: { ...(c.function?.name ? { name: c.function.name } : {}), arguments: c.function?.arguments ?? "" },
        }
      : { id: c.id, type: c.type || "function", function: { name: c.function?.name ?? "", arguments: c.function?.arguments ?? "" } },
  );
}

function functionCallJson(fn: FunctionCall, delta: boolean) {
  return delta ? { ...(fn.name ? { name: fn.name } : {}), arguments: fn.arguments } : { name: fn.name, arguments: fn.arguments };
}

function annotationsJson(annotations: Annotation[]) {
  return annotations.map((a) => ({
    type: a.type,
    ...(a.urlCitation
      ? {
          url_citation: {
            start_index: a.urlCitation.startIndex,
            end_index: a.urlCitation.endIndex,
            url: a.urlCitation.url,
            title: a.urlCitation.title,
          },
        }
      : {}),
  }));
}

/** ChatCompletionResponseMessage: `content` and `refusal` always present (null when empty). */
function messageJson(m: ChatMessage | undefined) {
  const out: Record<string, unknown> = {
    role: m?.role || "assistant",
    content: m?.content || null,
    refusal: m?.refusal || null,
  };
  // An empty answer that is not a refusal, a tool call or audio is "" (as OpenAI sends it).
  if (!m?.content && !m?.refusal && !m?.toolCalls.length && !m?.functionCall && !m?.audio) out["content"] = "";
  if (m && m.toolCalls.length > 0) out["tool_calls"] = toolCallsJson(m.toolCalls, false);
  if (m?.functionCall) out["function_call"] = functionCallJson(m.functionCall, false);
  if (m?.audio) {
    out["audio"] = {
      id: m.audio.id,
      expires_at: Number(m.audio.expiresAt),
      data: Buffer.from(m.audio.data).toString("base64"),
      transcript: m.audio.transcript,
    };
  }
  if (m && m.annotations.length > 0) out["annotations"] = annotationsJson(m.annotations);
  return out;
}

function topLogprobJson(t: Pick<TopLogprob, "token" | "logprob" | "bytes">) {
  return { token: t.token, logprob: t.logprob, bytes: t.bytes === undefined ? null : Array.from(t.bytes) };
}

function tokenLogprobsJson(tokens: TokenLogprob[]) {
  return tokens.length === 0 ? null : tokens.map((t) => ({ ...topLogprobJson(t), top_logprobs: t.topLogprobs.map(topLogprobJson) }));
}

/** A choice's logprobs: null when not asked for, else {content, refusal} (each null when empty). */
export function logprobsJson(lp: ChatLogprobs | undefined) {
  return lp === undefined ? null : { content: tokenLogprobsJson(lp.content), refusal: tokenLogprobsJson(lp.refusal) };
}

/** Metadata the upstream reported, or nothing (system_fingerprint and service_tier are optional). */
function metadataJson(meta: { systemFingerprint: string; serviceTier?: string }) {
  return {
    ...(meta.serviceTier ? { service_tier: meta.serviceTier } : {}),
    ...(meta.systemFingerprint ? { system_fingerprint: meta.systemFingerprint } : {}),
  };
}

const chatFinishReasons = new Set(["stop", "length", "tool_calls", "content_filter", "function_call"]);

/**
 * finish_reason in OpenAI's vocabulary (its spec and SDKs know no other values): a provider's
 * own reason that has no OpenAI equivalent (Gemini "other", Anthropic "pause_turn" ...) is
 * "stop"; the typed API keeps the provider's word. Empty (not finished) is null.
 */
export function finishReasonJson(reason: string, known: ReadonlySet<string> = chatFinishReasons): string | null {
  if (reason === "") return null;
  return known.has(reason) ? reason : "stop";
}

/** `created`: the upstream's, else the gateway's clock when the call started. */
export function createdOf(upstream: bigint, fallback: number): number {
  return upstream > 0n ? Number(upstream) : fallback;
}

export function chatCompletionJson(res: ChatResponse, created: number) {
  return {
    id: res.id,
    object: "chat.completion",
    created: createdOf(res.created, created),
    model: res.model,
    choices: res.choices.map((c) => ({
      index: c.index,
      message: messageJson(c.message),
      logprobs: logprobsJson(c.logprobs),
      finish_reason: finishReasonJson(c.finishReason),
    })),
    usage: usageJson(res.usage),
    ...metadataJson(res),
  };
}

/**
 * What stays the same on every chunk of one stream: OpenAI repeats `created` (and the metadata)
 * on each, including the usage-only one our closing message becomes.
 */
export interface StreamState {
  /** The gateway's clock at the start, for upstreams that send no `created`. */
  startedAt: number;
  created?: number;
  systemFingerprint?: string;
  serviceTier?: string;
}

export function streamBase(chunk: { id: string; model: string; created: bigint; systemFingerprint: string; serviceTier?: string }, object: string, state: StreamState) {
  state.created ??= chunk.created > 0n ? Number(chunk.created) : undefined;
  if (chunk.systemFingerprint) state.systemFingerprint = chunk.systemFingerprint;
  if (chunk.serviceTier) state.serviceTier = chunk.serviceTier;
  return {
    id: chunk.id,
    object,
    created: state.created ?? state.startedAt,
    model: chunk.model,
    ...metadataJson({ systemFingerprint: state.systemFingerprint ?? "", serviceTier: state.serviceTier }),
  };
}

/**
 * Our closing message (no choices, the usage) as OpenAI's usage-only chunk when the client asked
 * for it (`stream_options.include_usage`), else nothing.
 */
export function usageChunkJson(base: object, usage: Usage | undefined, includeUsage: boolean) {
  return includeUsage && usage ? { ...base, choices: [], usage: usageJson(usage) } : undefined;
}

/** A stream's state; a number is the gateway's clock at the start (a state of its own per chunk). */
export function streamState(state: StreamState | number): StreamState {
  return typeof state === "number" ? { startedAt: state } : state;
}

/** One chat.completion.chunk, or undefined for our closing usage-only message. */
export function chatChunkJson(chunk: StreamChatResponse, state: StreamState | number, includeUsage: boolean) {
  const base = streamBase(chunk, "chat.completion.chunk", streamState(state));
  if (chunk.choices.length === 0) return usageChunkJson(base, chunk.usage, includeUsage);
  return {
    ...base,
    choices: chunk.choices.map((c) => {
      const d = c.delta;
      const delta: Record<string, unknown> = {};
      if (d?.role) delta["role"] = d.role;
      if (d?.content) delta["content"] = d.content;
      else if (d?.role && !d.refusal) delta["content"] = "";
      if (d?.refusal) delta["refusal"] = d.refusal;
      if (d && d.toolCalls.length > 0) delta["tool_calls"] = toolCallsJson(d.toolCalls, true);
      if (d?.functionCall) delta["function_call"] = functionCallJson(d.functionCall, true);
      return { index: c.index, delta, logprobs: logprobsJson(c.logprobs), finish_reason: finishReasonJson(c.finishReason) };
    }),
    // The spec: with include_usage, every chunk but the last has `usage: null`.
    ...(includeUsage ? { usage: null } : {}),
  };
}

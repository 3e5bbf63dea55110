// POST /v1/chat/completions in OpenAI's shapes, onto ChatService. `model` is the endpoint name;
// OpenAI parameters we have no typed field for travel in `extras` to the provider.
import type { JsonObject } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { z } from "zod";
import type { ChatRequest, ChatRequestSchema, ChatResponse, StreamChatResponse } from "../../../gen/modelgate/v1/chat_pb";
import type { ChatMessage, ToolCall, Usage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";

const text = z.string();
const contentPart = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text"), text }),
  z.object({ type: z.literal("image_url"), image_url: z.object({ url: z.string().min(1), detail: z.string().optional() }) }),
]);
const toolCall = z.object({
  id: z.string(),
  type: z.literal("function").default("function"),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([text, z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
});
const jsonObject = z.record(z.string(), z.unknown());

/** Counts that travel as proto uint32 (max_tokens, n): out of range is the caller's error, not ours. */
export const countField = z.number().int().min(1, "must be >= 1").max(4_294_967_295, "must be <= 4294967295").nullish();
/** The seed travels as int64 from a JSON number: only integers a double holds exactly. */
export const seedField = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER).nullish();

export const chatCompletionBody = z
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
    stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
    tools: z
      .array(
        z.object({
          type: z.literal("function"),
          function: z.object({
            name: z.string(),
            description: z.string().optional(),
            parameters: jsonObject.optional(),
            strict: z.boolean().nullish(),
          }),
        }),
      )
      .optional(),
    tool_choice: z
      .union([z.enum(["auto", "none", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })])
      .optional(),
    parallel_tool_calls: z.boolean().optional(),
    response_format: z
      .union([
        z.object({ type: z.literal("text") }),
        z.object({ type: z.literal("json_object") }),
        z.object({
          type: z.literal("json_schema"),
          json_schema: z.object({ name: z.string(), description: z.string().optional(), schema: jsonObject.optional(), strict: z.boolean().nullish() }),
        }),
      ])
      .optional(),
  })
  .catchall(z.unknown());

export type ChatCompletionBody = z.infer<typeof chatCompletionBody>;

/** Top-level keys we map to typed fields; everything else is passed on as extras. */
const typedKeys = new Set(Object.keys(chatCompletionBody.shape));

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

export function toChatRequest(body: ChatCompletionBody): ChatRequestInit {
  const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
  return {
    endpoint: body.model,
    messages: body.messages.map(toMessage),
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    stop,
    n: body.n ?? undefined,
    seed: body.seed == null ? undefined : BigInt(body.seed),
    user: body.user ?? "",
    extras: extrasOf(body, typedKeys),
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
      body.tool_choice === undefined
        ? undefined
        : typeof body.tool_choice === "string"
          ? { choice: { case: "mode", value: body.tool_choice } }
          : { choice: { case: "functionName", value: body.tool_choice.function.name } },
    responseFormat:
      body.response_format === undefined
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
    parallelToolCalls: body.parallel_tool_calls,
  };
}

function toMessage(m: z.infer<typeof message>): MessageInitShape<typeof import("../../../gen/modelgate/v1/common_pb").ChatMessageSchema> {
  const role = m.role === "developer" ? "system" : m.role;
  const base = {
    role,
    name: m.name ?? "",
    toolCallId: m.tool_call_id ?? "",
    toolCalls: (m.tool_calls ?? []).map((c, index) => ({ id: c.id, type: c.type, index, function: c.function })),
  };
  if (typeof m.content === "string" || m.content == null) return { ...base, content: m.content ?? "" };
  return {
    ...base,
    content: "",
    parts: m.content.map((p) =>
      p.type === "text"
        ? { part: { case: "text" as const, value: p.text } }
        : { part: { case: "imageUrl" as const, value: { url: p.image_url.url, detail: p.image_url.detail ?? "" } } },
    ),
  };
}

export function usageJson(u: Usage | undefined) {
  return u && { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens };
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

function messageJson(m: ChatMessage | undefined) {
  const calls = m?.toolCalls ?? [];
  return {
    role: m?.role || "assistant",
    content: calls.length > 0 && !m?.content ? null : (m?.content ?? ""),
    ...(calls.length > 0 ? { tool_calls: toolCallsJson(calls, false) } : {}),
  };
}

export function chatCompletionJson(res: ChatResponse, created: number) {
  return {
    id: res.id,
    object: "chat.completion",
    created,
    model: res.model,
    choices: res.choices.map((c) => ({
      index: c.index,
      message: messageJson(c.message),
      logprobs: null,
      finish_reason: c.finishReason || null,
    })),
    usage: usageJson(res.usage),
  };
}

/**
 * Our closing message (no choices, the usage) as OpenAI's usage-only chunk when the client asked
 * for it (`stream_options.include_usage`), else nothing.
 */
export function usageChunkJson(base: object, usage: Usage | undefined, includeUsage: boolean) {
  return includeUsage && usage ? { ...base, choices: [], usage: usageJson(usage) } : undefined;
}

/** One chat.completion.chunk, or undefined for our closing usage-only message. */
export function chatChunkJson(chunk: StreamChatResponse, created: number, includeUsage: boolean) {
  const base = { id: chunk.id, object: "chat.completion.chunk", created, model: chunk.model };
  if (chunk.choices.length === 0) return usageChunkJson(base, chunk.usage, includeUsage);
  return {
    ...base,
    choices: chunk.choices.map((c) => {
      const d = c.delta;
      const delta: Record<string, unknown> = {};
      if (d?.role) delta["role"] = d.role;
      if (d?.content) delta["content"] = d.content;
      else if (d?.role) delta["content"] = "";
      if (d && d.toolCalls.length > 0) delta["tool_calls"] = toolCallsJson(d.toolCalls, true);
      return { index: c.index, delta, logprobs: null, finish_reason: c.finishReason || null };
    }),
    ...(includeUsage ? { usage: null } : {}),
  };
}

export function assertNoTokenArrays(value: unknown, field: string): void {
  if (Array.isArray(value) && value.some((v) => typeof v !== "string")) {
    throw invalidArgument(`${field}: token arrays are not supported; send text`);
  }
}

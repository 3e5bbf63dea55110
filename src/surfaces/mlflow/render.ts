// Answers in MLflow's gateway shapes (mlflow/gateway/schemas/*.py as FastAPI serialises them:
// every field present, null where MLflow has nothing), from the one request path's messages.
// Fields the typed API may or may not carry yet (created, refusal, double-precision vectors) are
// read defensively, so this file follows the proto as it grows.
import type { ChatResponse, StreamChatResponse } from "../../../gen/modelgate/v1/chat_pb";
import type { ChatMessage, ToolCall, Usage } from "../../../gen/modelgate/v1/common_pb";
import type { CompleteResponse, StreamCompleteResponse } from "../../../gen/modelgate/v1/completions_pb";
import type { EmbedResponse } from "../../../gen/modelgate/v1/embeddings_pb";
import type { Endpoint } from "../../../gen/modelgate/v1/endpoint_pb";
import type {
  ChatChunkJson,
  ChatResponseJson,
  CompletionsChunkJson,
  CompletionsResponseJson,
  EmbeddingsResponseJson,
  EndpointJson,
  LegacyRouteJson,
} from "./schemas";

/** The upstream's `created` when the typed API carries it, else the gateway's clock. */
export function createdOf(res: object, fallback: number): number {
  const created = (res as { created?: bigint | number }).created;
  return created !== undefined && Number(created) > 0 ? Number(created) : fallback;
}

function usageJson(u: Usage | undefined) {
  return { prompt_tokens: u?.promptTokens ?? null, completion_tokens: u?.completionTokens ?? null, total_tokens: u?.totalTokens ?? null };
}

function toolCallJson(c: ToolCall) {
  return { id: c.id, type: c.type || "function", function: { name: c.function?.name ?? null, arguments: c.function?.arguments ?? null } };
}

function messageJson(m: ChatMessage | undefined): ChatResponseJson["choices"][number]["message"] {
  const calls = m?.toolCalls ?? [];
  const refusal = (m as { refusal?: string } | undefined)?.refusal;
  return {
    role: m?.role || "assistant",
    content: calls.length > 0 && !m?.content ? null : (m?.content ?? ""),
    tool_calls: calls.length > 0 ? calls.map(toolCallJson) : null,
    refusal: refusal ? refusal : null,
  };
}

export function chatJson(res: ChatResponse, created: number): ChatResponseJson {
  return {
    id: res.id || null,
    object: "chat.completion",
    created: createdOf(res, created),
    model: res.model,
    choices: res.choices.map((c) => ({ index: c.index, message: messageJson(c.message), finish_reason: c.finishReason || null })),
    usage: usageJson(res.usage),
  };
}

/**
 * One chunk as MLflow passes an OpenAI chunk on: `delta` always has role, content and tool_calls
 * (null when absent). The typed API cannot tell "" from absent, so content follows OpenAI's
 * stream: "" beside the first chunk's role, null on a tool-call or closing chunk.
 * Our closing usage-only message becomes MLflow's `choices: []` chunk (with the usage) only
 * when the request asked for it (stream_options.include_usage); else it is left out.
 */
export function chatChunkJson(chunk: StreamChatResponse, created: number, includeUsage: boolean): ChatChunkJson | undefined {
  const base = { id: chunk.id || null, object: "chat.completion.chunk", created: createdOf(chunk, created), model: chunk.model };
  if (chunk.choices.length === 0) return includeUsage ? { ...base, choices: [], ...(chunk.usage ? { usage: usageJson(chunk.usage) } : {}) } : undefined;
  return {
    ...base,
    choices: chunk.choices.map((c) => {
      const d = c.delta;
      const calls = d?.toolCalls ?? [];
      const content = d?.content ? d.content : d?.role && calls.length === 0 ? "" : null;
      return {
        index: c.index,
        finish_reason: c.finishReason || null,
        delta: {
          role: d?.role || null,
          content,
          tool_calls:
            calls.length > 0
              ? calls.map((t) => ({
                  index: t.index,
                  id: t.id || null,
                  type: t.id ? t.type || "function" : t.type || null,
                  function: { name: t.function?.name || null, arguments: t.function?.arguments ?? null },
                }))
              : null,
        },
      };
    }),
  };
}

export function completionsJson(res: CompleteResponse, created: number): CompletionsResponseJson {
  return {
    id: res.id || null,
    object: "text_completion",
    created: createdOf(res, created),
    model: res.model,
    choices: res.choices.map((c) => ({ index: c.index, text: c.text, finish_reason: c.finishReason || null })),
    usage: usageJson(res.usage),
  };
}

/** MLflow's completions chunk (`text_completion_chunk`; MLflow 3.8.1 itself fails on these streams). */
export function completionsChunkJson(chunk: StreamCompleteResponse, created: number, includeUsage: boolean): CompletionsChunkJson | undefined {
  const base = { id: chunk.id || null, object: "text_completion_chunk", created: createdOf(chunk, created), model: chunk.model };
  if (chunk.choices.length === 0) return includeUsage ? { ...base, choices: [], ...(chunk.usage ? { usage: usageJson(chunk.usage) } : {}) } : undefined;
  return { ...base, choices: chunk.choices.map((c) => ({ index: c.index, finish_reason: c.finishReason || null, text: c.text })) };
}

export function embeddingsJson(res: EmbedResponse): EmbeddingsResponseJson {
  return {
    object: "list",
    data: res.data.map((d) => {
      const exact = (d as { doubleValues?: number[] }).doubleValues;
      return { object: "embedding", embedding: exact && exact.length > 0 ? exact : d.values, index: d.index };
    }),
    model: res.model,
    usage: { prompt_tokens: res.usage?.promptTokens ?? null, total_tokens: res.usage?.totalTokens ?? null },
  };
}

/** Where MLflow 3 serves an endpoint (and reports it as `endpoint_url`). */
export function invocationsPath(name: string): string {
  return `/gateway/${encodeURIComponent(name)}/invocations`;
}

function limitJson(ep: Endpoint) {
  if (!ep.limit) return null;
  const tokens = (ep.limit as { tokens?: number }).tokens;
  return { calls: ep.limit.calls, key: null, renewal_period: ep.limit.renewalPeriod, ...(tokens ? { tokens } : {}) };
}

export function endpointJson(ep: Endpoint): EndpointJson {
  return {
    name: ep.name,
    endpoint_type: ep.endpointType,
    model: { name: ep.model, provider: ep.provider },
    endpoint_url: invocationsPath(ep.name),
    limit: limitJson(ep),
  };
}

export function legacyRouteJson(ep: Endpoint): LegacyRouteJson {
  return {
    name: ep.name,
    route_type: ep.endpointType,
    model: { name: ep.model, provider: ep.provider },
    route_url: invocationsPath(ep.name),
    limit: limitJson(ep),
  };
}

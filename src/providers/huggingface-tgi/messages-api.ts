// Where TGI's Messages API (POST /v1/chat/completions) differs from OpenAI's, on top of the
// shared OpenAI translators (router/src/lib.rs ChatRequest, GrammarType; router/src/server.rs):
//  - `n` is accepted but unused, and there is no `user`: both are refused (capabilities).
//  - top_p must be < 1; 1 keeps every token, so it is left out rather than refused upstream.
//  - Structured output is TGI's grammar, `{type: "json", value: <JSON Schema>}` (since 1.4.3);
//    json_object becomes the schema of any object.
//  - Errors, also mid-stream, are `{"error": "...", "error_type": "..."}` events.
//  - Older servers streamed `delta.tool_calls` as one object rather than a list.
//  - finish_reason may be TGI's own (eos_token, stop_sequence), and is "stop" after tool calls.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ChatChunk, ChatParams, ChatResult } from "../types";
import type { SseEvent, UpstreamRequest } from "../../upstream/wire";
import { isRecord } from "../upstream-reader";
import { type OpenAICapabilities, compatibleCapabilities, openaiCapabilities } from "../openai/dialect";
import { tgiStreamError } from "./wire";

export const messagesApiCapabilities: OpenAICapabilities = {
  ...openaiCapabilities,
  // max_tokens only, roles through the chat template (developer as system), no refusals.
  ...compatibleCapabilities,
  maxChoices: 1,
  user: false,
  // TGI takes `name` but hands it to the model's chat template, which mostly drops it.
  messageName: false,
};

export function adaptParams(params: ChatParams): ChatParams {
  return params.topP === 1 ? { ...params, topP: undefined } : params;
}

/** Rewrites OpenAI's response_format into TGI's grammar. */
export function adaptRequest(req: UpstreamRequest): UpstreamRequest {
  const body = req.body;
  if (!isRecord(body) || !isRecord(body.response_format)) return req;
  const format = body.response_format;
  let schema: JsonValue = { type: "object" };
  if (format.type === "json_schema" && isRecord(format.json_schema)) {
    schema = (format.json_schema.schema ?? schema) as JsonValue;
  } else if (format.type !== "json_object") {
    // "text": no grammar at all
    const withoutFormat: JsonObject = { ...(body as JsonObject) };
    delete withoutFormat.response_format;
    return { ...req, body: withoutFormat };
  }
  return { ...req, body: { ...(body as JsonObject), response_format: { type: "json", value: schema } } };
}

/** Throws the error an event reports; returns the event as the OpenAI decoder expects it. */
export function adaptStreamEvent(provider: string, event: SseEvent): SseEvent {
  const data = event.data;
  // Cheap checks first: almost every event is a plain token chunk.
  const isError = data.startsWith('{"error"');
  const hasCallObject = data.includes('"tool_calls":{');
  if (!isError && !hasCallObject) return event;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return event; // the OpenAI decoder reports it
  }
  const error = tgiStreamError(provider, parsed);
  if (error !== undefined) throw error;
  if (!isRecord(parsed) || !Array.isArray(parsed.choices)) return event;
  for (const choice of parsed.choices) {
    if (isRecord(choice) && isRecord(choice.delta) && isRecord(choice.delta.tool_calls)) {
      choice.delta.tool_calls = [choice.delta.tool_calls];
    }
  }
  return { ...event, data: JSON.stringify(parsed) };
}

/** TGI's finish reasons in OpenAI's words; "tool_calls" once the answer called tools. */
function finishReason(reason: string, calledTools: boolean): string {
  const openai = reason === "eos_token" || reason === "stop_sequence" ? "stop" : reason;
  return calledTools && openai === "stop" ? "tool_calls" : openai;
}

export function adaptResult(result: ChatResult): ChatResult {
  const choices = result.choices.map((choice) => {
    const calledTools = (choice.message?.toolCalls?.length ?? 0) > 0;
    return { ...choice, finishReason: finishReason(choice.finishReason ?? "", calledTools) };
  });
  return { ...result, choices };
}

/** Adapts the chunks of one stream; remembers which choices have called tools. */
export function chunkAdapter(): (chunk: ChatChunk) => ChatChunk {
  const calledTools = new Set<number>();
  return (chunk) => {
    const choices = chunk.choices.map((choice) => {
      const index = choice.index ?? 0;
      if ((choice.delta?.toolCalls?.length ?? 0) > 0) calledTools.add(index);
      const reason = choice.finishReason ?? "";
      return reason === "" ? choice : { ...choice, finishReason: finishReason(reason, calledTools.has(index)) };
    });
    return { ...chunk, choices };
  };
}

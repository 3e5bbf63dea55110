// Text completion over the Messages API: the prompt is sent as one user message (Anthropic's
// legacy /v1/complete API is retired).
import type { AnthropicConfig } from "./config";
import { create } from "@bufbuild/protobuf";
import { ChatMessageSchema } from "../../../gen/modelgate/v1/common_pb";
import type { CompleteChunk, CompleteResult, CompleteTranslator } from "../types";
import { PROVIDER, messagesPost } from "./config";
import { messagesBody } from "./messages-request";
import { readMessage } from "./messages-response";
import { type StreamMessage, type StreamPart, messagesStreamDecoder } from "./messages-stream";
import { singlePrompt } from "../portable-input";

function completeChunk(part: StreamPart, { id, model }: StreamMessage): CompleteChunk | undefined {
  // A completion has no role, so message_start has nothing to say; it sends no tools, so no
  // tool parts arrive.
  if (part.kind === "start" || part.kind === "tool_start" || part.kind === "tool_args") return undefined;
  const choice =
    part.kind === "text"
      ? { index: 0, text: part.text, finishReason: "" }
      : { index: 0, text: "", finishReason: part.finishReason };
  return { id, model, choices: [choice] };
}

export const anthropicComplete: CompleteTranslator<AnthropicConfig> = {
  request(params, target, stream) {
    const messages = [create(ChatMessageSchema, { role: "user", content: singlePrompt(PROVIDER, params) })];
    return messagesPost(target, messagesBody(target, messages, params, stream));
  },

  response(body): CompleteResult {
    const reply = readMessage(body);
    return {
      id: reply.id,
      model: reply.model,
      choices: [{ index: 0, text: reply.text, finishReason: reply.finishReason }],
      usage: reply.usage,
    };
  },

  streamDecoder: () => messagesStreamDecoder(completeChunk),
};

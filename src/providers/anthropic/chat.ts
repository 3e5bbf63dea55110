// Chat over the Messages API: text, images, tools and structured output.
import type { AnthropicConfig } from "./config";
import type { ChatChunk, ChatResult, ChatTranslator } from "../types";
import { chatDelta } from "../stream-parts";
import { PROVIDER, messagesPost } from "./config";
import { messagesBody } from "./messages-request";
import { readMessage } from "./messages-response";
import { type StreamMessage, type StreamPart, messagesStreamDecoder } from "./messages-stream";
import { toolFields } from "./tools";
import { portableMessages } from "../portable-input";

function chatChunk(part: StreamPart, { id, model }: StreamMessage): ChatChunk {
  const reason = part.kind === "finish" ? part.finishReason : "";
  return { id, model, choices: [{ index: 0, delta: chatDelta(part), finishReason: reason }] };
}

export const anthropicChat: ChatTranslator<AnthropicConfig> = {
  request(params, target, stream) {
    return messagesPost(target, messagesBody(target, portableMessages(PROVIDER, params.messages), params, stream, toolFields(params)));
  },

  response(body): ChatResult {
    const reply = readMessage(body);
    const message = { role: "assistant", content: reply.text, ...(reply.toolCalls.length > 0 && { toolCalls: reply.toolCalls }) };
    return {
      id: reply.id,
      model: reply.model,
      choices: [{ index: 0, message, finishReason: reply.finishReason }],
      usage: reply.usage,
    };
  },

  streamDecoder: () => messagesStreamDecoder(chatChunk),
};

// Chat over the Messages API.
import type { ChatChunk, ChatResult, ChatTranslator } from "../types";
import { messagesPost } from "./config";
import { messagesBody } from "./messages-request";
import { readMessage } from "./messages-response";
import { type StreamMessage, type StreamPart, messagesStreamDecoder } from "./messages-stream";

function chatChunk(part: StreamPart, { id, model }: StreamMessage): ChatChunk {
  const delta =
    part.kind === "start"
      ? { role: "assistant", content: "" }
      : { role: "", content: part.kind === "text" ? part.text : "" };
  const reason = part.kind === "finish" ? part.finishReason : "";
  return { id, model, choices: [{ index: 0, delta, finishReason: reason }] };
}

export const anthropicChat: ChatTranslator = {
  request(params, target, stream) {
    return messagesPost(target, messagesBody(target, params.messages, params, stream));
  },

  response(body): ChatResult {
    const reply = readMessage(body);
    return {
      id: reply.id,
      model: reply.model,
      choices: [{ index: 0, message: { role: "assistant", content: reply.text }, finishReason: reply.finishReason }],
      usage: reply.usage,
    };
  },

  streamDecoder: () => messagesStreamDecoder(chatChunk),
};

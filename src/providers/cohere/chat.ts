// Chat over POST {base}/v2/chat, unary or streamed (`stream: true`).
import type { CohereConfig } from "./config";
import type { ChatResult, ChatTranslator } from "../types";
import { coherePost } from "./config";
import { chatBody } from "./chat-request";
import { finishReason, read, readReply, readUsage } from "./chat-response";
import { cohereStreamDecoder } from "./chat-stream";

export const cohereChat: ChatTranslator<CohereConfig> = {
  request(params, target, stream) {
    return coherePost(target, "/v2/chat", chatBody(params, target.name, stream));
  },

  response(body): ChatResult {
    const root = read.object(body, "body");
    const reply = readReply(root.message, "message");
    const message = { role: "assistant", content: reply.text, ...(reply.toolCalls.length > 0 && { toolCalls: reply.toolCalls }) };
    return {
      id: read.string(root.id, "id"),
      // Cohere's answer does not name the model.
      model: "",
      choices: [{ index: 0, message, finishReason: finishReason(read.string(root.finish_reason, "finish_reason")) }],
      usage: readUsage(root.usage, "usage"),
    };
  },

  streamDecoder: cohereStreamDecoder,
};

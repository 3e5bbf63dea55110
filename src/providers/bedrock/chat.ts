// Chat over Converse / ConverseStream: text, images, tools and structured output.
import type { BedrockConfig } from "./config";
import type { ChatChunk, ChatResult, ChatTranslator } from "../types";
import { chatDelta } from "../stream-parts";
import { bedrockPost, modelPath } from "./config";
import { converseBody } from "./converse-request";
import { readConverse } from "./converse-response";
import { type StreamPart, converseStreamDecoder } from "./converse-stream";

// Converse names neither the answer nor the model (see converse-response.ts), so id and model stay "".
function chatChunk(part: StreamPart): ChatChunk {
  const reason = part.kind === "finish" ? part.finishReason : "";
  return { id: "", model: "", choices: [{ index: 0, delta: chatDelta(part), finishReason: reason }] };
}

export const bedrockChat: ChatTranslator<BedrockConfig> = {
  request(params, target, stream) {
    return bedrockPost(target, modelPath(target.name, stream ? "converse-stream" : "converse"), converseBody(params));
  },

  response(body): ChatResult {
    const reply = readConverse(body);
    const message = { role: "assistant", content: reply.text, ...(reply.toolCalls.length > 0 && { toolCalls: reply.toolCalls }) };
    return { id: "", model: "", choices: [{ index: 0, message, finishReason: reply.finishReason }], usage: reply.usage };
  },

  streamDecoder: () => converseStreamDecoder(chatChunk),
};

// Chat over generateContent / streamGenerateContent?alt=sse.
import type { GeminiConfig } from "./config";
import type { ChatResult, ChatTranslator } from "../types";
import { geminiPost } from "./config";
import { generateBody } from "./generate-request";
import { finishReason, promptBlockReason, read, readCandidate, readUsage } from "./generate-response";
import { geminiStreamDecoder } from "./generate-stream";

export const geminiChat: ChatTranslator<GeminiConfig> = {
  request(params, target, stream) {
    const method = stream ? "streamGenerateContent?alt=sse" : "generateContent";
    return geminiPost(target, method, generateBody(params, stream));
  },

  response(body): ChatResult {
    const root = read.object(body, "body");
    const candidates = root.candidates === undefined ? [] : read.array(root.candidates, "candidates");
    const choices = candidates.map((value, i) => {
      const candidate = readCandidate(value, `candidates[${i}]`);
      const message = {
        role: "assistant",
        content: candidate.text,
        ...(candidate.toolCalls.length > 0 && { toolCalls: candidate.toolCalls }),
      };
      return {
        index: candidate.index,
        message,
        finishReason: finishReason(candidate.finishReason, candidate.toolCalls.length > 0),
      };
    });
    // A blocked prompt gets no candidates, only promptFeedback.blockReason.
    if (choices.length === 0 && promptBlockReason(root) !== "") {
      choices.push({ index: 0, message: { role: "assistant", content: "" }, finishReason: "content_filter" });
    }
    return {
      id: root.responseId === undefined ? "" : read.string(root.responseId, "responseId"),
      model: root.modelVersion === undefined ? "" : read.string(root.modelVersion, "modelVersion"),
      choices,
      usage: root.usageMetadata === undefined ? undefined : readUsage(root.usageMetadata, "usageMetadata"),
    };
  },

  streamDecoder: geminiStreamDecoder,
};

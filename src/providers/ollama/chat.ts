// Chat over POST /api/chat. Streams are NDJSON: one line per token (message.content), a line
// per tool call (message.tool_calls, whole), and a last line with done: true and the counts.
import type { OllamaConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatChunk, ChatResult, ChatTranslator } from "../types";
import type { JsonRecord } from "../upstream-reader";
import { PROVIDER, ollamaPost } from "./config";
import { ollamaMessages } from "./messages";
import { applySampling, checkSupported, ownedKeys } from "./options";
import { readToolCalls, toolFields, toolOwnedKeys } from "./tools";
import { read, readAnswer, readFinishReason, readUsage, ollamaStreamDecoder } from "./wire";
import { portableMessages } from "../portable-input";

const owned = ownedKeys("messages", toolOwnedKeys);

/** Ollama says "stop" after tool calls too; our API (OpenAI's words) says "tool_calls". */
function chatFinishReason(root: JsonRecord, prefix: string, calledTools: boolean): string {
  const reason = readFinishReason(root, prefix);
  return calledTools && reason === "stop" ? "tool_calls" : reason;
}

export const ollamaChat: ChatTranslator<OllamaConfig> = {
  request(params, target, stream) {
    checkSupported(params);
    // `stream` is always sent: Ollama streams unless told not to.
    const body: JsonObject = { model: target.name, messages: ollamaMessages(portableMessages(PROVIDER, params.messages)), stream };
    Object.assign(body, toolFields(params));
    applySampling(body, params, owned);
    return ollamaPost(target, "/api/chat", body);
  },

  response(body): ChatResult {
    const root = readAnswer(body, "body");
    const message = read.object(root.message, "message");
    const createdAt = read.stringOrEmpty(root.created_at, "created_at");
    const toolCalls = readToolCalls(message.tool_calls, "message.tool_calls", createdAt);
    return {
      id: "",
      model: read.string(root.model, "model"),
      choices: [
        {
          index: 0,
          message: {
            role: read.string(message.role, "message.role"),
            content: read.stringOrEmpty(message.content, "message.content"),
            ...(toolCalls.length > 0 && { toolCalls }),
          },
          finishReason: chatFinishReason(root, "", toolCalls.length > 0),
        },
      ],
      usage: readUsage(root, ""),
    };
  },

  streamDecoder() {
    let started = false;
    let calls = 0;
    return ollamaStreamDecoder((line, done): ChatChunk[] => {
      const path = "stream line.message";
      // The last line may come without a message (older servers) or with an empty one.
      const message = line.message === undefined && done ? {} : read.object(line.message, path);
      const content = read.stringOrEmpty(message.content, `${path}.content`);
      const createdAt = read.stringOrEmpty(line.created_at, "stream line.created_at");
      const toolCalls = readToolCalls(message.tool_calls, `${path}.tool_calls`, createdAt, calls);
      calls += toolCalls.length;
      // Lines with nothing of ours (thinking tokens, an empty first token) are skipped.
      if (!done && content === "" && toolCalls.length === 0) return [];
      const role = started ? "" : "assistant";
      started = true;
      const finishReason = done ? chatFinishReason(line, "stream line.", calls > 0) : "";
      return [
        {
          id: "",
          model: read.string(line.model, "stream line.model"),
          choices: [{ index: 0, delta: { role, content, ...(toolCalls.length > 0 && { toolCalls }) }, finishReason }],
        },
      ];
    });
  },
};

// Chat: POST {base}/chat/completions, for OpenAI and every server that speaks its format.
import type { ChatTranslator } from "../types";
import { openaiMessages } from "./chat-messages";
import { chatChunkReader, readChatResponse } from "./chat-response";
import { chatOwnedKeys, toolFields } from "./chat-tools";
import type { OpenAIDialect } from "./dialect";
import { openaiPost, ownedKeys, samplingBody } from "./sampling";
import { openaiWire } from "./wire";

export function openaiChatTranslator(dialect: OpenAIDialect): ChatTranslator {
  const wire = openaiWire(dialect.provider);
  const owned = ownedKeys(dialect, "messages", chatOwnedKeys);
  return {
    request(params, target, stream) {
      const input = {
        model: target.name,
        messages: openaiMessages(dialect, params.messages),
        ...toolFields(dialect, params),
      };
      return openaiPost(dialect, target, "/chat/completions", samplingBody(dialect, input, params, stream, owned));
    },
    response: (body) => readChatResponse(wire, body),
    streamDecoder: () => wire.streamDecoder(chatChunkReader(wire)),
  };
}

// Chat: POST {base}/chat/completions.
import type { ChatChunk, ChatResult, ChatTranslator } from "../types";
import { openaiPost } from "./config";
import { samplingBody } from "./sampling";
import { openaiStreamDecoder, read, readBody, readOptionalUsage } from "./wire";

export const openaiChat: ChatTranslator = {
  request(params, target, stream) {
    const messages = params.messages.map(({ role, content }) => ({ role, content }));
    const body = samplingBody({ model: target.name, messages }, "messages", params, stream);
    return openaiPost(target, "/chat/completions", body);
  },

  response(body): ChatResult {
    const root = readBody(body);
    return {
      id: read.string(root.id, "id"),
      model: read.string(root.model, "model"),
      choices: read.array(root.choices, "choices").map((value, i) => {
        const path = `choices[${i}]`;
        const choice = read.object(value, path);
        const message = read.object(choice.message, `${path}.message`);
        return {
          index: read.count(choice.index, `${path}.index`),
          message: {
            role: read.string(message.role, `${path}.message.role`),
            // null when the model only called tools or refused
            content: read.stringOrEmpty(message.content, `${path}.message.content`),
          },
          finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
        };
      }),
      usage: readOptionalUsage(root.usage, "usage"),
    };
  },

  streamDecoder() {
    return openaiStreamDecoder(
      (event, choices): ChatChunk => ({
        id: read.string(event.id, "stream event.id"),
        model: read.string(event.model, "stream event.model"),
        choices: choices.map((value, i) => {
          const path = `stream event.choices[${i}]`;
          const choice = read.object(value, path);
          // the closing chunk carries `delta: {}`
          const delta = read.object(choice.delta ?? {}, `${path}.delta`);
          return {
            index: read.count(choice.index, `${path}.index`),
            delta: {
              role: read.stringOrEmpty(delta.role, `${path}.delta.role`),
              content: read.stringOrEmpty(delta.content, `${path}.delta.content`),
            },
            finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
          };
        }),
      }),
    );
  },
};

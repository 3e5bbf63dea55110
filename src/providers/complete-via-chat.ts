// Text completions for providers that only have a chat API (Gemini, Cohere, Mistral, Groq, …):
// the prompt is sent as one user message and the answer's text is the completion, as MLflow's
// gateway does for these providers. Derived once per provider from its chat translator.
import { create } from "@bufbuild/protobuf";
import { ChatMessageSchema } from "../../gen/modelgate/v1/common_pb";
import type { ChatTranslator, CompleteChunk, CompleteTranslator } from "./types";

export function completeViaChat(chat: ChatTranslator): CompleteTranslator {
  return {
    request: (params, target, stream) =>
      chat.request({ ...params, messages: [create(ChatMessageSchema, { role: "user", content: params.prompt })], tools: [] }, target, stream),
    response(body) {
      const r = chat.response(body);
      return {
        id: r.id,
        model: r.model,
        usage: r.usage,
        choices: r.choices.map((c) => ({ index: c.index, text: c.message?.content ?? "", finishReason: c.finishReason ?? "" })),
      };
    },
    streamDecoder() {
      const decoder = chat.streamDecoder();
      return {
        framing: decoder.framing,
        get done() {
          return decoder.done;
        },
        usage: () => decoder.usage(),
        push(event) {
          const out: CompleteChunk[] = [];
          for (const chunk of decoder.push(event)) {
            const choices = chunk.choices
              .map((c) => ({ index: c.index ?? 0, text: c.delta?.content ?? "", finishReason: c.finishReason ?? "" }))
              .filter((c) => c.text !== "" || c.finishReason !== "");
            if (choices.length > 0 || chunk.usage) out.push({ id: chunk.id, model: chunk.model, choices, usage: chunk.usage });
          }
          return out;
        },
      };
    },
  };
}

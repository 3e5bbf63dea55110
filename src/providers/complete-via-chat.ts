// Text completions for providers that only have a chat API (Gemini, Cohere, Mistral, Groq, …):
// the prompt is sent as one user message and the answer's text is the completion, as MLflow's
// gateway does for these providers. Derived once per provider from its chat translator.
import { create } from "@bufbuild/protobuf";
import { ChatMessageSchema } from "../../gen/modelgate/v1/common_pb";
import { singlePrompt } from "./portable-input";
import type { ChatTranslator, CompleteChunk, CompleteTranslator } from "./types";

/** A refusal is what the model said instead of an answer: as a completion, it is the text. */
const textOf = (m: { content?: string; refusal?: string } | undefined) => m?.content || m?.refusal || "";

export function completeViaChat(chat: ChatTranslator, provider: string): CompleteTranslator {
  return {
    request: (params, target, stream) =>
      chat.request(
        { ...params, messages: [create(ChatMessageSchema, { role: "user", content: singlePrompt(provider, params) })], tools: [] },
        target,
        stream,
      ),
    response(body) {
      const r = chat.response(body);
      return {
        id: r.id,
        model: r.model,
        usage: r.usage,
        ...(r.created === undefined ? {} : { created: r.created }),
        ...(r.systemFingerprint === undefined ? {} : { systemFingerprint: r.systemFingerprint }),
        choices: r.choices.map((c) => ({ index: c.index, text: textOf(c.message), finishReason: c.finishReason ?? "" })),
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
              .map((c) => ({ index: c.index ?? 0, text: textOf(c.delta), finishReason: c.finishReason ?? "" }))
              .filter((c) => c.text !== "" || c.finishReason !== "");
            if (choices.length > 0 || chunk.usage) {
              const meta = {
                ...(chunk.created === undefined ? {} : { created: chunk.created }),
                ...(chunk.systemFingerprint === undefined ? {} : { systemFingerprint: chunk.systemFingerprint }),
              };
              out.push({ id: chunk.id, model: chunk.model, choices, usage: chunk.usage, ...meta });
            }
          }
          return out;
        },
      };
    },
  };
}

// Legacy text completions: POST {base}/completions (still what vLLM and instruct models serve).
import type { CompleteResult, CompleteTranslator } from "../types";
import type { OpenAIDialect } from "./dialect";
import { openaiPost, ownedKeys, samplingBody } from "./sampling";
import { type OpenAIWire, openaiWire } from "./wire";

function readChoices(wire: OpenAIWire, values: unknown[], prefix: string): CompleteResult["choices"] {
  const { read } = wire;
  return values.map((value, i) => {
    const path = `${prefix}[${i}]`;
    const choice = read.object(value, path);
    return {
      index: read.count(choice.index, `${path}.index`),
      text: read.string(choice.text, `${path}.text`),
      finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
    };
  });
}

export function openaiCompleteTranslator(dialect: OpenAIDialect): CompleteTranslator {
  const wire = openaiWire(dialect.provider);
  const { read } = wire;
  const owned = ownedKeys(dialect, "prompt");
  return {
    request(params, target, stream) {
      const body = samplingBody(dialect, { model: target.name, prompt: params.prompt }, params, stream, owned);
      return openaiPost(dialect, target, "/completions", body);
    },

    response(body): CompleteResult {
      const root = wire.readBody(body);
      return {
        id: read.string(root.id, "id"),
        model: read.string(root.model, "model"),
        choices: readChoices(wire, read.array(root.choices, "choices"), "choices"),
        usage: wire.readOptionalUsage(root.usage, "usage"),
      };
    },

    streamDecoder() {
      return wire.streamDecoder((event, choices) => ({
        id: read.string(event.id, "stream event.id"),
        model: read.string(event.model, "stream event.model"),
        choices: readChoices(wire, choices, "stream event.choices"),
      }));
    },
  };
}

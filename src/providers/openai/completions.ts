// Legacy text completions: POST {base}/completions (still what vLLM and instruct models serve).
import type { CompleteChunk, CompleteResult, CompleteTranslator } from "../types";
import { openaiPost } from "./config";
import { samplingBody } from "./sampling";
import { openaiStreamDecoder, read, readBody, readOptionalUsage } from "./wire";

function readChoices(values: unknown[], prefix: string): CompleteResult["choices"] {
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

export const openaiComplete: CompleteTranslator = {
  request(params, target, stream) {
    const body = samplingBody({ model: target.name, prompt: params.prompt }, "prompt", params, stream);
    return openaiPost(target, "/completions", body);
  },

  response(body): CompleteResult {
    const root = readBody(body);
    return {
      id: read.string(root.id, "id"),
      model: read.string(root.model, "model"),
      choices: readChoices(read.array(root.choices, "choices"), "choices"),
      usage: readOptionalUsage(root.usage, "usage"),
    };
  },

  streamDecoder() {
    return openaiStreamDecoder(
      (event, choices): CompleteChunk => ({
        id: read.string(event.id, "stream event.id"),
        model: read.string(event.model, "stream event.model"),
        choices: readChoices(choices, "stream event.choices"),
      }),
    );
  },
};

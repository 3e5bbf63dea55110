// Text completion over POST /api/generate: the prompt goes through the model's template unless
// extras set `raw: true`. Streams are NDJSON lines of `response` text, the last with done: true.
import type { OllamaConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import type { CompleteChunk, CompleteResult, CompleteTranslator } from "../types";
import { PROVIDER, ollamaPost } from "./config";
import { applySampling, checkSupported, ownedKeys } from "./options";
import { read, readAnswer, readFinishReason, readUsage, ollamaStreamDecoder } from "./wire";
import { singlePrompt } from "../portable-input";

// `format`, `images`, `system`, `suffix`, `raw`, `keep_alive` ... have no typed field here and
// pass as extras.
const owned = ownedKeys("prompt");

export const ollamaComplete: CompleteTranslator<OllamaConfig> = {
  request(params, target, stream) {
    checkSupported(params);
    const body: JsonObject = { model: target.name, prompt: singlePrompt(PROVIDER, params), stream };
    applySampling(body, params, owned);
    return ollamaPost(target, "/api/generate", body);
  },

  response(body): CompleteResult {
    const root = readAnswer(body, "body");
    return {
      id: "",
      model: read.string(root.model, "model"),
      choices: [{ index: 0, text: read.string(root.response, "response"), finishReason: readFinishReason(root, "") }],
      usage: readUsage(root, ""),
    };
  },

  streamDecoder() {
    return ollamaStreamDecoder((line, done): CompleteChunk[] => {
      const text = read.stringOrEmpty(line.response, "stream line.response");
      if (!done && text === "") return [];
      const finishReason = done ? readFinishReason(line, "stream line.") : "";
      return [{ id: "", model: read.string(line.model, "stream line.model"), choices: [{ index: 0, text, finishReason }] }];
    });
  },
};

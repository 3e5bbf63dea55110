// Embeddings over POST /api/embed: `input` is a list, `embeddings` one vector per input in
// order, `prompt_eval_count` the tokens read (ollama/ollama docs/api.md "Generate Embeddings").
import type { OllamaConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import { mergeExtras } from "../request-builder";
import type { EmbedResult, EmbedTranslator } from "../types";
import { tokenUsage } from "../usage";
import { PROVIDER, ollamaPost } from "./config";
import { checkSupported, ownedKeys } from "./options";
import { read, readAnswer } from "./wire";
import { textInputs } from "../portable-input";

// `truncate`, `dimensions`, `keep_alive` and `options` pass as extras.
const owned = ownedKeys("input");

export const ollamaEmbed: EmbedTranslator<OllamaConfig> = {
  request(params, target) {
    checkSupported(params);
    const body: JsonObject = { model: target.name, input: textInputs(PROVIDER, params) };
    mergeExtras(PROVIDER, body, params.extras, owned);
    return ollamaPost(target, "/api/embed", body);
  },

  response(body): EmbedResult {
    const root = readAnswer(body, "body");
    const data = read.array(root.embeddings, "embeddings").map((value, i) => {
      const path = `embeddings[${i}]`;
      return { index: i, values: read.array(value, path).map((x, j) => read.number(x, `${path}[${j}]`)) };
    });
    const promptTokens = read.countOrZero(root.prompt_eval_count, "prompt_eval_count");
    return { model: read.string(root.model, "model"), data, usage: tokenUsage(promptTokens, 0) };
  },
};

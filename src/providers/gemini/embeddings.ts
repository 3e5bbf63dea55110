// Embeddings: POST {base}/models/{model}:batchEmbedContents
// (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents): one
// EmbedContentRequest per input, answered by `embeddings[].values` in input order.
import type { GeminiConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { mergeExtras } from "../request-builder";
import type { EmbedResult, EmbedTranslator } from "../types";
import { PROVIDER, geminiPost, modelResource } from "./config";
import { read, readUsage } from "./generate-response";
import { textInputs } from "../portable-input";

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["content", "the gateway sets it from inputs"],
]);

export const geminiEmbed: EmbedTranslator<GeminiConfig> = {
  request(params, target) {
    if (params.user !== "") throw invalidArgument(`${PROVIDER} has no end-user field; leave user unset`);
    const model = modelResource(target.name);
    // Extras (taskType, title, outputDimensionality) are EmbedContentRequest fields: they
    // apply to every input.
    const requests = textInputs(PROVIDER, params).map((text) => {
      const request: JsonObject = { model, content: { parts: [{ text }] } };
      mergeExtras(PROVIDER, request, params.extras, ownedKeys);
      return request;
    });
    return geminiPost(target, "batchEmbedContents", { requests });
  },

  response(body): EmbedResult {
    const root = read.object(body, "body");
    const data = read.array(root.embeddings, "embeddings").map((value, index) => {
      const path = `embeddings[${index}]`;
      const vector = read.array(read.object(value, path).values, `${path}.values`);
      return { index, values: vector.map((x, j) => read.number(x, `${path}.values[${j}]`)) };
    });
    // The answer names no model and, on the Gemini API, reports no token usage.
    const usage = root.usageMetadata === undefined ? undefined : readUsage(root.usageMetadata, "usageMetadata");
    return { model: "", data, usage };
  },
};

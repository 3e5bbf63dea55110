// Embeddings: POST {base}/embeddings.
import type { JsonObject } from "@bufbuild/protobuf";
import { mergeExtras } from "../request-builder";
import type { EmbedResult, EmbedTranslator } from "../types";
import { PROVIDER, openaiPost } from "./config";
import { read, readBody, readOptionalUsage } from "./wire";

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["input", "the gateway sets it from inputs"],
  ["user", "use the user field instead"],
  // base64 vectors would not fit our repeated float field
  ["encoding_format", "the gateway always asks for float vectors"],
]);

export const openaiEmbed: EmbedTranslator = {
  request(params, target) {
    const body: JsonObject = { model: target.name, input: params.inputs };
    if (params.user !== "") body.user = params.user;
    mergeExtras(PROVIDER, body, params.extras, ownedKeys);
    return openaiPost(target, "/embeddings", body);
  },

  response(body): EmbedResult {
    const root = readBody(body);
    const data = read.array(root.data, "data").map((value, i) => {
      const path = `data[${i}]`;
      const item = read.object(value, path);
      const vector = read.array(item.embedding, `${path}.embedding`);
      return {
        index: read.count(item.index, `${path}.index`),
        values: vector.map((x, j) => read.number(x, `${path}.embedding[${j}]`)),
      };
    });
    // The API documents no order for `data`; callers match vectors to inputs by position.
    data.sort((a, b) => a.index - b.index);
    return { model: read.string(root.model, "model"), data, usage: readOptionalUsage(root.usage, "usage") };
  },
};

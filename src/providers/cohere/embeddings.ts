// Embeddings: POST {base}/v2/embed (https://docs.cohere.com/v2/reference/embed) with float
// vectors asked for by type, answered as `embeddings.float[]` in input order.
import type { CohereConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { mergeExtras } from "../request-builder";
import type { EmbedResult, EmbedTranslator } from "../types";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER, coherePost } from "./config";
import { read } from "./chat-response";
import { textInputs } from "../portable-input";

/** v2 requires input_type; documents are the common case, and extras.input_type overrides it. */
export const DEFAULT_INPUT_TYPE = "search_document";

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["texts", "the gateway sets it from inputs"],
  ["images", "the gateway embeds texts only"],
  ["inputs", "the gateway sets texts from inputs"],
  // int8 / binary vectors would not fit our repeated float field
  ["embedding_types", "the gateway always asks for float vectors"],
]);

export const cohereEmbed: EmbedTranslator<CohereConfig> = {
  request(params, target) {
    if (params.user !== "") throw invalidArgument(`${PROVIDER} has no end-user field; leave user unset`);
    const body: JsonObject = {
      model: target.name,
      texts: textInputs(PROVIDER, params),
      input_type: DEFAULT_INPUT_TYPE,
      embedding_types: ["float"],
    };
    mergeExtras(PROVIDER, body, params.extras, ownedKeys);
    return coherePost(target, "/v2/embed", body);
  },

  response(body): EmbedResult {
    const root = read.object(body, "body");
    const vectors = read.array(read.object(root.embeddings, "embeddings").float, "embeddings.float");
    const data = vectors.map((value, index) => ({
      index,
      values: read.array(value, `embeddings.float[${index}]`).map((x, j) => read.number(x, `embeddings.float[${index}][${j}]`)),
    }));
    // meta.billed_units.input_tokens: what the call is charged for
    let usage: UsageInit | undefined;
    if (root.meta !== undefined && root.meta !== null) {
      const billed = read.object(root.meta, "meta").billed_units;
      if (billed !== undefined && billed !== null) {
        usage = tokenUsage(read.countOrZero(read.object(billed, "meta.billed_units").input_tokens, "meta.billed_units.input_tokens"), 0);
      }
    }
    // The answer does not name the model.
    return { model: "", data, usage };
  },
};

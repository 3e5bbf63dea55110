// Embeddings over InvokeModel (POST /model/{modelId}/invoke), whose body is the model's own:
//   Amazon Titan text (amazon.titan-embed-text-v1 / -v2:0, amazon.titan-embed-g1-text-02):
//     {inputText, dimensions?, normalize?} -> {embedding: [...], inputTextTokenCount}
//     https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html
//   Cohere Embed (cohere.embed-english-v3, cohere.embed-multilingual-v3, cohere.embed-v4:0):
//     {texts, input_type, truncate?, output_dimension?} -> {embeddings: [[...]] | {float: [[...]]}, id, texts}
//     https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html
// The family is chosen by the model id (ARNs and cross-region profile ids such as
// us.cohere.embed-v4:0 included). Titan embeds one text per call, and one gateway call is one
// upstream request, so Titan endpoints take one input per call: several inputs are refused
// rather than sent one by one behind the caller's back (N requests, N times the rate limit).
import type { BedrockConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { mergeExtras } from "../request-builder";
import type { EmbedResult, EmbedTranslator } from "../types";
import { tokenUsage } from "../usage";
import { PROVIDER, bedrockPost, modelPath } from "./config";
import { read } from "./converse-response";
import { textInputs } from "../portable-input";

type Family = "titan" | "cohere";

/** The model's family from its id, an inference profile id (us.cohere...) or an ARN. */
function familyOf(modelId: string): Family {
  const id = modelId.slice(modelId.lastIndexOf("/") + 1);
  const match = /^(?:[a-z-]+\.)?(amazon\.titan-embed|cohere\.embed)/.exec(id);
  if (match?.[1] === "amazon.titan-embed") return "titan";
  if (match?.[1] === "cohere.embed") return "cohere";
  throw invalidArgument(
    `${PROVIDER}: embeddings need an Amazon Titan (amazon.titan-embed-*) or Cohere (cohere.embed-*) model; "${modelId}" is neither`,
  );
}

const titanOwned: ReadonlyMap<string, string> = new Map([
  ["inputText", "the gateway sets it from inputs"],
  // binary vectors would not fit our repeated float field
  ["embeddingTypes", "the gateway always asks for float vectors"],
]);

const cohereOwned: ReadonlyMap<string, string> = new Map([
  ["texts", "the gateway sets it from inputs"],
  ["images", "the embeddings API takes text inputs"],
  ["embedding_types", "the gateway always asks for float vectors"],
]);

function titanBody(inputs: string[], extras: JsonObject | undefined): JsonObject {
  if (inputs.length !== 1) {
    throw invalidArgument(
      `${PROVIDER}: Titan embedding models take one input per call, got ${inputs.length}; send one input per request, or use a Cohere embed model for batches`,
    );
  }
  const body: JsonObject = { inputText: inputs[0]! };
  mergeExtras(PROVIDER, body, extras, titanOwned);
  return body;
}

function cohereBody(inputs: string[], extras: JsonObject | undefined): JsonObject {
  // Cohere v3+ requires input_type; documents are the common case, extras.input_type overrides
  // (search_query, classification, clustering).
  const body: JsonObject = { texts: inputs, input_type: "search_document" };
  mergeExtras(PROVIDER, body, extras, cohereOwned);
  return body;
}

function vectors(value: unknown, path: string): number[][] {
  return read.array(value, path).map((vector, i) =>
    read.array(vector, `${path}[${i}]`).map((x, j) => read.number(x, `${path}[${i}][${j}]`)),
  );
}

export const bedrockEmbed: EmbedTranslator<BedrockConfig> = {
  request(params, target) {
    if (params.user !== "") {
      throw invalidArgument(`${PROVIDER}: user is not supported for embeddings (InvokeModel has no end-user field); leave it unset`);
    }
    const body =
      familyOf(target.name) === "titan" ? titanBody(textInputs(PROVIDER, params), params.extras) : cohereBody(textInputs(PROVIDER, params), params.extras);
    return bedrockPost(target, modelPath(target.name, "invoke"), body);
  },

  // The body tells the family apart: Titan answers `embedding`, Cohere `embeddings`.
  response(body): EmbedResult {
    const root = read.object(body, "body");
    if (root.embedding !== undefined) {
      const values = vectors([root.embedding], "embedding")[0]!;
      const tokens = read.count(root.inputTextTokenCount, "inputTextTokenCount");
      return { model: "", data: [{ index: 0, values }], usage: tokenUsage(tokens, 0) };
    }
    // embeddings_floats: an array of vectors; embeddings_by_type (v4, or embedding_types set): {float: [...]}
    const embeddings = Array.isArray(root.embeddings) ? root.embeddings : read.object(root.embeddings, "embeddings").float;
    const path = Array.isArray(root.embeddings) ? "embeddings" : "embeddings.float";
    // Cohere on Bedrock reports no token counts in the body (only in a response header).
    return { model: "", data: vectors(embeddings, path).map((values, index) => ({ index, values })) };
  },
};

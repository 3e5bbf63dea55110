// Embeddings: POST {base}/embeddings.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { textInputs } from "../portable-input";
import { mergeExtras } from "../request-builder";
import type { EmbedParams, EmbedResult, EmbedTranslator } from "../types";
import type { OpenAIDialect } from "./dialect";
import { openaiPost } from "./sampling";
import { openaiWire } from "./wire";

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["input", "the gateway sets it from inputs"],
  ["user", "use the user field instead"],
  // the gateway reads float vectors, and encodes base64 itself when the client asks for it
  ["encoding_format", "the gateway always asks for float vectors"],
]);

/** `input`: the texts, or the token ids (flat for one input, nested for several) where the server takes them. */
function inputOf(dialect: OpenAIDialect, params: EmbedParams): JsonValue {
  const tokenInputs = params.tokenInputs ?? [];
  if (tokenInputs.length === 0 || !dialect.capabilities.tokenInputs) return textInputs(dialect.provider, params);
  if (params.inputs.length > 0) throw invalidArgument(`${dialect.provider}: token_inputs: send either texts or token ids, not both`);
  const lists = tokenInputs.map((t) => [...t.ids]);
  return lists.length === 1 ? lists[0]! : lists;
}

export function openaiEmbedTranslator(dialect: OpenAIDialect): EmbedTranslator {
  const wire = openaiWire(dialect.provider);
  const { read } = wire;
  return {
    request(params, target) {
      const body: JsonObject = { model: target.name, input: inputOf(dialect, params) };
      if (params.user !== "") {
        if (!dialect.capabilities.user) throw invalidArgument(`${dialect.provider}: user is not supported`);
        body.user = params.user;
      }
      mergeExtras(dialect.provider, body, params.extras, ownedKeys);
      return openaiPost(dialect, target, "/embeddings", body);
    },

    response(body): EmbedResult {
      const root = wire.readBody(body);
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
      return { model: read.string(root.model, "model"), data, usage: wire.readOptionalUsage(root.usage, "usage") };
    },
  };
}

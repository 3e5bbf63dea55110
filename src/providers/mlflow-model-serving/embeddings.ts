// Embeddings from a model behind an MLflow scoring server, as MLflow AI Gateway does it:
// `{"inputs": [text, ...]}` (plus "params" when there are extras), one vector per input back.
import type { MlflowConfig } from "./config";
import type { JsonObject } from "@bufbuild/protobuf";
import type { EmbedResult, EmbedTranslator } from "../types";
import { embedParams, invocationsRequest } from "./invocations";
import { readVectors } from "./predictions";
import { textInputs } from "../portable-input";
import { PROVIDER } from "./config";

export const mlflowEmbed: EmbedTranslator<MlflowConfig> = {
  request(params, target) {
    const body: JsonObject = { inputs: textInputs(PROVIDER, params) };
    const extra = embedParams(params.user, params.extras);
    if (extra !== undefined) body.params = extra;
    return invocationsRequest(target, body);
  },

  /** No model in the answer: the model client fills it from the endpoint. */
  response(body): EmbedResult {
    return { model: "", data: readVectors(body).map((values, index) => ({ index, values })) };
  },
};

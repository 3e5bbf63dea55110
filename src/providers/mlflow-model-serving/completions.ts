// Text completions from an LLM behind an MLflow scoring server, as MLflow AI Gateway does it:
// `{"inputs": [prompt], "params": {...}}`, each prediction string a choice, no token usage.
import type { MlflowConfig } from "./config";
import type { CompleteResult, CompleteTranslator } from "../types";
import { invocationsRequest, notStreamable, samplingParams } from "./invocations";
import { readTexts } from "./predictions";
import { singlePrompt } from "../portable-input";
import { PROVIDER } from "./config";

export const mlflowComplete: CompleteTranslator<MlflowConfig> = {
  request(params, target, stream) {
    if (stream) notStreamable("Complete", "StreamComplete");
    return invocationsRequest(target, { inputs: [singlePrompt(PROVIDER, params)], params: samplingParams(params) });
  },

  /** No id and no model in the answer: the model client fills the model from the endpoint. */
  response(body): CompleteResult {
    return { id: "", model: "", choices: readTexts(body).map((text, index) => ({ index, text, finishReason: "" })) };
  },

  streamDecoder() {
    return notStreamable("Complete", "StreamComplete");
  },
};

// The one request every MLflow endpoint type sends: POST {model_server_url}/invocations. For
// LLM endpoints the body is what MLflow AI Gateway's MlflowModelServingProvider sends
// (mlflow/gateway/providers/mlflow.py, `_process_payload`): the input list under "inputs" and
// every other request field, unchanged in name, under "params".
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { checkSamplingExtras } from "../extras";
import { joinUrl, mergeExtras, seedToNumber, setIfDefined } from "../request-builder";
import type { ModelTarget, SamplingParams } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";
import { PROVIDER, type MlflowConfig } from "./config";

export function invocationsRequest(target: ModelTarget<MlflowConfig>, body: JsonObject): UpstreamRequest {
  const config = target.config;
  return {
    method: "POST",
    url: joinUrl(config.model_server_url, "/invocations"),
    headers: { "content-type": "application/json" },
    body,
  };
}

/** The params an extra may not set, with what to do instead. */
const samplingKeys: ReadonlyMap<string, string> = new Map([
  ["temperature", "use the temperature field instead"],
  ["top_p", "use the top_p field instead"],
  ["max_tokens", "use the max_tokens field instead"],
  ["stop", "use the stop field instead"],
  ["n", "use the n field instead"],
  ["seed", "use the seed field instead"],
  ["user", "use the user field instead"],
  ["stream", `${PROVIDER} does not stream`],
]);

/**
 * `params` for chat and completions. MLflow's request schema defaults `n` to 1 and drops unset
 * fields, so a bare request sends `{"n": 1}` (tests/gateway/providers/test_mlflow.py, test_chat);
 * extra request fields travel on as further params, which is what `extras` are here.
 */
export function samplingParams(params: SamplingParams): JsonObject {
  const out: JsonObject = {};
  setIfDefined(out, "temperature", params.temperature);
  setIfDefined(out, "top_p", params.topP);
  setIfDefined(out, "max_tokens", params.maxTokens);
  if (params.stop.length > 0) out.stop = params.stop;
  out.n = params.n ?? 1;
  if (params.seed !== undefined) out.seed = seedToNumber(params.seed);
  if (params.user !== "") out.user = params.user;
  checkSamplingExtras(PROVIDER, params.extras, { owned: samplingKeys });
  mergeExtras(PROVIDER, out, params.extras, samplingKeys);
  return out;
}

/** `params` for embeddings: the user and the extras; no key at all when there are none. */
export function embedParams(user: string, extras: JsonObject | undefined): JsonObject | undefined {
  const out: JsonObject = {};
  if (user !== "") out.user = user;
  mergeExtras(PROVIDER, out, extras, new Map([["user", "use the user field instead"]]));
  return Object.keys(out).length > 0 ? out : undefined;
}

/** MLflow AI Gateway answers a stream request for this provider with HTTP 501; so do we, as a bad request. */
export function notStreamable(unary: string, streaming: string): never {
  throw invalidArgument(
    `${PROVIDER} does not stream (a model behind an MLflow scoring server answers in one piece); ` +
      `call ${unary} instead of ${streaming} (on the REST surfaces: send "stream": false)`,
  );
}

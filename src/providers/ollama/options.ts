// The sampling params as Ollama's `options` (Modelfile parameter names), the features Ollama
// lacks, and the extras: top-level keys (keep_alive, think, raw ...) plus an `options` object
// whose keys join the model options (num_ctx, top_k, repeat_penalty ...).
// Parameter names: ollama/ollama docs/modelfile.md ("Valid Parameters and Values").
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { checkSamplingExtras } from "../extras";
import { mergeExtras, seedToNumber, setIfDefined } from "../request-builder";
import type { SamplingParams } from "../types";
import { isRecord } from "../upstream-reader";
import { PROVIDER } from "./config";

/** Option keys the typed fields own. */
const ownedOptions: ReadonlyMap<string, string> = new Map([
  ["temperature", "use the temperature field instead"],
  ["top_p", "use the top_p field instead"],
  ["num_predict", "use the max_tokens field instead"],
  ["stop", "use the stop field instead"],
  ["seed", "use the seed field instead"],
]);

/** Top-level keys every Ollama call writes itself. */
export function ownedKeys(inputKey: string, more: readonly (readonly [string, string])[] = []): ReadonlyMap<string, string> {
  return new Map([
    ["model", "the endpoint's model is used"],
    [inputKey, "the gateway sets it from the request"],
    ["stream", "call the streaming method instead"],
    ...more,
  ]);
}

/** Refuses what Ollama cannot do rather than answering something else. */
export function checkSupported(params: Pick<SamplingParams, "n" | "user">): void {
  if (params.n !== undefined && params.n > 1) {
    throw invalidArgument(`${PROVIDER} does not support n > 1 (it returns one answer per request)`);
  }
  if (params.user !== "") {
    throw invalidArgument(`${PROVIDER} does not support user (it has no end-user field); leave it unset`);
  }
}

/**
 * Writes the typed params and the extras into `body`: sampling params under `options` (left
 * out when empty), extras at the top level, `extras.options` merged into `options`.
 */
export function applySampling(body: JsonObject, params: SamplingParams, owned: ReadonlyMap<string, string>): void {
  const options: JsonObject = {};
  setIfDefined(options, "temperature", params.temperature);
  setIfDefined(options, "top_p", params.topP);
  setIfDefined(options, "num_predict", params.maxTokens);
  if (params.stop.length > 0) options.stop = params.stop;
  if (params.seed !== undefined) options.seed = seedToNumber(params.seed);
  checkSamplingExtras(PROVIDER, params.extras, { owned, nested: { options: ownedOptions } });
  const { options: extraOptions, ...topLevel } = params.extras ?? {};
  mergeExtras(PROVIDER, body, topLevel, owned);
  if (extraOptions !== undefined) mergeOptions(options, extraOptions);
  if (Object.keys(options).length > 0) body.options = options;
}

function mergeOptions(options: JsonObject, extra: JsonValue): void {
  if (!isRecord(extra)) throw invalidArgument(`${PROVIDER}: extras.options must be an object of model options`);
  for (const [key, value] of Object.entries(extra)) {
    const instead = ownedOptions.get(key);
    if (instead !== undefined) throw invalidArgument(`${PROVIDER}: extras.options.${key} is not allowed: ${instead}`);
    options[key] = value as JsonValue;
  }
}

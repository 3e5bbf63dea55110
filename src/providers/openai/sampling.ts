// The request fields chat and completions share: model, sampling params, extras, streaming.
import type { JsonObject } from "@bufbuild/protobuf";
import { mergeExtras, seedToNumber, setIfDefined } from "../request-builder";
import type { SamplingParams } from "../types";
import { PROVIDER } from "./config";

const typedFields: [wire: string, field: string][] = [
  ["temperature", "temperature"],
  ["top_p", "top_p"],
  ["max_tokens", "max_tokens"],
  ["stop", "stop"],
  ["n", "n"],
  ["seed", "seed"],
  ["user", "user"],
];

/** Keys an extra may not set, with what to do instead; `inputKey` is `messages` or `prompt`. */
export function ownedKeys(inputKey: string): ReadonlyMap<string, string> {
  return new Map([
    ["model", "the endpoint's model is used"],
    [inputKey, "the gateway sets it from the request"],
    ["stream", "call the streaming method instead"],
    ["stream_options", "the gateway always asks for usage on streams"],
    ...typedFields.map(([wire, field]): [string, string] => [wire, `use the ${field} field instead`]),
  ]);
}

/**
 * Builds the body: `input` holds the model and the messages or prompt, then the typed params,
 * then the extras. Streams always ask for the usage chunk, because usage is billed from it.
 */
export function samplingBody(
  input: JsonObject,
  inputKey: string,
  params: SamplingParams,
  stream: boolean,
): JsonObject {
  const body: JsonObject = { ...input };
  setIfDefined(body, "temperature", params.temperature);
  setIfDefined(body, "top_p", params.topP);
  setIfDefined(body, "max_tokens", params.maxTokens);
  if (params.stop.length > 0) body.stop = params.stop;
  setIfDefined(body, "n", params.n);
  if (params.seed !== undefined) body.seed = seedToNumber(params.seed);
  if (params.user !== "") body.user = params.user;
  mergeExtras(PROVIDER, body, params.extras, ownedKeys(inputKey));
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  return body;
}

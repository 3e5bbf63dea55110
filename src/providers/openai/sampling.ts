// The request fields chat and completions share: model, sampling params, extras, streaming,
// and the envelope every OpenAI-format call shares.
import type { JsonObject } from "@bufbuild/protobuf";
import { MaxTokensField } from "../../../gen/modelgate/v1/chat_pb";
import { invalidArgument } from "../../errors";
import { checkSamplingExtras } from "../extras";
import { mergeExtras, seedToNumber, setIfDefined } from "../request-builder";
import type { ModelTarget, SamplingParams } from "../types";
import type { UpstreamRequest } from "../../upstream/wire";
import type { OpenAIDialect, OpenAIPath } from "./dialect";

/**
 * Keys an extra may not set, with what to do instead: the structural ones, the typed params
 * (under their wire names), `more` (chat's tools and response_format), and the extras the
 * server is known to refuse. `inputKey` is `messages` or `prompt`.
 */
export function ownedKeys(
  dialect: OpenAIDialect,
  inputKey: string,
  more: readonly (readonly [string, string])[] = [],
): ReadonlyMap<string, string> {
  const { seedField } = dialect.capabilities;
  const typed: [wire: string, field: string][] = [
    ["temperature", "temperature"],
    ["top_p", "top_p"],
    ["max_tokens", "max_tokens"],
    ["max_completion_tokens", "max_tokens"],
    ["stop", "stop"],
    ["n", "n"],
    ["seed", "seed"],
    ["user", "user"],
  ];
  if (seedField !== undefined && seedField !== "seed") typed.push([seedField, "seed"]);
  return new Map([
    ["model", "the endpoint's model is used"],
    [inputKey, "the gateway sets it from the request"],
    ["stream", "call the streaming method instead"],
    ["stream_options", "the gateway always asks for usage on streams"],
    ...typed.map(([wire, field]): [string, string] => [wire, `use the ${field} field instead`]),
    ...more,
    ...(dialect.capabilities.refusedExtras ?? []),
  ]);
}

/**
 * Builds the body: `input` holds the model, the messages or prompt and any chat fields, then
 * the typed params, then the extras. Streams ask for the usage chunk where the server needs
 * asking, because usage is billed from it. A param the server cannot take is refused. The
 * token limit goes under the name the caller chose (max_tokens_field) where the server takes
 * `max_completion_tokens`, else as `max_tokens`.
 */
export function samplingBody(
  dialect: OpenAIDialect,
  input: JsonObject,
  params: SamplingParams & { maxTokensField?: MaxTokensField },
  stream: boolean,
  owned: ReadonlyMap<string, string>,
): JsonObject {
  const { provider, capabilities } = dialect;
  const body: JsonObject = { ...input };
  setIfDefined(body, "temperature", params.temperature);
  setIfDefined(body, "top_p", params.topP);
  const limitName =
    params.maxTokensField === MaxTokensField.MAX_COMPLETION_TOKENS && capabilities.maxCompletionTokens ? "max_completion_tokens" : "max_tokens";
  setIfDefined(body, limitName, params.maxTokens);
  if (params.stop.length > 0) body.stop = params.stop;
  if (params.n !== undefined) {
    const max = capabilities.maxChoices;
    if (max !== undefined && params.n > max) {
      throw invalidArgument(`${provider}: n must be at most ${max} (${provider} returns at most ${max} choice${max === 1 ? "" : "s"})`);
    }
    // n=1 is the default; where it is the only value, some servers refuse the field itself.
    if (max !== 1) body.n = params.n;
  }
  if (params.seed !== undefined) {
    if (capabilities.seedField === undefined) throw invalidArgument(`${provider}: seed is not supported`);
    body[capabilities.seedField] = seedToNumber(params.seed);
  }
  if (params.user !== "") {
    if (!capabilities.user) throw invalidArgument(`${provider}: user is not supported`);
    body.user = params.user;
  }
  checkSamplingExtras(provider, params.extras, { owned });
  mergeExtras(provider, body, params.extras, owned);
  if (stream) {
    body.stream = true;
    if (capabilities.streamUsage === "stream_options") body.stream_options = { include_usage: true };
  }
  return body;
}

/** The POST for one call; drops `model` where the URL names it (Azure deployments). */
export function openaiPost(dialect: OpenAIDialect, target: ModelTarget, path: OpenAIPath, body: JsonObject): UpstreamRequest {
  const { url, headers, modelInBody } = dialect.connect(target, path);
  if (modelInBody) return { method: "POST", url, headers, body };
  const withoutModel = { ...body };
  delete withoutModel.model;
  return { method: "POST", url, headers, body: withoutModel };
}

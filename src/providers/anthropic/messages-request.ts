// Builds a Messages API body from our chat or completion params.
import type { JsonObject } from "@bufbuild/protobuf";
import type { ChatMessage } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import { isRecord } from "../upstream-reader";
import { checkSamplingExtras } from "../extras";
import { mergeExtras, setIfDefined } from "../request-builder";
import type { ModelTarget, SamplingParams } from "../types";
import { PROVIDER } from "./config";
import { toConversation } from "./conversation";

/** Anthropic requires max_tokens; this is what we ask for when the caller did not say. */
export const DEFAULT_MAX_TOKENS = 1024;

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["messages", "the gateway sets it from the request"],
  ["system", "send a message with role system instead"],
  ["stream", "call the streaming method instead"],
  ["max_tokens", "use the max_tokens field instead"],
  ["stop_sequences", "use the stop field instead"],
  ["temperature", "use the temperature field instead"],
  ["top_p", "use the top_p field instead"],
  ["metadata", "use the user field instead"],
  ["tools", "use the tools field instead"],
  ["tool_choice", "use the tool_choice and parallel_tool_calls fields instead"],
  ["output_format", "use the response_format field instead"],
]);

/** Rejects what Anthropic cannot do, rather than silently answering something else. */
function checkSupported(params: SamplingParams): void {
  if (params.n !== undefined && params.n > 1) throw invalidArgument(`${PROVIDER} does not support n > 1`);
  if (params.seed !== undefined) {
    throw invalidArgument(`${PROVIDER} does not support seed (its sampling cannot be made deterministic); leave it unset`);
  }
}

/**
 * `output_config` also holds settings such as `effort`, which may come as extras; the format
 * inside it is ours (response_format), so only that key is refused there.
 */
function mergeOutputConfig(body: JsonObject, ours: JsonObject | undefined): void {
  const theirs = body.output_config;
  if (theirs === undefined) {
    if (ours !== undefined) body.output_config = ours;
    return;
  }
  if (!isRecord(theirs)) throw invalidArgument(`${PROVIDER}: extras.output_config must be an object`);
  if ("format" in theirs) {
    throw invalidArgument(`${PROVIDER}: extras.output_config.format is not allowed: use the response_format field instead`);
  }
  if (ours !== undefined) body.output_config = { ...(theirs as JsonObject), ...ours };
}

/**
 * The whole body. `chatFields` are the chat-only fields (tools, tool_choice, output_config)
 * built by toolFields(); completions have none.
 */
export function messagesBody(
  target: ModelTarget,
  messages: ChatMessage[],
  params: SamplingParams,
  stream: boolean,
  chatFields: JsonObject = {},
): JsonObject {
  checkSupported(params);
  const { system, turns } = toConversation(messages);
  const { output_config: outputConfig, ...toolFields } = chatFields;
  const body: JsonObject = {
    model: target.name,
    max_tokens: params.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: turns,
    ...toolFields,
  };
  if (system.length > 0) body.system = system.join("\n\n");
  if (params.stop.length > 0) body.stop_sequences = params.stop;
  setIfDefined(body, "temperature", params.temperature);
  setIfDefined(body, "top_p", params.topP);
  if (params.user !== "") body.metadata = { user_id: params.user };
  checkSamplingExtras(PROVIDER, params.extras, { owned: ownedKeys });
  mergeExtras(PROVIDER, body, params.extras, ownedKeys);
  mergeOutputConfig(body, outputConfig as JsonObject | undefined);
  if (stream) body.stream = true;
  return body;
}

// Builds a Converse / ConverseStream body from our chat params
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
//   {messages, system, inferenceConfig: {maxTokens, temperature, topP, stopSequences},
//    toolConfig: {tools: [{toolSpec: {name, description, inputSchema: {json}, strict}}],
//                 toolChoice: {auto: {}} | {any: {}} | {tool: {name}}},
//    outputConfig: {textFormat: {type: "json_schema", structure: {jsonSchema: {schema, name, description}}}},
//    additionalModelRequestFields, requestMetadata}
// Both operations take the same body; only the path differs.
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { functionsOf, responseFormatOf, toolChoiceOf } from "../chat-content";
import { checkSamplingExtras } from "../extras";
import { setIfDefined } from "../request-builder";
import type { ChatParams } from "../types";
import { PROVIDER } from "./config";
import { type Conversation, toConversation } from "./converse-messages";
import { portableMessages } from "../portable-input";

/**
 * Extras travel as additionalModelRequestFields, the model's own parameters (top_k,
 * anthropic_beta, reasoning_config ...). Model-native names for what a typed field already
 * sets are refused, so each setting has one way in.
 */
const ownedModelFields: ReadonlyMap<string, string> = new Map([
  ["max_tokens", "use the max_tokens field instead"],
  ["maxTokens", "use the max_tokens field instead"],
  ["max_gen_len", "use the max_tokens field instead"],
  ["maxTokenCount", "use the max_tokens field instead"],
  ["temperature", "use the temperature field instead"],
  ["top_p", "use the top_p field instead"],
  ["topP", "use the top_p field instead"],
  ["stop", "use the stop field instead"],
  ["stop_sequences", "use the stop field instead"],
  ["stopSequences", "use the stop field instead"],
  ["messages", "the gateway sets it from the request"],
  ["system", "send a message with role system instead"],
  ["tools", "use the tools field instead"],
  ["tool_choice", "use the tool_choice field instead"],
]);

/** Converse's own request fields: an extra by these names would land in the wrong place. */
const converseFields: ReadonlySet<string> = new Set([
  "modelId", "inferenceConfig", "toolConfig", "guardrailConfig", "outputConfig", "additionalModelRequestFields",
  "additionalModelResponseFieldPaths", "promptVariables", "requestMetadata", "performanceConfig", "serviceTier",
]);

function additionalFields(extras: JsonObject): JsonObject {
  const fields: JsonObject = {};
  for (const [key, value] of Object.entries(extras)) {
    const instead = ownedModelFields.get(key);
    if (instead !== undefined) throw invalidArgument(`${PROVIDER}: extras.${key} is not allowed: ${instead}`);
    if (converseFields.has(key)) {
      throw invalidArgument(
        `${PROVIDER}: extras.${key} is a Converse request field, which extras cannot set (extras are sent to the model as additionalModelRequestFields)`,
      );
    }
    fields[key] = value;
  }
  // The central list (max_new_tokens, num_predict, n, best_of ... and inside Titan's
  // textGenerationConfig) after the Converse-specific refusals above.
  checkSamplingExtras(PROVIDER, extras);
  return fields;
}

function checkSupported(params: ChatParams): void {
  if (params.n !== undefined && params.n > 1) throw invalidArgument(`${PROVIDER} does not support n > 1 (Converse returns one answer)`);
  if (params.seed !== undefined) {
    throw invalidArgument(`${PROVIDER} does not support seed (Converse has no sampling seed); leave it unset`);
  }
}

/** `toolConfig`, or nothing. Converse's toolChoice has no "none", so "none" withholds the tools. */
function toolConfig(params: ChatParams, conversation: Conversation): JsonObject | undefined {
  const functions = functionsOf(PROVIDER, params.tools);
  const choice = toolChoiceOf(PROVIDER, params, functions);
  if (functions.length === 0) {
    if (conversation.hasToolBlocks) {
      throw invalidArgument(
        `${PROVIDER}: the messages hold tool calls or tool results, which Converse accepts only with tools defined; send the tools again`,
      );
    }
    return undefined;
  }
  if (choice !== undefined && "mode" in choice && choice.mode === "none") {
    if (conversation.hasToolBlocks) {
      throw invalidArgument(
        `${PROVIDER}: tool_choice "none" cannot be honoured here: Converse has no "none" choice and needs the tools defined while the messages hold tool calls or results; use "auto"`,
      );
    }
    return undefined;
  }
  if (params.parallelToolCalls === false) {
    throw invalidArgument(`${PROVIDER} does not support parallel_tool_calls=false (Converse cannot limit a turn to one tool call)`);
  }
  const config: JsonObject = {
    tools: functions.map((fn) => {
      const spec: JsonObject = { name: fn.name };
      if (fn.description !== "") spec.description = fn.description;
      spec.inputSchema = { json: fn.parameters };
      if (fn.strict !== undefined) spec.strict = fn.strict;
      return { toolSpec: spec };
    }),
  };
  if (choice !== undefined) {
    config.toolChoice =
      "functionName" in choice
        ? { tool: { name: choice.functionName } }
        : choice.mode === "required"
          ? { any: {} }
          : { auto: {} };
  }
  return config;
}

/** Structured output: Converse takes a JSON schema (as JSON text); it has no schemaless JSON mode. */
function outputConfig(params: ChatParams): JsonObject | undefined {
  const format = responseFormatOf(PROVIDER, params);
  if (format === undefined) return undefined;
  if (format.type === "json_object") {
    throw invalidArgument(
      `${PROVIDER} does not support response_format json_object (Converse has no schemaless JSON mode); use json_schema with a schema`,
    );
  }
  const jsonSchema: JsonObject = { schema: JSON.stringify(format.schema) };
  if (format.name !== "") jsonSchema.name = format.name;
  if (format.description !== "") jsonSchema.description = format.description;
  return { textFormat: { type: "json_schema", structure: { jsonSchema } } };
}

export function converseBody(params: ChatParams): JsonObject {
  checkSupported(params);
  const conversation = toConversation(portableMessages(PROVIDER, params.messages));
  const body: JsonObject = { messages: conversation.messages };
  if (conversation.system.length > 0) body.system = conversation.system;
  const inference: JsonObject = {};
  setIfDefined(inference, "maxTokens", params.maxTokens);
  setIfDefined(inference, "temperature", params.temperature);
  setIfDefined(inference, "topP", params.topP);
  if (params.stop.length > 0) inference.stopSequences = params.stop;
  if (Object.keys(inference).length > 0) body.inferenceConfig = inference;
  setIfDefined(body, "toolConfig", toolConfig(params, conversation));
  setIfDefined(body, "outputConfig", outputConfig(params));
  if (params.extras !== undefined && Object.keys(params.extras).length > 0) {
    body.additionalModelRequestFields = additionalFields(params.extras);
  }
  // Bedrock's key-value metadata for filtering invocation logs: the closest thing to an end-user id.
  if (params.user !== "") body.requestMetadata = { user: params.user };
  return body;
}

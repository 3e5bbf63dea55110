// Builds a v2 chat body (https://docs.cohere.com/v2/reference/chat): sampling parameters
// (temperature, p, max_tokens, stop_sequences, seed), tools with strict_tools, tool_choice
// (REQUIRED / NONE) and response_format ({type: "json_object", json_schema?}).
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { functionsOf, responseFormatOf, toolChoiceOf } from "../chat-content";
import { checkSamplingExtras } from "../extras";
import { mergeExtras, seedToNumber, setIfDefined } from "../request-builder";
import type { ChatParams } from "../types";
import { PROVIDER } from "./config";
import { toCohereMessages } from "./messages";
import { portableMessages } from "../portable-input";

const ownedKeys: ReadonlyMap<string, string> = new Map([
  ["model", "the endpoint's model is used"],
  ["messages", "the gateway sets it from the request"],
  ["stream", "call the streaming method instead"],
  ["temperature", "use the temperature field instead"],
  ["p", "use the top_p field instead"],
  ["max_tokens", "use the max_tokens field instead"],
  ["stop_sequences", "use the stop field instead"],
  ["seed", "use the seed field instead"],
  ["tools", "use the tools field instead"],
  ["strict_tools", "set strict on the tools' functions instead"],
  ["tool_choice", "use the tool_choice field instead"],
  ["response_format", "use the response_format field instead"],
]);

function checkSupported(params: ChatParams): void {
  if (params.n !== undefined && params.n > 1) throw invalidArgument(`${PROVIDER} does not support n > 1`);
  if (params.user !== "") throw invalidArgument(`${PROVIDER} has no end-user field; leave user unset`);
}

function toolFields(params: ChatParams): JsonObject {
  const functions = functionsOf(PROVIDER, params.tools);
  const choice = toolChoiceOf(PROVIDER, params, functions);
  if (functions.length === 0) return {};
  const fields: JsonObject = {
    tools: functions.map((fn) => {
      const definition: JsonObject = { name: fn.name, parameters: fn.parameters };
      if (fn.description !== "") definition.description = fn.description;
      return { type: "function", function: definition };
    }),
  };
  // Cohere's strictness is one switch for all tools.
  const strict = new Set(functions.map((fn) => fn.strict ?? false));
  if (strict.size > 1) {
    throw invalidArgument(`${PROVIDER} applies strict to all tools at once; set the same strict on every function`);
  }
  if (strict.has(true)) fields.strict_tools = true;
  if (choice !== undefined) {
    if ("functionName" in choice) {
      throw invalidArgument(`${PROVIDER} cannot force one named function; use tool_choice "required" with only that tool`);
    }
    // "auto" is Cohere's default and has no value of its own.
    if (choice.mode !== "auto") fields.tool_choice = choice.mode === "required" ? "REQUIRED" : "NONE";
  }
  if (params.parallelToolCalls === false && fields.tool_choice !== "NONE") {
    throw invalidArgument(`${PROVIDER} cannot turn off parallel tool calls; leave parallel_tool_calls unset`);
  }
  return fields;
}

export function chatBody(params: ChatParams, model: string, stream: boolean): JsonObject {
  checkSupported(params);
  const body: JsonObject = { model, messages: toCohereMessages(portableMessages(PROVIDER, params.messages)), ...toolFields(params) };
  setIfDefined(body, "temperature", params.temperature);
  setIfDefined(body, "p", params.topP);
  setIfDefined(body, "max_tokens", params.maxTokens);
  if (params.stop.length > 0) body.stop_sequences = params.stop;
  if (params.seed !== undefined) body.seed = seedToNumber(params.seed);
  const format = responseFormatOf(PROVIDER, params);
  if (format?.type === "json_object") body.response_format = { type: "json_object" };
  if (format?.type === "json_schema") body.response_format = { type: "json_object", json_schema: format.schema };
  checkSamplingExtras(PROVIDER, params.extras, { owned: ownedKeys });
  mergeExtras(PROVIDER, body, params.extras, ownedKeys);
  if (stream) body.stream = true;
  return body;
}

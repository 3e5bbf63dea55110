// Tools, tool_choice, parallel_tool_calls and response_format -> the OpenAI request fields.
// Shapes: https://platform.openai.com/docs/api-reference/chat/create (tools, tool_choice,
// parallel_tool_calls, response_format) and https://platform.openai.com/docs/guides/structured-outputs.
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import type { ChatParams } from "../types";
import type { OpenAIDialect } from "./dialect";

/** Function and schema names as OpenAI accepts them. */
const namePattern = /^[a-zA-Z0-9_-]{1,64}$/;

/** The request fields this file writes; extras may not set them. */
export const chatOwnedKeys: readonly (readonly [string, string])[] = [
  ["tools", "use the tools field instead"],
  ["tool_choice", "use the tool_choice field instead"],
  ["parallel_tool_calls", "use the parallel_tool_calls field instead"],
  ["response_format", "use the response_format field instead"],
];

/** The tool and structured-output fields of the body (empty when the request uses none). */
export function toolFields(dialect: OpenAIDialect, params: ChatParams): JsonObject {
  const { provider } = dialect;
  const fail = (detail: string) => invalidArgument(`${provider}: ${detail}`);
  const out: JsonObject = {};
  const names = new Set<string>();

  if (params.tools.length > 0) {
    out.tools = params.tools.map((tool, i) => {
      const path = `tools[${i}]`;
      if (tool.type !== "" && tool.type !== "function") throw fail(`${path}.type: must be function`);
      const fn = tool.function;
      if (fn === undefined) throw fail(`${path}.function: required`);
      if (!namePattern.test(fn.name)) throw fail(`${path}.function.name: must be 1-64 letters, digits, _ or -`);
      if (names.has(fn.name)) throw fail(`${path}.function.name: ${fn.name} is defined twice`);
      names.add(fn.name);
      const definition: JsonObject = { name: fn.name };
      if (fn.description !== "") definition.description = fn.description;
      if (fn.parameters !== undefined) definition.parameters = fn.parameters;
      if (fn.strict !== undefined) definition.strict = fn.strict;
      return { type: "function", function: definition };
    });
  }

  const choice = params.toolChoice?.choice;
  if (choice !== undefined && choice.case !== undefined) {
    // OpenAI refuses tool_choice without tools; say so before the round trip.
    if (names.size === 0) throw fail("tool_choice: needs tools");
    if (choice.case === "functionName") {
      if (!names.has(choice.value)) throw fail(`tool_choice.function_name: ${choice.value} is not one of the tools`);
      out.tool_choice = { type: "function", function: { name: choice.value } };
    } else if (choice.value === "required") {
      out.tool_choice = dialect.capabilities.requiredToolChoice;
    } else if (choice.value === "auto" || choice.value === "none") {
      out.tool_choice = choice.value;
    } else {
      throw fail(`tool_choice.mode: must be auto, none or required, got ${JSON.stringify(choice.value)}`);
    }
  }

  if (params.parallelToolCalls !== undefined) {
    if (names.size === 0) throw fail("parallel_tool_calls: needs tools");
    out.parallel_tool_calls = params.parallelToolCalls;
  }

  const format = responseFormat(dialect, params.responseFormat);
  if (format !== undefined) out.response_format = format;
  return out;
}

function responseFormat(dialect: OpenAIDialect, format: ChatParams["responseFormat"]): JsonObject | undefined {
  const { provider, capabilities } = dialect;
  const fail = (detail: string) => invalidArgument(`${provider}: response_format${detail}`);
  if (format === undefined) return undefined;
  const { type, jsonSchema } = format;
  if (type !== "json_schema" && jsonSchema !== undefined) throw fail(`.json_schema: only allowed with type json_schema`);
  switch (type) {
    case "":
      return undefined;
    case "text":
    case "json_object":
      return { type };
    case "json_schema": {
      if (!capabilities.jsonSchema) throw fail(`: json_schema is not supported by ${provider} (use json_object)`);
      if (jsonSchema === undefined) throw fail(`.json_schema: required with type json_schema`);
      if (!namePattern.test(jsonSchema.name)) throw fail(`.json_schema.name: must be 1-64 letters, digits, _ or -`);
      if (jsonSchema.schema === undefined) throw fail(`.json_schema.schema: required`);
      const schema: JsonObject = { name: jsonSchema.name };
      if (jsonSchema.description !== "") schema.description = jsonSchema.description;
      schema.schema = jsonSchema.schema;
      if (jsonSchema.strict !== undefined) schema.strict = jsonSchema.strict;
      return { type, json_schema: schema };
    }
    default:
      throw fail(`.type: must be text, json_object or json_schema, got ${JSON.stringify(type)}`);
  }
}

// Tools, tool choice and structured output for the Messages API.
// Tool / ToolChoice{Auto,Any,Tool,None} with disable_parallel_tool_use: the SDK's Messages types
// (anthropic-sdk-typescript src/resources/messages/messages.ts). Structured output is generally
// available as `output_config: {format: {type: "json_schema", schema}}` (the beta
// `output_format` + `structured-outputs-2025-11-13` header is deprecated); see
// https://platform.claude.com/docs/en/build-with-claude/structured-outputs. Anthropic has no
// schemaless JSON mode, so json_object is refused.
import type { JsonObject } from "@bufbuild/protobuf";
import { invalidArgument } from "../../errors";
import { functionsOf, responseFormatOf, toolChoiceOf } from "../chat-content";
import type { ChatParams } from "../types";
import { PROVIDER } from "./config";

/** The body fields a chat request adds: `tools`, `tool_choice` and `output_config`. */
export function toolFields(params: ChatParams): JsonObject {
  const fields: JsonObject = {};
  const functions = functionsOf(PROVIDER, params.tools);
  const choice = toolChoiceOf(PROVIDER, params, functions);
  if (functions.length > 0) {
    fields.tools = functions.map((fn) => {
      const tool: JsonObject = { name: fn.name, input_schema: fn.parameters };
      if (fn.description !== "") tool.description = fn.description;
      if (fn.strict !== undefined) tool.strict = fn.strict;
      return tool;
    });
    let toolChoice: JsonObject | undefined;
    if (choice !== undefined && "functionName" in choice) toolChoice = { type: "tool", name: choice.functionName };
    else if (choice !== undefined) toolChoice = { type: choice.mode === "required" ? "any" : choice.mode };
    if (params.parallelToolCalls === false && toolChoice?.type !== "none") {
      toolChoice = { ...(toolChoice ?? { type: "auto" }), disable_parallel_tool_use: true };
    }
    if (toolChoice !== undefined) fields.tool_choice = toolChoice;
  }
  // Without tools, "auto" and "none" already hold and parallel_tool_calls has nothing to limit.

  const format = responseFormatOf(PROVIDER, params);
  if (format?.type === "json_object") {
    throw invalidArgument(
      `${PROVIDER} does not support response_format json_object (it has no schemaless JSON mode); use json_schema with a schema`,
    );
  }
  if (format?.type === "json_schema") {
    fields.output_config = { format: { type: "json_schema", schema: format.schema } };
  }
  return fields;
}

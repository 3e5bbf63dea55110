// Tools and structured output for /api/chat, and reading the tool calls Ollama answers with.
// Request: `tools: [{type: "function", function: {name, description, parameters}}]` and
// `format: "json" | <JSON Schema>` (ollama/ollama docs/api.md "Chat request (with tools)",
// "Structured outputs"). Ollama has no tool_choice and no parallel-call switch.
// Answer: `message.tool_calls: [{function: {index?, name, arguments: {...}}}]`, arguments as a
// JSON object and, from most servers, no call id (api/types.go ToolCall, ToolCallFunction).
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type { ToolCallSchema } from "../../../gen/modelgate/v1/common_pb";
import { invalidArgument } from "../../errors";
import { functionsOf, responseFormatOf, toolChoiceOf } from "../chat-content";
import type { ChatParams } from "../types";
import { PROVIDER } from "./config";
import { read } from "./wire";
import { wellFormed } from "../../text";

/** The keys toolFields writes; extras may not set them. */
export const toolOwnedKeys: readonly (readonly [string, string])[] = [
  ["tools", "use the tools field instead"],
  ["format", "use the response_format field instead"],
];

/** The body fields a chat request adds: `tools` and `format`. */
export function toolFields(params: ChatParams): JsonObject {
  const fields: JsonObject = {};
  const functions = functionsOf(PROVIDER, params.tools);
  const choice = toolChoiceOf(PROVIDER, params, functions);
  let offerTools = functions.length > 0;
  if (choice !== undefined) {
    if ("functionName" in choice) {
      throw invalidArgument(`${PROVIDER} does not support tool_choice.function_name (it cannot force a particular tool)`);
    }
    if (choice.mode === "required") {
      throw invalidArgument(`${PROVIDER} does not support tool_choice "required" (it cannot force a tool call)`);
    }
    // "none" is kept by not offering the tools at all; "auto" is Ollama's only behaviour.
    if (choice.mode === "none") offerTools = false;
  }
  if (offerTools && params.parallelToolCalls === false) {
    throw invalidArgument(`${PROVIDER} does not support parallel_tool_calls false (it cannot limit a reply to one call)`);
  }
  if (offerTools) {
    // `strict` is a hint "where supported" (common.proto); Ollama has no strict mode.
    fields.tools = functions.map((fn) => {
      const definition: JsonObject = { name: fn.name };
      if (fn.description !== "") definition.description = fn.description;
      definition.parameters = fn.parameters;
      return { type: "function", function: definition };
    });
  }
  const format = responseFormatOf(PROVIDER, params);
  // Ollama always constrains the output to the format's grammar, so `strict` holds either way.
  if (format?.type === "json_object") fields.format = "json";
  else if (format?.type === "json_schema") fields.format = format.schema;
  return fields;
}

export type ToolCallInit = MessageInitShape<typeof ToolCallSchema>;

/**
 * Synthesises a call id where Ollama sent none. Deterministic (the translator is pure), and
 * distinct across the turns of a conversation because it carries the answer's timestamp.
 */
export function syntheticCallId(createdAt: string, index: number): string {
  const stamp = createdAt.replace(/\D/g, "");
  return stamp === "" ? `call_${index}` : `call_${stamp}_${index}`;
}

/**
 * Reads `message.tool_calls` (absent or null when there are none). `first` is the index of the
 * first call: a stream numbers its calls across lines.
 */
export function readToolCalls(value: unknown, path: string, createdAt: string, first = 0): ToolCallInit[] {
  if (value === undefined || value === null) return [];
  return read.array(value, path).map((item, i) => {
    const callPath = `${path}[${i}]`;
    const call = read.object(item, callPath);
    const fn = read.object(call.function, `${callPath}.function`);
    const index = first + i;
    const id = read.stringOrEmpty(call.id, `${callPath}.id`);
    return {
      id: id === "" ? syntheticCallId(createdAt, index) : id,
      type: "function",
      function: { name: read.string(fn.name, `${callPath}.function.name`), arguments: argumentsText(fn.arguments, `${callPath}.function.arguments`) },
      index,
    };
  });
}

/** Our arguments are JSON text; Ollama sends an object (a string is taken as already text). */
function argumentsText(value: unknown, path: string): string {
  if (typeof value === "string") return wellFormed(value);
  return JSON.stringify(read.object(value, path));
}

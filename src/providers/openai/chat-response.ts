// Reading chat answers: the assistant message with its tool calls (unary), and the deltas of
// a stream, tool-call fragments included.
// Shapes: https://platform.openai.com/docs/api-reference/chat/object (message.tool_calls) and
// https://platform.openai.com/docs/api-reference/chat-streaming (delta.tool_calls: the first
// delta of a call has index, id, type and function.name; later ones index and an arguments
// fragment). Mistral sends each call whole in one delta, without index or type.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ToolCallSchema } from "../../../gen/modelgate/v1/common_pb";
import type { ChatChunk, ChatResult } from "../types";
import type { JsonRecord } from "../upstream-reader";
import type { OpenAIWire } from "./wire";

type ToolCallInit = MessageInitShape<typeof ToolCallSchema>;

export function readChatResponse(wire: OpenAIWire, body: unknown): ChatResult {
  const { read } = wire;
  const root = wire.readBody(body);
  return {
    id: read.string(root.id, "id"),
    model: read.string(root.model, "model"),
    choices: read.array(root.choices, "choices").map((value, i) => {
      const path = `choices[${i}]`;
      const choice = read.object(value, path);
      const message = read.object(choice.message, `${path}.message`);
      const toolCalls = readToolCalls(wire, message.tool_calls, `${path}.message.tool_calls`);
      return {
        index: read.count(choice.index, `${path}.index`),
        message: {
          role: read.string(message.role, `${path}.message.role`),
          content: readText(wire, message, `${path}.message`),
          ...(toolCalls.length > 0 ? { toolCalls } : {}),
        },
        finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
      };
    }),
    usage: wire.readOptionalUsage(root.usage, "usage"),
  };
}

/**
 * The message text: `content` is null when the model only called tools, and when it refused
 * the refusal is its answer. Mistral's reasoning models send a list of parts; the text parts
 * are the answer (their "thinking" parts are not).
 */
function readText(wire: OpenAIWire, message: JsonRecord, path: string): string {
  const { read } = wire;
  const content = message.content;
  if (Array.isArray(content)) {
    let text = "";
    content.forEach((value, i) => {
      const part = read.object(value, `${path}.content[${i}]`);
      if (part.type === "text") text += read.string(part.text, `${path}.content[${i}].text`);
    });
    return text;
  }
  const text = read.stringOrEmpty(content, `${path}.content`);
  return text === "" ? read.stringOrEmpty(message.refusal, `${path}.refusal`) : text;
}

function readToolCalls(wire: OpenAIWire, value: unknown, path: string): ToolCallInit[] {
  if (value === undefined || value === null) return [];
  const { read } = wire;
  return read.array(value, path).map((item, i) => {
    const call = read.object(item, `${path}[${i}]`);
    const fn = read.object(call.function, `${path}[${i}].function`);
    return {
      id: read.string(call.id, `${path}[${i}].id`),
      type: read.stringOrEmpty(call.type, `${path}[${i}].type`) || "function",
      function: {
        name: read.string(fn.name, `${path}[${i}].function.name`),
        arguments: readArguments(wire, fn.arguments, `${path}[${i}].function.arguments`),
      },
      index: i,
    };
  });
}

/** Arguments are JSON text; Mistral may send the object itself, which we turn into that text. */
function readArguments(wire: OpenAIWire, value: unknown, path: string): string {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return JSON.stringify(value);
  return wire.read.stringOrEmpty(value, path);
}

/**
 * One stream's delta reader. It keeps, per choice, how many calls it has seen, so calls that
 * come without an index (Mistral: each whole, in its own delta) still get distinct indexes.
 */
export function chatChunkReader(wire: OpenAIWire): (event: JsonRecord, choices: unknown[]) => ChatChunk {
  const { read } = wire;
  const callsSeen = new Map<number, number>();

  const readDeltaCalls = (choiceIndex: number, value: unknown, path: string): ToolCallInit[] => {
    if (value === undefined || value === null) return [];
    return read.array(value, path).map((item, i) => {
      const at = `${path}[${i}]`;
      const call = read.object(item, at);
      const seen = callsSeen.get(choiceIndex) ?? 0;
      let index: number;
      if (call.index === undefined || call.index === null) {
        index = seen;
        callsSeen.set(choiceIndex, seen + 1);
      } else {
        index = read.count(call.index, `${at}.index`);
        callsSeen.set(choiceIndex, Math.max(seen, index + 1));
      }
      const fn = call.function === undefined || call.function === null ? {} : read.object(call.function, `${at}.function`);
      const id = read.stringOrEmpty(call.id, `${at}.id`);
      return {
        index,
        id,
        // The first delta of a call (the one with its id) says what it is; Mistral omits it.
        type: read.stringOrEmpty(call.type, `${at}.type`) || (id === "" ? "" : "function"),
        function: {
          name: read.stringOrEmpty(fn.name, `${at}.function.name`),
          arguments: readArguments(wire, fn.arguments, `${at}.function.arguments`),
        },
      };
    });
  };

  return (event, choices) => ({
    id: read.string(event.id, "stream event.id"),
    model: read.string(event.model, "stream event.model"),
    choices: choices.map((value, i) => {
      const path = `stream event.choices[${i}]`;
      const choice = read.object(value, path);
      const index = read.count(choice.index, `${path}.index`);
      // the closing chunk carries `delta: {}`
      const delta = read.object(choice.delta ?? {}, `${path}.delta`);
      const toolCalls = readDeltaCalls(index, delta.tool_calls, `${path}.delta.tool_calls`);
      return {
        index,
        delta: {
          role: read.stringOrEmpty(delta.role, `${path}.delta.role`),
          content: readDeltaText(wire, delta, `${path}.delta`),
          ...(toolCalls.length > 0 ? { toolCalls } : {}),
        },
        finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
      };
    }),
  });
}

function readDeltaText(wire: OpenAIWire, delta: JsonRecord, path: string): string {
  const { read } = wire;
  if (Array.isArray(delta.content)) return readText(wire, delta, path);
  return read.stringOrEmpty(delta.content, `${path}.content`) || read.stringOrEmpty(delta.refusal, `${path}.refusal`);
}

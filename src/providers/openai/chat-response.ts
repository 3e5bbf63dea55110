// Reading chat answers: the assistant message with its tool calls, refusal, deprecated
// function_call, audio, annotations and logprobs (unary), and the deltas of a stream, tool-call
// fragments included.
// Shapes: https://platform.openai.com/docs/api-reference/chat/object (message.tool_calls) and
// https://platform.openai.com/docs/api-reference/chat-streaming (delta.tool_calls: the first
// delta of a call has index, id, type and function.name; later ones index and an arguments
// fragment). Mistral sends each call whole in one delta, without index or type.
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ChatLogprobsSchema, ChatMessageSchema, TokenLogprobSchema, ToolCallSchema, TopLogprobSchema } from "../../../gen/modelgate/v1/common_pb";
import { badUpstreamResponse } from "../../errors";
import type { ChatChunk, ChatResult } from "../types";
import { type JsonRecord, isRecord } from "../upstream-reader";
import type { OpenAIWire } from "./wire";

type ToolCallInit = MessageInitShape<typeof ToolCallSchema>;
type MessageInit = Exclude<MessageInitShape<typeof ChatMessageSchema>, { $typeName: string }>;
type LogprobsInit = MessageInitShape<typeof ChatLogprobsSchema>;
type TokenLogprobInit = Exclude<MessageInitShape<typeof TokenLogprobSchema>, { $typeName: string }>;
type TopLogprobInit = Exclude<MessageInitShape<typeof TopLogprobSchema>, { $typeName: string }>;

export function readChatResponse(wire: OpenAIWire, body: unknown): ChatResult {
  const { read } = wire;
  const root = wire.readBody(body);
  return {
    id: read.string(root.id, "id"),
    model: read.string(root.model, "model"),
    ...wire.readMetadata(root, ""),
    choices: read.array(root.choices, "choices").map((value, i) => {
      const path = `choices[${i}]`;
      const choice = read.object(value, path);
      const message = read.object(choice.message, `${path}.message`);
      const toolCalls = readToolCalls(wire, message.tool_calls, `${path}.message.tool_calls`);
      const logprobs = readLogprobs(wire, choice.logprobs, `${path}.logprobs`);
      return {
        index: read.count(choice.index, `${path}.index`),
        message: {
          role: read.string(message.role, `${path}.message.role`),
          content: readText(wire, message, `${path}.message`),
          ...(toolCalls.length > 0 ? { toolCalls } : {}),
          ...readMessageExtras(wire, message, `${path}.message`, false),
        },
        finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
        ...(logprobs === undefined ? {} : { logprobs }),
      };
    }),
    usage: wire.readOptionalUsage(root.usage, "usage"),
  };
}

/**
 * The message text: `content` is null when the model only called tools or refused (the refusal
 * has its own field). Mistral's reasoning models send a list of parts; the text parts are the
 * answer (their "thinking" parts are not).
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
  return read.stringOrEmpty(content, `${path}.content`);
}

/**
 * The message's other fields, those present: refusal, function_call (deprecated function
 * calling), audio and annotations. In a delta (`fragment`), function_call may hold only a name
 * or only an arguments fragment.
 */
function readMessageExtras(wire: OpenAIWire, message: JsonRecord, path: string, fragment: boolean): Partial<MessageInit> {
  const { read } = wire;
  const out: Partial<MessageInit> = {};
  const refusal = read.stringOrEmpty(message.refusal, `${path}.refusal`);
  if (refusal !== "") out.refusal = refusal;
  if (message.function_call !== undefined && message.function_call !== null) {
    const fn = read.object(message.function_call, `${path}.function_call`);
    const at = `${path}.function_call`;
    out.functionCall = {
      name: fragment ? read.stringOrEmpty(fn.name, `${at}.name`) : read.string(fn.name, `${at}.name`),
      arguments: readArguments(wire, fn.arguments, `${at}.arguments`),
    };
  }
  if (message.audio !== undefined && message.audio !== null) {
    const audio = read.object(message.audio, `${path}.audio`);
    const at = `${path}.audio`;
    out.audio = {
      id: read.stringOrEmpty(audio.id, `${at}.id`),
      expiresAt: audio.expires_at === undefined || audio.expires_at === null ? 0n : BigInt(read.time(audio.expires_at, `${at}.expires_at`)),
      data: new Uint8Array(Buffer.from(read.stringOrEmpty(audio.data, `${at}.data`), "base64")),
      transcript: read.stringOrEmpty(audio.transcript, `${at}.transcript`),
    };
  }
  if (message.annotations !== undefined && message.annotations !== null) {
    out.annotations = read.array(message.annotations, `${path}.annotations`).map((value, i) => {
      const at = `${path}.annotations[${i}]`;
      const annotation = read.object(value, at);
      const type = read.string(annotation.type, `${at}.type`);
      if (!isRecord(annotation.url_citation)) return { type };
      const c = annotation.url_citation;
      const cat = `${at}.url_citation`;
      return {
        type,
        urlCitation: {
          startIndex: read.count(c.start_index, `${cat}.start_index`),
          endIndex: read.count(c.end_index, `${cat}.end_index`),
          url: read.string(c.url, `${cat}.url`),
          title: read.stringOrEmpty(c.title, `${cat}.title`),
        },
      };
    });
  }
  return out;
}

/** A choice's `logprobs` ({content, refusal}, each a list or null), or undefined for null. */
function readLogprobs(wire: OpenAIWire, value: unknown, path: string): LogprobsInit | undefined {
  if (value === undefined || value === null) return undefined;
  const { read } = wire;
  const logprobs = read.object(value, path);
  const list = (v: unknown, at: string): TokenLogprobInit[] =>
    v === undefined || v === null ? [] : read.array(v, at).map((item, i) => readTokenLogprob(wire, item, `${at}[${i}]`));
  return { content: list(logprobs.content, `${path}.content`), refusal: list(logprobs.refusal, `${path}.refusal`) };
}

function readTokenLogprob(wire: OpenAIWire, value: unknown, path: string): TokenLogprobInit {
  const { read } = wire;
  const item = read.object(value, path);
  const top = item.top_logprobs;
  return {
    ...readTopLogprob(wire, item, path),
    topLogprobs: top === undefined || top === null ? [] : read.array(top, `${path}.top_logprobs`).map((t, i) => readTopLogprob(wire, t, `${path}.top_logprobs[${i}]`)),
  };
}

/** {token, logprob, bytes}: bytes is a list of byte values, or null. */
export function readTopLogprob(wire: OpenAIWire, value: unknown, path: string): TopLogprobInit {
  const { read } = wire;
  const item = read.object(value, path);
  const out: TopLogprobInit = { token: read.string(item.token, `${path}.token`), logprob: read.number(item.logprob, `${path}.logprob`) };
  if (item.bytes !== undefined && item.bytes !== null) {
    const bytes = read.array(item.bytes, `${path}.bytes`).map((b, i) => {
      const n = read.count(b, `${path}.bytes[${i}]`);
      if (n > 255) throw badUpstreamResponse(wire.provider, `${path}.bytes[${i}]: expected a byte (0-255), got ${n}`);
      return n;
    });
    out.bytes = Uint8Array.from(bytes);
  }
  return out;
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
  // Made at the first tool call: most streams have none.
  let callsSeen: Map<number, number> | undefined;

  const readDeltaCalls = (choiceIndex: number, value: unknown, path: string): ToolCallInit[] => {
    if (value === undefined || value === null) return [];
    const seenPerChoice = (callsSeen ??= new Map());
    return read.array(value, path).map((item, i) => {
      const at = `${path}[${i}]`;
      const call = read.object(item, at);
      const seen = seenPerChoice.get(choiceIndex) ?? 0;
      let index: number;
      if (call.index === undefined || call.index === null) {
        index = seen;
        seenPerChoice.set(choiceIndex, seen + 1);
      } else {
        index = read.count(call.index, `${at}.index`);
        seenPerChoice.set(choiceIndex, Math.max(seen, index + 1));
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
    ...wire.readMetadata(event, "stream event."),
    choices: choices.map((value, i) => {
      const path = `stream event.choices[${i}]`;
      const choice = read.object(value, path);
      const index = read.count(choice.index, `${path}.index`);
      // the closing chunk carries `delta: {}`
      const delta = read.object(choice.delta ?? {}, `${path}.delta`);
      const toolCalls = readDeltaCalls(index, delta.tool_calls, `${path}.delta.tool_calls`);
      const logprobs = readLogprobs(wire, choice.logprobs, `${path}.logprobs`);
      return {
        index,
        delta: {
          role: read.stringOrEmpty(delta.role, `${path}.delta.role`),
          content: readText(wire, delta, `${path}.delta`),
          ...(toolCalls.length > 0 ? { toolCalls } : {}),
          ...readMessageExtras(wire, delta, `${path}.delta`, true),
        },
        finishReason: read.stringOrEmpty(choice.finish_reason, `${path}.finish_reason`),
        ...(logprobs === undefined ? {} : { logprobs }),
      };
    }),
  });
}

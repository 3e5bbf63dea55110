// Reads a Messages API response (and the pieces the stream decoder shares with it).
import { type JsonRecord, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER } from "./config";

export const read = upstreamReader(PROVIDER);

const finishReasons: ReadonlyMap<string, string> = new Map([
  ["end_turn", "stop"],
  ["stop_sequence", "stop"],
  ["max_tokens", "length"],
  ["tool_use", "tool_calls"],
  ["refusal", "content_filter"],
]);

/** Anthropic's stop_reason in OpenAI's vocabulary, which our API uses; unknown ones pass as-is. */
export function finishReason(stopReason: string): string {
  return finishReasons.get(stopReason) ?? stopReason;
}

/** Token counts as Anthropic splits them; cache reads and writes are prompt tokens too. */
export interface AnthropicTokens {
  input: number;
  cacheCreation: number;
  cacheRead: number;
  output: number;
}

/**
 * Reads a usage object. input_tokens and output_tokens are required unless `previous` counts
 * exist (message_delta sends only what changed); the cache counters are optional throughout.
 */
export function readTokens(value: unknown, path: string, previous?: AnthropicTokens): AnthropicTokens {
  const usage = read.object(value, path);
  const counter = (key: string, fallback: number | undefined) => {
    const count = usage[key];
    if ((count === undefined || count === null) && fallback !== undefined) return fallback;
    return read.count(count, `${path}.${key}`);
  };
  return {
    input: counter("input_tokens", previous?.input),
    cacheCreation: counter("cache_creation_input_tokens", previous?.cacheCreation ?? 0),
    cacheRead: counter("cache_read_input_tokens", previous?.cacheRead ?? 0),
    output: counter("output_tokens", previous?.output),
  };
}

export function toUsage(tokens: AnthropicTokens): UsageInit {
  const usage = tokenUsage(tokens.input + tokens.cacheCreation + tokens.cacheRead, tokens.output);
  // Cache reads are billed at the cached-input price; both breakdowns only when there were any.
  if (tokens.cacheRead > 0) usage.cachedPromptTokens = tokens.cacheRead;
  if (tokens.cacheCreation > 0) usage.cacheWritePromptTokens = tokens.cacheCreation;
  return usage;
}

/** A tool_use block as our ToolCall: the input object becomes the JSON arguments text. */
export interface ReplyToolCall {
  index: number;
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface MessageReply {
  id: string;
  model: string;
  text: string;
  toolCalls: ReplyToolCall[];
  finishReason: string;
  usage: UsageInit;
}

export function readMessage(body: unknown): MessageReply {
  const root: JsonRecord = read.object(body, "body");
  // Text and tool_use blocks are ours to return; thinking and server-tool blocks have no
  // place in our message and are left out.
  let text = "";
  const toolCalls: ReplyToolCall[] = [];
  read.array(root.content, "content").forEach((value, i) => {
    const path = `content[${i}]`;
    const block = read.object(value, path);
    if (block.type === "text") text += read.string(block.text, `${path}.text`);
    else if (block.type === "tool_use") {
      toolCalls.push({
        index: toolCalls.length,
        id: read.string(block.id, `${path}.id`),
        type: "function",
        function: {
          name: read.string(block.name, `${path}.name`),
          arguments: JSON.stringify(read.object(block.input, `${path}.input`)),
        },
      });
    }
  });
  return {
    id: read.string(root.id, "id"),
    model: read.string(root.model, "model"),
    text,
    toolCalls,
    finishReason: finishReason(read.stringOrEmpty(root.stop_reason, "stop_reason")),
    usage: toUsage(readTokens(root.usage, "usage")),
  };
}

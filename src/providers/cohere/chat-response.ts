// Reads v2 chat answers (https://docs.cohere.com/v2/reference/chat, "Response"): `message` with
// text content items, `tool_plan` and `tool_calls`; `finish_reason`; `usage` with billed_units
// and tokens. The pieces the stream decoder shares live here too.
import { unavailable } from "../../errors";
import { upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER } from "./config";

export const read = upstreamReader(PROVIDER);

// COMPLETE, STOP_SEQUENCE, MAX_TOKENS, TOOL_CALL, ERROR, TIMEOUT (cohere-python ChatFinishReason).
const finishReasons: ReadonlyMap<string, string> = new Map([
  ["COMPLETE", "stop"],
  ["STOP_SEQUENCE", "stop"],
  ["MAX_TOKENS", "length"],
  ["TOOL_CALL", "tool_calls"],
  ["CONTENT_BLOCKED", "content_filter"],
]);

/**
 * Cohere's finish_reason in OpenAI's vocabulary. ERROR and TIMEOUT mean the generation failed
 * upstream, so the call fails (UNAVAILABLE) rather than ending as if it were complete.
 */
export function finishReason(reason: string): string {
  const upper = reason.toUpperCase();
  if (upper === "ERROR" || upper === "TIMEOUT" || upper === "ERROR_LIMIT") {
    throw unavailable(`${PROVIDER}: the upstream generation failed (finish_reason ${reason})`);
  }
  return finishReasons.get(upper) ?? reason.toLowerCase();
}

/**
 * Usage: `billed_units` are what Cohere charges for (the input without its own system
 * prompt and tool preamble), so they are what the gateway accounts; `tokens` (what the model
 * processed) stands in when billed_units is missing.
 */
export function readUsage(value: unknown, path: string): UsageInit | undefined {
  if (value === undefined || value === null) return undefined;
  const usage = read.object(value, path);
  const key = usage.billed_units !== undefined && usage.billed_units !== null ? "billed_units" : "tokens";
  if (usage[key] === undefined || usage[key] === null) return undefined;
  const counts = read.object(usage[key], `${path}.${key}`);
  const out = tokenUsage(
    read.countOrZero(counts.input_tokens, `${path}.${key}.input_tokens`),
    read.countOrZero(counts.output_tokens, `${path}.${key}.output_tokens`),
  );
  // Prompt tokens served from Cohere's cache, when there were any.
  const cached = read.countOrZero(usage.cached_tokens, `${path}.cached_tokens`);
  if (cached > 0) out.cachedPromptTokens = Math.min(cached, out.promptTokens);
  return out;
}

export interface CohereToolCall {
  index: number;
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface CohereReply {
  text: string;
  toolCalls: CohereToolCall[];
}

export function readReply(value: unknown, path: string): CohereReply {
  const message = read.object(value, path);
  let text = "";
  const content = message.content === undefined || message.content === null ? [] : read.array(message.content, `${path}.content`);
  content.forEach((item, i) => {
    const block = read.object(item, `${path}.content[${i}]`);
    // thinking items (reasoning models) are not the answer
    if (block.type === "text") text += read.string(block.text, `${path}.content[${i}].text`);
  });
  const calls = message.tool_calls === undefined || message.tool_calls === null ? [] : read.array(message.tool_calls, `${path}.tool_calls`);
  const toolCalls = calls.map((item, index): CohereToolCall => {
    const callPath = `${path}.tool_calls[${index}]`;
    const call = read.object(item, callPath);
    const fn = read.object(call.function, `${callPath}.function`);
    return {
      index,
      id: read.string(call.id, `${callPath}.id`),
      type: "function",
      function: {
        name: read.string(fn.name, `${callPath}.function.name`),
        arguments: read.stringOrEmpty(fn.arguments, `${callPath}.function.arguments`) || "{}",
      },
    };
  });
  // A tool-calling turn has no text content; its tool_plan is what the model said instead.
  if (text === "" && toolCalls.length > 0) text = read.stringOrEmpty(message.tool_plan, `${path}.tool_plan`);
  return { text, toolCalls };
}

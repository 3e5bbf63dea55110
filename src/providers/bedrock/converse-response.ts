// Reads a Converse response (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax):
//   {output: {message: {role, content: [{text} | {toolUse: {toolUseId, name, input}} | ...]}},
//    stopReason, usage: {inputTokens, outputTokens, totalTokens, cacheReadInputTokens?,
//    cacheWriteInputTokens?}, metrics: {latencyMs}}
// and the pieces the stream decoder shares with it. Converse answers carry neither an id nor
// the model's name (the request id is only in the x-amzn-requestid header), so both stay "".
import { type JsonRecord, isRecord, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER } from "./config";

export const read = upstreamReader(PROVIDER);

// Converse StopReason values, in OpenAI's vocabulary that our API uses; unknown ones pass as-is
// (malformed_model_output, malformed_tool_use).
const finishReasons: ReadonlyMap<string, string> = new Map([
  ["end_turn", "stop"],
  ["stop_sequence", "stop"],
  ["max_tokens", "length"],
  ["model_context_window_exceeded", "length"],
  ["tool_use", "tool_calls"],
  ["guardrail_intervened", "content_filter"],
  ["content_filtered", "content_filter"],
]);

export function finishReason(stopReason: string): string {
  return finishReasons.get(stopReason) ?? stopReason;
}

/**
 * A TokenUsage object. inputTokens leaves out the prompt-cache reads and writes, which are
 * prompt tokens too, so they are added in; the total is ours to keep it equal to the sum.
 */
export function readUsage(value: unknown, path: string): UsageInit {
  const usage = read.object(value, path);
  const cacheRead = read.countOrZero(usage.cacheReadInputTokens, `${path}.cacheReadInputTokens`);
  const cacheWrite = read.countOrZero(usage.cacheWriteInputTokens, `${path}.cacheWriteInputTokens`);
  const prompt = read.count(usage.inputTokens, `${path}.inputTokens`) + cacheRead + cacheWrite;
  const out = tokenUsage(prompt, read.count(usage.outputTokens, `${path}.outputTokens`));
  // Cache reads are billed at the cached-input price; both breakdowns only when there were any.
  if (cacheRead > 0) out.cachedPromptTokens = cacheRead;
  if (cacheWrite > 0) out.cacheWritePromptTokens = cacheWrite;
  return out;
}

export interface ReplyToolCall {
  index: number;
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ConverseReply {
  text: string;
  toolCalls: ReplyToolCall[];
  finishReason: string;
  usage: UsageInit;
}

export function readConverse(body: unknown): ConverseReply {
  const root: JsonRecord = read.object(body, "body");
  const message = read.object(read.object(root.output, "output").message, "output.message");
  // Text and toolUse blocks are ours to return; reasoningContent, citations and the like have
  // no place in our message and are left out.
  let text = "";
  const toolCalls: ReplyToolCall[] = [];
  read.array(message.content, "output.message.content").forEach((value, i) => {
    const path = `output.message.content[${i}]`;
    const block = read.object(value, path);
    if (block.text !== undefined) text += read.string(block.text, `${path}.text`);
    else if (isRecord(block.toolUse)) {
      const use = block.toolUse;
      toolCalls.push({
        index: toolCalls.length,
        id: read.string(use.toolUseId, `${path}.toolUse.toolUseId`),
        type: "function",
        function: {
          name: read.string(use.name, `${path}.toolUse.name`),
          arguments: JSON.stringify(read.object(use.input, `${path}.toolUse.input`)),
        },
      });
    }
  });
  return {
    text,
    toolCalls,
    finishReason: finishReason(read.string(root.stopReason, "stopReason")),
    usage: readUsage(root.usage, "usage"),
  };
}

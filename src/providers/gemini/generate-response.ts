// Reads GenerateContentResponse bodies (https://ai.google.dev/api/generate-content#generatecontentresponse),
// whole or as stream chunks. Gemini's JSON is proto3 JSON: fields at their default value are
// left out, so candidate 0 often has no `index` and an empty answer may have no `content`.
import { type JsonRecord, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER } from "./config";
import { toolCallId } from "./tool-call-ids";
import { wellFormed } from "../../text";

export const read = upstreamReader(PROVIDER);

// https://ai.google.dev/api/generate-content#FinishReason, in OpenAI's vocabulary.
const finishReasons: ReadonlyMap<string, string> = new Map([
  ["STOP", "stop"],
  ["MAX_TOKENS", "length"],
  ["SAFETY", "content_filter"],
  ["RECITATION", "content_filter"],
  ["BLOCKLIST", "content_filter"],
  ["PROHIBITED_CONTENT", "content_filter"],
  ["SPII", "content_filter"],
  ["IMAGE_SAFETY", "content_filter"],
]);

/** STOP after function calls means the model wants them run: "tool_calls". Others pass lower-cased. */
export function finishReason(reason: string, calledTools: boolean): string {
  if (reason === "") return "";
  const mapped = finishReasons.get(reason) ?? reason.toLowerCase();
  return mapped === "stop" && calledTools ? "tool_calls" : mapped;
}

/**
 * usageMetadata: thoughts are billed as output and tool-use prompts as input, so they count on
 * those sides; totalTokenCount is the upstream's own sum. Thoughts are the reasoning tokens and
 * cachedContentTokenCount the cached part of the prompt (each reported when there were any).
 */
export function readUsage(value: unknown, path: string): UsageInit {
  const usage = read.object(value, path);
  const prompt =
    read.countOrZero(usage.promptTokenCount, `${path}.promptTokenCount`) +
    read.countOrZero(usage.toolUsePromptTokenCount, `${path}.toolUsePromptTokenCount`);
  const thoughts = read.countOrZero(usage.thoughtsTokenCount, `${path}.thoughtsTokenCount`);
  const completion = read.countOrZero(usage.candidatesTokenCount, `${path}.candidatesTokenCount`) + thoughts;
  const total =
    usage.totalTokenCount === undefined ? prompt + completion : read.count(usage.totalTokenCount, `${path}.totalTokenCount`);
  const out = tokenUsage(prompt, completion, total);
  const cached = read.countOrZero(usage.cachedContentTokenCount, `${path}.cachedContentTokenCount`);
  if (cached > 0) out.cachedPromptTokens = cached;
  if (thoughts > 0) out.reasoningTokens = thoughts;
  return out;
}

export interface GeminiToolCall {
  index: number;
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** What one candidate (or one stream chunk of it) says. */
export interface CandidatePart {
  index: number;
  text: string;
  toolCalls: GeminiToolCall[];
  /** The raw finishReason, "" while the candidate goes on. */
  finishReason: string;
}

/**
 * Reads a candidate. `firstCall` numbers its function calls: 0 for a whole answer, the number
 * already seen for a stream chunk (calls are never split across chunks, each comes whole).
 */
export function readCandidate(value: unknown, path: string, firstCall = 0): CandidatePart {
  const candidate = read.object(value, path);
  const result: CandidatePart = {
    index: read.countOrZero(candidate.index, `${path}.index`),
    text: "",
    toolCalls: [],
    finishReason: read.stringOrEmpty(candidate.finishReason, `${path}.finishReason`),
  };
  if (candidate.content === undefined || candidate.content === null) return result;
  const content = read.object(candidate.content, `${path}.content`);
  const parts = content.parts === undefined ? [] : read.array(content.parts, `${path}.content.parts`);
  parts.forEach((value, i) => {
    const partPath = `${path}.content.parts[${i}]`;
    const part: JsonRecord = read.object(value, partPath);
    if (part.functionCall !== undefined) {
      const call = read.object(part.functionCall, `${partPath}.functionCall`);
      const index = firstCall + result.toolCalls.length;
      const upstreamId = call.id === undefined ? "" : read.string(call.id, `${partPath}.functionCall.id`);
      const signature =
        part.thoughtSignature === undefined ? undefined : read.string(part.thoughtSignature, `${partPath}.thoughtSignature`);
      const args = call.args === undefined || call.args === null ? {} : read.object(call.args, `${partPath}.functionCall.args`);
      result.toolCalls.push({
        index,
        id: toolCallId(upstreamId === "" ? `call_${index}` : upstreamId, signature),
        type: "function",
        function: { name: read.string(call.name, `${partPath}.functionCall.name`), arguments: JSON.stringify(args) },
      });
    } else if (typeof part.text === "string" && part.thought !== true) {
      // thought summaries (thought: true) are reasoning, not the answer
      result.text += part.text;
    }
    // inlineData (generated images), executableCode and the like have no place in our message
  });
  // Joined first: a surrogate pair split across two parts is whole again.
  result.text = wellFormed(result.text);
  return result;
}

/** Why the prompt itself was refused, when Gemini answered with no candidates at all. */
export function promptBlockReason(root: JsonRecord): string {
  if (root.promptFeedback === undefined || root.promptFeedback === null) return "";
  const feedback = read.object(root.promptFeedback, "promptFeedback");
  return read.stringOrEmpty(feedback.blockReason, "promptFeedback.blockReason");
}

// Decodes streamGenerateContent?alt=sse: every `data:` is a whole GenerateContentResponse
// holding the next piece of each candidate (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent).
//
// Gemini's stream has no terminal event: the connection simply ends after the chunk whose
// candidate carries a finishReason (that chunk also holds the final usageMetadata). So `done`
// turns true on the first chunk with a finishReason, or on a blocked prompt's feedback; a
// stream that closes before either was cut short. This is also why streams carry a single
// candidate (n > 1 is refused for streams in generate-request.ts).
import type { ConnectError } from "@connectrpc/connect";
import { resourceExhausted, unavailable } from "../../errors";
import type { ChatChunk } from "../types";
import type { StreamDecoder } from "../../upstream/wire";
import { isRecord } from "../upstream-reader";
import type { UsageInit } from "../usage";
import { PROVIDER } from "./config";
import { finishReason, promptBlockReason, read, readCandidate, readUsage } from "./generate-response";

/** An `{"error": {...}}` chunk: Gemini's way to fail after the HTTP 200. */
function streamError(error: unknown): ConnectError {
  const body = isRecord(error) ? error : {};
  const message = typeof body.message === "string" ? body.message : "no message";
  const status = typeof body.status === "string" ? body.status : "UNKNOWN";
  const text = `${PROVIDER}: upstream stream error (${status}): ${message}`;
  return body.code === 429 || status === "RESOURCE_EXHAUSTED" ? resourceExhausted(text) : unavailable(text);
}

/** Per candidate seen so far (its first chunk carries the role): tool calls made until now. */
interface CandidateState {
  calls: number;
}

export function geminiStreamDecoder(): StreamDecoder<ChatChunk> {
  let done = false;
  let usage: UsageInit | undefined;
  let id = "";
  let model = "";
  const candidates = new Map<number, CandidateState>();

  function push(event: { data: string }): ChatChunk[] {
    const root = read.object(read.json(event.data, "stream chunk"), "stream chunk");
    if (root.error !== undefined) throw streamError(root.error);
    if (root.responseId !== undefined) id = read.string(root.responseId, "stream chunk.responseId");
    if (root.modelVersion !== undefined) model = read.string(root.modelVersion, "stream chunk.modelVersion");
    if (root.usageMetadata !== undefined) usage = readUsage(root.usageMetadata, "stream chunk.usageMetadata");
    const values = root.candidates === undefined ? [] : read.array(root.candidates, "stream chunk.candidates");
    const choices: ChatChunk["choices"] = [];
    values.forEach((value, i) => {
      const path = `stream chunk.candidates[${i}]`;
      const index = read.countOrZero(read.object(value, path).index, `${path}.index`);
      let state = candidates.get(index);
      const first = state === undefined;
      if (state === undefined) {
        state = { calls: 0 };
        candidates.set(index, state);
      }
      const part = readCandidate(value, path, state.calls);
      state.calls += part.toolCalls.length;
      if (part.finishReason !== "") done = true;
      if (!first && part.text === "" && part.toolCalls.length === 0 && part.finishReason === "") return;
      choices.push({
        index,
        delta: {
          role: first ? "assistant" : "",
          content: part.text,
          ...(part.toolCalls.length > 0 && { toolCalls: part.toolCalls }),
        },
        finishReason: finishReason(part.finishReason, state.calls > 0),
      });
    });
    if (values.length === 0 && promptBlockReason(root) !== "") {
      done = true;
      choices.push({ index: 0, delta: { role: "assistant", content: "" }, finishReason: "content_filter" });
    }
    return choices.length === 0 ? [] : [{ id, model, choices }];
  }

  return {
    push,
    get done() {
      return done;
    },
    usage: () => usage,
  };
}

// Reading TGI's native answers (router/src/lib.rs GenerateResponse, StreamResponse):
//   /generate         {generated_text, details: {finish_reason, generated_tokens, seed, prefill: [...], tokens: [...]}}
//   /generate_stream  `data:` events {index, token: {id, text, logprob, special}, generated_text, details};
//                     the last has generated_text and details {finish_reason, generated_tokens,
//                     seed, input_length} and there is no [DONE].
// Neither names the model nor gives an id, so results leave both empty.
import type { CompleteChunk, CompleteResult } from "../types";
import type { StreamDecoder } from "../../upstream/wire";
import { type JsonRecord, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { tgiStreamError } from "./wire";

/** TGI's finish_reason (length, eos_token, stop_sequence) in OpenAI's words. */
function finishReason(reason: string): string {
  return reason === "eos_token" || reason === "stop_sequence" ? "stop" : reason;
}

export function readGenerate(provider: string, body: unknown): CompleteResult {
  const read = upstreamReader(provider);
  const root = read.object(body, "body");
  const details = read.object(root.details, "details");
  const promptTokens = read.array(details.prefill, "details.prefill").length;
  return {
    id: "",
    model: "",
    choices: [
      {
        index: 0,
        text: read.string(root.generated_text, "generated_text"),
        finishReason: finishReason(read.string(details.finish_reason, "details.finish_reason")),
      },
    ],
    usage: tokenUsage(promptTokens, read.count(details.generated_tokens, "details.generated_tokens")),
  };
}

export function generateStreamDecoder(provider: string): StreamDecoder<CompleteChunk> {
  const read = upstreamReader(provider);
  let done = false;
  let usage: UsageInit | undefined;
  return {
    get done() {
      return done;
    },
    usage: () => usage,
    push(event) {
      const data: unknown = read.json(event.data, "stream event");
      const error = tgiStreamError(provider, data);
      if (error !== undefined) throw error;
      const root: JsonRecord = read.object(data, "stream event");
      const token = read.object(root.token, "stream event.token");
      // Special tokens (the closing </s>) are not part of the text, as generated_text shows.
      const text = token.special === true ? "" : read.string(token.text, "stream event.token.text");
      let reason = "";
      if (root.details !== undefined && root.details !== null) {
        const details = read.object(root.details, "stream event.details");
        reason = finishReason(read.string(details.finish_reason, "stream event.details.finish_reason"));
        // Recent servers report input_length; older ones give streams no prompt count (0 here).
        usage = tokenUsage(
          read.countOrZero(details.input_length, "stream event.details.input_length"),
          read.count(details.generated_tokens, "stream event.details.generated_tokens"),
        );
        done = true;
      }
      if (text === "" && reason === "") return [];
      return [{ id: "", model: "", choices: [{ index: 0, text, finishReason: reason }] }];
    },
  };
}

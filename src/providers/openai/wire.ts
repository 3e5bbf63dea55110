// Reading OpenAI response bodies and stream events: the parts chat, completions and embeddings share.
import { unavailable } from "../../errors";
import type { StreamDecoder } from "../types";
import { type JsonRecord, isRecord, nestedErrorMessage, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER } from "./config";

export const read = upstreamReader(PROVIDER);

/** Reads an OpenAI usage object. Embeddings have no completion tokens; some servers omit the total. */
export function readUsage(value: unknown, path: string): UsageInit {
  const usage = read.object(value, path);
  const prompt = read.count(usage.prompt_tokens, `${path}.prompt_tokens`);
  const completion = read.countOrZero(usage.completion_tokens, `${path}.completion_tokens`);
  const total =
    usage.total_tokens === undefined || usage.total_tokens === null
      ? prompt + completion
      : read.count(usage.total_tokens, `${path}.total_tokens`);
  return tokenUsage(prompt, completion, total);
}

/** Usage is optional: some OpenAI-compatible servers leave it out of non-streamed answers. */
export function readOptionalUsage(value: unknown, path: string): UsageInit | undefined {
  return value === undefined || value === null ? undefined : readUsage(value, path);
}

/** OpenAI reports mid-stream failures (and some compatible servers even 200s) as `{"error": {...}}`. */
export function throwIfError(body: JsonRecord): void {
  if (isRecord(body.error)) {
    throw unavailable(`${PROVIDER}: upstream error: ${nestedErrorMessage(body) ?? "no message"}`);
  }
}

export function readBody(body: unknown): JsonRecord {
  const root = read.object(body, "body");
  throwIfError(root);
  return root;
}

/**
 * Decodes `data:` events: JSON chunks until `[DONE]`. With include_usage the last chunk has
 * `choices: []` and the usage; vLLM sends it with `choices: null`, which is treated the same.
 */
export function openaiStreamDecoder<Chunk>(
  toChunk: (event: JsonRecord, choices: unknown[]) => Chunk,
): StreamDecoder<Chunk> {
  let done = false;
  let usage: UsageInit | undefined;
  return {
    get done() {
      return done;
    },
    usage: () => usage,
    push(event) {
      if (event.data.trim() === "[DONE]") {
        done = true;
        return [];
      }
      const chunk = read.object(read.json(event.data, "stream event"), "stream event");
      throwIfError(chunk);
      if (chunk.usage !== undefined && chunk.usage !== null) {
        usage = readUsage(chunk.usage, "stream event.usage");
      }
      const choices =
        chunk.choices === undefined || chunk.choices === null
          ? []
          : read.array(chunk.choices, "stream event.choices");
      return choices.length === 0 ? [] : [toChunk(chunk, choices)];
    },
  };
}

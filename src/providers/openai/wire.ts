// Reading OpenAI-format response bodies and stream events: the parts chat, completions and
// embeddings share. Bound to a provider name so a Mistral or Groq answer that does not parse
// is reported as theirs.
import { unavailable } from "../../errors";
import type { StreamDecoder } from "../types";
import { type JsonRecord, type UpstreamReader, isRecord, nestedErrorMessage, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";

export interface OpenAIWire {
  provider: string;
  read: UpstreamReader;
  /** Reads an OpenAI usage object. Embeddings have no completion tokens; some servers omit the total. */
  readUsage(value: unknown, path: string): UsageInit;
  /** Usage is optional: some OpenAI-compatible servers leave it out of non-streamed answers. */
  readOptionalUsage(value: unknown, path: string): UsageInit | undefined;
  /** The body as an object, after checking it is not an `{"error": ...}` answer. */
  readBody(body: unknown): JsonRecord;
  /**
   * Decodes `data:` events: JSON chunks until `[DONE]`. `toChunk` turns one chunk's choices
   * into ours (it may keep state across chunks).
   */
  streamDecoder<Chunk>(toChunk: (event: JsonRecord, choices: unknown[]) => Chunk): StreamDecoder<Chunk>;
}

export function openaiWire(provider: string): OpenAIWire {
  const read = upstreamReader(provider);

  const readUsage = (value: unknown, path: string): UsageInit => {
    const usage = read.object(value, path);
    const prompt = read.count(usage.prompt_tokens, `${path}.prompt_tokens`);
    const completion = read.countOrZero(usage.completion_tokens, `${path}.completion_tokens`);
    const total =
      usage.total_tokens === undefined || usage.total_tokens === null
        ? prompt + completion
        : read.count(usage.total_tokens, `${path}.total_tokens`);
    return tokenUsage(prompt, completion, total);
  };

  const readOptionalUsage = (value: unknown, path: string) =>
    value === undefined || value === null ? undefined : readUsage(value, path);

  // OpenAI reports mid-stream failures (and some compatible servers even 200s) as `{"error": {...}}`.
  const throwIfError = (body: JsonRecord): void => {
    if (isRecord(body.error)) {
      throw unavailable(`${provider}: upstream error: ${nestedErrorMessage(body) ?? "no message"}`);
    }
  };

  return {
    provider,
    read,
    readUsage,
    readOptionalUsage,
    readBody(body) {
      const root = read.object(body, "body");
      throwIfError(root);
      return root;
    },
    streamDecoder(toChunk) {
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
          // With include_usage the last chunk has `choices: []` and the usage (vLLM: `choices:
          // null`); Mistral and Together put it on the finishing chunk; Groq also reports it
          // as `x_groq.usage` on that chunk.
          if (chunk.usage !== undefined && chunk.usage !== null) {
            usage = readUsage(chunk.usage, "stream event.usage");
          } else if (isRecord(chunk.x_groq) && isRecord(chunk.x_groq.usage)) {
            usage = readUsage(chunk.x_groq.usage, "stream event.x_groq.usage");
          }
          const choices =
            chunk.choices === undefined || chunk.choices === null
              ? []
              : read.array(chunk.choices, "stream event.choices");
          return choices.length === 0 ? [] : [toChunk(chunk, choices)];
        },
      };
    },
  };
}

/**
 * The message of an error body: OpenAI's `{"error": {"message"}}`, which most compatible
 * servers copy, or Mistral's flat `{"object": "error", "message"}`.
 */
export function openaiErrorMessage(body: unknown): string | undefined {
  const nested = nestedErrorMessage(body);
  if (nested !== undefined) return nested;
  return isRecord(body) && typeof body.message === "string" && body.message !== "" ? body.message : undefined;
}

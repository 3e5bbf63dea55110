// Reading OpenAI-format response bodies and stream events: the parts chat, completions and
// embeddings share. Bound to a provider name so a Mistral or Groq answer that does not parse
// is reported as theirs.
import { unavailable } from "../../errors";
import type { AnswerMetadata } from "../types";
import type { StreamDecoder } from "../../upstream/wire";
import { type JsonRecord, type UpstreamReader, isRecord, MAX_COUNT, nestedErrorMessage, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { wellFormed } from "../../text";

export interface OpenAIWire {
  provider: string;
  read: UpstreamReader;
  /** Reads an OpenAI usage object. Embeddings have no completion tokens; some servers omit the total. */
  readUsage(value: unknown, path: string): UsageInit;
  /** Usage is optional: some OpenAI-compatible servers leave it out of non-streamed answers. */
  readOptionalUsage(value: unknown, path: string): UsageInit | undefined;
  /** `created`, `system_fingerprint` and `service_tier` of an answer or chunk, those present. */
  readMetadata(root: JsonRecord, path: string): AnswerMetadata;
  /** The body as an object, after checking it is not an `{"error": ...}` answer. */
  readBody(body: unknown): JsonRecord;
  /**
   * Decodes `data:` events: JSON chunks until `[DONE]`. `toChunk` turns one chunk's choices
   * into ours (it may keep state across chunks).
   */
  streamDecoder<Chunk>(toChunk: (event: JsonRecord, choices: unknown[]) => Chunk): StreamDecoder<Chunk>;
}

/** The usage breakdowns OpenAI-compatible servers report: their object, then each count and where it goes. */
const USAGE_DETAILS: readonly (readonly [string, readonly (readonly [string, keyof UsageInit & string])[]])[] = [
  [
    "prompt_tokens_details",
    [
      ["cached_tokens", "cachedPromptTokens"],
      ["audio_tokens", "promptAudioTokens"],
      ["cache_write_tokens", "cacheWritePromptTokens"],
    ],
  ],
  [
    "completion_tokens_details",
    [
      ["reasoning_tokens", "reasoningTokens"],
      ["audio_tokens", "completionAudioTokens"],
      ["accepted_prediction_tokens", "acceptedPredictionTokens"],
      ["rejected_prediction_tokens", "rejectedPredictionTokens"],
    ],
  ],
];

export function openaiWire(provider: string): OpenAIWire {
  const read = upstreamReader(provider);

  /** `record[key]` as a count, or undefined when absent; the error's path (`path.within.key`) is built only for a bad value. */
  const optionalCount = (record: JsonRecord, key: string, path: string, within?: string): number | undefined => {
    const n = record[key];
    if (n === undefined || n === null) return undefined;
    return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_COUNT ? n : read.count(n, within === undefined ? `${path}.${key}` : `${path}.${within}.${key}`);
  };
  // Called on every answer (issue 11: ~4 µs a call went to building paths and objects here).
  const readUsage = (value: unknown, path: string): UsageInit => {
    const usage = read.object(value, path);
    const prompt = optionalCount(usage, "prompt_tokens", path) ?? read.count(usage.prompt_tokens, `${path}.prompt_tokens`);
    const completion = optionalCount(usage, "completion_tokens", path) ?? 0;
    const out = tokenUsage(prompt, completion, optionalCount(usage, "total_tokens", path) ?? prompt + completion);
    // The breakdowns, each only when the server reports it.
    for (const [within, fields] of USAGE_DETAILS) {
      const details = usage[within];
      if (!isRecord(details)) continue;
      for (const [key, field] of fields) {
        const n = optionalCount(details, key, path, within);
        if (n !== undefined) out[field] = n;
      }
    }
    return out;
  };

  const readMetadata = (root: JsonRecord, path: string): AnswerMetadata => {
    const out: AnswerMetadata = {};
    if (root.created !== undefined && root.created !== null) out.created = BigInt(read.time(root.created, `${path}created`));
    if (typeof root.system_fingerprint === "string") out.systemFingerprint = wellFormed(root.system_fingerprint);
    if (typeof root.service_tier === "string") out.serviceTier = wellFormed(root.service_tier);
    return out;
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
    readMetadata,
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

// Reading Ollama answers: one JSON object per call, or one per NDJSON line when streaming, the
// last line (`done: true`) carrying done_reason and the token counts.
// Shapes: ollama/ollama docs/api.md ("Generate a completion", "Generate a chat completion",
// "Generate Embeddings") and api/types.go (ChatResponse, GenerateResponse, Metrics).
import { badUpstreamResponse, unavailable } from "../../errors";
import type { StreamDecoder } from "../../upstream/wire";
import { type JsonRecord, isRecord, upstreamReader } from "../upstream-reader";
import { type UsageInit, tokenUsage } from "../usage";
import { PROVIDER } from "./config";

export const read = upstreamReader(PROVIDER);

/** `{"error": "..."}`: Ollama's error body, over HTTP and as the last line of a failing stream. */
export function ollamaErrorMessage(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  return typeof body.error === "string" && body.error !== "" ? body.error : undefined;
}

/** A body or stream line as an object, after checking it is not an error. */
export function readAnswer(value: unknown, path: string): JsonRecord {
  const root = read.object(value, path);
  const error = ollamaErrorMessage(root);
  if (error !== undefined) throw unavailable(`${PROVIDER}: upstream error: ${error}`);
  return root;
}

/**
 * The token counts of a finished answer. Both counters are `omitempty` in Ollama's Metrics (a
 * prompt served wholly from the cache has no prompt_eval_count), so absent means 0.
 */
export function readUsage(root: JsonRecord, prefix: string): UsageInit {
  return tokenUsage(
    read.countOrZero(root.prompt_eval_count, `${prefix}prompt_eval_count`),
    read.countOrZero(root.eval_count, `${prefix}eval_count`),
  );
}

/**
 * done_reason is already in OpenAI's words ("stop", "length"); servers older than the field
 * only said `done: true`, which is a natural stop.
 */
export function readFinishReason(root: JsonRecord, prefix: string): string {
  const reason = read.stringOrEmpty(root.done_reason, `${prefix}done_reason`);
  return reason === "" ? "stop" : reason;
}

/** Whether this answer or line is the last one. */
export function isDone(root: JsonRecord, prefix: string): boolean {
  const done = root.done;
  if (done === undefined || done === null) return false;
  if (typeof done !== "boolean") throw badUpstreamResponse(PROVIDER, `${prefix}done: expected a boolean`);
  return done;
}

/**
 * Decodes NDJSON lines until the one with `done: true`, which holds the usage. `toChunks` turns
 * one line into ours; it may keep state across lines.
 */
export function ollamaStreamDecoder<Chunk>(toChunks: (line: JsonRecord, done: boolean) => Chunk[]): StreamDecoder<Chunk> {
  let done = false;
  let usage: UsageInit | undefined;
  return {
    framing: "ndjson",
    get done() {
      return done;
    },
    usage: () => usage,
    push(event) {
      const line = readAnswer(read.json(event.data, "stream line"), "stream line");
      const last = isDone(line, "stream line.");
      if (last) {
        done = true;
        usage = readUsage(line, "stream line.");
      }
      return toChunks(line, last);
    },
  };
}

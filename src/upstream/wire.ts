// What the upstream client speaks: the HTTP request a provider's translator builds, the events
// of a streamed answer (SSE, NDJSON or AWS event-stream, see framing.ts) and the decoder that
// turns them into chunks, and what the client needs of the provider it sends for. Providers
// import these; nothing in src/upstream imports src/providers.
import type { JsonValue } from "@bufbuild/protobuf";
import type { Usage } from "../../gen/modelgate/v1/common_pb";
import type { FramingName } from "./framing";

/** An HTTP request for the upstream client. The body is JSON-serialised by the client. */
export interface UpstreamRequest {
  method: "POST" | "GET";
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body?: JsonValue;
}

/** One Server-Sent Event as delivered by the SSE parser. */
export interface SseEvent {
  /** The `event:` field, when the upstream sets one (Anthropic does, OpenAI does not). */
  event?: string;
  data: string;
}

/**
 * Token counts as providers report them; the breakdowns (cached prompt tokens, reasoning tokens
 * ...) only when the provider reports them.
 */
export type UsageCounts = Pick<Usage, "promptTokens" | "completionTokens" | "totalTokens"> &
  Partial<
    Pick<
      Usage,
      | "cachedPromptTokens"
      | "reasoningTokens"
      | "promptAudioTokens"
      | "completionAudioTokens"
      | "acceptedPredictionTokens"
      | "rejectedPredictionTokens"
      | "cacheWritePromptTokens"
    >
  >;

/**
 * Turns one upstream SSE stream into our chunks. One decoder per call; it may keep state
 * (Anthropic reports input tokens at message_start and output tokens at message_delta).
 */
export interface StreamDecoder<Chunk> {
  /** How the upstream frames its stream (default "sse"); see framing.ts. */
  readonly framing?: FramingName;
  /** Feeds one event; returns the chunks to send on (often zero or one). Throws on an upstream error event. */
  push(event: SseEvent): Chunk[];
  /** True once the upstream's terminal event arrived (OpenAI `[DONE]`, Anthropic `message_stop`). */
  readonly done: boolean;
  /** The usage seen so far (complete once done). */
  usage(): UsageCounts | undefined;
}

/** What the upstream client needs of the provider it sends a request for (a Provider is one). */
export interface UpstreamPeer {
  /** The provider's name, in error messages and traces. */
  name: string;
  /**
   * Adds headers that depend on the exact body or on the time (AWS SigV4), or on a token that
   * must be fetched (Azure Entra ID). Called by the upstream client just before sending.
   */
  authorize?(req: UpstreamRequest, body: string | undefined, signal: AbortSignal): Promise<Record<string, string>>;
  /** Extracts a human-readable message from an upstream error body (never includes secrets). */
  errorMessage?(body: unknown): string | undefined;
}

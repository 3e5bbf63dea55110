// Decodes the Messages API event stream into neutral parts; chat and completions turn the
// parts into their own chunk shapes.
import type { ConnectError } from "@connectrpc/connect";
import { badUpstreamResponse, resourceExhausted, unavailable } from "../../errors";
import type { SseEvent, StreamDecoder } from "../types";
import { nestedErrorMessage } from "../upstream-reader";
import { PROVIDER } from "./config";
import { type AnthropicTokens, finishReason, read, readTokens, toUsage } from "./messages-response";

export type StreamPart =
  | { kind: "start" }
  | { kind: "text"; text: string }
  | { kind: "finish"; finishReason: string };

/** The message the parts belong to, known from message_start on. */
export interface StreamMessage {
  id: string;
  model: string;
}

export type PartToChunk<Chunk> = (part: StreamPart, message: StreamMessage) => Chunk | undefined;

/** Errors Anthropic sends mid-stream, after the HTTP 200, mapped as their HTTP twins would be. */
function streamError(data: string): ConnectError {
  const body: unknown = read.json(data, "error event");
  const message = nestedErrorMessage(body) ?? "no message";
  const type = read.object(read.object(body, "error event").error, "error event.error").type;
  const text = `${PROVIDER}: upstream stream error (${typeof type === "string" ? type : "unknown"}): ${message}`;
  return type === "rate_limit_error" ? resourceExhausted(text) : unavailable(text);
}

export function messagesStreamDecoder<Chunk>(toChunk: PartToChunk<Chunk>): StreamDecoder<Chunk> {
  let message: StreamMessage | undefined;
  let tokens: AnthropicTokens | undefined;
  let done = false;

  const emit = (part: StreamPart): Chunk[] => {
    if (message === undefined) throw badUpstreamResponse(PROVIDER, `${part.kind} before message_start`);
    const chunk = toChunk(part, message);
    return chunk === undefined ? [] : [chunk];
  };

  function push(event: SseEvent): Chunk[] {
    if (event.event === "error") throw streamError(event.data);
    const data = read.object(read.json(event.data, `${event.event ?? "stream"} event`), "stream event");
    // The `event:` name and the payload's `type` agree; the payload is what the docs specify.
    const type = read.string(data.type, "stream event.type");
    switch (type) {
      case "message_start": {
        const start = read.object(data.message, "message_start.message");
        message = {
          id: read.string(start.id, "message_start.message.id"),
          model: read.string(start.model, "message_start.message.model"),
        };
        tokens = readTokens(start.usage, "message_start.message.usage");
        return emit({ kind: "start" });
      }
      case "content_block_delta": {
        const delta = read.object(data.delta, "content_block_delta.delta");
        // input_json_delta, thinking_delta, signature_delta: not text, skipped for now
        if (delta.type !== "text_delta") return [];
        return emit({ kind: "text", text: read.string(delta.text, "content_block_delta.delta.text") });
      }
      case "message_delta": {
        // output_tokens here is the running total, not an increment
        if (data.usage !== undefined && data.usage !== null) {
          tokens = readTokens(data.usage, "message_delta.usage", tokens);
        }
        const delta = read.object(data.delta, "message_delta.delta");
        const stopReason = read.stringOrEmpty(delta.stop_reason, "message_delta.delta.stop_reason");
        return stopReason === "" ? [] : emit({ kind: "finish", finishReason: finishReason(stopReason) });
      }
      case "message_stop":
        done = true;
        return [];
      case "error":
        throw streamError(event.data);
      default:
        // ping, content_block_start/stop, and event types Anthropic may add later
        return [];
    }
  }

  return {
    push,
    get done() {
      return done;
    },
    usage: () => tokens && toUsage(tokens),
  };
}


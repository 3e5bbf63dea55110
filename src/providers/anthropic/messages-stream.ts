// Decodes the Messages API event stream into neutral parts; chat and completions turn the
// parts into their own chunk shapes. Event flow and tool streaming as documented at
// https://docs.anthropic.com/en/docs/build-with-claude/streaming: a tool_use block opens with
// content_block_start {id, name, input: {}}, its input follows as input_json_delta fragments.
import type { ConnectError } from "@connectrpc/connect";
import { badUpstreamResponse, resourceExhausted, unavailable } from "../../errors";
import type { SseEvent, StreamDecoder } from "../../upstream/wire";
import { nestedErrorMessage } from "../upstream-reader";
import { PROVIDER } from "./config";
import { type AnthropicTokens, finishReason, read, readTokens, toUsage } from "./messages-response";

export type { StreamPart } from "../stream-parts";
import type { StreamPart } from "../stream-parts";

/** A tool_use block being streamed: its tool-call index and whether any input arrived. */
interface OpenTool {
  index: number;
  streamed: boolean;
}

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
  // Content block index -> tool call; tool calls are numbered in order of appearance.
  const tools = new Map<number, OpenTool>();

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
      case "content_block_start": {
        const block = read.object(data.content_block, "content_block_start.content_block");
        // text blocks start empty; thinking and server-tool blocks are not ours to return
        if (block.type !== "tool_use") return [];
        const blockIndex = read.count(data.index, "content_block_start.index");
        const tool: OpenTool = { index: tools.size, streamed: false };
        tools.set(blockIndex, tool);
        return emit({
          kind: "tool_start",
          index: tool.index,
          id: read.string(block.id, "content_block_start.content_block.id"),
          name: read.string(block.name, "content_block_start.content_block.name"),
        });
      }
      case "content_block_delta": {
        const delta = read.object(data.delta, "content_block_delta.delta");
        if (delta.type === "text_delta") {
          return emit({ kind: "text", text: read.string(delta.text, "content_block_delta.delta.text") });
        }
        // thinking_delta, signature_delta, citations_delta: not part of our message
        if (delta.type !== "input_json_delta") return [];
        const blockIndex = read.count(data.index, "content_block_delta.index");
        const tool = tools.get(blockIndex);
        if (tool === undefined) throw badUpstreamResponse(PROVIDER, `input_json_delta for block ${blockIndex}, which is not a tool_use block`);
        const fragment = read.string(delta.partial_json, "content_block_delta.delta.partial_json");
        if (fragment === "") return [];
        tool.streamed = true;
        return emit({ kind: "tool_args", index: tool.index, fragment });
      }
      case "content_block_stop": {
        // A tool without parameters may stream no input at all; "{}" keeps the joined
        // arguments valid JSON, as the unary answer's JSON.stringify(input) would be.
        const tool = tools.get(read.count(data.index, "content_block_stop.index"));
        if (tool === undefined || tool.streamed) return [];
        tool.streamed = true;
        return emit({ kind: "tool_args", index: tool.index, fragment: "{}" });
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
        // ping, and event types Anthropic may add later
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


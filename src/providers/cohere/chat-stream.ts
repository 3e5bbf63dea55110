// Decodes the v2 chat event stream (https://docs.cohere.com/v2/docs/streaming,
// https://docs.cohere.com/v2/docs/tool-use-streaming). Each SSE event is `event: <type>` with a
// JSON `data` whose `type` says the same; message-end (finish_reason and usage) is the
// terminal event. tool-plan-delta text is streamed as content, as the unary answer returns
// tool_plan as the content of a tool-calling turn.
import { badUpstreamResponse } from "../../errors";
import type { ChatChunk } from "../types";
import type { SseEvent, StreamDecoder } from "../../upstream/wire";
import type { UsageInit } from "../usage";
import { PROVIDER } from "./config";
import { finishReason, read, readUsage } from "./chat-response";

type Delta = NonNullable<ChatChunk["choices"][number]["delta"]>;

/** A tool call being streamed: its index among the message's calls, and whether arguments came. */
interface OpenCall {
  index: number;
  streamed: boolean;
}

/** `delta.message` of an event, where every event keeps its payload. */
function deltaMessage(data: Record<string, unknown>, type: string) {
  const delta = read.object(data.delta, `${type}.delta`);
  return read.object(delta.message, `${type}.delta.message`);
}

export function cohereStreamDecoder(): StreamDecoder<ChatChunk> {
  let id: string | undefined;
  let done = false;
  let usage: UsageInit | undefined;
  // Cohere's event index -> our tool-call index (order of appearance).
  const calls = new Map<number, OpenCall>();

  const chunk = (delta: Delta, reason = ""): ChatChunk[] => {
    if (id === undefined) throw badUpstreamResponse(PROVIDER, "event before message-start");
    return [{ id, model: "", choices: [{ index: 0, delta, finishReason: reason }] }];
  };
  const callAt = (data: Record<string, unknown>, type: string): OpenCall => {
    const at = read.count(data.index, `${type}.index`);
    const call = calls.get(at);
    if (call === undefined) throw badUpstreamResponse(PROVIDER, `${type} for tool call ${at}, which never started`);
    return call;
  };

  function push(event: SseEvent): ChatChunk[] {
    // Some clients see a closing `[DONE]`; message-end has already ended the stream by then.
    if (event.data.trim() === "[DONE]") return [];
    const data = read.object(read.json(event.data, `${event.event ?? "stream"} event`), "stream event");
    const type = read.string(data.type, "stream event.type");
    switch (type) {
      case "message-start":
        id = read.string(data.id, "message-start.id");
        return chunk({ role: "assistant", content: "" });
      case "content-delta": {
        const content = read.object(deltaMessage(data, type).content, `${type}.delta.message.content`);
        // thinking deltas carry `thinking` instead of `text`
        if (content.text === undefined) return [];
        return chunk({ role: "", content: read.string(content.text, `${type}.delta.message.content.text`) });
      }
      case "tool-plan-delta":
        return chunk({ role: "", content: read.string(deltaMessage(data, type).tool_plan, `${type}.delta.message.tool_plan`) });
      case "tool-call-start": {
        const at = read.count(data.index, `${type}.index`);
        const call: OpenCall = { index: calls.size, streamed: false };
        calls.set(at, call);
        const start = read.object(deltaMessage(data, type).tool_calls, `${type}.delta.message.tool_calls`);
        const fn = read.object(start.function, `${type}.delta.message.tool_calls.function`);
        const args = read.stringOrEmpty(fn.arguments, `${type}.delta.message.tool_calls.function.arguments`);
        call.streamed = args !== "";
        return chunk({
          role: "",
          content: "",
          toolCalls: [{
            index: call.index,
            id: read.string(start.id, `${type}.delta.message.tool_calls.id`),
            type: "function",
            function: { name: read.string(fn.name, `${type}.delta.message.tool_calls.function.name`), arguments: args },
          }],
        });
      }
      case "tool-call-delta": {
        const call = callAt(data, type);
        const pending = read.object(deltaMessage(data, type).tool_calls, `${type}.delta.message.tool_calls`);
        const fn = read.object(pending.function, `${type}.delta.message.tool_calls.function`);
        const fragment = read.string(fn.arguments, `${type}.delta.message.tool_calls.function.arguments`);
        if (fragment === "") return [];
        call.streamed = true;
        return chunk({ role: "", content: "", toolCalls: [{ index: call.index, function: { arguments: fragment } }] });
      }
      case "tool-call-end": {
        // A call without arguments gets "{}", so the joined arguments are always valid JSON.
        const call = callAt(data, type);
        if (call.streamed) return [];
        call.streamed = true;
        return chunk({ role: "", content: "", toolCalls: [{ index: call.index, function: { arguments: "{}" } }] });
      }
      case "message-end": {
        const delta = read.object(data.delta, "message-end.delta");
        usage = readUsage(delta.usage, "message-end.delta.usage");
        const reason = finishReason(read.string(delta.finish_reason, "message-end.delta.finish_reason"));
        done = true;
        return chunk({ role: "", content: "" }, reason);
      }
      default:
        // content-start/-end (empty), citation-start/-end, debug, and types Cohere may add later
        return [];
    }
  }

  return {
    push,
    get done() {
      return done;
    },
    usage: () => usage,
  };
}

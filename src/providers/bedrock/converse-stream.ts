// Decodes a ConverseStream event stream (framing "aws-eventstream", one event per frame) into
// neutral parts; chat and completions turn the parts into their own chunk shapes.
// Events (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html):
//   messageStart       {role}
//   contentBlockStart  {contentBlockIndex, start: {toolUse: {toolUseId, name}}}
//   contentBlockDelta  {contentBlockIndex, delta: {text} | {toolUse: {input: <JSON fragment>}} | ...}
//   contentBlockStop   {contentBlockIndex}
//   messageStop        {stopReason}
//   metadata           {usage, metrics}          (after messageStop)
// and the modelled exceptions, delivered mid-stream after the HTTP 200: internalServerException,
// modelStreamErrorException, validationException, throttlingException,
// serviceUnavailableException. Payloads may carry a `p` padding field, which is ignored.
import type { ConnectError } from "@connectrpc/connect";
import { badUpstreamResponse, invalidArgument, resourceExhausted, unavailable } from "../../errors";
import type { SseEvent, StreamDecoder } from "../../upstream/wire";
import { isRecord } from "../upstream-reader";
import type { UsageInit } from "../usage";
import { PROVIDER } from "./config";
import { finishReason, read, readUsage } from "./converse-response";

export type { StreamPart } from "../stream-parts";
import type { StreamPart } from "../stream-parts";

export type PartToChunk<Chunk> = (part: StreamPart) => Chunk | undefined;

function streamErrorMessage(data: string): string {
  try {
    const body: unknown = JSON.parse(data);
    if (isRecord(body) && typeof body.message === "string" && body.message !== "") return body.message;
  } catch {
    // not JSON: the raw text is the message
  }
  return data.trim().slice(0, 300) || "no message";
}

/** Errors sent in the stream, mapped as their HTTP twins (429, 400, 5xx) would be. */
function streamError(event: string, data: string): ConnectError {
  const [kind, type = "unknown"] = event.split(":", 2);
  const message = streamErrorMessage(data);
  if (kind === "exception" && type === "throttlingException") {
    return resourceExhausted(`${PROVIDER}: upstream rate limit (${type}): ${message}`);
  }
  if (kind === "exception" && type === "validationException") {
    return invalidArgument(`${PROVIDER}: upstream rejected the request (${type}): ${message}`);
  }
  // modelStreamErrorException, internalServerException, serviceUnavailableException, and
  // unmodelled `error` frames
  return unavailable(`${PROVIDER}: upstream stream error (${type}): ${message}`);
}

export function converseStreamDecoder<Chunk>(toChunk: PartToChunk<Chunk>): StreamDecoder<Chunk> {
  let started = false;
  let stopped = false;
  let usage: UsageInit | undefined;
  // contentBlockIndex of each toolUse block -> its position among the message's tool calls
  const toolIndex = new Map<number, number>();

  const emit = (part: StreamPart, event: string): Chunk[] => {
    if (!started) throw badUpstreamResponse(PROVIDER, `${event} before messageStart`);
    const chunk = toChunk(part);
    return chunk === undefined ? [] : [chunk];
  };

  function push(event: SseEvent): Chunk[] {
    const type = event.event ?? "";
    if (type.startsWith("exception:") || type.startsWith("error:")) throw streamError(type, event.data);
    const data = read.object(read.json(event.data, `${type} event`), `${type} event`);
    switch (type) {
      case "messageStart":
        started = true;
        return emit({ kind: "start" }, type);
      case "contentBlockStart": {
        const start = read.object(data.start, "contentBlockStart.start");
        if (!isRecord(start.toolUse)) return [];
        const block = read.count(data.contentBlockIndex, "contentBlockStart.contentBlockIndex");
        const index = toolIndex.size;
        toolIndex.set(block, index);
        const id = read.string(start.toolUse.toolUseId, "contentBlockStart.start.toolUse.toolUseId");
        const name = read.string(start.toolUse.name, "contentBlockStart.start.toolUse.name");
        return emit({ kind: "tool_start", index, id, name }, type);
      }
      case "contentBlockDelta": {
        const delta = read.object(data.delta, "contentBlockDelta.delta");
        if (delta.text !== undefined) {
          return emit({ kind: "text", text: read.string(delta.text, "contentBlockDelta.delta.text") }, type);
        }
        if (isRecord(delta.toolUse)) {
          const block = read.count(data.contentBlockIndex, "contentBlockDelta.contentBlockIndex");
          const index = toolIndex.get(block);
          if (index === undefined) {
            throw badUpstreamResponse(PROVIDER, `contentBlockDelta: toolUse input for block ${block}, which no contentBlockStart opened`);
          }
          const fragment = read.string(delta.toolUse.input, "contentBlockDelta.delta.toolUse.input");
          return fragment === "" ? [] : emit({ kind: "tool_args", index, fragment }, type);
        }
        // reasoningContent, citation and later delta kinds have no place in our chunks
        return [];
      }
      case "messageStop":
        stopped = true;
        return emit({ kind: "finish", finishReason: finishReason(read.string(data.stopReason, "messageStop.stopReason")) }, type);
      case "metadata":
        usage = readUsage(data.usage, "metadata.usage");
        return [];
      default:
        // contentBlockStop, and event types Bedrock may add later
        return [];
    }
  }

  return {
    framing: "aws-eventstream",
    push,
    // The usage arrives in `metadata`, after messageStop: the stream is complete only with both,
    // and the upstream client stops reading as soon as `done` turns true.
    get done() {
      return stopped && usage !== undefined;
    },
    usage: () => usage,
  };
}

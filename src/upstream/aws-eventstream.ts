// AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream
// and InvokeModelWithResponseStream send it: binary frames of prelude (total and header
// lengths, CRC32), typed headers, a payload and a message CRC32. Frames are cut out of the
// byte stream by smithy's getChunkedStream (a frame may span any number of network chunks, and
// one chunk may hold several frames) and decoded, checksums verified, by its EventStreamCodec.
// Spec: https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html (the same encoding
// Lex, S3 Select and Bedrock use); codec: smithy-typescript's @smithy/core/event-streams.
import { EventStreamCodec, getChunkedStream, type Message, type MessageHeaders } from "@smithy/core/event-streams";
import { fromUtf8, toUtf8 } from "@smithy/core/serde";
import type { SseEvent } from "./wire";

/** A frame that cannot be decoded (checksum, header encoding) or that no AWS event stream sends. */
export class MalformedEventStreamError extends Error {
  override readonly name = "MalformedEventStreamError";
}

function stringHeader(headers: MessageHeaders, name: string): string | undefined {
  const header = headers[name];
  return header?.type === "string" ? header.value : undefined;
}

function requiredHeader(headers: MessageHeaders, name: string, messageType: string): string {
  const value = stringHeader(headers, name);
  if (value === undefined || value === "") {
    throw new MalformedEventStreamError(`AWS event stream: a frame of :message-type "${messageType}" has no ${name} header`);
  }
  return value;
}

/**
 * One frame as an event for the stream decoders:
 *   :message-type "event"     -> { event: :event-type, data: payload }
 *   :message-type "exception" -> { event: "exception:" + :exception-type, data: payload }
 *                                (the modelled errors, e.g. throttlingException; payload {"message"})
 *   :message-type "error"     -> { event: "error:" + :error-code, data: {"message": :error-message} }
 *                                (unmodelled service errors carry their text in headers)
 */
export function frameEvent(message: Message): SseEvent {
  const { headers } = message;
  const messageType = stringHeader(headers, ":message-type") ?? "event";
  const payload = () => toUtf8(message.body);
  switch (messageType) {
    case "event":
      return { event: requiredHeader(headers, ":event-type", messageType), data: payload() };
    case "exception":
      return { event: `exception:${requiredHeader(headers, ":exception-type", messageType)}`, data: payload() };
    case "error": {
      const code = requiredHeader(headers, ":error-code", messageType);
      return { event: `error:${code}`, data: JSON.stringify({ message: stringHeader(headers, ":error-message") ?? "" }) };
    }
    default:
      throw new MalformedEventStreamError(`AWS event stream: unknown :message-type "${messageType}"`);
  }
}

/**
 * Yields one event per frame. A corrupt frame (bad checksum, bad header encoding) or a body
 * that ends inside a frame throws, which the upstream client reports as UNAVAILABLE.
 */
export async function* awsEventStreamEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  for await (const frame of getChunkedStream(body)) {
    let message: Message;
    try {
      message = codec.decode(frame);
    } catch (err) {
      throw new MalformedEventStreamError(`AWS event stream: ${err instanceof Error ? err.message : String(err)}`);
    }
    yield frameEvent(message);
  }
}

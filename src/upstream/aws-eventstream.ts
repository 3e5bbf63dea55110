// AWS event-stream framing (`application/vnd.amazon.eventstream`), as Bedrock's ConverseStream
// and InvokeModelWithResponseStream send it: binary frames of prelude (total and header
// lengths, CRC32), typed headers, a payload and a message CRC32. Frames are cut out of the
// byte stream by smithy's getChunkedStream (a frame may span any number of network chunks, and
// one chunk may hold several frames) and decoded, checksums verified, by its EventStreamCodec.
// Spec: https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html (the same encoding
// Lex, S3 Select and Bedrock use); codec: smithy-typescript's @smithy/core/event-streams.
import { EventStreamCodec, getChunkedStream, type Message, type MessageHeaders } from "@smithy/core/event-streams";
import { fromUtf8, toUtf8 } from "@smithy/core/serde";
import { defaultEventLimits, oversizeEvent, type EventLimits } from "./limits";
import type { SseEvent } from "./wire";

/** The prelude (total length, headers length, prelude CRC) and the message CRC: the least a frame is. */
const MIN_FRAME_BYTES = 16;

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
 * The body's chunks, unchanged, once each frame's total length (its first 4 bytes, big-endian) is
 * known to be possible: getChunkedStream allocates a frame's whole length as soon as it reads it,
 * so a length over `maxEventBytes` (up to 4 GiB) is refused before it is allocated, and one
 * shorter than a frame can be (which getChunkedStream cannot buffer) is malformed. A frame's
 * length is taken from limits.held from its prelude to its last byte.
 */
async function* checkedFrameLengths(body: AsyncIterable<Uint8Array>, limits: EventLimits): AsyncGenerator<Uint8Array> {
  let lengthBytes = 0; // of the current frame's total length, read so far (0 to 3)
  let length = 0;
  let left = 0; // bytes of the current frame after its total length, not read yet
  let held = 0; // the current frame's length while it is being read
  try {
    for await (const chunk of body) {
      let i = 0;
      while (i < chunk.length) {
        if (left > 0) {
          const n = Math.min(left, chunk.length - i);
          left -= n;
          i += n;
          if (left === 0) {
            limits.held.give(held);
            held = 0;
          }
          continue;
        }
        length = length * 256 + chunk[i++]!;
        if (++lengthBytes < 4) continue;
        if (length > limits.maxEventBytes) throw oversizeEvent(limits.maxEventBytes);
        if (length < MIN_FRAME_BYTES) throw new MalformedEventStreamError(`AWS event stream: a frame of ${length} bytes (a frame is at least ${MIN_FRAME_BYTES})`);
        if (!limits.held.take(length)) throw limits.held.full();
        held = length;
        left = length - 4;
        length = 0;
        lengthBytes = 0;
      }
      yield chunk;
    }
  } finally {
    limits.held.give(held);
  }
}

/**
 * Yields one event per frame. A corrupt frame (bad checksum, bad header encoding) or a body
 * that ends inside a frame throws, which the upstream client reports as UNAVAILABLE; so does a
 * frame over the limits.
 */
export async function* awsEventStreamEvents(body: AsyncIterable<Uint8Array>, limits = defaultEventLimits()): AsyncGenerator<SseEvent> {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const checked = checkedFrameLengths(body, limits);
  try {
    for await (const frame of getChunkedStream(checked)) {
      let message: Message;
      try {
        message = codec.decode(frame);
      } catch (err) {
        throw new MalformedEventStreamError(`AWS event stream: ${err instanceof Error ? err.message : String(err)}`);
      }
      yield frameEvent(message);
    }
  } finally {
    // getChunkedStream reads its source by hand and never returns it: the frame held is given back here.
    checked.return(undefined).catch(ignore);
  }
}

function ignore(): void {}

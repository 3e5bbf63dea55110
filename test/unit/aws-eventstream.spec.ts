// The AWS event-stream framing: real frames, encoded with smithy's codec (as Bedrock's servers
// and test/fakes/fake-bedrock.ts do), fed to awsEventStreamEvents whole, byte by byte and split
// at awkward places; corrupt and truncated streams must fail, never yield garbage.
import { EventStreamCodec, type MessageHeaders } from "@smithy/core/event-streams";
import { fromUtf8, toUtf8 } from "@smithy/core/serde";
import { describe, expect, it } from "vitest";
import type { SseEvent } from "../../src/upstream/wire";
import { MalformedEventStreamError, awsEventStreamEvents } from "../../src/upstream/aws-eventstream";
import { framings } from "../../src/upstream/framing";

const codec = new EventStreamCodec(toUtf8, fromUtf8);

function frame(headers: Record<string, string>, payload: string): Uint8Array {
  const typed: MessageHeaders = {};
  for (const [name, value] of Object.entries(headers)) typed[name] = { type: "string", value };
  return codec.encode({ headers: typed, body: fromUtf8(payload) });
}

const event = (type: string, payload: object) =>
  frame({ ":event-type": type, ":content-type": "application/json", ":message-type": "event" }, JSON.stringify(payload));

const frames = [
  event("messageStart", { p: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0", role: "assistant" }),
  event("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "Grüße, 世界 👋" }, p: "abcd" }),
  event("messageStop", { p: "ab", stopReason: "end_turn" }),
  event("metadata", { metrics: { latencyMs: 12 }, usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } }),
];

const expected: SseEvent[] = [
  { event: "messageStart", data: JSON.stringify({ p: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0", role: "assistant" }) },
  { event: "contentBlockDelta", data: JSON.stringify({ contentBlockIndex: 0, delta: { text: "Grüße, 世界 👋" }, p: "abcd" }) },
  { event: "messageStop", data: JSON.stringify({ p: "ab", stopReason: "end_turn" }) },
  {
    event: "metadata",
    data: JSON.stringify({ metrics: { latencyMs: 12 }, usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } }),
  },
];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An offset inside the UTF-8 bytes of `text` within the frame (after its first byte). */
function inside(bytes: Uint8Array, text: string): number {
  const needle = fromUtf8(text);
  for (let i = 0; i + needle.length <= bytes.length; i++) {
    if (needle.every((b, j) => bytes[i + j] === b)) return i + 1;
  }
  throw new Error(`"${text}" is not in the frame`);
}

/** The bytes cut at the given offsets, delivered as separate network chunks. */
async function* chunked(bytes: Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) yield bytes.slice(from, cut);
    from = Math.max(from, cut);
  }
}

async function decode(body: AsyncIterable<Uint8Array>): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of awsEventStreamEvents(body)) out.push(e);
  return out;
}

async function decodeError(body: AsyncIterable<Uint8Array>): Promise<Error> {
  try {
    await decode(body);
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the stream to fail");
}

describe("awsEventStreamEvents", () => {
  const all = concat(frames);
  const ends = frames.reduce<number[]>((acc, f) => [...acc, (acc.at(-1) ?? 0) + f.length], []);

  it("is registered as the aws-eventstream framing for Bedrock's content type", () => {
    expect(framings["aws-eventstream"].contentTypes).toEqual(["application/vnd.amazon.eventstream"]);
    expect(framings["aws-eventstream"].events).toBe(awsEventStreamEvents);
  });

  it("decodes several frames delivered in one chunk", async () => {
    expect(await decode(chunked(all, []))).toEqual(expected);
  });

  it("decodes frames delivered one byte at a time", async () => {
    expect(await decode(chunked(all, Array.from({ length: all.length }, (_, i) => i)))).toEqual(expected);
  });

  it.each([
    ["inside the first length field", [2]],
    ["between the prelude and its checksum", [8]],
    ["right after the prelude", [12]],
    ["inside the headers", [20]],
    ["inside a multi-byte UTF-8 character", [ends[0]! + inside(frames[1]!, "ü"), ends[0]! + inside(frames[1]!, "👋")]],
    ["one byte before a frame ends, and one after", [ends[1]! - 1, ends[1]! + 1]],
    ["exactly at every frame boundary", ends.slice(0, -1)],
    ["inside the trailing message checksum", [ends[2]! - 2]],
  ])("decodes frames split %s", async (_name, cuts) => {
    expect(await decode(chunked(all, cuts))).toEqual(expected);
  });

  it("decodes frames split at every offset pair (exhaustive over the first two frames)", async () => {
    const two = concat(frames.slice(0, 2));
    for (let a = 1; a < two.length; a += 7) {
      for (let b = a; b < two.length; b += 11) {
        expect(await decode(chunked(two, [a, b]))).toEqual(expected.slice(0, 2));
      }
    }
  });

  it("turns exception frames into exception:<type> events with the JSON payload", async () => {
    const exception = frame(
      { ":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception" },
      '{"message":"Too many requests, please wait before trying again."}',
    );
    expect(await decode(chunked(concat([frames[0]!, exception]), [5]))).toEqual([
      expected[0],
      { event: "exception:throttlingException", data: '{"message":"Too many requests, please wait before trying again."}' },
    ]);
  });

  it("turns error frames into error:<code> events carrying the header message as JSON", async () => {
    const error = frame({ ":message-type": "error", ":error-code": "InternalFailure", ":error-message": "An internal error occurred." }, "");
    expect(await decode(chunked(error, []))).toEqual([
      { event: "error:InternalFailure", data: JSON.stringify({ message: "An internal error occurred." }) },
    ]);
  });

  it("yields nothing for an empty body", async () => {
    expect(await decode(chunked(new Uint8Array(0), []))).toEqual([]);
  });

  it("fails on a frame whose message checksum does not match", async () => {
    const corrupt = event("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "hello" } });
    const at = corrupt.length - 20; // a payload byte
    corrupt[at] = corrupt[at]! ^ 0xff;
    const err = await decodeError(chunked(concat([frames[0]!, corrupt]), []));
    expect(err).toBeInstanceOf(MalformedEventStreamError);
    expect(err.message).toMatch(/^AWS event stream: .*checksum/i);
  });

  it("fails on a frame whose prelude checksum does not match", async () => {
    const corrupt = frames[0]!.slice();
    corrupt[9] = corrupt[9]! ^ 0x01;
    const err = await decodeError(chunked(corrupt, []));
    expect(err).toBeInstanceOf(MalformedEventStreamError);
    expect(err.message).toMatch(/prelude checksum/i);
  });

  it("fails when the body ends inside a frame, after yielding the complete ones", async () => {
    const seen: SseEvent[] = [];
    let failure: unknown;
    try {
      for await (const e of awsEventStreamEvents(chunked(all.slice(0, ends[1]! + 10), [3]))) seen.push(e);
    } catch (err) {
      failure = err;
    }
    expect(seen).toEqual(expected.slice(0, 2));
    expect(String(failure)).toMatch(/Truncated event message/);
  });

  it("fails on an unknown :message-type", async () => {
    const odd = frame({ ":message-type": "gossip", ":event-type": "x" }, "{}");
    const err = await decodeError(chunked(odd, []));
    expect(err).toBeInstanceOf(MalformedEventStreamError);
    expect(err.message).toBe('AWS event stream: unknown :message-type "gossip"');
  });

  it("fails on an event frame without :event-type", async () => {
    const err = await decodeError(chunked(frame({ ":message-type": "event" }, "{}"), []));
    expect(err.message).toBe('AWS event stream: a frame of :message-type "event" has no :event-type header');
  });
});

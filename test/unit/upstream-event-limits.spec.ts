// Each streamed framing holds at most `maxEventBytes` of an event that has not ended: an upstream
// sending an endless line, an event whose data lines never end, or an AWS frame that claims
// gigabytes fails with OversizeAnswerError before the gateway's heap fills. Streams that are long
// but made of small events, and keep-alive comments however many, are not limited.
import { EventStreamCodec } from "@smithy/core/event-streams";
import { fromUtf8, toUtf8 } from "@smithy/core/serde";
import { describe, expect, it } from "vitest";
import { MalformedEventStreamError, awsEventStreamEvents } from "../../src/upstream/aws-eventstream";
import { ndjsonEvents, sseEvents } from "../../src/upstream/framing";
import { OversizeAnswerError } from "../../src/upstream/limits";
import type { SseEvent } from "../../src/upstream/wire";

const KB = 1024;

/** `count` chunks of `text`, then the end; counts how many chunks were pulled. */
function body(text: string | Uint8Array, count: number, pulled = { n: 0 }): AsyncIterable<Uint8Array> {
  const bytes = typeof text === "string" ? fromUtf8(text) : text;
  return {
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < count; i++) {
        pulled.n++;
        yield bytes;
      }
    },
  };
}

function cat(...parts: AsyncIterable<Uint8Array>[]): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const p of parts) yield* p;
    },
  };
}

async function drain(events: AsyncIterable<SseEvent>): Promise<{ events: SseEvent[]; error?: unknown }> {
  const out: SseEvent[] = [];
  try {
    for await (const e of events) out.push(e);
  } catch (error) {
    return { events: out, error };
  }
  return { events: out };
}

describe("sseEvents with maxEventBytes", () => {
  it("a line that never ends fails once it is over the bound, without reading the rest", async () => {
    const pulled = { n: 0 };
    const r = await drain(sseEvents(cat(body("data: first\n\n", 1), body("data: ", 1), body("a".repeat(4 * KB), 1_000_000, pulled)), 64 * KB));
    expect(r.events).toEqual([{ data: "first" }]);
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect((r.error as Error).message).toBe(`a streamed event is larger than ${64 * KB} bytes`);
    expect(pulled.n).toBeLessThanOrEqual(17);
  });

  it("an event whose data lines never end with a blank line fails the same way", async () => {
    const pulled = { n: 0 };
    const r = await drain(sseEvents(body(`data: ${"b".repeat(1000)}\n`, 1_000_000, pulled), 64 * KB));
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect(pulled.n).toBeLessThanOrEqual(70);
  });

  it("many small events and endless comments are not limited", async () => {
    const events = body(`data: ${"c".repeat(1000)}\n\n`, 1000); // ~1 MB of events
    const comments = body(`: keep-alive ${"k".repeat(1000)}\n`, 1000); // ~1 MB of comments, no event
    const r = await drain(sseEvents(cat(events, comments, body("data: last\n\n", 1)), 16 * KB));
    expect(r.error).toBeUndefined();
    expect(r.events).toHaveLength(1001);
    expect(r.events.at(-1)).toEqual({ data: "last" });
  });

  it("an event of exactly the bound passes", async () => {
    const data = "d".repeat(8 * KB - "data: ".length);
    const r = await drain(sseEvents(body(`data: ${data}\n\n`, 3), 8 * KB));
    expect(r.error).toBeUndefined();
    expect(r.events).toEqual([{ data }, { data }, { data }]);
  });
});

describe("ndjsonEvents with maxEventBytes", () => {
  it("a line that never ends fails once it is over the bound", async () => {
    const pulled = { n: 0 };
    const r = await drain(ndjsonEvents(cat(body('{"a":1}\n', 1), body("x".repeat(4 * KB), 1_000_000, pulled)), 64 * KB));
    expect(r.events).toEqual([{ data: '{"a":1}' }]);
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect(pulled.n).toBeLessThanOrEqual(17);
  });

  it("many lines, each under the bound, are not limited", async () => {
    const r = await drain(ndjsonEvents(body(`{"t":"${"y".repeat(1000)}"}\n`, 1000), 4 * KB));
    expect(r.error).toBeUndefined();
    expect(r.events).toHaveLength(1000);
  });
});

describe("awsEventStreamEvents with maxEventBytes", () => {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const frame = (payload: string) =>
    codec.encode({
      headers: { ":event-type": { type: "string", value: "contentBlockDelta" }, ":message-type": { type: "string", value: "event" } },
      body: fromUtf8(payload),
    });

  it("a frame that claims 4 GiB fails from its first 4 bytes, before anything is allocated for it", async () => {
    const claim = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    const r = await drain(awsEventStreamEvents(cat(body(frame('{"a":1}'), 1), body(claim, 1)), 64 * KB));
    expect(r.events).toHaveLength(1);
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect((r.error as Error).message).toBe(`a streamed event is larger than ${64 * KB} bytes`);
  });

  it("a real frame over the bound fails; frames under it, however many, pass", async () => {
    const small = frame(JSON.stringify({ t: "z".repeat(1000) }));
    const ok = await drain(awsEventStreamEvents(body(small, 500), 2 * KB));
    expect(ok.error).toBeUndefined();
    expect(ok.events).toHaveLength(500);
    const big = await drain(awsEventStreamEvents(body(frame("z".repeat(3 * KB)), 1), 2 * KB));
    expect(big.error).toBeInstanceOf(OversizeAnswerError);
  });

  it("a frame shorter than a prelude and its checksum is malformed", async () => {
    const r = await drain(awsEventStreamEvents(body(new Uint8Array([0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8]), 1)));
    expect(r.error).toBeInstanceOf(MalformedEventStreamError);
    expect((r.error as Error).message).toBe("AWS event stream: a frame of 5 bytes (a frame is at least 16)");
  });
});

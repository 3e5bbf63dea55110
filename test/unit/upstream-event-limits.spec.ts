// Each streamed framing holds at most `maxEventBytes` of an event that has not ended: an upstream
// sending an endless line, an event whose data lines never end, or an AWS frame that claims
// gigabytes fails with OversizeAnswerError before the gateway's heap fills. Streams that are long
// but made of small events, and keep-alive comments however many, are not limited.
import { EventStreamCodec } from "@smithy/core/event-streams";
import { fromUtf8, toUtf8 } from "@smithy/core/serde";
import { describe, expect, it } from "vitest";
import { MalformedEventStreamError, awsEventStreamEvents } from "../../src/upstream/aws-eventstream";
import { ndjsonEvents, sseEvents } from "../../src/upstream/framing";
import { HeldAnswers, OversizeAnswerError, type EventLimits } from "../../src/upstream/limits";
import type { SseEvent } from "../../src/upstream/wire";

const KB = 1024;

/** Limits of `maxEventBytes` per event, nothing else held. */
const per = (maxEventBytes: number, held = new HeldAnswers(Infinity)): EventLimits => ({ maxEventBytes, held });

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
    const r = await drain(sseEvents(cat(body("data: first\n\n", 1), body("data: ", 1), body("a".repeat(4 * KB), 1_000_000, pulled)), per(64 * KB)));
    expect(r.events).toEqual([{ data: "first" }]);
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect((r.error as Error).message).toBe(`a streamed event is larger than ${64 * KB} bytes`);
    expect(pulled.n).toBeLessThanOrEqual(17);
  });

  it("an event whose data lines never end with a blank line fails the same way", async () => {
    const pulled = { n: 0 };
    const r = await drain(sseEvents(body(`data: ${"b".repeat(1000)}\n`, 1_000_000, pulled), per(64 * KB)));
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect(pulled.n).toBeLessThanOrEqual(70);
  });

  it("many small events and endless comments are not limited", async () => {
    const events = body(`data: ${"c".repeat(1000)}\n\n`, 1000); // ~1 MB of events
    const comments = body(`: keep-alive ${"k".repeat(1000)}\n`, 1000); // ~1 MB of comments, no event
    const r = await drain(sseEvents(cat(events, comments, body("data: last\n\n", 1)), per(16 * KB)));
    expect(r.error).toBeUndefined();
    expect(r.events).toHaveLength(1001);
    expect(r.events.at(-1)).toEqual({ data: "last" });
  });

  it("an event of exactly the bound passes", async () => {
    const data = "d".repeat(8 * KB - "data: ".length);
    const r = await drain(sseEvents(body(`data: ${data}\n\n`, 3), per(8 * KB)));
    expect(r.error).toBeUndefined();
    expect(r.events).toEqual([{ data }, { data }, { data }]);
  });
});

describe("ndjsonEvents with maxEventBytes", () => {
  it("a line that never ends fails once it is over the bound", async () => {
    const pulled = { n: 0 };
    const r = await drain(ndjsonEvents(cat(body('{"a":1}\n', 1), body("x".repeat(4 * KB), 1_000_000, pulled)), per(64 * KB)));
    expect(r.events).toEqual([{ data: '{"a":1}' }]);
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect(pulled.n).toBeLessThanOrEqual(17);
  });

  it("many lines, each under the bound, are not limited", async () => {
    const r = await drain(ndjsonEvents(body(`{"t":"${"y".repeat(1000)}"}\n`, 1000), per(4 * KB)));
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
    const r = await drain(awsEventStreamEvents(cat(body(frame('{"a":1}'), 1), body(claim, 1)), per(64 * KB)));
    expect(r.events).toHaveLength(1);
    expect(r.error).toBeInstanceOf(OversizeAnswerError);
    expect((r.error as Error).message).toBe(`a streamed event is larger than ${64 * KB} bytes`);
  });

  it("a real frame over the bound fails; frames under it, however many, pass", async () => {
    const small = frame(JSON.stringify({ t: "z".repeat(1000) }));
    const ok = await drain(awsEventStreamEvents(body(small, 500), per(2 * KB)));
    expect(ok.error).toBeUndefined();
    expect(ok.events).toHaveLength(500);
    const big = await drain(awsEventStreamEvents(body(frame("z".repeat(3 * KB)), 1), per(2 * KB)));
    expect(big.error).toBeInstanceOf(OversizeAnswerError);
  });

  it("a frame shorter than a prelude and its checksum is malformed", async () => {
    const r = await drain(awsEventStreamEvents(body(new Uint8Array([0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8]), 1)));
    expect(r.error).toBeInstanceOf(MalformedEventStreamError);
    expect((r.error as Error).message).toBe("AWS event stream: a frame of 5 bytes (a frame is at least 16)");
  });
});

describe("HeldAnswers: what all answers hold at once", () => {
  const codec = new EventStreamCodec(toUtf8, fromUtf8);
  const frame = (payload: string) =>
    codec.encode({ headers: { ":event-type": { type: "string", value: "e" }, ":message-type": { type: "string", value: "event" } }, body: fromUtf8(payload) });

  it("an answer that would pass the shared bound fails with it, however small its own events are", async () => {
    const held = new HeldAnswers(32 * KB);
    const sse = await drain(sseEvents(cat(body("data: ", 1), body("a".repeat(4 * KB), 100)), per(64 * KB, held)));
    expect(sse.error).toBeInstanceOf(OversizeAnswerError);
    expect((sse.error as Error).message).toBe(`upstream answers held at once would pass ${32 * KB} bytes (server.max_upstream_held_bytes)`);
    expect(held.bytes).toBe(0);
    const nd = await drain(ndjsonEvents(body("x".repeat(4 * KB), 100), per(64 * KB, held)));
    expect((nd.error as Error).message).toContain("held at once");
    expect(held.bytes).toBe(0);
    const aws = await drain(awsEventStreamEvents(body(frame("z".repeat(40 * KB)), 1), per(64 * KB, held)));
    expect((aws.error as Error).message).toContain("held at once");
    expect(held.bytes).toBe(0);
  });

  it("two streams share it: the second one to ask for more than is left fails, the first goes on", async () => {
    const held = new HeldAnswers(48 * KB);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const afterGate: AsyncIterable<Uint8Array> = {
      async *[Symbol.asyncIterator]() {
        await gate;
        yield fromUtf8("\n\ndata: end\n\n");
      },
    };
    const first = sseEvents(cat(body("data: ", 1), body("a".repeat(4 * KB), 8), afterGate), per(64 * KB, held))[Symbol.asyncIterator]();
    // The first holds ~32 KB of an event not ended yet, waiting for its end.
    const firstEvent = first.next();
    await expect.poll(() => held.bytes).toBeGreaterThan(30 * KB);
    const second = await drain(sseEvents(cat(body("data: ", 1), body("b".repeat(4 * KB), 8)), per(64 * KB, held)));
    expect((second.error as Error).message).toContain("held at once");
    open();
    expect((await firstEvent).value).toEqual({ data: "a".repeat(32 * KB) });
    expect((await first.next()).value).toEqual({ data: "end" });
    expect((await first.next()).done).toBe(true);
    expect(held.bytes).toBe(0);
  });

  it("everything is given back: streams that end, fail or are returned early", async () => {
    const held = new HeldAnswers(Infinity);
    await drain(sseEvents(body("data: x\n\n", 1000), per(64 * KB, held)));
    await drain(ndjsonEvents(body('{"a":1}\n{"b":', 3), per(64 * KB, held)));
    await drain(awsEventStreamEvents(body(frame("{}"), 10), per(64 * KB, held)));
    expect(held.bytes).toBe(0);
    for (const events of [
      sseEvents(cat(body("data: x\n\ndata: half", 1), body("f", 10)), per(64 * KB, held)),
      ndjsonEvents(cat(body('{"a":1}\n{"half', 1), body("f", 10)), per(64 * KB, held)),
      awsEventStreamEvents(cat(body(frame("{}"), 1), body(frame("{}").slice(0, 20), 1), body(new Uint8Array(1), 10)), per(64 * KB, held)),
    ]) {
      const it = events[Symbol.asyncIterator]();
      expect((await it.next()).done).toBe(false);
      await it.return?.();
      expect(held.bytes).toBe(0);
    }
  });
});

// onCallEnd and mapCallErrors wrap a stream response in a plain iterator (no generator per layer):
// done() runs exactly once however the stream ends, errors are mapped wherever they arise, and
// return/throw reach the stream underneath.
import type { StreamResponse, UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { mapCallErrors, onCallEnd } from "../../src/interceptors/call-end";

/** A stream of `values` that records whether it was closed early, optionally failing after them. */
function source(values: number[], failWith?: Error) {
  const state = { closed: false, thrownIn: undefined as unknown };
  async function* gen() {
    try {
      for (const v of values) yield v;
      if (failWith) throw failWith;
    } catch (err) {
      state.thrownIn = err;
      throw err;
    } finally {
      state.closed = true;
    }
  }
  return { messages: gen(), state };
}

const streamRes = (messages: AsyncIterable<number>) => ({ stream: true, message: messages }) as unknown as StreamResponse;

describe("onCallEnd", () => {
  it("a unary response: done at once", () => {
    const calls: unknown[] = [];
    onCallEnd({ stream: false } as unknown as UnaryResponse, new AbortController().signal, (err) => calls.push(err));
    expect(calls).toEqual([undefined]);
  });

  it("a stream read to its end: every message, then done once without an error", async () => {
    const calls: unknown[] = [];
    const { messages } = source([1, 2, 3]);
    const res = onCallEnd(streamRes(messages), new AbortController().signal, (err) => calls.push(err));
    const got: number[] = [];
    for await (const m of res.message as AsyncIterable<number>) got.push(m);
    expect(got).toEqual([1, 2, 3]);
    expect(calls).toEqual([undefined]);
  });

  it("a stream that fails: the error passes through and done gets it, once", async () => {
    const calls: unknown[] = [];
    const boom = new Error("boom");
    const res = onCallEnd(streamRes(source([1], boom).messages), new AbortController().signal, (err) => calls.push(err));
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const m of res.message as AsyncIterable<number>) got.push(m);
      })(),
    ).rejects.toBe(boom);
    expect(got).toEqual([1]);
    expect(calls).toEqual([boom]);
  });

  it("a reader that stops early closes the stream; done gets the abort reason of a client that went away", async () => {
    const calls: unknown[] = [];
    const { messages, state } = source([1, 2, 3]);
    const ac = new AbortController();
    const res = onCallEnd(streamRes(messages), ac.signal, (err) => calls.push(err));
    for await (const m of res.message as AsyncIterable<number>) {
      expect(m).toBe(1);
      ac.abort(new Error("client gone"));
      break;
    }
    expect(state.closed).toBe(true);
    expect(calls).toHaveLength(1);
    expect((calls[0] as Error).message).toBe("client gone");
  });

  it("throw() reaches the stream, and done gets the error", async () => {
    const calls: unknown[] = [];
    const { messages, state } = source([1, 2, 3]);
    const res = onCallEnd(streamRes(messages), new AbortController().signal, (err) => calls.push(err));
    const it = (res.message as AsyncIterable<number>)[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(1);
    const writeFailed = new Error("write failed");
    await expect(it.throw!(writeFailed)).rejects.toBe(writeFailed);
    expect(state.thrownIn).toBe(writeFailed);
    expect(calls).toEqual([writeFailed]);
  });
});

describe("mapCallErrors", () => {
  it("maps an error thrown before the response and one thrown mid-stream", async () => {
    const map = (err: unknown) => new Error(`mapped: ${(err as Error).message}`);
    await expect(mapCallErrors(() => Promise.reject(new Error("early")), {} as never, map)).rejects.toThrow("mapped: early");
    const res = await mapCallErrors(() => Promise.resolve(streamRes(source([7], new Error("late")).messages)), {} as never, map);
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const m of (res as StreamResponse).message as AsyncIterable<number>) got.push(m);
      })(),
    ).rejects.toThrow("mapped: late");
    expect(got).toEqual([7]);
  });

  it("passes a unary response through untouched", async () => {
    const unary = { stream: false, message: { ok: true } } as unknown as UnaryResponse;
    expect(await mapCallErrors(() => Promise.resolve(unary), {} as never, (e) => e)).toBe(unary);
  });
});

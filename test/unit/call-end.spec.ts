// onCallEnd and mapCallErrors wrap a stream response in a plain iterator (no generator per layer):
// done() runs exactly once however the stream ends, errors are mapped wherever they arise, and
// return/throw reach the stream underneath.
import type { StreamResponse, UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { mapCallErrors, meterStream, onCallEnd } from "../../src/interceptors/call-end";

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

describe("stacked interceptors", () => {
  it("share one wrapper: each stage sees each result and the end, innermost first", async () => {
    const seen: string[] = [];
    const { messages } = source([1, 2]);
    const signal = new AbortController().signal;
    const inner = onCallEnd(streamRes(messages), signal, (err) => seen.push(`inner done ${String(err)}`));
    const mapped = (await mapCallErrors(() => Promise.resolve(inner), {} as never, (e) => e)) as StreamResponse;
    const outer = onCallEnd(mapped, signal, (err) => seen.push(`outer done ${String(err)}`));
    // One layer: the outer interceptors added stages to the inner wrapper and kept its response.
    expect(mapped).toBe(inner);
    expect(outer).toBe(inner);
    const got: number[] = [];
    for await (const m of outer.message as AsyncIterable<number>) got.push(m);
    expect(got).toEqual([1, 2]);
    expect(seen).toEqual(["inner done undefined", "outer done undefined"]);
  });

  it("map a mid-stream error in order, inner map first, and each done sees the error as mapped so far", async () => {
    const seen: string[] = [];
    const signal = new AbortController().signal;
    const wrapIn = (label: string) => (err: unknown) => new Error(`${label}(${(err as Error).message})`);
    const first = (await mapCallErrors(() => Promise.resolve(streamRes(source([5], new Error("late")).messages)), {} as never, wrapIn("a"))) as StreamResponse;
    const watched = onCallEnd(first, signal, (err) => seen.push((err as Error).message));
    const second = (await mapCallErrors(() => Promise.resolve(watched), {} as never, wrapIn("b"))) as StreamResponse;
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const m of second.message as AsyncIterable<number>) got.push(m);
      })(),
    ).rejects.toThrow("b(a(late))");
    expect(got).toEqual([5]);
    expect(seen).toEqual(["a(late)"]);
  });

  it("a stage that throws on a result fails through the stages outside it only, as nested wrappers would", async () => {
    const seen: string[] = [];
    const signal = new AbortController().signal;
    const inner = onCallEnd(streamRes(source([1, 2]).messages), signal, (err) => seen.push(`inner ${String(err)}`));
    const throwing = onCallEnd(inner, signal, () => {
      throw new Error("done failed");
    });
    const outer = onCallEnd(throwing, signal, (err) => seen.push(`outer ${(err as Error).message}`));
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const m of outer.message as AsyncIterable<number>) got.push(m);
      })(),
    ).rejects.toThrow("done failed");
    expect(got).toEqual([1, 2]);
    expect(seen).toEqual(["inner undefined", "outer done failed"]);
  });

  it("a stream already being read gets a layer of its own", async () => {
    const seen: string[] = [];
    const signal = new AbortController().signal;
    const inner = onCallEnd(streamRes(source([1, 2]).messages), signal, () => seen.push("inner"));
    const it = (inner.message as AsyncIterable<number>)[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(1);
    const outer = onCallEnd(inner, signal, () => seen.push("outer"));
    expect(outer).not.toBe(inner);
    expect((await it.next()).value).toBe(2);
    expect((await it.next()).done).toBe(true);
    expect(seen).toEqual(["inner"]); // the outer stage never joined the read underway
  });
});

describe("meterStream", () => {
  /** A meter that records what it saw. */
  function recorder() {
    const seen: string[] = [];
    const open = () => {
      seen.push("open");
      return { message: () => seen.push("message"), close: (failure: unknown) => seen.push(`close ${failure === undefined ? "ok" : (failure as Error).message}`) };
    };
    return { seen, open };
  }

  it("opens at the first read, sees each message, closes once at the end", async () => {
    const { seen, open } = recorder();
    const res = meterStream(streamRes(source([1, 2]).messages), open);
    expect(seen).toEqual([]); // not read yet: nothing reported
    const got: number[] = [];
    for await (const m of res.message as AsyncIterable<number>) got.push(m);
    expect(got).toEqual([1, 2]);
    expect(seen).toEqual(["open", "message", "message", "close ok"]);
  });

  it("a failure closes it with the error; a reader that stops early closes it without one", async () => {
    const failed = recorder();
    const res = meterStream(streamRes(source([1], new Error("upstream broke")).messages), failed.open);
    await expect(
      (async () => {
        for await (const _ of res.message as AsyncIterable<number>);
      })(),
    ).rejects.toThrow("upstream broke");
    expect(failed.seen).toEqual(["open", "message", "close upstream broke"]);

    const stopped = recorder();
    const { messages, state } = source([1, 2, 3]);
    const res2 = meterStream(streamRes(messages), stopped.open);
    for await (const _ of res2.message as AsyncIterable<number>) break;
    expect(state.closed).toBe(true);
    expect(stopped.seen).toEqual(["open", "message", "close ok"]);
  });

  it("joins the wrapper of the interceptor inside it, and a stream never read reports nothing", async () => {
    const { seen, open } = recorder();
    const inner = onCallEnd(streamRes(source([1]).messages), new AbortController().signal, () => seen.push("inner done"));
    const metered = meterStream(inner, open);
    expect(metered).toBe(inner);
    expect(seen).toEqual([]);
    for await (const _ of metered.message as AsyncIterable<number>);
    expect(seen).toEqual(["open", "message", "inner done", "close ok"]);
    const unread = recorder();
    const it = meterStream(streamRes(source([1]).messages), unread.open).message[Symbol.asyncIterator]();
    await it.return?.();
    expect(unread.seen).toEqual([]);
  });

  it("a meter that fails to open fails the read, and the stages still see the end", async () => {
    const done: unknown[] = [];
    const inner = onCallEnd(streamRes(source([1]).messages), new AbortController().signal, (err) => done.push(err));
    const metered = meterStream(inner, () => {
      throw new Error("meter broke");
    });
    await expect(
      (async () => {
        for await (const _ of metered.message as AsyncIterable<number>);
      })(),
    ).rejects.toThrow("meter broke");
    expect((done[0] as Error).message).toBe("meter broke");
  });
});

// lazyStream (src/services/endpoint-call.ts) stands in for the services' async generator methods
// (issue 11: no generator suspended over an open stream): it must behave as one towards the
// interceptors and the writers — opened on the first read, what opening throws fails that read,
// a return before the first read never opens it, and a return or throw closes the stream underneath.
import { describe, expect, it } from "vitest";
import { lazyStream } from "../../src/services/endpoint-call";

/** A stream of `values` that records whether it was opened and closed. */
function source(values: number[]) {
  const seen = { opened: 0, returned: 0 };
  const open = (): AsyncIterable<number> => {
    seen.opened++;
    let i = 0;
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve(i < values.length ? { done: false, value: values[i++]! } : { done: true, value: undefined }),
        return: () => {
          seen.returned++;
          return Promise.resolve({ done: true, value: undefined });
        },
      }),
    };
  };
  return { seen, open };
}

describe("lazyStream", () => {
  it("opens the stream on the first read, not before, and passes its values on", async () => {
    const { seen, open } = source([1, 2, 3]);
    const stream = lazyStream(open);
    const it = stream[Symbol.asyncIterator]();
    expect(seen.opened).toBe(0);
    const got: number[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) got.push(r.value);
    expect(got).toEqual([1, 2, 3]);
    expect(seen.opened).toBe(1);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("fails the first read with what opening threw, as a generator's body would; later reads are done", async () => {
    const stream = lazyStream<number>(() => {
      throw new Error("unknown endpoint");
    });
    const it = stream[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toThrow("unknown endpoint");
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("a return before the first read never opens the stream", async () => {
    const { seen, open } = source([1]);
    const it = lazyStream(open)[Symbol.asyncIterator]();
    expect(await it.return!()).toEqual({ done: true, value: undefined });
    expect(await it.next()).toEqual({ done: true, value: undefined });
    expect(seen.opened).toBe(0);
  });

  it("a return or a throw after the first read closes the stream underneath; a throw then fails", async () => {
    const a = source([1, 2]);
    const ia = lazyStream(a.open)[Symbol.asyncIterator]();
    expect(await ia.next()).toEqual({ done: false, value: 1 });
    await ia.return!();
    expect(a.seen.returned).toBe(1);

    const b = source([1, 2]);
    const ib = lazyStream(b.open)[Symbol.asyncIterator]();
    await ib.next();
    await expect(ib.throw!(new Error("write failed"))).rejects.toThrow("write failed");
    expect(b.seen.returned).toBe(1);
  });
});

// UpstreamClient.stream (src/upstream/client.ts) is a plain iterator, not an async generator
// (issue 11: memory per open stream); it must keep the generator's contract. A real node:http
// server speaks SSE; a small decoder stands in for a provider's (`[DONE]` is the terminal event).
import * as http from "node:http";
import { Readable } from "node:stream";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UpstreamClient } from "../../src/upstream/client";
import { sseEvents } from "../../src/upstream/framing";
import { dropRawHeaders } from "../../src/upstream/raw-headers";
import { Agent, type Dispatcher } from "undici";
import type { SseEvent, StreamDecoder } from "../../src/upstream/wire";

interface Chunk {
  id: string;
  model: string;
  text: string;
}

function decoder(): StreamDecoder<Chunk> {
  let done = false;
  let chars = 0;
  return {
    get done() {
      return done;
    },
    push(event: SseEvent): Chunk[] {
      if (event.data === "[DONE]") {
        done = true;
        return [];
      }
      if (event.event === "error") throw new ConnectError(`upstream said: ${event.data}`, Code.Unavailable);
      chars += event.data.length;
      return [{ id: "c1", model: "m1", text: event.data }];
    },
    usage: () => ({ promptTokens: 1, completionTokens: chars, totalTokens: 1 + chars }),
  };
}

/** What each path answers; `closed` counts responses the client went away from before their end. */
const closed = { count: 0 };
let server: http.Server;
let base: string;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const sse = () => res.writeHead(200, { "content-type": "text/event-stream" });
    if (req.url === "/complete") {
      sse();
      res.end("data: a\n\ndata: b\n\ndata: [DONE]\n\n");
    } else if (req.url === "/unfinished") {
      sse();
      res.end("data: a\n\n");
    } else if (req.url === "/error-event") {
      sse();
      res.end("data: a\n\nevent: error\ndata: overloaded\n\n");
    } else if (req.url === "/held") {
      sse();
      res.write("data: a\n\ndata: b\n\n");
      res.once("close", () => {
        if (!res.writableEnded) closed.count++;
      });
    } else {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = new UpstreamClient({ timeoutMs: 5_000 });
afterAll(() => client.close());

function open(path: string, signal = new AbortController().signal) {
  const closing = (id: string, model: string, usage: { promptTokens: number; completionTokens: number } | undefined) => ({ id, model, text: `usage:${usage?.completionTokens ?? 0}` });
  return client.stream({ url: `${base}${path}`, method: "POST", headers: {}, body: {} }, decoder(), { name: "fake" }, { signal }, closing)[Symbol.asyncIterator]();
}

async function readAll(it: AsyncIterator<Chunk>): Promise<string[]> {
  const out: string[] = [];
  for (let r = await it.next(); r.done !== true; r = await it.next()) out.push(r.value.text);
  return out;
}

describe("UpstreamClient.stream", () => {
  it("sends nothing until the first read, then the chunks and one closing chunk with the id, model and usage; then done", async () => {
    const it = open("/complete");
    const first = await it.next();
    expect(first).toEqual({ done: false, value: { id: "c1", model: "m1", text: "a" } });
    expect(await readAll(it)).toEqual(["b", "usage:2"]);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("a stream that ends without its terminal event fails with UNAVAILABLE after the chunks it had", async () => {
    const it = open("/unfinished");
    expect((await it.next()).value?.text).toBe("a");
    const err = await it.next().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.Unavailable);
    expect(err?.rawMessage).toBe("fake: upstream stream ended before it was complete");
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it("a decoder error (an upstream error event) fails the read with the decoder's error", async () => {
    const it = open("/error-event");
    expect((await it.next()).value?.text).toBe("a");
    await expect(it.next()).rejects.toThrow("upstream said: overloaded");
  });

  it("the wrong content type is a bad upstream response", async () => {
    const err = await open("/json")
      .next()
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.rawMessage).toMatch(/fake.*expected text\/event-stream, got application\/json/);
  });

  it("a return mid-stream ends the upstream request (the upstream sees its response closed)", async () => {
    const before = closed.count;
    const it = open("/held");
    expect((await it.next()).value?.text).toBe("a");
    expect(await it.return!()).toEqual({ done: true, value: undefined });
    expect(await it.next()).toEqual({ done: true, value: undefined });
    const until = Date.now() + 10_000;
    while (closed.count === before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(closed.count).toBe(before + 1);
  });

  it("a throw mid-stream ends the upstream request and fails with the error, mapped as the upstream's", async () => {
    const before = closed.count;
    const it = open("/held");
    await it.next();
    await expect(it.throw!(new ConnectError("write failed", Code.Aborted))).rejects.toThrow("write failed");
    const until = Date.now() + 10_000;
    while (closed.count === before && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(closed.count).toBe(before + 1);
  });

  it("the caller's abort while waiting for an event fails the read with the abort's reason", async () => {
    const abort = new AbortController();
    const it = open("/held", abort.signal);
    await it.next();
    await it.next();
    const pending = it.next();
    abort.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    const err = await pending.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.DeadlineExceeded);
  });
});

describe("sseEvents", () => {
  async function events(chunks: Uint8Array[]): Promise<SseEvent[]> {
    const body = (async function* () {
      yield* chunks;
    })();
    const out: SseEvent[] = [];
    for await (const e of sseEvents(body)) out.push(e);
    return out;
  }

  it("a plain iterator: decodes UTF-8 sequences cut between chunks whole (2-, 3- and 4-byte), drops a leading BOM, CRLF lines", async () => {
    const bytes = Buffer.from("\uFEFFdata: é€😀\n\nevent: next\r\ndata: ok\r\n\r\n", "utf8");
    // Every split of the first event's multibyte characters: one byte at a time.
    const oneByOne = Array.from(bytes, (b) => Uint8Array.of(b));
    const expected = [{ data: "é€😀" }, { event: "next", data: "ok" }];
    expect(await events(oneByOne)).toEqual(expected);
    expect(await events([bytes])).toEqual(expected);
    expect(await events([bytes.subarray(0, 9), bytes.subarray(9, 13), bytes.subarray(13)])).toEqual(expected);
  });

  it("a Node Readable body is read without its async iterator: chunks as they come, its error, a close before its end", async () => {
    // Events as the stream gives them, one at a time.
    const body = new Readable({ read() {} });
    const it = sseEvents(body)[Symbol.asyncIterator]();
    const first = it.next();
    body.push("data: a\n\n");
    expect(await first).toEqual({ done: false, value: { data: "a" } });
    const second = it.next();
    setTimeout(() => body.push("data: b\n\ndata: c\n\n"), 5);
    expect(await second).toEqual({ done: false, value: { data: "b" } });
    expect(await it.next()).toEqual({ done: false, value: { data: "c" } });
    body.push(null);
    expect(await it.next()).toEqual({ done: true, value: undefined });

    const failing = new Readable({ read() {} });
    const f = sseEvents(failing)[Symbol.asyncIterator]();
    const pending = f.next();
    failing.destroy(new Error("socket hang up"));
    await expect(pending).rejects.toThrow("socket hang up");
    expect(await f.next()).toEqual({ done: true, value: undefined });

    const cut = new Readable({ read() {} });
    const c = sseEvents(cut)[Symbol.asyncIterator]();
    const waiting = c.next();
    cut.destroy();
    await expect(waiting).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("a return destroys a Node Readable body", async () => {
    const body = new Readable({ read() {} });
    const it = sseEvents(body)[Symbol.asyncIterator]();
    body.push("data: a\n\n");
    await it.next();
    expect(await it.return!()).toEqual({ done: true, value: undefined });
    expect(body.destroyed).toBe(true);
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });
});

describe("dropRawHeaders", () => {
  it("the handler sees the raw headers at the response's start; they are gone from the controller while the body streams", async () => {
    const agent = new Agent().compose(dropRawHeaders);
    try {
      const seen = await new Promise<{ atStart: number; later: unknown; status: number; body: string }>((resolve, reject) => {
        let atStart = -1;
        let status = 0;
        let controller: Dispatcher.DispatchController | undefined;
        let body = "";
        const timer = setTimeout(() => reject(new Error("no answer in 10 s")), 10_000);
        agent.dispatch(
          { origin: base, path: "/complete", method: "POST", body: "{}" },
          {
            onResponseStart(c, statusCode) {
              controller = c;
              status = statusCode;
              atStart = Array.isArray(c.rawHeaders) ? c.rawHeaders.length : -1;
            },
            onResponseData(_c, chunk) {
              body += chunk.toString("utf8");
            },
            onResponseEnd() {
              clearTimeout(timer);
              resolve({ atStart, later: controller?.rawHeaders, status, body });
            },
            onResponseError(_c, err) {
              clearTimeout(timer);
              reject(err);
            },
          },
        );
      });
      expect(seen.status).toBe(200);
      expect(seen.atStart).toBeGreaterThan(0);
      expect(seen.later).toBeNull();
      expect(seen.body).toContain("data: [DONE]");
    } finally {
      await agent.close();
    }
  });
});

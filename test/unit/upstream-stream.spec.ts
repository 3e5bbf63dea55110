// UpstreamClient.stream (src/upstream/client.ts) is a plain iterator, not an async generator
// (issue 11: memory per open stream); it must keep the generator's contract. A real node:http
// server speaks SSE; a small decoder stands in for a provider's (`[DONE]` is the terminal event).
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UpstreamClient } from "../../src/upstream/client";
import { sseEvents } from "../../src/upstream/framing";
import { dropRawHeaders } from "../../src/upstream/raw-headers";
import { requestStreamed } from "../../src/upstream/streamed";
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

});

describe("requestStreamed", () => {
  // A server whose answers the tests drive: each request waits in `pending` for the test to write.
  const pending: http.ServerResponse[] = [];
  let written = 0;
  let streamServer: http.Server;
  let url: string;
  const agent = new Agent();
  beforeAll(async () => {
    streamServer = http.createServer((req, res) => {
      if (req.url === "/large") {
        // 64 MiB in 64 KiB writes, each after the last was taken by the socket.
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const piece = Buffer.alloc(64 * 1024, 120);
        const more = () => {
          while (written < 64 * 1024 * 1024) {
            written += piece.length;
            if (!res.write(piece)) return void res.once("drain", more);
          }
          res.end();
        };
        more();
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.flushHeaders();
      pending.push(res);
    });
    await new Promise<void>((resolve) => streamServer.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(streamServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await agent.close();
    streamServer.closeAllConnections();
    await new Promise((resolve) => streamServer.close(resolve));
  });

  const opts = (signal = new AbortController().signal) => ({ method: "GET", headers: {}, body: undefined, headersTimeout: 5_000, bodyTimeout: 5_000, signal });
  const answered = async () => {
    await expect.poll(() => pending.length).toBe(1);
    return pending.shift()!;
  };
  const text = (r: IteratorResult<Uint8Array>) => (r.done === true ? null : Buffer.from(r.value).toString());

  it("settles with the head, then gives the chunks as they come (queued ones first), then done at the end", async () => {
    const { statusCode, headers, body } = await requestStreamed(agent, `${url}/chunks`, opts());
    expect(statusCode).toBe(200);
    expect(headers["content-type"]).toBe("text/plain");
    const res = await answered();
    const first = body.next();
    res.write("a");
    expect(text(await first)).toBe("a");
    res.write("b");
    expect(text(await body.next())).toBe("b");
    res.end("c");
    expect(text(await body.next())).toBe("c");
    expect(await body.next()).toEqual({ done: true, value: undefined });
    expect(body.destroyed).toBe(true);
  });

  it("a connection cut before the end fails the next read once (after what came before it), then done", async () => {
    const { body } = await requestStreamed(agent, `${url}/cut`, opts());
    const res = await answered();
    res.write("a");
    expect(text(await body.next())).toBe("a");
    const waiting = body.next();
    res.socket!.destroy();
    await expect(waiting).rejects.toMatchObject({ code: "UND_ERR_SOCKET" });
    expect(await body.next()).toEqual({ done: true, value: undefined });
  });

  it("the signal aborts a read in progress with its reason; a return aborts the request (the server sees its answer closed)", async () => {
    const abort = new AbortController();
    const { body } = await requestStreamed(agent, `${url}/aborted`, opts(abort.signal));
    const res = await answered();
    const waiting = body.next();
    abort.abort(new Error("caller went away"));
    await expect(waiting).rejects.toThrow("caller went away");
    await expect.poll(() => res.destroyed).toBe(true);

    const second = await requestStreamed(agent, `${url}/returned`, opts());
    const res2 = await answered();
    res2.write("a");
    expect(text(await second.body.next())).toBe("a");
    expect(await second.body.return!()).toEqual({ done: true, value: undefined });
    await expect.poll(() => res2.destroyed).toBe(true);
    expect(await second.body.next()).toEqual({ done: true, value: undefined });
  });

  it("an aborted signal rejects before the head; a refused connection rejects the request", async () => {
    const abort = new AbortController();
    abort.abort(new Error("too late"));
    await expect(requestStreamed(agent, `${url}/never`, opts(abort.signal))).rejects.toThrow("too late");
    const closedServer = http.createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, "127.0.0.1", resolve));
    const port = (closedServer.address() as AddressInfo).port;
    await new Promise((resolve) => closedServer.close(resolve));
    await expect(requestStreamed(agent, `http://127.0.0.1:${port}/`, opts())).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("backpressure: a body nobody reads stops the upstream's writes (it is not all taken into memory); read on, all of it comes", async () => {
    const { body } = await requestStreamed(agent, `${url}/large`, opts());
    // Wait until the server's writes stop moving (the socket's buffers full, the connection paused).
    let last = -1;
    await expect
      .poll(
        async () => {
          const now = written;
          const still = now === last;
          last = now;
          return still;
        },
        { interval: 200, timeout: 20_000 },
      )
      .toBe(true);
    // Kernel buffers on loopback hold a few MB; without the pause all 64 MiB would be in.
    expect(written).toBeLessThan(32 * 1024 * 1024);
    let size = 0;
    for await (const chunk of body) size += chunk.length;
    expect(size).toBe(64 * 1024 * 1024);
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

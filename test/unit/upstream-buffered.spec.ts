// requestBuffered (src/upstream/buffered.ts), the unary upstream request, against a real HTTP
// server on loopback: bodies in pieces, error bodies capped, 2xx bodies over their bound, bodies
// that break off, the caller's abort before and during the answer, and the head's timeout.
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, errors as undiciErrors } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestBuffered, type BufferedRequest } from "../../src/upstream/buffered";
import { HeldAnswers, OversizeAnswerError } from "../../src/upstream/limits";
import { writeForever } from "../support/endless-body";

let server: http.Server;
let base: string;
/** How many answers of /endless-ok were closed by the client (the gateway stopped reading). */
let endlessClosed = 0;
const agent = new Agent({ keepAliveTimeout: 10_000 });

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      switch (req.url) {
        case "/echo": {
          res.writeHead(200, { "content-type": "application/json", "x-seen-method": req.method ?? "" });
          // In three writes, the last after a pause: the answer is gathered from several chunks.
          const text = JSON.stringify({ got: JSON.parse(body || "null"), auth: req.headers.authorization ?? null });
          res.write(text.slice(0, 5));
          res.write(text.slice(5, 10));
          setTimeout(() => res.end(text.slice(10)), 20);
          return;
        }
        case "/big-error":
          res.writeHead(500, { "content-type": "text/plain", "retry-after": "7" });
          res.end("e".repeat(200_000));
          return;
        case "/broken-error":
          res.writeHead(503, { "content-type": "application/json", "content-length": "1000" });
          res.write('{"error":{"message":"over');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        case "/broken-ok":
          res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
          res.write('{"partial":');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        case "/endless-ok": {
          // A 2xx body that never ends, in 64 KiB writes as fast as the client reads.
          res.writeHead(200, { "content-type": "application/json" });
          res.once("close", () => endlessClosed++);
          writeForever(res, 0x20);
          return;
        }
        case "/trickle-ok":
        case "/trickle-error": {
          // A byte every 20 ms, forever: never a gap long enough for the body's idle timeout.
          res.writeHead(req.url === "/trickle-ok" ? 200 : 502, { "content-type": "application/json" });
          res.write("{");
          const timer = setInterval(() => res.write(" "), 20);
          res.once("close", () => clearInterval(timer));
          return;
        }
        case "/slow-body":
          res.writeHead(200, { "content-type": "application/json" });
          res.write("{");
          return; // never ends: the caller aborts
        case "/silent":
          return; // never answers: the head's timeout
        default:
          res.writeHead(404);
          res.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await agent.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const opts = (over: Partial<BufferedRequest> = {}): BufferedRequest => ({
  method: "POST",
  headers: { "content-type": "application/json", authorization: "Bearer k" },
  body: JSON.stringify({ a: 1 }),
  headersTimeout: 5_000,
  bodyTimeout: 5_000,
  signal: new AbortController().signal,
  maxErrorBytes: 64 * 1024,
  maxBytes: 1024 * 1024,
  ...over,
});

describe("requestBuffered", () => {
  it("sends method, headers and body, and gathers an answer that came in pieces", async () => {
    const statuses: number[] = [];
    const res = await requestBuffered(agent, `${base}/echo`, opts({ onStatus: (s) => statuses.push(s) }));
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-seen-method"]).toBe("POST");
    expect(JSON.parse(res.body.toString())).toEqual({ got: { a: 1 }, auth: "Bearer k" });
    expect(statuses).toEqual([200]);
  });

  it("keeps at most maxErrorBytes of an error answer, with its status and headers", async () => {
    const res = await requestBuffered(agent, `${base}/big-error`, opts({ maxErrorBytes: 1024 }));
    expect(res.statusCode).toBe(500);
    expect(res.headers["retry-after"]).toBe("7");
    expect(res.body.length).toBeGreaterThanOrEqual(1024);
    expect(res.body.length).toBeLessThan(200_000);
    // The connection it left is not reused for a half-read answer: the next call works.
    expect((await requestBuffered(agent, `${base}/echo`, opts())).statusCode).toBe(200);
  });

  it("a 2xx answer over maxBytes rejects with OversizeAnswerError and its connection is closed", async () => {
    const err = await requestBuffered(agent, `${base}/endless-ok`, opts({ maxBytes: 256 * 1024 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OversizeAnswerError);
    expect((err as Error).message).toBe("body is larger than 262144 bytes");
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(1);
    // An answer of exactly maxBytes is whole; the pool still serves.
    const res = await requestBuffered(agent, `${base}/echo`, opts());
    expect(res.body.length).toBeLessThanOrEqual(1024 * 1024);
    const exact = await requestBuffered(agent, `${base}/echo`, opts({ maxBytes: res.body.length }));
    expect(exact.body.equals(res.body)).toBe(true);
  });

  it("a body that trickles in for longer than bodyTimeout: BodyTimeoutError (an error answer: its status and what came)", async () => {
    const err = await requestBuffered(agent, `${base}/trickle-ok`, opts({ bodyTimeout: 300 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(undiciErrors.BodyTimeoutError);
    const res = await requestBuffered(agent, `${base}/trickle-error`, opts({ bodyTimeout: 300 }));
    expect(res.statusCode).toBe(502);
    expect(res.body.toString().startsWith("{")).toBe(true);
  });

  it("takes the body from HeldAnswers as it comes and gives it back once answered; past the shared bound: OversizeAnswerError", async () => {
    const held = new HeldAnswers(Infinity);
    const res = await requestBuffered(agent, `${base}/echo`, opts({ held }));
    expect(res.statusCode).toBe(200);
    expect(held.bytes).toBe(0);
    const closedBefore = endlessClosed;
    const small = new HeldAnswers(128 * 1024);
    const err = await requestBuffered(agent, `${base}/endless-ok`, opts({ held: small })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OversizeAnswerError);
    expect((err as Error).message).toBe(`upstream answers held at once would pass ${128 * 1024} bytes (server.max_upstream_held_bytes)`);
    expect(small.bytes).toBe(0);
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(closedBefore + 1);
  });

  it("an error answer whose body breaks off still answers with its status and what came", async () => {
    const res = await requestBuffered(agent, `${base}/broken-error`, opts());
    expect(res.statusCode).toBe(503);
    expect(res.body.toString()).toBe('{"error":{"message":"over');
  });

  it("a 2xx answer whose body breaks off fails", async () => {
    await expect(requestBuffered(agent, `${base}/broken-ok`, opts())).rejects.toThrow();
  });

  it("a signal aborted before the call rejects with its reason, and nothing is sent", async () => {
    const c = new AbortController();
    const reason = new Error("caller left");
    c.abort(reason);
    await expect(requestBuffered(agent, `${base}/echo`, opts({ signal: c.signal }))).rejects.toBe(reason);
  });

  it("an abort while the body comes rejects with the reason", async () => {
    const c = new AbortController();
    const reason = new Error("caller left midway");
    const pending = requestBuffered(agent, `${base}/slow-body`, opts({ signal: c.signal, onStatus: () => setTimeout(() => c.abort(reason), 10) }));
    await expect(pending).rejects.toBe(reason);
  });

  it("no head within headersTimeout: undici's HeadersTimeoutError", async () => {
    const err = await requestBuffered(agent, `${base}/silent`, opts({ headersTimeout: 200 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(undiciErrors.HeadersTimeoutError);
  });

  it("a connection that cannot be made rejects with its error code", async () => {
    const err = (await requestBuffered(agent, "http://127.0.0.1:1/x", opts()).catch((e: unknown) => e)) as { code?: string };
    expect(err.code).toBe("ECONNREFUSED");
  });
});

// A stream's first messages leave the process as they are made, not with the burst they are in
// (time to first token): Node corks an HTTP/1.1 response's socket until the next tick, so
// messages made through promise jobs alone (upstream chunks read at once) would otherwise all go
// out in one write after the last one. Counted at the socket: how many writes reach the kernel.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ChatService, StreamChatRequestSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { createNodeHandler, FLUSHED_MESSAGES } from "../../src/server/node-adapter";
import type { NodeRequest, NodeResponse } from "../../src/server/one-port";
import { streamSse } from "../../src/surfaces/http";
import { envelope, envelopes } from "../support/envelopes";

/** `n` messages made by promise jobs only: nothing returns to the event loop between them. */
async function* burst(n: number): AsyncGenerator<{ i: number }> {
  for (let i = 0; i < n; i++) {
    await Promise.resolve();
    yield { i };
  }
}

/** Counts the socket's writes to the kernel (_write for one buffer, _writev for several). */
function countWrites(socket: Socket): { writes: number } {
  const counted = { writes: 0 };
  const s = socket as Socket & { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = s._write.bind(s);
  const writev = s._writev.bind(s);
  s._write = (...a) => {
    counted.writes++;
    write(...a);
  };
  s._writev = (...a) => {
    counted.writes++;
    writev(...a);
  };
  return counted;
}

let server: http.Server | http2.Http2Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** Messages the burst service has made so far. */
let produced = 0;

/** A ChatService whose StreamChat answers with `n` messages made by promise jobs only. */
function burstRoutes(n: number) {
  return (router: ConnectRouter) =>
    router.service(ChatService, {
      async *streamChat() {
        for await (const { i } of burst(n)) {
          produced = i + 1;
          yield { id: `m${i}` };
        }
      },
    });
}

/** The connect-node handler (unary and stream fast paths included) on `server`; the writes of its first connection are counted. */
async function serveHandler(n: number, make: (h: http.RequestListener) => http.Server | http2.Http2Server): Promise<{ port: number; writes: () => number }> {
  const handler = createNodeHandler({
    routes: burstRoutes(n),
    fallback: (_req: NodeRequest, res: NodeResponse) => {
      res.writeHead(404);
      res.end();
    },
  });
  server = make(handler as http.RequestListener);
  let counted: { writes: number } | undefined;
  server.once("connection", (socket: Socket) => (counted = countWrites(socket)));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { port: (server!.address() as AddressInfo).port, writes: () => counted?.writes ?? 0 };
}

async function serveBurst(n: number): Promise<{ writes: number; events: string[] }> {
  let counted: { writes: number } | undefined;
  const done = new Promise<void>((resolve) => {
    server = http.createServer((req, res) => {
      counted = countWrites(req.socket);
      void streamSse(res, burst(n), {}, (m) => m, { errorBody: () => ({}), terminator: "[DONE]" }).then(resolve);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server!.address() as AddressInfo;
  const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
  await done;
  const events = body.split("\n\n").filter((e) => e !== "");
  return { writes: counted!.writes, events };
}

describe("streamed responses send their first messages at once", () => {
  it("SSE: each of the first messages of a burst is its own write; the rest of the burst leaves together", async () => {
    const { writes, events } = await serveBurst(12);
    expect(events).toHaveLength(13); // 12 messages and [DONE], in order, none lost
    expect(events[0]).toBe('data: {"i":0}');
    expect(events[11]).toBe('data: {"i":11}');
    expect(events[12]).toBe("data: [DONE]");
    // The head with the first message, then the next FLUSHED_MESSAGES - 1 on their own, then the
    // remaining messages, [DONE] and the end in one write (chunked encoding's end may be a second).
    expect(writes).toBeGreaterThanOrEqual(FLUSHED_MESSAGES + 1);
    expect(writes).toBeLessThanOrEqual(FLUSHED_MESSAGES + 2);
  });

  it("a stream shorter than the flushed count is written whole", async () => {
    const { events } = await serveBurst(1);
    expect(events).toEqual(['data: {"i":0}', "data: [DONE]"]);
  });
});

describe("typed server streams send their first messages at once", () => {
  const request = toBinary(StreamChatRequestSchema, create(StreamChatRequestSchema, { endpoint: "chat" }));

  it("Connect over HTTP/1.1: the first messages each leave in their own write, all 12 arrive in order", async () => {
    const { port, writes } = await serveHandler(12, (h) => http.createServer(h));
    const res = await fetch(`http://127.0.0.1:${port}/modelgate.v1.ChatService/StreamChat`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      body: envelope(0, request),
    });
    const frames = envelopes(Buffer.from(await res.arrayBuffer()));
    expect(res.status).toBe(200);
    expect(frames.slice(0, -1).map((f) => fromBinary(StreamChatResponseSchema, f.data).id)).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
    expect(frames.at(-1)!.flags).toBe(2); // the end-of-stream frame
    expect(JSON.parse(frames.at(-1)!.data.toString())).toEqual({});
    expect(writes()).toBeGreaterThanOrEqual(FLUSHED_MESSAGES + 1);
    expect(writes()).toBeLessThanOrEqual(FLUSHED_MESSAGES + 3);
  });

  it("gRPC over HTTP/2: the client has the first message before the burst is over; all 12 arrive in order with status 0", async () => {
    // HTTP/2 writes go from the session's native handle, not the JS socket: what is observable is
    // when the client gets the first message, counted in messages the server had made by then.
    const { port } = await serveHandler(12, (h) => http2.createServer(h as unknown as Parameters<typeof http2.createServer>[0] & object));
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      produced = 0;
      const stream = session.request({
        ":method": "POST",
        ":path": "/modelgate.v1.ChatService/StreamChat",
        "content-type": "application/grpc+proto",
        te: "trailers",
      });
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once("trailers", resolve));
      stream.end(envelope(0, request));
      const chunks: Buffer[] = [];
      let producedAtFirst: number | undefined;
      for await (const c of stream) {
        producedAtFirst ??= produced;
        chunks.push(c as Buffer);
      }
      const frames = envelopes(Buffer.concat(chunks));
      expect(frames.map((f) => fromBinary(StreamChatResponseSchema, f.data).id)).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
      expect((await trailers)["grpc-status"]).toBe("0");
      // Without the flush, all 12 are made (one promise job after another) before anything is sent.
      expect(producedAtFirst).toBeLessThanOrEqual(FLUSHED_MESSAGES + 1);
    } finally {
      session.close();
    }
  });
});

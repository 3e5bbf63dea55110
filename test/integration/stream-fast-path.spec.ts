// Server-streaming gRPC calls over HTTP/2 are answered by src/server/stream-fast-path.ts; what it
// leaves to connect-es (a compressed request, a body that is not one envelope, gRPC-Web, HTTP/1.1)
// must be answered as before. Real clients (grpc-js, connect-node) and raw HTTP/2 requests for
// what no well-behaved client sends.
import * as http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService, StreamChatRequestSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { clientFor } from "./clients";
import { echoEndpoints, eventually, failure, startGateway, type TestGateway } from "./harness";
import { envelope, envelopes } from "../support/envelopes";
import { h2Once } from "../support/h2-request";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`server: { max_body_bytes: 4096 }
endpoints:${echoEndpoints}
  - name: slow
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1, config: { stream_delay_ms: 150 } }
`);
});
afterAll(() => gw.close());

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");
const path = "/modelgate.v1.ChatService/StreamChat";
const grpcHeaders = (extra: http2.OutgoingHttpHeaders = {}) => ({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...extra });
const request = (endpoint: string, content: string) => toBinary(StreamChatRequestSchema, create(StreamChatRequestSchema, { endpoint, messages: [{ role: "user", content }] }));

/** One HTTP/2 request on a connection of its own: headers, trailers and body. */
const h2 = (headers: http2.OutgoingHttpHeaders, body: Uint8Array) => h2Once(gw.url, headers, body);

const text = (body: Buffer, gzip = false) =>
  envelopes(body)
    .map((e) => fromBinary(StreamChatResponseSchema, e.flags === 1 && gzip ? gunzipSync(e.data) : e.data))
    .flatMap((m) => m.choices.map((c) => c.delta?.content ?? ""))
    .join("");

describe("server streams on the fast path", () => {
  it("gRPC: every chunk as its own envelope, usage in the last, grpc-status 0 in the trailers", async () => {
    const res = await h2(grpcHeaders(), envelope(0, request("chat", "one two three")));
    expect(res.headers[":status"]).toBe(200);
    expect(res.headers["content-type"]).toBe("application/grpc+proto");
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.trailers["grpc-status"]).toBe("0");
    const messages = envelopes(res.body).map((e) => fromBinary(StreamChatResponseSchema, e.data));
    expect(messages.length).toBeGreaterThan(2);
    expect(text(res.body)).toBe("echo: one two three");
    expect(messages.at(-1)?.usage?.completionTokens).toBeGreaterThan(0);
  });

  it("a connect-node gRPC client reads the stream (grpc-js: protocols.spec)", async () => {
    const chat = clientFor(ChatService, "grpc", gw.url);
    let got = "";
    for await (const c of chat.streamChat({ endpoint: "chat", messages: [{ role: "user", content: "a b c" }] })) got += c.choices[0]?.delta?.content ?? "";
    expect(got).toBe("echo: a b c");
  });

  it("an error before the first message: status and message in the trailers, no message", async () => {
    const res = await h2(grpcHeaders(), envelope(0, request("nope", "hi")));
    expect(res.trailers["grpc-status"]).toBe(String(Code.NotFound));
    expect(res.trailers["grpc-message"]).toBe('unknown endpoint "nope"');
    expect(res.body.length).toBe(0);
  });

  it("undecodable bytes are INVALID_ARGUMENT, not INTERNAL", async () => {
    const res = await h2(grpcHeaders(), envelope(0, Buffer.from([0x0a, 0xff, 0xff, 0xff])));
    expect(res.trailers["grpc-status"]).toBe(String(Code.InvalidArgument));
    expect(String(res.trailers["grpc-message"])).toMatch(/^parse binary:/);
  });

  it("a deadline that passes mid-stream: the chunks so far, then DEADLINE_EXCEEDED in the trailers", async () => {
    // 150 ms per word, 40 words (~6 s): a 1.5 s deadline passes after the first chunks.
    const res = await h2(grpcHeaders({ "grpc-timeout": "1500m" }), envelope(0, request("slow", words(40))));
    expect(res.trailers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
    expect(text(res.body).startsWith("echo: w0")).toBe(true);
    expect(text(res.body).length).toBeLessThan(`echo: ${words(40)}`.length);
  });

  it("a client that cancels mid-stream: the call ends as canceled and its log line is written", async () => {
    const before = gw.logs.filter((l) => l["msg"] === "call" && l["code"] === "Canceled").length;
    const session = http2.connect(gw.url);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no first chunk in 10 s")), 10_000);
        const req = session.request(grpcHeaders());
        req.on("data", () => {
          clearTimeout(timer);
          req.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
        req.on("error", () => {});
        req.end(envelope(0, request("slow", words(40))));
      });
      await eventually(() => gw.logs.filter((l) => l["msg"] === "call" && l["code"] === "Canceled").length > before, 10_000);
    } finally {
      session.close();
    }
  });

  it("a client that resets mid-stream with an error code (INTERNAL_ERROR): the call ends and is logged, the gateway keeps serving", async () => {
    const session = http2.connect(gw.url);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no first chunk in 10 s")), 10_000);
        const req = session.request(grpcHeaders({ "x-request-id": "reset-internal-1" }));
        req.on("data", () => {
          clearTimeout(timer);
          req.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          resolve();
        });
        req.on("error", () => {});
        req.end(envelope(0, request("slow", words(40))));
      });
      // The stream is seen destroyed before its close event: the call ends as canceled, as a CANCEL does.
      await eventually(() => gw.logs.some((l) => l["msg"] === "call" && l["requestId"] === "reset-internal-1" && l["code"] === "Canceled"), 10_000);
    } finally {
      session.close();
    }
    const res = await h2(grpcHeaders(), envelope(0, request("chat", "still here")));
    expect(text(res.body)).toBe("echo: still here");
  });

  it("clients that cancel while chunks keep coming: every call still ends and writes its log line", async () => {
    // No delay between words: the reset can land while a chunk is being written or while the
    // next one is awaited; either way the call's generators must end (their finally blocks log).
    const calls = () => gw.logs.filter((l) => l["msg"] === "call" && l["endpoint"] === "chat").length;
    const before = calls();
    const session = http2.connect(gw.url);
    try {
      await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error("no first chunk in 10 s")), 10_000);
              const req = session.request(grpcHeaders());
              req.once("data", () => {
                clearTimeout(timer);
                req.close(http2.constants.NGHTTP2_CANCEL);
                resolve();
              });
              req.on("error", () => {});
              req.end(envelope(0, request("chat", words(500)))); // under max_body_bytes (4 KiB)
            }),
        ),
      );
      await eventually(() => calls() >= before + 20, 10_000);
      expect(calls()).toBe(before + 20);
    } finally {
      session.close();
    }
  });

  it("answered on the HTTP/2 stream itself: the caller's x-request-id echoed in the head, and errors before any message carry it too", async () => {
    const ok = await h2(grpcHeaders({ "x-request-id": "stream-id-1" }), envelope(0, request("chat", "a b")));
    expect(ok.headers["x-request-id"]).toBe("stream-id-1");
    expect(typeof ok.headers["date"]).toBe("string");
    expect(ok.trailers["grpc-status"]).toBe("0");
    expect(text(ok.body)).toBe("echo: a b");
    // A bad grpc-timeout fails before any interceptor runs; the head still names the call.
    const bad = await h2(grpcHeaders({ "x-request-id": "stream-id-2", "grpc-timeout": "soon" }), envelope(0, request("chat", "a")));
    expect(bad.headers["x-request-id"]).toBe("stream-id-2");
    expect(bad.trailers["grpc-status"]).toBe(String(Code.InvalidArgument));
    expect(bad.body.length).toBe(0);
    // The stream the server answered with no compat objects ends its call: the log line names the id.
    await eventually(() => gw.logs.some((l) => l["msg"] === "call" && l["requestId"] === "stream-id-1" && l["code"] === "ok"), 10_000);
  });

  it("a call with an Origin goes through Node's compat objects: the same answer, with the CORS headers", async () => {
    const res = await h2(grpcHeaders({ origin: "http://localhost:5173" }), envelope(0, request("chat", "c d")));
    expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.trailers["grpc-status"]).toBe("0");
    expect(text(res.body)).toBe("echo: c d");
  });

  it("a client that accepts gzip gets long messages compressed (flag 1)", async () => {
    const long = words(300);
    const res = await h2(grpcHeaders({ "grpc-accept-encoding": "gzip" }), envelope(0, request("chat", long)));
    expect(res.headers["grpc-encoding"]).toBe("gzip");
    expect(res.trailers["grpc-status"]).toBe("0");
    expect(text(res.body, true)).toBe(`echo: ${long}`);
  });
});

describe("server streams left to connect-es", () => {
  it("a compressed request", async () => {
    const res = await h2(grpcHeaders({ "grpc-encoding": "gzip" }), envelope(1, gzipSync(request("chat", "zipped words"))));
    expect(res.trailers["grpc-status"]).toBe("0");
    expect(text(res.body)).toBe("echo: zipped words");
  });

  it("a body of two envelopes: UNIMPLEMENTED, as connect-es answers a server stream with more than one request", async () => {
    const one = envelope(0, request("chat", "hi"));
    const res = await h2(grpcHeaders(), Buffer.concat([one, one]));
    expect(res.trailers["grpc-status"]).toBe(String(Code.Unimplemented));
  });

  it("a request over max_body_bytes is refused whole", async () => {
    const res = await h2(grpcHeaders(), envelope(0, request("chat", "x".repeat(5000))));
    expect(Number(res.trailers["grpc-status"])).toBe(Code.ResourceExhausted);
  });

  it("gRPC-Web (HTTP/1.1) and Connect (HTTP/2) streams", async () => {
    for (const kind of ["grpc-web-h1", "connect-binary-h2"] as const) {
      const chat = clientFor(ChatService, kind, gw.url);
      let got = "";
      for await (const c of chat.streamChat({ endpoint: "chat", messages: [{ role: "user", content: "x y" }] })) got += c.choices[0]?.delta?.content ?? "";
      expect(got).toBe("echo: x y");
      const err = await failure((async () => {
        for await (const c of chat.streamChat({ endpoint: "nope", messages: [{ role: "user", content: "x" }] })) void c;
      })());
      expect(err.code).toBe(Code.NotFound);
    }
  });
});

// Unary Connect and gRPC calls are answered by src/server/unary-fast-path.ts; whatever it leaves
// to connect-es (compressed requests, GET, a body that is not one gRPC envelope, a Content-Length
// over the limit) must be answered exactly as before. Real clients (connect-node with compression)
// and raw HTTP/1.1 and HTTP/2 requests for what no well-behaved client sends.
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatRequestSchema, ChatResponseSchema, ChatService } from "../../gen/modelgate/v1/chat_pb";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { echoEndpoints, failure, startGateway, type TestGateway } from "./harness";
import { envelope } from "../support/envelopes";
import { h2Once } from "../support/h2-request";

let gw: TestGateway;
let fake: FaultyUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(`server: { max_body_bytes: 4096 }
endpoints:${echoEndpoints}
  - name: upstream
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-test-key-0001, openai_api_base: "${fake.url}/v1" } }
`);
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});

const hi = { endpoint: "chat", messages: [{ role: "user", content: "hello there" }] };
/** A message whose echo is over connect-es's 1,024-byte compression threshold. */
const long = { endpoint: "chat", messages: [{ role: "user", content: "word ".repeat(300).trim() }] };

/** One HTTP/2 POST on a connection of its own: status, headers, trailers and body. */
const h2 = (url: string, headers: http2.OutgoingHttpHeaders, body: Uint8Array) => h2Once(url, { ":method": "POST", ...headers }, body);

const grpcHeaders = (path = "/modelgate.v1.ChatService/Chat") => ({ ":path": path, "content-type": "application/grpc", te: "trailers" });

describe("unary calls on the fast path", () => {
  it("gRPC: the answer, its headers and grpc-status 0 in the trailers", async () => {
    const res = await h2(gw.url, grpcHeaders(), envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, hi))));
    expect(res.headers[":status"]).toBe(200);
    expect(res.headers["content-type"]).toBe("application/grpc+proto");
    expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.trailers["grpc-status"]).toBe("0");
    expect(res.body.readUInt32BE(1)).toBe(res.body.length - 5);
    expect(fromBinary(ChatResponseSchema, res.body.subarray(5)).choices[0]?.message?.content).toBe("echo: hello there");
  });

  it("gRPC: an error's status and message in the trailers, percent-encoded to the gRPC spec", async () => {
    const res = await h2(gw.url, grpcHeaders(), envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, { ...hi, endpoint: "nope" }))));
    expect(res.trailers["grpc-status"]).toBe(String(Code.NotFound));
    expect(res.trailers["grpc-message"]).toBe('unknown endpoint "nope"');
    expect(res.body.length).toBe(0);
  });

  it("gRPC: undecodable bytes are INVALID_ARGUMENT, not INTERNAL", async () => {
    const res = await h2(gw.url, grpcHeaders(), envelope(0, Buffer.from([0x0a, 0xff, 0xff, 0xff])));
    expect(res.trailers["grpc-status"]).toBe(String(Code.InvalidArgument));
    expect(String(res.trailers["grpc-message"])).toMatch(/^parse binary:/);
  });

  it("Connect JSON: the answer with its content-length; an error as Connect's JSON with its HTTP status", async () => {
    const ok = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(hi) });
    const text = await ok.text();
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-length")).toBe(String(Buffer.byteLength(text)));
    expect(JSON.parse(text).choices[0].message.content).toBe("echo: hello there");
    const bad = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...hi, endpoint: "nope" }) });
    expect(bad.status).toBe(404);
    expect(await bad.json()).toEqual({ code: "not_found", message: 'unknown endpoint "nope"' });
  });

  it("Connect binary: undecodable bytes are a 400 invalid_argument", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, { method: "POST", headers: { "content-type": "application/proto" }, body: Buffer.from([0x0a, 0xff, 0xff, 0xff]) });
    expect(res.status).toBe(400);
    expect((await res.json()) as { code: string }).toMatchObject({ code: "invalid_argument" });
  });

  it("a bad connect-timeout-ms is refused as connect-es refuses it", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "soon" },
      body: JSON.stringify(hi),
    });
    expect(res.status).toBe(400);
    expect((await res.json()) as { code: string }).toMatchObject({ code: "invalid_argument" });
  });

  it("the caller's deadline (grpc-timeout, connect-timeout-ms) ends the call at the server: DEADLINE_EXCEEDED", async () => {
    const hang = { endpoint: "upstream", messages: [{ role: "user", content: "#hang hi" }] };
    // Raw requests with no client-side timer: the answer can only come from the gateway's deadline.
    const grpcRes = await h2(gw.url, { ...grpcHeaders(), "grpc-timeout": "300m" }, envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, hang))));
    expect(grpcRes.trailers["grpc-status"]).toBe(String(Code.DeadlineExceeded));
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "300" },
      body: JSON.stringify(hang),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(504);
    expect((await res.json()) as { code: string }).toMatchObject({ code: "deadline_exceeded" });
  });

  it("answers compressed when the client accepts it and the answer is large (gRPC and Connect)", async () => {
    for (const transport of [
      createGrpcTransport({ baseUrl: gw.url, acceptCompression: [compressionGzip] }),
      createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1", acceptCompression: [compressionGzip] }),
    ]) {
      const res = await createClient(ChatService, transport).chat(long);
      expect(res.choices[0]?.message?.content).toBe(`echo: ${long.messages[0]!.content}`);
    }
    const raw = await h2(gw.url, { ...grpcHeaders(), "grpc-accept-encoding": "gzip" }, envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, long))));
    expect(raw.headers["grpc-encoding"]).toBe("gzip");
    expect(raw.body[0]).toBe(1); // the compressed flag
  });
});

describe("what the fast path leaves to connect-es", () => {
  it("compressed requests (gRPC and Connect, gzip) are answered", async () => {
    for (const transport of [
      createGrpcTransport({ baseUrl: gw.url, sendCompression: compressionGzip, compressMinBytes: 1 }),
      createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1", sendCompression: compressionGzip, compressMinBytes: 1 }),
    ]) {
      const res = await createClient(ChatService, transport).chat(hi);
      expect(res.choices[0]?.message?.content).toBe("echo: hello there");
    }
    const raw = await h2(gw.url, { ...grpcHeaders(), "grpc-encoding": "gzip" }, envelope(1, gzipSync(toBinary(ChatRequestSchema, create(ChatRequestSchema, hi)))));
    expect(raw.trailers["grpc-status"]).toBe("0");
  });

  it("an unknown request compression is UNIMPLEMENTED", async () => {
    const res = await h2(gw.url, { ...grpcHeaders(), "grpc-encoding": "zstd" }, envelope(1, Buffer.from("x")));
    expect(res.trailers["grpc-status"] ?? res.headers["grpc-status"]).toBe(String(Code.Unimplemented));
  });

  it("two gRPC messages for a unary method are refused (connect-es: UNIMPLEMENTED)", async () => {
    const one = envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, hi)));
    const res = await h2(gw.url, grpcHeaders(), Buffer.concat([one, one]));
    expect(res.trailers["grpc-status"]).toBe(String(Code.Unimplemented));
    expect(String(res.trailers["grpc-message"])).toContain("extra input message");
    expect(res.body.length).toBe(0);
  });

  it("an incomplete gRPC envelope and an empty body are refused, not answered", async () => {
    const full = envelope(0, toBinary(ChatRequestSchema, create(ChatRequestSchema, hi)));
    for (const body of [full.subarray(0, full.length - 3), Buffer.alloc(0)]) {
      const res = await h2(gw.url, grpcHeaders(), body);
      const status = res.trailers["grpc-status"] ?? res.headers["grpc-status"];
      expect(status).not.toBe("0");
      expect(res.body.length).toBe(0);
    }
  });

  it("a body over max_body_bytes is RESOURCE_EXHAUSTED (gRPC and Connect)", async () => {
    const big = { endpoint: "chat", messages: [{ role: "user", content: "x".repeat(5000) }] };
    const grpcErr = await failure(createClient(ChatService, createGrpcTransport({ baseUrl: gw.url })).chat(big));
    expect(grpcErr.code).toBe(Code.ResourceExhausted);
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(big) });
    expect(res.status).toBe(429);
    expect((await res.json()) as { code: string }).toMatchObject({ code: "resource_exhausted" });
  });

  it("a Connect streaming content type on a unary method is 415, a GET on a method with side effects 405", async () => {
    const stream = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: "{}" });
    expect(stream.status).toBe(415);
    await stream.body?.cancel();
    const get = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat?encoding=json&message=%7B%7D`);
    expect(get.status).toBe(405);
    await get.body?.cancel();
  });
});

// Bad input gets a precise code and message, never a crash or a hang; the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import * as http2 from "node:http2";
import { deflateSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { ChatRequestSchema, ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { clientFor, protocols } from "./clients";
import { echoEndpoints, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`server: { max_body_bytes: 2048 }\nendpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

async function codeOf(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("expected the call to fail");
}

const user = (content: string) => ({ role: "user", content });

describe.each(protocols)("request validation over %s", (protocol) => {
  const chat = () => clientFor(ChatService, protocol, gw.url);

  it.each([
    ["unknown endpoint", { endpoint: "nope", messages: [user("x")] }, Code.NotFound, 'unknown endpoint "nope"'],
    ["missing endpoint", { endpoint: "", messages: [user("x")] }, Code.InvalidArgument, "endpoint: an endpoint name is required"],
    ["wrong endpoint type", { endpoint: "embeddings", messages: [user("x")] }, Code.InvalidArgument,
      'endpoint "embeddings" is of type llm/v1/embeddings; this method needs a llm/v1/chat endpoint'],
    ["empty messages", { endpoint: "chat", messages: [] }, Code.InvalidArgument, "messages: at least one message is required"],
    ["invalid role", { endpoint: "chat", messages: [user("x"), { role: "bot", content: "y" }] }, Code.InvalidArgument,
      'messages[1].role: invalid role "bot" (expected system, developer, user, assistant, tool, function)'],
    ["temperature out of range", { endpoint: "chat", messages: [user("x")], temperature: 3 }, Code.InvalidArgument, "temperature: must be <= 2"],
    // 0 is valid (OpenAI's spec allows it); below 0 is not.
    ["top_p negative", { endpoint: "chat", messages: [user("x")], topP: -0.1 }, Code.InvalidArgument, "top_p: must be >= 0"],
  ])("%s", async (_name, request, code, message) => {
    expect(await codeOf(chat().chat(request))).toEqual({ code, message });
    // The streaming RPC validates the same way, before any chunk is sent.
    const stream = (async () => {
      for await (const _ of chat().streamChat(request)) void _;
    })();
    expect(await codeOf(stream)).toEqual({ code, message });
  });

  it("empty embedding inputs and a predict without input", async () => {
    expect(await codeOf(clientFor(EmbeddingsService, protocol, gw.url).embed({ endpoint: "embeddings", inputs: [] }))).toEqual({
      code: Code.InvalidArgument,
      message: "inputs: at least one input is required",
    });
    expect((await codeOf(clientFor(PredictService, protocol, gw.url).predict({ endpoint: "chat" }))).code).toBe(Code.InvalidArgument);
  });
});

describe("malformed bodies (Connect over HTTP/1.1)", () => {
  const url = () => `${gw.url}/modelgate.v1.ChatService/Chat`;

  it("unparsable JSON -> 400 invalid_argument", async () => {
    const res = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: '{"endpoint": "chat", ' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toMatch(/cannot decode|JSON|parse/i);
  });

  it("JSON with a wrong field type -> 400 invalid_argument", async () => {
    const res = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: '{"endpoint": 5}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("truncated protobuf -> 400 invalid_argument", async () => {
    const bytes = toBinary(ChatRequestSchema, create(ChatRequestSchema, { endpoint: "chat", messages: [{ role: "user", content: "hello world" }] }));
    const res = await fetch(url(), { method: "POST", headers: { "content-type": "application/proto" }, body: bytes.subarray(0, bytes.length - 4) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("oversize body -> resource_exhausted naming the limit", async () => {
    const big = JSON.stringify({ endpoint: "chat", messages: [user("x".repeat(4096))] });
    const res = await fetch(url(), { method: "POST", headers: { "content-type": "application/json" }, body: big });
    expect(res.status).toBe(429);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("resource_exhausted");
    expect(body.message).toMatch(/2048/);
  });

  it("wrong content-type -> 415", async () => {
    const res = await fetch(url(), { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
    expect(res.status).toBe(415);
  });

  it("unknown route -> JSON 404", async () => {
    const res = await fetch(`${gw.url}/nope/nothing`, { method: "POST", body: "{}" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: "not_found", message: "no route for POST /nope/nothing" });
  });

  it("unknown method over connect-node -> unimplemented", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Nope`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(404);
  });

  it("unknown method over @grpc/grpc-js -> UNIMPLEMENTED naming the path as sent", async () => {
    // grpc-js decodes grpc-message with decodeURI, which leaves %2F alone: the path's slashes
    // must go out as they are (gRPC's percent-encoding), not as encodeURIComponent writes them.
    const client = new grpc.Client(new URL(gw.url).host, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        const identity = (b: Buffer) => b;
        client.makeUnaryRequest("/modelgate.v1.ChatService/Nope", identity, identity, Buffer.alloc(0), (e) => (e ? resolve(e) : reject(new Error("expected UNIMPLEMENTED"))));
      });
      expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
      expect(err.details).toBe("unknown method /modelgate.v1.ChatService/Nope");
    } finally {
      client.close();
    }
  });
});

describe("malformed gRPC frames", () => {
  function grpcCall(path: string, frame: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: string | undefined; message: string | undefined }> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(gw.url);
      session.on("error", reject);
      const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
      let status: string | undefined;
      let message: string | undefined;
      const take = (h: http2.IncomingHttpHeaders) => {
        status ??= h["grpc-status"] as string | undefined;
        message ??= h["grpc-message"] as string | undefined;
      };
      req.on("response", take);
      req.on("trailers", take);
      req.on("data", () => {});
      req.on("end", () => {
        session.close();
        resolve({ status, message: message && decodeURIComponent(message) });
      });
      req.end(frame);
    });
  }

  it("a frame shorter than its declared length -> INVALID_ARGUMENT", async () => {
    const frame = Buffer.from([0, 0, 0, 0, 100, 1, 2, 3]);
    const res = await grpcCall("/modelgate.v1.ChatService/Chat", frame);
    expect(res.status).toBe(String(Code.InvalidArgument));
  });

  it("garbage protobuf in a whole frame -> INVALID_ARGUMENT", async () => {
    const payload = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const head = Buffer.from([0, 0, 0, 0, payload.length]);
    const res = await grpcCall("/modelgate.v1.ChatService/Chat", Buffer.concat([head, payload]));
    expect(res.status).toBe(String(Code.InvalidArgument));
  });

  it("deflate (gRPC core's zlib format): a corrupt message -> INVALID_ARGUMENT, one that inflates past max_body_bytes -> RESOURCE_EXHAUSTED", async () => {
    const deflated = (data: Buffer) => {
      const payload = deflateSync(data);
      const head = Buffer.from([1, 0, 0, 0, 0]);
      head.writeUInt32BE(payload.length, 1);
      return Buffer.concat([head, payload]);
    };
    const path = "/modelgate.v1.ChatService/Chat";
    const corrupt = deflated(Buffer.from("x"));
    const at = corrupt.length - 3;
    corrupt.writeUInt8(corrupt.readUInt8(at) ^ 0xff, at); // the Adler-32 check no longer matches
    expect(await grpcCall(path, corrupt, { "grpc-encoding": "deflate" })).toEqual({ status: String(Code.InvalidArgument), message: "decompression failed" });
    // 1 MB of zeros deflates to ~1 KB, under the 2,048-byte body limit; inflated it is far over.
    expect(await grpcCall(path, deflated(Buffer.alloc(1 << 20)), { "grpc-encoding": "deflate" })).toEqual({
      status: String(Code.ResourceExhausted),
      message: "message is larger than configured readMaxBytes 2048 after decompression",
    });
    const ok = Buffer.from(toBinary(ChatRequestSchema, create(ChatRequestSchema, { endpoint: "chat", messages: [user("deflated")] })));
    expect(await grpcCall(path, deflated(ok), { "grpc-encoding": "deflate" })).toEqual({ status: "0", message: undefined });
  });

  it("an unknown gRPC method -> UNIMPLEMENTED", async () => {
    const res = await grpcCall("/modelgate.v1.ChatService/Nope", Buffer.from([0, 0, 0, 0, 0]));
    expect(res.status).toBe(String(Code.Unimplemented));
  });

  it("the server still answers after all of the above", async () => {
    const res = await clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "chat", messages: [user("still here")] });
    expect(res.choices[0]?.message?.content).toBe("echo: still here");
  });
});

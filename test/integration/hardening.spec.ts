// Regression tests for what probing the running gateway found (issue 8): requests that killed the
// process, client mistakes answered as INTERNAL, identifiers without bounds, "simple" cross-origin
// requests, and error responses without a request id.
import * as http from "node:http";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { clientFor, loadGrpcJsPackage, protocols } from "./clients";
import { echoEndpoints, eventually, failure, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`endpoints:${echoEndpoints}`);
});
afterAll(() => gw.close());

const json = { "content-type": "application/json" };
const hello = [{ role: "user", content: "hello" }];

async function alive(): Promise<void> {
  const res = await fetch(`${gw.url}/health`);
  expect(res.status).toBe(200);
}

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("malformed percent-encoding in a REST path parameter", () => {
  it.each([
    ["GET", "/v1/models/%"],
    ["GET", "/v1/models/%E0%A4"],
    ["GET", "/api/2.0/endpoints/%FF"],
    ["POST", "/endpoints/%E0%A4/invocations"],
    ["POST", "/endpoints/%/invocations"],
  ])("%s %s is a 400 and the gateway keeps serving", async (method, path) => {
    const res = await fetch(gw.url + path, { method, headers: json, body: method === "POST" ? JSON.stringify({ messages: hello }) : undefined });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain("malformed percent-encoding");
    await alive();
  });
});

describe("client mistakes are 400, not 500", () => {
  it.each([
    ["max_tokens -1", { max_tokens: -1 }, "max_tokens: must be >= 1"],
    ["max_completion_tokens above uint32", { max_completion_tokens: 2 ** 32 }, "max_completion_tokens: must be <= 4294967295"],
    ["n 0", { n: 0 }, "n: must be >= 1"],
    ["seed beyond a double's integers", { seed: 2 ** 64 }, "seed:"],
  ])("OpenAI chat: %s", async (_name, extra, message) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: json, body: JSON.stringify({ model: "chat", messages: hello, ...extra }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; type: string } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toContain(message);
  });

  it("OpenAI completions: max_tokens -1", async () => {
    const res = await fetch(`${gw.url}/v1/completions`, { method: "POST", headers: json, body: JSON.stringify({ model: "completions", prompt: "x", max_tokens: -1 }) });
    expect(res.status).toBe(400);
  });

  const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
  it.each([
    ["an unknown field", (d: string) => `{"model":"chat","messages":[{"role":"user","content":"hi"}],"unknown_knob":${d}}`],
    ["response_format", (d: string) => `{"model":"chat","messages":[{"role":"user","content":"hi"}],"response_format":${d}}`],
    ["a tool's parameters", (d: string) => `{"model":"chat","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${d}}}]}`],
  ])("deeply nested JSON in %s is a 400 naming the nesting", async (_name, body) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: json, body: body(deep(50_000)) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/nests deeper than 64 levels/);
    await alive();
  });

  it("nesting within the limit passes on to the provider", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: json,
      body: `{"model":"chat","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${deep(30)}}}]}`,
    });
    // The echo provider is the one refusing: the body got past the depth check.
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("echo: tools are not supported");
  });

  it("extras go as deep as a gRPC caller's can (49 levels), not one level more", async () => {
    // An unknown parameter travels in extras (a google.protobuf.Struct), whose JSON level is two
    // messages: protobuf's decoders stop at 100, so ChatRequest(1) + 49 levels of objects is the most.
    const ask = (depth: number) =>
      fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: json,
        body: `{"model":"chat","messages":[{"role":"user","content":"hi"}],"unknown_knob":${deep(depth - 1)}}`,
      });
    // The echo provider is the one refusing 49 levels: the request got past every depth check.
    expect(((await (await ask(49)).json()) as { error: { message: string } }).error.message).toBe("echo: unsupported extras: unknown_knob");
    const res = await ask(50);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^invalid ChatRequest: extras\.unknown_knob(\.a)+: nests deeper than 100 messages$/);
    await alive();
  });
});

describe("REST bodies must be JSON (no 'simple' cross-origin requests)", () => {
  it.each(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])("content-type %j is refused", async (contentType) => {
    const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: "chat", messages: hello }) });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("content-type must be application/json");
    // The MLflow surface refuses it as MLflow's FastAPI app does: the body is read as text, not JSON.
    const mlflow = await fetch(`${gw.url}/endpoints/chat/invocations`, { method: "POST", headers, body: JSON.stringify({ messages: hello }) });
    expect(mlflow.status).toBe(422);
    expect(((await mlflow.json()) as { detail: { type: string }[] }).detail[0]?.type).toBe("model_attributes_type");
  });

  it.each(["application/json", "application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"])("content-type %j is served", async (contentType) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": contentType }, body: JSON.stringify({ model: "chat", messages: hello }) });
    expect(res.status).toBe(200);
  });
});

describe("identifiers are bounded at the edge", () => {
  const huge = "n".repeat(3 * 1024 * 1024);

  it.each(protocols)("a 3 MB endpoint name over %s is INVALID_ARGUMENT with a short message", async (protocol) => {
    const before = gw.rawLogs().length;
    const err = await failure(clientFor(ChatService, protocol, gw.url).chat({ endpoint: huge, messages: hello }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("endpoint: longer than 256 characters");
    // The call's log line does not carry the name.
    expect(gw.rawLogs().length - before).toBeLessThan(4_096);
  });

  it("a 3 MB model name on the OpenAI surface is a 400 with a short message", async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: "POST", headers: json, body: JSON.stringify({ model: huge, messages: hello }) });
    expect(res.status).toBe(400);
    expect((await res.text()).length).toBeLessThan(1_000);
  });

  it.each(["x\u0000", "chat\u0000", "a\nb", "\u001b[31m"])("endpoint %j (a control character) is INVALID_ARGUMENT", async (endpoint) => {
    const err = await failure(clientFor(ChatService, "connect-json-h1", gw.url).chat({ endpoint, messages: hello }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("endpoint: contains a control character");
  });

  it("a NUL in a message role or a tool call id is INVALID_ARGUMENT naming the field", async () => {
    const err = await failure(
      clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "chat", messages: [{ role: "user", content: "x" }, { role: "tool", content: "y", toolCallId: "a\u0000" }] }),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("messages[1].tool_call_id: contains a control character");
  });

  it("content may hold any text (it goes to the model, not into records)", async () => {
    const res = await clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "chat", messages: [{ role: "user", content: "tab\there\u0000nul" }] });
    expect(res.choices[0]?.message?.content).toContain("tab\there");
  });
});

describe("x-request-id on every response, errors included", () => {
  const id = "probe-request-id-42";

  it.each([
    ["OpenAI 400", "POST", "/v1/chat/completions", JSON.stringify({ model: "chat", messages: [] }), 400],
    ["OpenAI 404", "POST", "/v1/chat/completions", JSON.stringify({ model: "nope", messages: hello }), 404],
    ["MLflow 404", "POST", "/endpoints/nope/invocations", JSON.stringify({ messages: hello }), 404],
    ["MLflow 400", "GET", "/api/2.0/endpoints/%FF", undefined, 400],
    ["Connect 404", "POST", "/modelgate.v1.ChatService/Chat", JSON.stringify({ endpoint: "nope", messages: hello }), 404],
    ["Connect bad JSON", "POST", "/modelgate.v1.ChatService/Chat", "{", 400],
    ["unknown route", "GET", "/no/such/route", undefined, 404],
  ])("%s", async (_name, method, path, body, status) => {
    const mine = await fetch(gw.url + path, { method, headers: { ...json, "x-request-id": id }, body });
    expect(mine.status).toBe(status);
    expect(mine.headers.get("x-request-id")).toBe(id);
    const generated = await fetch(gw.url + path, { method, headers: json, body });
    // A UUIDv7: time-ordered (the ledger's request_id index appends), random in its last 74 bits.
    expect(generated.headers.get("x-request-id")).toMatch(uuidV7);
  });

  // HTTP/1.1 heads carry it once, whether the answer's own headers name it (REST answers pass the
  // service's back), set other headers first (CORS) or write no head of their own (end() alone).
  it.each([
    ["OpenAI 200", "POST", "/v1/chat/completions", JSON.stringify({ model: "chat", messages: hello }), {}, 200],
    ["OpenAI stream", "POST", "/v1/chat/completions", JSON.stringify({ model: "chat", messages: hello, stream: true }), {}, 200],
    ["MLflow 200", "POST", "/endpoints/chat/invocations", JSON.stringify({ messages: hello }), {}, 200],
    ["metrics", "GET", "/metrics", undefined, {}, 200],
    ["CORS preflight", "OPTIONS", "/modelgate.v1.ChatService/Chat", undefined, { origin: "http://localhost:5173", "access-control-request-method": "POST" }, 204],
    ["CORS call", "POST", "/modelgate.v1.ChatService/Chat", JSON.stringify({ endpoint: "chat", messages: hello }), { origin: "http://localhost:5173" }, 200],
    ["CORS REST call", "POST", "/v1/chat/completions", JSON.stringify({ model: "chat", messages: hello }), { origin: "http://localhost:5173" }, 200],
  ] as [string, string, string, string | undefined, Record<string, string>, number][])("HTTP/1.1 %s: exactly one x-request-id", async (_name, method, path, body, extra, status) => {
    for (const sent of [id, undefined]) {
      const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(gw.url + path, { method, headers: { ...json, ...extra, ...(sent ? { "x-request-id": sent } : {}) } }, (res) => {
          res.resume();
          res.on("end", () => resolve(res));
        });
        req.on("error", reject);
        req.end(body);
      });
      expect(head.statusCode).toBe(status);
      if (extra["origin"]) expect(head.headers["access-control-allow-origin"]).toBe(extra["origin"]);
      const ids = head.rawHeaders.filter((_, i) => i % 2 === 0 && head.rawHeaders[i]!.toLowerCase() === "x-request-id").length;
      expect(ids).toBe(1);
      if (sent) expect(head.headers["x-request-id"]).toBe(sent);
      else expect(head.headers["x-request-id"]).toMatch(uuidV7);
    }
  });

  it("an unsafe incoming id is replaced, not echoed", async () => {
    const res = await fetch(`${gw.url}/v1/models`, { headers: { "x-request-id": "a b<script>" } });
    expect(res.headers.get("x-request-id")).toMatch(uuidV7);
  });

  it("new ids sort in the order they were made (UUIDv7: the time in ms first)", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await fetch(`${gw.url}/v1/models`)).headers.get("x-request-id") ?? "");
      await new Promise((r) => setTimeout(r, 3)); // a new millisecond
    }
    expect(ids.every((x) => uuidV7.test(x))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(3);
  });

  it("gRPC errors (grpc-js) carry it in their metadata", async () => {
    const pkg = loadGrpcJsPackage() as unknown as { modelgate: { v1: { ChatService: grpc.ServiceClientConstructor } } };
    const client = new pkg.modelgate.v1.ChatService(`127.0.0.1:${gw.port}`, grpc.credentials.createInsecure());
    try {
      const metadata = new grpc.Metadata();
      metadata.set("x-request-id", id);
      const err = await new Promise<grpc.ServiceError>((resolve, reject) => {
        client["chat"]!({ endpoint: "nope", messages: hello }, metadata, (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error("expected an error"))));
      });
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(err.metadata.get("x-request-id")).toEqual([id]);
    } finally {
      client.close();
    }
  });

  it("connect-node errors over every protocol carry it", async () => {
    for (const protocol of protocols) {
      const err = await failure(clientFor(ChatService, protocol, gw.url).chat({ endpoint: "nope", messages: hello }, { headers: { "x-request-id": id } }));
      expect(err.code).toBe(Code.NotFound);
      // gRPC and gRPC-Web carry it in the headers and in the trailers; connect-node shows both.
      expect(err.metadata.get("x-request-id")?.split(/,\s*/)).toEqual(expect.arrayContaining([id]));
      expect(new Set(err.metadata.get("x-request-id")?.split(/,\s*/))).toEqual(new Set([id]));
    }
  });
});

describe("a key limited to some endpoints", () => {
  const key = "mg-limited-key-0000000000000001";
  const meteredKey = "mg-metered-key-000000000000001";
  let limited: TestGateway;
  beforeAll(async () => {
    limited = await startGateway(`
auth:
  enabled: true
  keys:
    - { name: only-chat, key: ${key}, endpoints: [chat] }
    - { name: metered, key: ${meteredKey}, limits: { tpm: 100000, budget_usd: 5 } }
endpoints:${echoEndpoints}`);
  });
  afterAll(() => limited.close());

  it("is refused unknown endpoints as it is known ones (PERMISSION_DENIED, no existence leak)", async () => {
    const chat = clientFor(ChatService, "grpc", limited.url);
    const headers = { authorization: `Bearer ${key}` };
    expect((await chat.chat({ endpoint: "chat", messages: hello }, { headers })).choices).toHaveLength(1);
    for (const endpoint of ["nope", "completions", "x".repeat(200)]) {
      const err = await failure(chat.chat({ endpoint, messages: hello }, { headers }));
      expect(err.code).toBe(Code.PermissionDenied);
    }
  });

  it("a reservation beyond any counter (max_tokens × n near 2^64) is RESOURCE_EXHAUSTED, not INTERNAL", async () => {
    const err = await failure(
      clientFor(ChatService, "connect-json-h1", limited.url).chat(
        { endpoint: "chat", messages: hello, maxTokens: 4_294_967_295, n: 4_294_967_295 },
        { headers: { authorization: `Bearer ${meteredKey}` } },
      ),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
  });
});

describe("a client that stops reading a streamed answer", () => {
  let slow: TestGateway;
  beforeAll(async () => {
    slow = await startGateway(`
server: { idle_timeout_ms: 500, max_body_bytes: 16777216 }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1, config: { stream_delay_ms: 1 } } }
`);
  });
  afterAll(() => slow.close());

  it("is dropped after the stall time instead of the answer piling up in memory", async () => {
    // ~9 MB of SSE events, a 1 KB word every millisecond or so, for a client that never reads:
    // the socket buffers fill after a few MB, the gateway
    // waits for 'drain' up to idle_timeout_ms, then drops the connection, which cancels the call.
    // (The client cannot see that close: the kernel delivers the FIN after the data it never reads;
    // the call's log line says how it ended.)
    const words = Array.from({ length: 8_000 }, (_, i) => `${i}`.padEnd(1_000, "w")).join(" ");
    const body = JSON.stringify({ model: "chat", stream: true, messages: [{ role: "user", content: words }] });
    const socket = net.connect(slow.port, "127.0.0.1");
    socket.pause(); // never read
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-request-id: never-reads\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    try {
      const line = () => slow.logs.find((l) => l["msg"] === "call" && l["requestId"] === "never-reads");
      await eventually(() => line() !== undefined, 45_000);
      expect(line()?.["code"]).toBe("Canceled");
      const health = await fetch(`${slow.url}/health`);
      expect(health.status).toBe(200);
    } finally {
      socket.destroy();
    }
  }, 60_000);
});

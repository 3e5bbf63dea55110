// API keys (config, hashed), endpoint permissions and per-endpoint rate limits, through real
// clients; secrets never reach the logs.
import * as http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createClient } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { sha256Hex } from "../../src/runtime";
import { clientFor, protocols } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";
import { envelope, envelopes } from "../support/envelopes";

const aliceKey = "sk-alice-0123456789abcdef";
const bobKey = "sk-bob-embeddings-only-0123";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(
    `
auth:
  enabled: true
  keys:
    - { name: alice, key: $ALICE_KEY }
    - { name: bob, sha256: ${sha256Hex(bobKey)}, endpoints: [embeddings] }
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
  - name: embeddings
    endpoint_type: llm/v1/embeddings
    model: { provider: echo, name: e }
  - name: limited
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: { renewal_period: minute, calls: 3 }
`,
    { ALICE_KEY: aliceKey },
  );
});
afterAll(() => gw.close());

const user = [{ role: "user", content: "hi" }];
const headers = (key: string) => ({ authorization: `Bearer ${key}` });

describe.each(protocols)("auth over %s", (protocol) => {
  it("a valid key passes", async () => {
    const res = await clientFor(ChatService, protocol, gw.url).chat({ endpoint: "chat", messages: user }, { headers: headers(aliceKey) });
    expect(res.choices[0]?.message?.content).toBe("echo: hi");
  });

  it("no key -> UNAUTHENTICATED", async () => {
    const err = await failure(clientFor(ChatService, protocol, gw.url).chat({ endpoint: "chat", messages: user }));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe('missing API key: send "Authorization: Bearer <key>"');
  });

  it("a wrong key -> UNAUTHENTICATED", async () => {
    const err = await failure(
      clientFor(ChatService, protocol, gw.url).chat({ endpoint: "chat", messages: user }, { headers: headers("sk-wrong-key-000000000") }),
    );
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toBe("invalid API key");
  });

  it("a key limited to other endpoints -> PERMISSION_DENIED, streams too", async () => {
    const chat = clientFor(ChatService, protocol, gw.url);
    const err = await failure(chat.chat({ endpoint: "chat", messages: user }, { headers: headers(bobKey) }));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toBe('needs endpoint "chat" in this key\'s endpoint list');
    const streamErr = await failure(
      (async () => {
        for await (const _ of chat.streamChat({ endpoint: "chat", messages: user }, { headers: headers(bobKey) })) void _;
      })(),
    );
    expect(streamErr.code).toBe(Code.PermissionDenied);
    const ok = await clientFor(EmbeddingsService, protocol, gw.url).embed({ endpoint: "embeddings", inputs: ["a"] }, { headers: headers(bobKey) });
    expect(ok.data).toHaveLength(1);
  });
});

describe("a server stream's undecodable request without a key gets one answer on every path", () => {
  // connect-es reads a server stream's request when the interceptors ask for it (a unary one
  // before them); the gateway's interceptors read it (its endpoint) before auth, so an undecodable
  // one is INVALID_ARGUMENT before the key is looked at, from the gRPC stream fast path
  // (stream-fast-path.ts) as from connect-es's handler. An undecodable message, no key:
  const undecodable = envelope(0, Buffer.from([0xff, 0xff, 0xff]));

  it("gRPC over HTTP/2 (the stream fast path) -> INVALID_ARGUMENT", async () => {
    const session = http2.connect(gw.url);
    try {
      const status = await new Promise<string | undefined>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": "/modelgate.v1.ChatService/StreamChat", "content-type": "application/grpc", te: "trailers" });
        let grpcStatus: string | undefined;
        const take = (h: http2.IncomingHttpHeaders) => (grpcStatus ??= h["grpc-status"] as string | undefined);
        req.on("response", take);
        req.on("trailers", take);
        req.on("data", () => {});
        req.on("error", reject);
        req.on("close", () => resolve(grpcStatus));
        req.end(undecodable);
      });
      expect(status).toBe(String(Code.InvalidArgument));
    } finally {
      session.close();
    }
  });

  it("Connect streaming over HTTP/1.1 (connect-es's handler) -> invalid_argument", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/StreamChat`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto", "connect-protocol-version": "1" },
      body: undecodable,
    });
    const frames = envelopes(Buffer.from(await res.arrayBuffer()));
    const end = JSON.parse(frames.at(-1)!.data.toString()) as { error?: { code?: string } };
    expect(end.error?.code).toBe("invalid_argument");
  });
});

describe("rate limit per endpoint", () => {
  it("admits `calls` per period, then RESOURCE_EXHAUSTED with retry-after", async () => {
    const chat = createClient(ChatService, createConnectTransport({ baseUrl: gw.url, httpVersion: "1.1" }));
    for (let i = 0; i < 3; i++) {
      await chat.chat({ endpoint: "limited", messages: user }, { headers: headers(aliceKey) });
    }
    const err = await failure(chat.chat({ endpoint: "limited", messages: user }, { headers: headers(aliceKey) }));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/^rate limit of 3 calls per minute for endpoint "limited" reached; retry in \d+s$/);
    const retryAfter = Number(err.metadata.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Other endpoints are not affected.
    await chat.chat({ endpoint: "chat", messages: user }, { headers: headers(aliceKey) });
  });

  it("shows the retry-after header on Connect JSON over HTTP/1.1 (curl-visible)", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.ChatService/Chat`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers(aliceKey) },
      body: JSON.stringify({ endpoint: "limited", messages: user }),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});

describe("logs", () => {
  it("one line per call with key name and code; no secret anywhere", async () => {
    const before = gw.logs.length;
    await clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "chat", messages: user }, { headers: { ...headers(aliceKey), "x-request-id": "log-check-1" } });
    const lines = gw.logs.slice(before).filter((l) => l["requestId"] === "log-check-1");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: "call", procedure: "modelgate.v1.ChatService/Chat", endpoint: "chat", key: "alice", code: "ok", provider: "echo" });
    expect(gw.rawLogs()).not.toContain(aliceKey);
    expect(gw.rawLogs()).not.toContain(bobKey);
  });
});

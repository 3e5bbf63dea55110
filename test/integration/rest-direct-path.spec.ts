// The REST surfaces call the services through the direct in-process transport: the same
// interceptors as gRPC (auth, logging, tracing, quota), response headers back, cancellation down
// to the upstream. A real gateway on a random port, plain HTTP clients, a fake OpenAI upstream.
import net from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { eventually, startGateway, type TestGateway } from "./harness";

const key = "sk-direct-path-0123456789";
let gw: TestGateway;
let fake: FakeUpstream;

beforeAll(async () => {
  fake = await startFakeUpstream();
  gw = await startGateway(
    `
auth:
  enabled: true
  keys: [{ name: app, key: $APP_KEY }]
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } } }
  - name: split
    endpoint_type: llm/v1/chat
    targets:
      - { name: first, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream, openai_api_base: "${fake.url}/v1" } } }
      - { name: second, model: { provider: echo, name: echo-1 } }
  - name: once
    endpoint_type: llm/v1/chat
    model: { provider: echo, name: echo-1 }
    limit: { renewal_period: minute, calls: 1 }
`,
    { APP_KEY: key },
  );
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const callLine = (requestId: string) => gw.logs.find((l) => l["msg"] === "call" && l["requestId"] === requestId);

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify(body),
  });
}

describe("the interceptors run for REST calls as for gRPC", () => {
  it("logs one call line with the request id and trace ids, and passes the target header back", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await post(
      "/v1/chat/completions",
      { model: "split", messages: [{ role: "user", content: "hi" }] },
      { "x-request-id": "direct-ok-1", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("direct-ok-1");
    expect(res.headers.get("x-modelgate-target")).toBe("first");
    expect(res.headers.get("x-modelgate-attempts")).toBe("1");
    await eventually(() => callLine("direct-ok-1") !== undefined);
    const line = callLine("direct-ok-1")!;
    expect(line["procedure"]).toBe("modelgate.v1.ChatService/Chat");
    expect(line["code"]).toBe("ok");
    expect(line["key"]).toBe("app");
    expect(line["trace_id"]).toBe(traceId);
    // The upstream request carries the call's trace (a new span under the caller's trace).
    expect(String(fake.requests[0]?.headers["traceparent"])).toMatch(new RegExp(`^00-${traceId}-`));
  });

  it("refuses a wrong key (auth) and a second call over the limit (quota) with their codes and headers", async () => {
    const bad = await post("/v1/chat/completions", { model: "gpt", messages: [{ role: "user", content: "hi" }] }, { authorization: "Bearer sk-wrong", "x-request-id": "direct-auth" });
    expect(bad.status).toBe(401);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
    await eventually(() => callLine("direct-auth") !== undefined);
    expect(callLine("direct-auth")?.["code"]).toBe("Unauthenticated");

    const first = await post("/endpoints/once/invocations", { messages: [{ role: "user", content: "a" }] });
    expect(first.status).toBe(200);
    const second = await post("/endpoints/once/invocations", { messages: [{ role: "user", content: "b" }] }, { "x-request-id": "direct-quota" });
    expect(second.status).toBe(429);
    expect(second.headers.get("retry-after")).not.toBeNull();
    await eventually(() => callLine("direct-quota") !== undefined);
    expect(callLine("direct-quota")?.["code"]).toBe("ResourceExhausted");
  });
});

describe("a REST client that goes away cancels the call and the upstream request", () => {
  it("mid-stream (SSE)", async () => {
    const body = JSON.stringify({ model: "gpt", stream: true, messages: [{ role: "user", content: "#slow go" }] });
    const socket = await rawRequest("/v1/chat/completions", body, "direct-gone-stream");
    let received = "";
    const threeEvents = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        received += chunk.toString("utf8");
        if ((received.match(/\ndata: /g) ?? []).length >= 3) resolve();
      });
    });
    await threeEvents;
    socket.destroy();
    await fake.waitForClosedEarly(1, 5_000);
    await eventually(() => callLine("direct-gone-stream") !== undefined, 5_000);
    expect(callLine("direct-gone-stream")?.["code"]).toBe("Canceled");
  });

  it("before a unary answer", async () => {
    const body = JSON.stringify({ model: "gpt", messages: [{ role: "user", content: "#hang" }] });
    const socket = await rawRequest("/v1/chat/completions", body, "direct-gone-unary");
    await fake.waitForRequests(1, 5_000);
    socket.destroy();
    await fake.waitForClosedEarly(1, 5_000);
    await eventually(() => callLine("direct-gone-unary") !== undefined, 5_000);
    expect(callLine("direct-gone-unary")?.["code"]).toBe("Canceled");
  });
});

describe("a REST SSE client that stops reading", () => {
  let big: TestGateway;
  beforeAll(async () => {
    big = await startGateway(`
server: { idle_timeout_ms: 30000, max_body_bytes: 33554432 }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
`);
  });
  afterAll(() => big.close());

  it("holds the stream back: the gateway does not buffer the rest of the answer in memory", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const held = () => {
      // Twice: array buffers' backing stores go in a second pass.
      gc();
      gc();
      const m = process.memoryUsage();
      return m.external + m.arrayBuffers;
    };
    // ~30 MB of SSE (16,000 words of 1 KB, each event carrying one), for a client that never reads.
    const words = Array.from({ length: 16_000 }, (_, i) => `${i}`.padEnd(1_000, "w")).join(" ");
    const body = JSON.stringify({ model: "chat", stream: true, messages: [{ role: "user", content: words }] });
    const before = held();
    const socket = net.connect(big.port, "127.0.0.1");
    socket.pause();
    try {
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      // The stream is waiting for the reader once the backpressure counter says so.
      const waited = async () => /modelgate_sse_backpressure_total\{surface="openai",event="waited"\} [1-9]/.test(await (await fetch(`${big.url}/metrics`)).text());
      for (let i = 0; i < 200 && !(await waited()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await waited()).toBe(true);
      // Give a transport that reads ahead time to do so. Buffers held then (external memory,
      // after GC): the Connect router transport this replaced, 15.7 MB (its encoded messages);
      // the direct transport, 0.4 MB (a pulled stream holds what the response's writable does).
      await new Promise((r) => setTimeout(r, 1_000));
      expect((held() - before) / 1_048_576).toBeLessThan(8);
    } finally {
      socket.destroy();
    }
  }, 30_000);
});

/** Sends a POST on a raw socket (so the test can drop the connection) and returns the socket. */
async function rawRequest(path: string, body: string, requestId: string): Promise<net.Socket> {
  const socket = net.connect(gw.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  socket.write(
    `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\nx-request-id: ${requestId}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return socket;
}

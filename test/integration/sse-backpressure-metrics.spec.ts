// /metrics counts REST streams held back by their reader: a client that stops reading an OpenAI
// SSE answer makes the stream wait (event=waited) and, after server.idle_timeout_ms, dropped
// (event=dropped), and the call ends Canceled with no stream left active.
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`
server: { idle_timeout_ms: 500, max_body_bytes: 16777216 }
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1, config: { stream_delay_ms: 1 } } }
`);
});
afterAll(() => gw.close());

describe("modelgate_sse_backpressure_total", () => {
  it("counts the wait and the drop of a client that stopped reading", async () => {
    // ~9 MB of SSE events for a client that never reads: the socket buffers fill after a few MB.
    const words = Array.from({ length: 8_000 }, (_, i) => `${i}`.padEnd(1_000, "w")).join(" ");
    const body = JSON.stringify({ model: "chat", stream: true, messages: [{ role: "user", content: words }] });
    const socket = net.connect(gw.port, "127.0.0.1");
    socket.pause(); // never read
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-request-id: stops-reading\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    try {
      const line = () => gw.logs.find((l) => l["msg"] === "call" && l["requestId"] === "stops-reading");
      await eventually(() => line() !== undefined, 45_000);
      expect(line()?.["code"]).toBe("Canceled");
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      expect(text).toContain('modelgate_sse_backpressure_total{surface="openai",event="dropped"} 1');
      expect(Number(/modelgate_sse_backpressure_total\{surface="openai",event="waited"\} (\d+)/.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
      expect(text).toContain('modelgate_calls_total{endpoint="chat",code="Canceled"} 1');
      expect(text).toContain('modelgate_active_streams{endpoint="chat"} 0');
    } finally {
      socket.destroy();
    }
  }, 60_000);
});

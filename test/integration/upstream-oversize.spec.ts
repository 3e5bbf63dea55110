// An upstream that never stops sending one answer (a 2xx body with no end, or a streamed event
// whose line never ends) must not fill the gateway's heap: past `server.max_upstream_body_bytes`
// (unary) or `server.max_upstream_event_bytes` (one event of a stream) the call fails with
// UNAVAILABLE naming the bound, the upstream connection is closed, and the gateway goes on
// serving. Before these bounds, such an upstream ended the process (heap out of memory).
// Real clients: connect-node over gRPC and the official openai SDK over the REST surface.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code } from "@connectrpc/connect";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { startFakeUpstream, type FakeUpstream } from "../fakes/fake-upstream";
import { clientFor } from "./clients";
import { failure, startGateway, type TestGateway } from "./harness";
import { writeForever } from "../support/endless-body";

const MAX_BODY = 1024 * 1024;
const MAX_EVENT = 64 * 1024;

/** Answers every chat request with a body that never ends; counts the answers the gateway walked away from. */
let endless: Server;
let endlessUrl: string;
let endlessClosed = 0;
let fake: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  endless = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      res.once("close", () => endlessClosed++);
      if (stream) {
        // One whole chunk, then an event whose data line never ends.
        res.writeHead(200, { "content-type": "text/event-stream" });
        const first = { id: "c1", object: "chat.completion.chunk", created: 1, model: "gpt-4o-mini", choices: [{ index: 0, delta: { role: "assistant", content: "first" }, finish_reason: null }] };
        res.write(`data: ${JSON.stringify(first)}\n\ndata: {"id":"`);
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"id":"');
      }
      writeForever(res);
    });
  });
  await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
  endlessUrl = `http://127.0.0.1:${(endless.address() as AddressInfo).port}/v1`;
  fake = await startFakeUpstream();
  const openai = (base: string) => `{ openai_api_key: sk-upstream-secret-0001, openai_api_base: "${base}" }`;
  gw = await startGateway(`
server: { max_upstream_body_bytes: ${MAX_BODY}, max_upstream_event_bytes: ${MAX_EVENT} }
endpoints:
  - { name: endless, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai(endlessUrl)} } }
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai(`${fake.url}/v1`)} } }
`);
});

afterAll(async () => {
  await gw?.close();
  await fake?.close();
  endless?.closeAllConnections();
  await new Promise((resolve) => endless?.close(resolve));
});

/** The gateway still answers a normal call, and memory did not follow the endless answers. */
async function stillServing(): Promise<void> {
  const client = clientFor(ChatService, "grpc", gw.url);
  const res = await client.chat({ endpoint: "gpt", messages: [{ role: "user", content: "still there?" }] });
  expect(res.choices[0]?.message?.content).toBe("echo: still there?");
}

describe("an upstream answer without end", () => {
  it("unary over gRPC: UNAVAILABLE naming the bound, the upstream connection closed", async () => {
    const closedBefore = endlessClosed;
    const client = clientFor(ChatService, "grpc", gw.url);
    const err = await failure(client.chat({ endpoint: "endless", messages: [{ role: "user", content: "hi" }] }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe(`openai: unexpected upstream response: body is larger than ${MAX_BODY} bytes`);
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(closedBefore + 1);
    await stillServing();
  });

  it("streamed over gRPC: the chunk before it, then UNAVAILABLE naming the bound", async () => {
    const closedBefore = endlessClosed;
    const client = clientFor(ChatService, "grpc", gw.url);
    const texts: string[] = [];
    const err = await failure(
      (async () => {
        for await (const chunk of client.streamChat({ endpoint: "endless", messages: [{ role: "user", content: "hi" }] })) {
          texts.push(chunk.choices.map((c) => c.delta?.content ?? "").join(""));
        }
      })(),
    );
    expect(texts.join("")).toBe("first");
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toBe(`openai: unexpected upstream response: a streamed event is larger than ${MAX_EVENT} bytes`);
    await expect.poll(() => endlessClosed, { timeout: 10_000 }).toBe(closedBefore + 1);
    await stillServing();
  });

  it("server.max_upstream_held_bytes bounds all answers together: the stream that would pass it fails, the gateway serves on", async () => {
    const small = await startGateway(`
server: { max_upstream_event_bytes: ${16 * MAX_EVENT}, max_upstream_held_bytes: ${4 * MAX_EVENT} }
endpoints:
  - { name: endless, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream-secret-0001, openai_api_base: "${endlessUrl}" } } }
`);
    try {
      const client = clientFor(ChatService, "grpc", small.url);
      const err = await failure(
        (async () => {
          for await (const _ of client.streamChat({ endpoint: "endless", messages: [{ role: "user", content: "hi" }] })) void _;
        })(),
      );
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe(`openai: unexpected upstream response: upstream answers held at once would pass ${4 * MAX_EVENT} bytes (server.max_upstream_held_bytes)`);
      expect(small.gateway.upstreamHeldBytes()).toBe(0);
    } finally {
      await small.close();
    }
  });

  it("through the openai SDK, unary and streamed: an APIError, nothing secret in it", async () => {
    const sdk = new OpenAI({ apiKey: "unused-auth-is-off", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const unary = await sdk.chat.completions.create({ model: "endless", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(unary).toBeInstanceOf(OpenAI.APIError);
    expect((unary as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((unary as Error).message).toContain(`body is larger than ${MAX_BODY} bytes`);
    expect((unary as Error).message).not.toContain("sk-upstream-secret");

    const stream = await sdk.chat.completions.create({ model: "endless", messages: [{ role: "user", content: "hi" }], stream: true });
    let text = "";
    const read = async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    };
    const streamed = await read().catch((e: unknown) => e);
    expect(text).toBe("first");
    expect(streamed).toBeInstanceOf(OpenAI.APIError);
    expect((streamed as Error).message).toContain(`a streamed event is larger than ${MAX_EVENT} bytes`);
    expect(gw.rawLogs()).not.toContain("sk-upstream-secret");
    await stillServing();
  });
});

// The typed API says which target answered and after how many attempts (the `routing` field of
// every model response, on the last message of a stream), and GetEndpoint lists the targets with
// their breaker and canary state — what gRPC and Connect clients see, beside the headers.
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService, EndpointTarget_BreakerState, EndpointTarget_CanaryStanding } from "../../gen/modelgate/v1/endpoint_pb";
import { clientFor, protocols } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startGateway(`
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
  - { name: completions, endpoint_type: llm/v1/completions, model: { provider: echo, name: echo-1 } }
  - { name: embeddings, endpoint_type: llm/v1/embeddings, model: { provider: echo, name: echo-embed-1 } }
  - name: resilient
    endpoint_type: llm/v1/chat
    targets:
      - { name: down, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-unused-000000000000, openai_api_base: "http://127.0.0.1:1/v1" } } }
      - { name: backup, model: { provider: echo, name: echo-1 } }
    routing: { strategy: fallback, breaker: { consecutive_failures: 1000 } }
  - name: split
    endpoint_type: llm/v1/chat
    targets:
      - { name: blue, weight: 80, model: { provider: echo, name: echo-1 } }
      - { name: green, weight: 20, model: { provider: echo, name: echo-2 } }
      - { name: spare, model: { provider: echo, name: echo-3 } }
    routing: { strategy: weighted }
`);
});
afterAll(() => gw.close());

const hello = [{ role: "user", content: "hello" }];

describe.each(protocols)("routing in the typed answer over %s", (protocol) => {
  it("a one-target endpoint: its model, one attempt (unary and the last stream message)", async () => {
    const chat = clientFor(ChatService, protocol, gw.url);
    expect((await chat.chat({ endpoint: "chat", messages: hello })).routing).toMatchObject({ target: "echo-1", attempts: 1 });
    const chunks = await collect(chat.streamChat({ endpoint: "chat", messages: hello }));
    expect(chunks.at(-1)?.routing).toMatchObject({ target: "echo-1", attempts: 1 });
    expect(chunks.slice(0, -1).every((c) => c.routing === undefined)).toBe(true);
    const completions = clientFor(CompletionsService, protocol, gw.url);
    expect((await completions.complete({ endpoint: "completions", prompt: "hi" })).routing?.target).toBe("echo-1");
    const last = (await collect(completions.streamComplete({ endpoint: "completions", prompt: "hi" }))).at(-1);
    expect(last?.routing?.attempts).toBe(1);
    expect((await clientFor(EmbeddingsService, protocol, gw.url).embed({ endpoint: "embeddings", inputs: ["a"] })).routing?.target).toBe("echo-embed-1");
  });

  it("a fallback: the second target answered, on the second attempt", async () => {
    const chat = clientFor(ChatService, protocol, gw.url);
    expect((await chat.chat({ endpoint: "resilient", messages: hello })).routing).toMatchObject({ target: "backup", attempts: 2 });
    const chunks = await collect(chat.streamChat({ endpoint: "resilient", messages: hello }));
    expect(chunks.at(-1)?.routing).toMatchObject({ target: "backup", attempts: 2 });
  });
});

describe("GetEndpoint lists the targets with their health", () => {
  it("names, providers, models, breaker and canary state; never config", async () => {
    const endpoints = clientFor(EndpointService, "grpc", gw.url);
    const { endpoint } = await endpoints.getEndpoint({ name: "resilient" });
    expect(endpoint?.targets.map((t) => [t.name, t.provider, t.model])).toEqual([
      ["down", "openai", "gpt-4o-mini"],
      ["backup", "echo", "echo-1"],
    ]);
    for (const t of endpoint?.targets ?? []) {
      expect([EndpointTarget_BreakerState.CLOSED, EndpointTarget_BreakerState.OPEN, EndpointTarget_BreakerState.HALF_OPEN]).toContain(t.breaker);
      expect(t.canary).toBe(EndpointTarget_CanaryStanding.NOT_CANARY);
    }
    expect(JSON.stringify(endpoint)).not.toContain("sk-unused");
    expect(endpoint?.routingStrategy).toBe("fallback");
    expect(endpoint?.targets.map((t) => t.weight)).toEqual([undefined, undefined]);
    // A weighted split shows each target's weight (0: only a fallback).
    const split = (await endpoints.getEndpoint({ name: "split" })).endpoint;
    expect(split?.routingStrategy).toBe("weighted");
    expect(split?.targets.map((t) => [t.name, t.weight])).toEqual([
      ["blue", 80],
      ["green", 20],
      ["spare", 0],
    ]);
    const listed = await endpoints.listEndpoints({});
    expect(listed.endpoints.find((e) => e.name === "chat")?.routingStrategy).toBe("");
    expect(listed.endpoints.find((e) => e.name === "chat")?.targets).toHaveLength(1);
    expect((await failure(endpoints.getEndpoint({ name: "nope" }))).code).toBe(Code.NotFound);
  });
});

// The gateway against fake OpenAI, Anthropic and MLflow servers speaking their real wire
// formats: translation, streaming, usage, error mapping, trace propagation and cancellation.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ChatService } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictService } from "../../gen/modelgate/v1/predict_pb";
import { fakeEmbedding, startFakeUpstream, type FakeUpstream, type JsonObject } from "../fakes/fake-upstream";
import { clientFor, protocols, type ProtocolName } from "./clients";
import { collect, failure, startGateway, type TestGateway } from "./harness";

const openaiKey = "sk-openai-secret-for-tests-0001";
const anthropicKey = "sk-ant-secret-for-tests-0002";

let fake: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  fake = await startFakeUpstream();
  const openai = `{ openai_api_key: $OPENAI_KEY, openai_api_base: "${fake.url}/v1" }`;
  const anthropic = `{ anthropic_api_key: $ANTHROPIC_KEY, anthropic_api_base: "${fake.url}/v1" }`;
  gw = await startGateway(
    `
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: ${openai} } }
  - { name: gpt-text, endpoint_type: llm/v1/completions, model: { provider: openai, name: gpt-3.5-turbo-instruct, config: ${openai} } }
  - { name: gpt-embed, endpoint_type: llm/v1/embeddings, model: { provider: openai, name: text-embedding-3-small, config: ${openai} } }
  - { name: claude, endpoint_type: llm/v1/chat, model: { provider: anthropic, name: claude-sonnet-4-5, config: ${anthropic} } }
  - { name: claude-text, endpoint_type: llm/v1/completions, model: { provider: anthropic, name: claude-sonnet-4-5, config: ${anthropic} } }
  - { name: churn, endpoint_type: predict, model: { provider: mlflow-model-serving, name: churn, config: { model_server_url: "${fake.url}" } } }
  - { name: nowhere, endpoint_type: llm/v1/chat, model: { provider: openai, name: x, config: { openai_api_base: "http://127.0.0.1:1/v1" } } }
`,
    { OPENAI_KEY: openaiKey, ANTHROPIC_KEY: anthropicKey },
  );
});
afterAll(async () => {
  await gw.close();
  await fake.close();
});
beforeEach(() => fake.reset());

const user = (content: string) => ({ role: "user", content });

describe.each(["gpt", "claude"])("chat via %s", (endpoint) => {
  it.each(protocols)("unary over %s", async (protocol) => {
    const res = await clientFor(ChatService, protocol, gw.url).chat({
      endpoint,
      messages: [{ role: "system", content: "be brief" }, user("hello world")],
      maxTokens: 50,
    });
    expect(res.choices[0]?.message).toMatchObject({ role: "assistant", content: "echo: hello world" });
    expect(res.choices[0]?.finishReason).toBe("stop");
    expect(res.usage).toMatchObject({ promptTokens: 4, completionTokens: 3, totalTokens: 7 });
  });

  it.each(protocols)("streamed over %s, usage on the last message", async (protocol) => {
    const chunks = await collect(clientFor(ChatService, protocol, gw.url).streamChat({ endpoint, messages: [user("one two three four")] }));
    const text = chunks.flatMap((c) => c.choices.map((d) => d.delta?.content ?? "")).join("");
    expect(text).toBe("echo: one two three four");
    expect(chunks.filter((c) => c.choices.some((d) => d.delta?.content)).length).toBeGreaterThanOrEqual(5);
    expect(chunks.at(-1)?.usage).toMatchObject({ promptTokens: 4, completionTokens: 5, totalTokens: 9 });
    expect(chunks.slice(0, -1).every((c) => !c.usage)).toBe(true);
    expect(chunks.some((c) => c.choices.some((d) => d.finishReason === "stop"))).toBe(true);
  });

  it("streams one after another end their upstream requests whole, on one kept-alive connection", async () => {
    const client = clientFor(ChatService, "connect-json-h1", gw.url);
    for (let i = 0; i < 5; i++) {
      const chunks = await collect(client.streamChat({ endpoint, messages: [user(`stream ${i}`)] }));
      expect(chunks.at(-1)?.usage?.totalTokens).toBeGreaterThan(0);
    }
    await fake.waitForRequests(5);
    // The terminal event ([DONE], message_stop) ends the request; the body's end is read, not aborted.
    expect(fake.closedEarly).toBe(0);
    expect(new Set(fake.requests.map((r) => r.remotePort)).size).toBe(1);
  });

  it("an upstream whose response ends after its terminal event: the client's stream ends at the event, the request is not aborted", async () => {
    const client = clientFor(ChatService, "connect-json-h1", gw.url);
    const chunks = await collect(client.streamChat({ endpoint, messages: [user("#linger:300 first")] }));
    expect(chunks.at(-1)?.usage?.totalTokens).toBeGreaterThan(0);
    // Well after the fake's end: the gateway read the body to its end and kept the connection.
    await new Promise((r) => setTimeout(r, 1_000));
    await collect(client.streamChat({ endpoint, messages: [user("second")] }));
    await fake.waitForRequests(2);
    expect(fake.closedEarly).toBe(0);
    expect(fake.requests[1]!.remotePort).toBe(fake.requests[0]!.remotePort);
  });

  it("one whose response never ends after its terminal event is let go (the request aborted) within seconds", async () => {
    const chunks = await collect(clientFor(ChatService, "grpc", gw.url).streamChat({ endpoint, messages: [user("#linger:60000 stuck")] }));
    expect(chunks.at(-1)?.usage?.totalTokens).toBeGreaterThan(0);
    // The gateway reads on for 1 s after the terminal event, then destroys the body.
    await fake.waitForClosedEarly(1, 15_000);
  });
});

describe("what the upstream receives", () => {
  it("openai: bearer key, model, params, stream_options, traceparent and request id", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const chat = clientFor(ChatService, "grpc", gw.url);
    await collect(
      chat.streamChat(
        { endpoint: "gpt", messages: [user("hi")], temperature: 0.5, stop: ["\n\n"], seed: 7n, user: "u-1" },
        { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, "x-request-id": "rid-42" } },
      ),
    );
    const req = fake.requests[0]!;
    expect(req.path).toBe("/v1/chat/completions");
    expect(req.headers["authorization"]).toBe(`Bearer ${openaiKey}`);
    expect(req.headers["x-request-id"]).toBe("rid-42");
    const traceparent = String(req.headers["traceparent"]);
    expect(traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(traceparent).not.toContain("00f067aa0ba902b7");
    expect(req.body).toMatchObject({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "hi" }],
      temperature: 0.5,
      stop: ["\n\n"],
      seed: 7,
      user: "u-1",
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it("anthropic: x-api-key, version, system lifted out, max_tokens defaulted", async () => {
    await clientFor(ChatService, "connect-json-h1", gw.url).chat({
      endpoint: "claude",
      messages: [{ role: "system", content: "be brief" }, user("hi")],
    });
    const req = fake.requests[0]!;
    expect(req.path).toBe("/v1/messages");
    expect(req.headers["x-api-key"]).toBe(anthropicKey);
    expect(req.headers["anthropic-version"]).toBe("2023-06-01");
    expect(req.body).toMatchObject({ model: "claude-sonnet-4-5", system: "be brief", messages: [{ role: "user", content: "hi" }], max_tokens: 1024 });
  });
});

describe("completions and embeddings", () => {
  it.each(["gpt-text", "claude-text"])("%s: unary and streamed", async (endpoint) => {
    const client = clientFor(CompletionsService, "grpc", gw.url);
    const res = await client.complete({ endpoint, prompt: "tell me" });
    expect(res.choices[0]?.text).toBe("echo: tell me");
    expect(res.usage?.totalTokens).toBe(5);
    const chunks = await collect(client.streamComplete({ endpoint, prompt: "tell me" }));
    expect(chunks.flatMap((c) => c.choices.map((x) => x.text)).join("")).toBe("echo: tell me");
    expect(chunks.at(-1)?.usage?.completionTokens).toBe(3);
  });

  it("openai embeddings keep the input order", async () => {
    const res = await clientFor(EmbeddingsService, "connect-binary-h2", gw.url).embed({ endpoint: "gpt-embed", inputs: ["first text", "second"] });
    expect(res.data.map((d) => d.index)).toEqual([0, 1]);
    expect(res.data[0]?.values).toEqual(fakeEmbedding("first text"));
    expect(res.data[1]?.values).toEqual(fakeEmbedding("second"));
    expect(res.usage?.promptTokens).toBe(3);
  });
});

describe("predict through mlflow-model-serving", () => {
  it.each<[string, Parameters<ReturnType<typeof clientFor<typeof PredictService>>["predict"]>[0]["input"], JsonObject]>([
    ["dataframe_split", { case: "dataframeSplit", value: { columns: ["a", "b"], data: [{ values: [{ kind: { case: "numberValue", value: 1 } }, { kind: { case: "numberValue", value: 2 } }] }] } }, { dataframe_split: { columns: ["a", "b"], data: [[1, 2]] } }],
    ["dataframe_records", { case: "dataframeRecords", value: { values: [{ kind: { case: "structValue", value: { fields: { a: { kind: { case: "numberValue", value: 3 } } } } } }] } }, { dataframe_records: [{ a: 3 }] }],
    ["instances", { case: "instances", value: { values: [{ kind: { case: "listValue", value: { values: [{ kind: { case: "numberValue", value: 4 } }, { kind: { case: "numberValue", value: 5 } }] } } }] } }, { instances: [[4, 5]] }],
    ["inputs", { case: "inputs", value: { kind: { case: "listValue", value: { values: [{ kind: { case: "numberValue", value: 6 } }] } } } }, { inputs: [6] }],
  ])("%s is passed through as MLflow's format", async (_name, input, expectedBody) => {
    const res = await clientFor(PredictService, "grpc", gw.url).predict({ endpoint: "churn", input });
    expect(fake.requests[0]?.path).toBe("/invocations");
    expect(fake.requests[0]?.body).toEqual(expectedBody);
    expect(res.model).toBe("churn");
    expect(res.predictions?.kind.case).toBe("listValue");
  });

  it("params travel with the input", async () => {
    const res = await fetch(`${gw.url}/modelgate.v1.PredictService/Predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint: "churn", dataframeSplit: { columns: ["x", "y"], data: [[1, 2], [3, 4]] }, params: { multiplier: 10 } }),
    });
    expect(await res.json()).toEqual({ predictions: [30, 70], model: "churn", routing: { target: "churn", attempts: 1 } });
    expect(fake.requests[0]?.body).toEqual({ dataframe_split: { columns: ["x", "y"], data: [[1, 2], [3, 4]] }, params: { multiplier: 10 } });
  });
});

describe.each<[string, ProtocolName]>([
  ["gpt", "grpc"],
  ["claude", "connect-json-h1"],
])("upstream failures via %s over %s", (endpoint, protocol) => {
  const chat = () => clientFor(ChatService, protocol, gw.url);

  it.each([
    ["#status:429", Code.ResourceExhausted],
    ["#status:500", Code.Unavailable],
    ["#status:400", Code.InvalidArgument],
    ["#status:401", Code.Unavailable],
    ["#garbage", Code.Unavailable],
    ["#break", Code.Unavailable],
  ])("%s -> %s (unary)", async (directive, code) => {
    const err = await failure(chat().chat({ endpoint, messages: [user(`${directive} hi`)] }));
    expect(Code[err.code]).toBe(Code[code]);
    expect(err.rawMessage).not.toContain(openaiKey);
    expect(err.rawMessage).not.toContain(anthropicKey);
    if (code === Code.ResourceExhausted) expect(err.metadata.get("retry-after")).toBe("7");
    if (directive === "#status:401") expect(err.rawMessage).toMatch(/credentials were refused by the upstream/);
  });

  it.each(["#break", "#stream-error", "#status:500", "#garbage"])("a stream failing with %s ends with UNAVAILABLE, never a clean end", async (directive) => {
    const received: string[] = [];
    const err = await failure(
      (async () => {
        for await (const c of chat().streamChat({ endpoint, messages: [user(`${directive} a b c d`)] })) {
          received.push(...c.choices.map((d) => d.delta?.content ?? ""));
        }
      })(),
    );
    expect(Code[err.code]).toBe(Code[Code.Unavailable]);
    if (directive === "#break" || directive === "#stream-error") expect(received.join("").length).toBeGreaterThan(0);
  });
});

describe("no upstream at all", () => {
  it("connection refused -> UNAVAILABLE naming the provider", async () => {
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint: "nowhere", messages: [user("x")] }));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(/^openai: upstream connection failed/);
  });
});

describe.each(["gpt", "claude"])("cancellation reaches the upstream (%s)", (endpoint) => {
  it.each(protocols)("a client that stops reading a stream over %s closes the upstream request", async (protocol) => {
    const controller = new AbortController();
    let seen = 0;
    const err = await failure(
      (async () => {
        for await (const c of clientFor(ChatService, protocol, gw.url).streamChat(
          { endpoint, messages: [user("#slow go")] },
          { signal: controller.signal },
        )) {
          if (c.choices.length > 0 && ++seen === 3) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe(Code.Canceled);
    await fake.waitForClosedEarly(1, 3_000);
  });

  it("a deadline aborts a hanging upstream with DEADLINE_EXCEEDED", async () => {
    // The deadline must leave time for the call to reach the upstream (a new connection, on a
    // loaded machine), or the upstream never sees a request to abort.
    const err = await failure(clientFor(ChatService, "grpc", gw.url).chat({ endpoint, messages: [user("#hang x")] }, { timeoutMs: 2_000 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await fake.waitForClosedEarly(1, 3_000);
  });
});

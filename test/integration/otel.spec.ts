// OpenTelemetry traces end to end: a real gateway exporting OTLP/HTTP protobuf to a receiver that
// decodes the real ExportTraceServiceRequest (test/otel/otlp-receiver.ts), real clients (the
// `openai` SDK, @grpc/grpc-js), fake upstreams recording the headers they receive.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import OpenAI from "openai";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "../otel/otlp-receiver";
import { grpcJsClient, loadGrpcJsPackage } from "./clients";
import { eventually, startGateway, type TestGateway } from "./harness";

const appKey = "sk-modelgate-otel-test-0001";
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const callerSpan = "00f067aa0ba902b7";
const traceparentIn = `00-${traceId}-${callerSpan}-01`;
const tracestateIn = "vendor1=abc,vendor2=xyz";
const baggageIn = "tenant=acme,session=42";
const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/;

const model = (fake: FaultyUpstream, name: string) =>
  `{ provider: openai, name: ${name}, config: { openai_api_key: sk-upstream-0001, openai_api_base: "${fake.url}/v1" } }`;

const config = (fake: FaultyUpstream, telemetry: string) => `
auth:
  enabled: true
  keys: [{ name: app, key: $APP_KEY, team: research }]
${telemetry}
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: ${model(fake, "gpt-4o-mini")} }
  - name: gpt-captured
    endpoint_type: llm/v1/chat
    model: ${model(fake, "gpt-4o")}
    telemetry: { capture_content: true }
  - { name: text, endpoint_type: llm/v1/completions, model: ${model(fake, "gpt-3.5-turbo-instruct")} }
  - { name: embed, endpoint_type: llm/v1/embeddings, model: ${model(fake, "text-embedding-3-small")} }
  - name: guarded
    endpoint_type: llm/v1/chat
    model: ${model(fake, "gpt-4o-mini")}
    policies: { guardrails: { input: [{ type: pii }] }, cache: { ttl_ms: 60000 } }
  - name: retried
    endpoint_type: llm/v1/chat
    model: ${model(fake, "gpt-4o-mini")}
    routing: { retries: { max: 2, base_delay_ms: 1, max_delay_ms: 50, budget_percent: 100, min_per_second: 100 }, breaker: { consecutive_failures: 1000 } }
`;

/** The upstream's traceparent split into trace id and parent span id. */
function upstreamParent(fake: FaultyUpstream, index: number): { traceId: string; spanId: string } {
  const header = fake.requests[index]?.headers["traceparent"];
  const m = traceparentPattern.exec(typeof header === "string" ? header : "");
  if (!m) throw new Error(`upstream request ${index} has no valid traceparent: ${String(header)}`);
  return { traceId: m[1]!, spanId: m[2]! };
}

/** A StreamChatResponse as grpc-js decodes it (camelCase fields, defaults filled). */
interface StreamChunk {
  model: string;
  choices: { delta?: { content: string }; finishReason: string }[];
  usage: { promptTokens: number; completionTokens: number } | null;
}

function grpcMetadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

describe("OpenTelemetry traces (telemetry on)", () => {
  let fake: FaultyUpstream;
  let receiver: OtlpReceiver;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    receiver = await startOtlpReceiver();
    // The endpoint comes from the standard variable; the block only shortens the export delay.
    gw = await startGateway(config(fake, "telemetry: { export_delay_ms: 50 }"), { APP_KEY: appKey }, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: "modelgate-test" },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await receiver?.close();
    await fake?.close();
  });
  beforeEach(() => fake.reset());

  /** The spans of one trace once its server span and `clients` client spans have arrived. */
  async function traceOf(id: string, clients: number): Promise<{ server: ReceivedSpan; attempts: ReceivedSpan[] }> {
    await gw.gateway.flushTraces();
    const inTrace = (spans: ReceivedSpan[]) => spans.filter((s) => s.traceId === id);
    await receiver.waitFor((spans) => {
      const t = inTrace(spans);
      return t.some((s) => s.kind === "server") && t.filter((s) => s.kind === "client").length >= clients;
    });
    const spans = inTrace(receiver.spans);
    const server = spans.find((s) => s.kind === "server")!;
    const attempts = spans.filter((s) => s.kind === "client").sort((a, b) => Number(a.attributes["modelgate.attempt"]) - Number(b.attributes["modelgate.attempt"]));
    return { server, attempts };
  }

  it("puts the policies' decisions on the server span: cache miss then hit, guardrail reason codes (never the text)", async () => {
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ids = ["a", "b"].map((c) => c.repeat(32));
    for (const id of ids) {
      await client.chat.completions.create(
        { model: "guarded", messages: [{ role: "user", content: "mail me at jane.doe@example.com" }], temperature: 0 },
        { headers: { traceparent: `00-${id}-${callerSpan}-01` } },
      );
    }
    const miss = await traceOf(ids[0]!, 1);
    expect(miss.server.attributes["modelgate.cache"]).toBe("miss");
    expect(miss.server.attributes["modelgate.guardrails"]).toEqual(["input:pii.email:redact"]);
    expect(JSON.stringify(miss.server.attributes)).not.toContain("jane.doe");
    const hit = await traceOf(ids[1]!, 0);
    expect(hit.server.attributes["modelgate.cache"]).toBe("hit");
    expect(hit.attempts).toEqual([]);
    expect(fake.requests).toHaveLength(1);
  });

  it("traces a chat through the OpenAI REST surface: server span, attempt span, GenAI attributes, context to the upstream", async () => {
    const client = new OpenAI({
      apiKey: appKey,
      baseURL: `${gw.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { traceparent: traceparentIn, tracestate: tracestateIn, baggage: baggageIn },
    });
    const answer = await client.chat.completions.create({
      model: "gpt",
      messages: [{ role: "user", content: "hello there world" }],
      max_tokens: 50,
      temperature: 0.25,
    });
    expect(answer.choices[0]!.message.content).toBe("echo: hello there world");

    const { server, attempts } = await traceOf(traceId, 1);
    // The caller's trace continues: same trace id, the caller's span as parent, its tracestate kept.
    expect(server.parentSpanId).toBe(callerSpan);
    expect(server.traceState).toBe(tracestateIn);
    expect(server.name).toBe("modelgate.v1.ChatService/Chat");
    expect(server.resource["service.name"]).toBe("modelgate-test");
    expect(server.status).toBe("unset");
    expect(server.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.response.model": answer.model,
      "gen_ai.usage.input_tokens": answer.usage!.prompt_tokens,
      "gen_ai.usage.output_tokens": answer.usage!.completion_tokens,
      "gen_ai.response.finish_reasons": ["stop"],
      "gen_ai.request.max_tokens": 50,
      "gen_ai.request.temperature": 0.25,
      "modelgate.endpoint": "gpt",
      "modelgate.key_name": "app",
      "modelgate.team": "research",
      "modelgate.target": "gpt-4o-mini",
      "modelgate.attempts": 1,
      "rpc.response.status_code": "OK",
    });
    // Content is off by default.
    expect(server.attributes["gen_ai.input.messages"]).toBeUndefined();
    expect(server.attributes["gen_ai.output.messages"]).toBeUndefined();
    // Never the secret.
    expect(JSON.stringify(server.attributes)).not.toContain(appKey);

    expect(attempts).toHaveLength(1);
    const attempt = attempts[0]!;
    expect(attempt.parentSpanId).toBe(server.spanId);
    expect(attempt.name).toBe("chat gpt-4o-mini");
    expect(attempt.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "http.request.method": "POST",
      "http.response.status_code": 200,
      "server.address": "127.0.0.1",
      "server.port": fake.port,
    });

    // The upstream's traceparent names the attempt span; tracestate and baggage travel with it.
    expect(fake.requests).toHaveLength(1);
    expect(upstreamParent(fake, 0)).toEqual({ traceId, spanId: attempt.spanId });
    expect(fake.requests[0]!.headers["tracestate"]).toBe(tracestateIn);
    expect(fake.requests[0]!.headers["baggage"]).toBe(baggageIn);

    // The call's log line carries the ids of its server span.
    await eventually(() => gw.logs.some((l) => l["msg"] === "call" && l["trace_id"] === traceId));
    const line = gw.logs.find((l) => l["msg"] === "call" && l["trace_id"] === traceId)!;
    expect(line["span_id"]).toBe(server.spanId);
  });

  it("traces a gRPC StreamChat (@grpc/grpc-js) with content captured on an endpoint that asks for it", async () => {
    const streamTrace = "0af7651916cd43dd8448eb211c80319c";
    const client = grpcJsClient(loadGrpcJsPackage(), "ChatService", gw.port);
    const call = (client as unknown as Record<string, Function>)["StreamChat"]!.call(
      client,
      { endpoint: "gpt-captured", messages: [{ role: "user", content: "stream me please" }] },
      grpcMetadata({ authorization: `Bearer ${appKey}`, traceparent: `00-${streamTrace}-b7ad6b7169203331-01`, tracestate: "congo=t61rcWkgMzE" }),
    ) as grpc.ClientReadableStream<StreamChunk>;
    let text = "";
    let usage: StreamChunk["usage"] = null;
    let responseModel = "";
    for await (const item of call) {
      const chunk = item as StreamChunk;
      text += chunk.choices.map((c) => c.delta?.content ?? "").join("");
      usage = chunk.usage ?? usage;
      responseModel = chunk.model || responseModel;
    }
    client.close();
    expect(text).toBe("echo: stream me please");

    const { server, attempts } = await traceOf(streamTrace, 1);
    expect(server.name).toBe("modelgate.v1.ChatService/StreamChat");
    expect(server.parentSpanId).toBe("b7ad6b7169203331");
    expect(server.traceState).toBe("congo=t61rcWkgMzE");
    expect(server.attributes).toMatchObject({
      "rpc.system": "grpc",
      "gen_ai.operation.name": "chat",
      "gen_ai.request.model": "gpt-4o",
      "gen_ai.response.model": responseModel,
      "gen_ai.usage.input_tokens": usage!.promptTokens,
      "gen_ai.usage.output_tokens": usage!.completionTokens,
      "gen_ai.response.finish_reasons": ["stop"],
      "modelgate.endpoint": "gpt-captured",
    });
    expect(JSON.parse(String(server.attributes["gen_ai.input.messages"]))).toEqual([
      { role: "user", parts: [{ type: "text", content: "stream me please" }] },
    ]);
    expect(JSON.parse(String(server.attributes["gen_ai.output.messages"]))).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "echo: stream me please" }], finish_reason: "stop" },
    ]);
    expect(attempts).toHaveLength(1);
    const attempt = attempts[0]!;
    expect(attempt.parentSpanId).toBe(server.spanId);
    // The attempt span saw the whole upstream stream: its usage and model.
    expect(attempt.attributes).toMatchObject({
      "gen_ai.response.model": responseModel,
      "gen_ai.usage.input_tokens": usage!.promptTokens,
      "gen_ai.usage.output_tokens": usage!.completionTokens,
    });
    expect(attempt.endNs).toBeGreaterThanOrEqual(attempt.startNs);
    expect(upstreamParent(fake, 0)).toEqual({ traceId: streamTrace, spanId: attempt.spanId });
    expect(fake.requests[0]!.headers["tracestate"]).toBe("congo=t61rcWkgMzE");
  });

  it("redacts captured prompts and completions with the guardrails' PII detectors (telemetry.redact default: email, phone, card, secret)", async () => {
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const id = "c".repeat(32);
    const prompt = "mail jane.doe@example.com or call +1 415 555 2671, card 4111 1111 1111 1111, key sk-abcdefghijklmnopqrstuvwx1234";
    await client.chat.completions.create({ model: "gpt-captured", messages: [{ role: "user", content: prompt }] }, { headers: { traceparent: `00-${id}-${callerSpan}-01` } });
    const { server } = await traceOf(id, 1);
    const redacted = "mail [REDACTED:pii.email] or call [REDACTED:pii.phone], card [REDACTED:pii.card], key [REDACTED:pii.secret]";
    expect(JSON.parse(String(server.attributes["gen_ai.input.messages"]))).toEqual([{ role: "user", parts: [{ type: "text", content: redacted }] }]);
    expect(JSON.parse(String(server.attributes["gen_ai.output.messages"]))).toEqual([
      { role: "assistant", parts: [{ type: "text", content: `echo: ${redacted}` }], finish_reason: "stop" },
    ]);
    // Nothing of the originals anywhere on the trace's spans.
    const everything = JSON.stringify(receiver.spans.filter((sp) => sp.traceId === id).map((sp) => sp.attributes));
    for (const secret of ["jane.doe", "555 2671", "4111 1111", "sk-abcdefghij"]) expect(everything).not.toContain(secret);
  });

  it("shows a retried upstream request as two attempt spans under one server span", async () => {
    const retryTrace = "11111111111111111111111111111111";
    fake.queueFaults("#status:500");
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: { traceparent: `00-${retryTrace}-2222222222222222-01` } });
    const answer = await client.chat.completions.create({ model: "retried", messages: [{ role: "user", content: "again" }] });
    expect(answer.choices[0]!.message.content).toBe("echo: again");

    const { server, attempts } = await traceOf(retryTrace, 2);
    expect(attempts).toHaveLength(2);
    expect(server.attributes["modelgate.attempts"]).toBe(2);
    const [failed, ok] = attempts as [ReceivedSpan, ReceivedSpan];
    for (const a of attempts) expect(a.parentSpanId).toBe(server.spanId);
    expect(failed.attributes["http.response.status_code"]).toBe(500);
    expect(failed.status).toBe("error");
    expect(failed.attributes["error.type"]).toBe("500");
    expect(ok.attributes["http.response.status_code"]).toBe(200);
    expect(ok.status).toBe("unset");
    // Each upstream request named its own attempt span as parent.
    expect(fake.requests).toHaveLength(2);
    expect(upstreamParent(fake, 0)).toEqual({ traceId: retryTrace, spanId: failed.spanId });
    expect(upstreamParent(fake, 1)).toEqual({ traceId: retryTrace, spanId: ok.spanId });
  });

  it("marks a failed call's server span as an error with its Connect code", async () => {
    const errTrace = "33333333333333333333333333333333";
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: { traceparent: `00-${errTrace}-4444444444444444-01` } });
    await expect(client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "#status:400 bad" }] })).rejects.toThrow();
    const { server, attempts } = await traceOf(errTrace, 1);
    expect(server.status).toBe("error");
    expect(server.attributes["error.type"]).toBe("INVALID_ARGUMENT");
    expect(attempts[0]!.attributes["http.response.status_code"]).toBe(400);
  });

  it("names the GenAI operation of completions and embeddings calls", async () => {
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const parent = (trace: string) => ({ headers: { traceparent: `00-${trace}-7777777777777777-01` } });
    const textTrace = "55555555555555555555555555555555";
    const embedTrace = "66666666666666666666666666666666";
    const text = await client.completions.create({ model: "text", prompt: "one two", max_tokens: 5 }, parent(textTrace));
    const embed = await client.embeddings.create({ model: "embed", input: ["one two"] }, parent(embedTrace));

    const t = await traceOf(textTrace, 1);
    expect(t.server.name).toBe("modelgate.v1.CompletionsService/Complete");
    expect(t.server.attributes).toMatchObject({
      "gen_ai.operation.name": "text_completion",
      "gen_ai.request.model": "gpt-3.5-turbo-instruct",
      "gen_ai.request.max_tokens": 5,
      "gen_ai.usage.input_tokens": text.usage!.prompt_tokens,
      "gen_ai.usage.output_tokens": text.usage!.completion_tokens,
    });
    expect(t.attempts[0]!.name).toBe("text_completion gpt-3.5-turbo-instruct");

    const e = await traceOf(embedTrace, 1);
    expect(e.server.name).toBe("modelgate.v1.EmbeddingsService/Embed");
    expect(e.server.attributes).toMatchObject({
      "gen_ai.operation.name": "embeddings",
      "gen_ai.request.model": "text-embedding-3-small",
      "gen_ai.usage.input_tokens": embed.usage.prompt_tokens,
    });
    expect(e.attempts[0]!.name).toBe("embeddings text-embedding-3-small");
  });

  it("starts a new trace when the caller sends none (a root server span)", async () => {
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "fresh" }] });
    const { traceId: newTrace, spanId } = upstreamParent(fake, 0);
    expect(newTrace).not.toBe(traceId);
    const { server, attempts } = await traceOf(newTrace, 1);
    expect(server.parentSpanId).toBe("");
    expect(attempts[0]!.spanId).toBe(spanId);
  });
});

describe("OpenTelemetry traces (telemetry off)", () => {
  let fake: FaultyUpstream;
  let receiver: OtlpReceiver;
  let off: TestGateway;
  let disabled: TestGateway;
  let disabledClosed = false;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    receiver = await startOtlpReceiver();
    // Off by default: no variable, no block.
    off = await startGateway(config(fake, ""), { APP_KEY: appKey }, { env: {} });
    // OTEL_SDK_DISABLED wins over an endpoint and the block.
    disabled = await startGateway(config(fake, "telemetry: { enabled: true, export_delay_ms: 10 }"), { APP_KEY: appKey }, {
      env: { OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` },
    });
  });
  afterAll(async () => {
    await off?.close();
    if (!disabledClosed) await disabled?.close();
    await receiver?.close();
    await fake?.close();
  });

  it("still sends a valid traceparent (the caller's trace id), tracestate and baggage upstream, and logs the ids", async () => {
    for (const gw of [off, disabled]) {
      fake.reset();
      const client = new OpenAI({
        apiKey: appKey,
        baseURL: `${gw.url}/v1`,
        maxRetries: 0,
        defaultHeaders: { traceparent: traceparentIn, tracestate: tracestateIn, baggage: baggageIn, "x-request-id": "req-otel-off" },
      });
      await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "quiet" }] });
      const parent = upstreamParent(fake, 0);
      expect(parent.traceId).toBe(traceId);
      expect(parent.spanId).not.toBe(callerSpan);
      expect(fake.requests[0]!.headers["tracestate"]).toBe(tracestateIn);
      expect(fake.requests[0]!.headers["baggage"]).toBe(baggageIn);
      expect(fake.requests[0]!.headers["x-request-id"]).toBe("req-otel-off");
      await eventually(() => gw.logs.some((l) => l["msg"] === "call" && l["requestId"] === "req-otel-off"));
      const line = gw.logs.find((l) => l["msg"] === "call" && l["requestId"] === "req-otel-off")!;
      expect(line).toMatchObject({ trace_id: traceId, span_id: parent.spanId });
    }
    // Shutting down flushes whatever an exporter holds: with telemetry off there is none.
    await disabled.gateway.flushTraces();
    await disabled.close();
    disabledClosed = true;
    expect(receiver.exports).toBe(0);
  });
});

describe("OpenTelemetry traces (sampling)", () => {
  let fake: FaultyUpstream;
  let receiver: OtlpReceiver;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    receiver = await startOtlpReceiver();
    // No new trace is kept; a caller's sampled trace is (parent-based).
    gw = await startGateway(config(fake, "telemetry: { sampler_ratio: 0, export_delay_ms: 50 }"), { APP_KEY: appKey }, {
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces` },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await receiver?.close();
    await fake?.close();
  });

  it("exports nothing for an unsampled root but still sends a valid, unsampled traceparent upstream", async () => {
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "unsampled" }] });
    const header = String(fake.requests[0]!.headers["traceparent"]);
    expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    await gw.gateway.flushTraces();
    expect(receiver.spans).toHaveLength(0);
  });

  it("keeps a trace the caller sampled", async () => {
    fake.reset();
    const sampledTrace = "77777777777777777777777777777777";
    const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: { traceparent: `00-${sampledTrace}-8888888888888888-01` } });
    await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "sampled" }] });
    await gw.gateway.flushTraces();
    await receiver.waitFor((spans) => spans.filter((s) => s.traceId === sampledTrace).length >= 2);
    expect(upstreamParent(fake, 0).traceId).toBe(sampledTrace);
    expect(String(fake.requests[0]!.headers["traceparent"]).endsWith("-01")).toBe(true);
  });
});

describe("OpenTelemetry traces (shutdown)", () => {
  it("exports the spans still queued when the gateway shuts down", async () => {
    const fake = await startFakeUpstream();
    const receiver = await startOtlpReceiver();
    try {
      // A batch delay far beyond the test: only the shutdown's flush can deliver the spans.
      const gw = await startGateway(config(fake, "telemetry: { export_delay_ms: 60000 }"), { APP_KEY: appKey }, {
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
      });
      const shutdownTrace = "99999999999999999999999999999999";
      const client = new OpenAI({ apiKey: appKey, baseURL: `${gw.url}/v1`, maxRetries: 0, defaultHeaders: { traceparent: `00-${shutdownTrace}-9999999999999999-01` } });
      await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "last call" }] });
      expect(receiver.spans).toHaveLength(0);
      await gw.close();
      expect(receiver.spans.filter((s) => s.traceId === shutdownTrace).map((s) => s.kind).sort()).toEqual(["client", "server"]);
      // The generic OTLP endpoint turns on traces only: no metrics were pushed, not even at shutdown.
      expect(receiver.metrics).toEqual([]);
    } finally {
      await receiver.close();
      await fake.close();
    }
  });
});

// Each call as an MLflow trace: MLflow 3's tracking server takes OTLP/HTTP protobuf at /v1/traces
// (the experiment in the `x-mlflow-experiment-id` header), so the gateway's exporter pointed at it
// with that header logs every call there. Against a real `mlflow server` from PyPI, built by
// `bash test/otel/setup.sh mlflow` (.ci/run runs it).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { startMlflowServer, type MlflowServer } from "../support/mlflow-server";
import { startGateway, type TestGateway } from "./harness";

interface MlflowTrace {
  trace_info: {
    trace_id: string;
    state: string;
    trace_location: { mlflow_experiment?: { experiment_id: string } };
    trace_metadata?: Record<string, string>;
  };
  spans: { name: string; span_id: string; parent_span_id?: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
}

// The MLflow server's venv is built on first use (`bash test/otel/setup.sh mlflow`, cached
// outside the clone; needs python3, as the Python interop client does).
describe("OpenTelemetry traces logged to a real MLflow tracking server", () => {
  let fake: FaultyUpstream;
  let mlflow: MlflowServer | undefined;
  let mlflowUrl: string;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeUpstream();
    mlflow = await startMlflowServer();
    mlflowUrl = mlflow.url;
    gw = await startGateway(`
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream-0001, openai_api_base: "${fake.url}/v1" } } }
telemetry:
  enabled: true
  otlp_traces_endpoint: ${mlflowUrl}/v1/traces
  headers: { x-mlflow-experiment-id: "0" }
  service_name: modelgate-mlflow-test
`);
  }, 960_000);

  afterAll(async () => {
    await gw?.close();
    await mlflow?.stop();
    await fake?.close();
  }, 30_000);

  it("logs a chat as an MLflow trace: the call and its upstream attempt, token usage read from the GenAI attributes", async () => {
    const client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const answer = await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "log me in mlflow" }] });
    const traceparent = String(fake.requests[0]!.headers["traceparent"]);
    const traceId = traceparent.split("-")[1]!;
    await gw.gateway.flushTraces();

    const res = await fetch(`${mlflowUrl}/api/3.0/mlflow/traces/get?trace_id=tr-${traceId}`);
    expect(res.status).toBe(200);
    const { trace } = (await res.json()) as { trace: MlflowTrace };
    expect(trace.trace_info.trace_id).toBe(`tr-${traceId}`);
    expect(trace.trace_info.trace_location.mlflow_experiment?.experiment_id).toBe("0");
    // A root server span that ended: the trace is complete.
    expect(trace.trace_info.state).toBe("OK");
    expect(JSON.parse(trace.trace_info.trace_metadata?.["mlflow.trace.tokenUsage"] ?? "{}")).toEqual({
      input_tokens: answer.usage!.prompt_tokens,
      output_tokens: answer.usage!.completion_tokens,
      total_tokens: answer.usage!.total_tokens,
    });
    const names = trace.spans.map((s) => s.name).sort();
    expect(names).toEqual(["chat gpt-4o-mini", "modelgate.v1.ChatService/Chat"]);
    const server = trace.spans.find((s) => s.name === "modelgate.v1.ChatService/Chat")!;
    const attempt = trace.spans.find((s) => s.name === "chat gpt-4o-mini")!;
    // MLflow keeps the OTLP ids (base64 in its JSON): the attempt is the server span's child and
    // is the parent the upstream was given.
    expect(attempt.parent_span_id).toBe(server.span_id);
    expect(Buffer.from(attempt.span_id, "base64").toString("hex")).toBe(traceparent.split("-")[2]);
    const attr = (key: string) => server.attributes.find((a) => a.key === key)?.value;
    expect(attr("gen_ai.request.model")).toEqual({ string_value: "gpt-4o-mini" });
    expect(attr("modelgate.endpoint")).toEqual({ string_value: "gpt" });
  });
});

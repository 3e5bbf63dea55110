// Each call as an MLflow trace: MLflow 3's tracking server takes OTLP/HTTP protobuf at /v1/traces
// (the experiment in the `x-mlflow-experiment-id` header), so the gateway's exporter pointed at it
// with that header logs every call there. Against a real `mlflow server` from PyPI, built by
// `bash test/otel/setup.sh mlflow` (.ci/run runs it).
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { buildOnce } from "../support/build-once";
import { freePort } from "../support/free-port";
import { startGateway, type TestGateway } from "./harness";

/** The venv test/otel/setup.sh builds (the same hash of its requirements line). */
function mlflowVenv(): string {
  const requirements = "mlflow==3.8.1 SQLAlchemy==2.0.58";
  const hash = createHash("sha256").update(`${requirements}\n`).digest("hex").slice(0, 16);
  const cache = process.env["MODELGATE_MLFLOW_SERVER_CACHE"] ?? join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "modelgate-mlflow-server");
  return join(cache, hash, "venv");
}

const venv = mlflowVenv();

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
  let mlflow: ChildProcess;
  let output = "";
  let mlflowUrl: string;
  let gw: TestGateway;
  let dir: string;

  beforeAll(async () => {
    await buildOnce(join(venv, ".complete"), fileURLToPath(new URL("../otel/setup.sh", import.meta.url)), ["mlflow"]);
    fake = await startFakeUpstream();
    dir = mkdtempSync(join(tmpdir(), "modelgate-mlflow-traces-"));
    const port = await freePort();
    mlflowUrl = `http://127.0.0.1:${port}`;
    // Its own process group: `mlflow server` runs uvicorn as a child, stopped with it.
    mlflow = spawn(
      join(venv, "bin", "mlflow"),
      ["server", "--host", "127.0.0.1", "--port", String(port), "--workers", "1", "--backend-store-uri", `sqlite:///${join(dir, "mlflow.db")}`, "--default-artifact-root", join(dir, "artifacts")],
      { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: dir, env: { ...process.env, MLFLOW_TRACKING_URI: "" } },
    );
    mlflow.stdout!.on("data", (c: Buffer) => (output += c.toString()));
    mlflow.stderr!.on("data", (c: Buffer) => (output += c.toString()));
    const until = Date.now() + 110_000;
    for (;;) {
      if (mlflow.exitCode !== null) throw new Error(`mlflow server exited (${mlflow.exitCode}): ${output.slice(-2000)}`);
      const ok = await fetch(`${mlflowUrl}/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > until) throw new Error(`mlflow server not ready in time: ${output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
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
    if (mlflow?.pid !== undefined && mlflow.exitCode === null) {
      const exited = new Promise((resolve) => mlflow.once("exit", resolve));
      process.kill(-mlflow.pid, "SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (mlflow.exitCode === null) process.kill(-mlflow.pid, "SIGKILL");
    }
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
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

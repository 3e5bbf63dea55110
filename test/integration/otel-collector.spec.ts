// The gateway's spans and metrics through a real OpenTelemetry Collector: the collector's OTLP/HTTP
// receiver takes the gateway's exports (refusing a malformed one), its OTLP/HTTP exporter forwards
// them to the test's receiver, which decodes the protobuf. Built by test/otel/setup.sh from the collector's
// Go modules (.ci/run runs it).
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { startOtlpReceiver, type OtlpReceiver } from "../otel/otlp-receiver";
import { buildOnce } from "../support/build-once";
import { freePort } from "../support/free-port";
import { startGateway, type TestGateway } from "./harness";

/** Where test/otel/setup.sh puts the collector (the same hash of its inputs). */
function collectorPath(): string {
  const dir = fileURLToPath(new URL("../otel/collector/", import.meta.url));
  const hash = createHash("sha256");
  for (const f of ["go.mod", "go.sum", "main.go"]) hash.update(readFileSync(join(dir, f)));
  const cache = process.env["MODELGATE_OTELCOL_CACHE"] ?? join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "modelgate-otelcol");
  return join(cache, hash.digest("hex").slice(0, 16), "otelcol");
}

/** Resolves once something accepts connections on the port; rejects after timeoutMs. */
async function waitForPort(port: number, child: ChildProcess, output: () => string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the collector exited (${child.exitCode}): ${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > until) throw new Error(`the collector did not listen on ${port} in time: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const bin = collectorPath();

// The collector is built on first use (test/otel/setup.sh, cached outside the clone; needs Go,
// as the Go interop client does).
describe("OpenTelemetry traces through a real Collector", () => {
  let fake: FaultyUpstream;
  let receiver: OtlpReceiver;
  let collector: ChildProcess;
  let collectorOutput = "";
  let gw: TestGateway;
  let dir: string;

  beforeAll(async () => {
    await buildOnce(bin, fileURLToPath(new URL("../otel/setup.sh", import.meta.url)));
    fake = await startFakeUpstream();
    receiver = await startOtlpReceiver();
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), "modelgate-otelcol-"));
    const config = join(dir, "collector.yaml");
    writeFileSync(
      config,
      `
receivers:
  otlp:
    protocols:
      http: { endpoint: "127.0.0.1:${port}" }
exporters:
  otlphttp:
    endpoint: "${receiver.url}"
    encoding: proto
    compression: none
    sending_queue: { enabled: false }
service:
  telemetry:
    metrics: { level: none }
    logs: { level: warn }
  pipelines:
    traces: { receivers: [otlp], exporters: [otlphttp] }
    metrics: { receivers: [otlp], exporters: [otlphttp] }
`,
    );
    collector = spawn(bin, ["--config", `file:${config}`], { stdio: ["ignore", "pipe", "pipe"] });
    collector.stdout!.on("data", (c: Buffer) => (collectorOutput += c.toString()));
    collector.stderr!.on("data", (c: Buffer) => (collectorOutput += c.toString()));
    await waitForPort(port, collector, () => collectorOutput);
    gw = await startGateway(
      `
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream-0001, openai_api_base: "${fake.url}/v1" } } }
telemetry: { export_delay_ms: 50, metrics: { enabled: true, export_interval_ms: 600000 } }
`,
      {},
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: "modelgate-via-collector" } },
    );
  }, 900_000);

  afterAll(async () => {
    await gw?.close();
    if (collector && collector.exitCode === null) {
      const exited = new Promise((resolve) => collector.once("exit", resolve));
      collector.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (collector.exitCode === null) collector.kill("SIGKILL");
    }
    await receiver?.close();
    await fake?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("delivers the server span and its attempt span, GenAI attributes and the caller's context intact", async () => {
    const traceId = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const client = new OpenAI({
      apiKey: "unused",
      baseURL: `${gw.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { traceparent: `00-${traceId}-1122334455667788-01`, tracestate: "acme=1" },
    });
    const answer = await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "through the collector" }] });
    await gw.gateway.flushTraces();
    await receiver.waitFor((spans) => spans.filter((s) => s.traceId === traceId).length >= 2, 20_000);

    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    const server = spans.find((s) => s.kind === "server")!;
    const attempt = spans.find((s) => s.kind === "client")!;
    expect(server.resource["service.name"]).toBe("modelgate-via-collector");
    expect(server.parentSpanId).toBe("1122334455667788");
    expect(server.traceState).toBe("acme=1");
    expect(server.attributes).toMatchObject({
      "gen_ai.operation.name": "chat",
      "gen_ai.provider.name": "openai",
      "gen_ai.request.model": "gpt-4o-mini",
      "gen_ai.usage.input_tokens": answer.usage!.prompt_tokens,
      "gen_ai.usage.output_tokens": answer.usage!.completion_tokens,
      "gen_ai.response.finish_reasons": ["stop"],
    });
    expect(attempt.parentSpanId).toBe(server.spanId);
    const upstream = String(fake.requests[0]!.headers["traceparent"]);
    expect(upstream).toBe(`00-${traceId}-${attempt.spanId}-01`);
  });

  it("delivers the pushed metrics (telemetry.metrics) with their names, kinds and attributes", async () => {
    const client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "metrics through the collector" }] });
    await gw.gateway.flushMetrics();
    const okCalls = () => receiver.latestMetric("modelgate_calls")?.points.find((p) => p.attributes["endpoint"] === "gpt" && p.attributes["code"] === "ok")?.value ?? 0;
    await receiver.waitForMetrics(() => okCalls() >= 1, 20_000);
    const calls = receiver.latestMetric("modelgate_calls")!;
    expect(calls).toMatchObject({ kind: "sum", monotonic: true, temporality: "cumulative" });
    expect(calls.resource["service.name"]).toBe("modelgate-via-collector");
    const duration = receiver.latestMetric("modelgate_call_duration_seconds")!;
    expect(duration).toMatchObject({ kind: "histogram", unit: "s" });
    expect(duration.points.find((p) => p.attributes["endpoint"] === "gpt")?.count).toBe(okCalls());
    const tokens = receiver.latestMetric("modelgate_tokens")!;
    expect(tokens.points.find((p) => p.attributes["endpoint"] === "gpt" && p.attributes["kind"] === "completion")?.value).toBeGreaterThan(0);
    expect(receiver.latestMetric("modelgate_active_streams")?.kind).toBe("gauge");
  });
});

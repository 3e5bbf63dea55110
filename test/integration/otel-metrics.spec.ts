// The OTLP metrics export end to end: a real gateway pushing its metrics over OTLP/HTTP protobuf
// (the standard OTEL_METRICS_EXPORTER / OTEL_EXPORTER_OTLP_ENDPOINT variables) to a receiver that
// decodes the real ExportMetricsServiceRequest (test/otel/otlp-receiver.ts), after unary calls and
// a stream through the `openai` SDK to a fake OpenAI upstream. The pushed values are the same
// metrics as GET /metrics (one definition, bridged): the test reads both and compares.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startFakeUpstream, type FaultyUpstream } from "../fakes/fake-upstream";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedMetric } from "../otel/otlp-receiver";
import { startGateway, type TestGateway } from "./harness";

let fake: FaultyUpstream;
let receiver: OtlpReceiver;
let gw: TestGateway;

beforeAll(async () => {
  fake = await startFakeUpstream();
  receiver = await startOtlpReceiver();
  gw = await startGateway(
    `
endpoints:
  - { name: gpt, endpoint_type: llm/v1/chat, model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: sk-upstream-0001, openai_api_base: "${fake.url}/v1" } } }
`,
    {},
    {
      env: {
        OTEL_METRICS_EXPORTER: "otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        // Traces off: this spec is about the metrics; the interval is long, the test flushes.
        OTEL_TRACES_EXPORTER: "none",
        OTEL_METRIC_EXPORT_INTERVAL: "600000",
        OTEL_SERVICE_NAME: "modelgate-metrics-test",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test",
      },
    },
  );
});
afterAll(async () => {
  await gw?.close();
  await receiver?.close();
  await fake?.close();
});

/** A sample's value in the Prometheus text of GET /metrics. */
function scraped(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no ${series} in /metrics`);
  return Number(line.slice(series.length + 1));
}

const point = (m: ReceivedMetric | undefined, attrs: Record<string, unknown>) =>
  m?.points.find((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v));

describe("OTLP metrics export", () => {
  it("pushes calls, latency, TTFT, tokens, cost and active streams with their labels, equal to GET /metrics", async () => {
    const client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: `hello ${i}` }] });
    const stream = await client.chat.completions.create({ model: "gpt", stream: true, messages: [{ role: "user", content: "stream me" }] });
    for await (const chunk of stream) expect(chunk.object).toBe("chat.completion.chunk");
    await expect(client.chat.completions.create({ model: "no-such-endpoint", messages: [{ role: "user", content: "x" }] })).rejects.toThrow();

    await gw.gateway.flushMetrics();
    await receiver.waitForMetrics((ms) => ms.some((m) => m.name === "modelgate_calls" && (point(m, { endpoint: "gpt", code: "ok" })?.value ?? 0) >= 4));
    const text = await (await fetch(`${gw.url}/metrics`)).text();

    const calls = receiver.latestMetric("modelgate_calls")!;
    expect(calls).toMatchObject({ kind: "sum", monotonic: true, temporality: "cumulative", scope: "modelgate" });
    expect(calls.resource).toMatchObject({ "service.name": "modelgate-metrics-test", "deployment.environment": "test" });
    expect(point(calls, { endpoint: "gpt", code: "ok" })?.value).toBe(4);
    expect(point(calls, { endpoint: "(unknown)", code: "NotFound" })?.value).toBe(1);
    expect(point(calls, { endpoint: "gpt", code: "ok" })!.startNs).toBeLessThan(point(calls, { endpoint: "gpt", code: "ok" })!.timeNs);

    const duration = receiver.latestMetric("modelgate_call_duration_seconds")!;
    expect(duration).toMatchObject({ kind: "histogram", unit: "s", temporality: "cumulative" });
    const gpt = point(duration, { endpoint: "gpt" })!;
    expect(gpt.count).toBe(4);
    expect(gpt.bounds).toEqual([0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);
    expect(gpt.bucketCounts).toHaveLength(14);
    expect(gpt.bucketCounts!.reduce((a, b) => a + b, 0)).toBe(4);
    expect(gpt.sum).toBeCloseTo(scraped(text, 'modelgate_call_duration_seconds_sum{endpoint="gpt"}'), 9);
    // Cumulative buckets on /metrics = running sums of the pushed per-bucket counts.
    expect(scraped(text, 'modelgate_call_duration_seconds_bucket{le="0.5",endpoint="gpt"}')).toBe(gpt.bucketCounts!.slice(0, 7).reduce((a, b) => a + b, 0));

    const ttft = point(receiver.latestMetric("modelgate_time_to_first_token_seconds"), { endpoint: "gpt" });
    expect(ttft?.count).toBe(1);

    const tokens = receiver.latestMetric("modelgate_tokens")!;
    for (const kind of ["prompt", "completion"]) {
      const pushed = point(tokens, { endpoint: "gpt", kind })?.value;
      expect(pushed).toBeGreaterThan(0);
      expect(pushed).toBe(scraped(text, `modelgate_tokens_total{endpoint="gpt",kind="${kind}"}`));
    }
    const cost = point(receiver.latestMetric("modelgate_cost_usd"), { endpoint: "gpt" })?.value;
    expect(cost).toBeGreaterThan(0);
    expect(cost).toBe(scraped(text, 'modelgate_cost_usd_total{endpoint="gpt"}'));

    const active = receiver.latestMetric("modelgate_active_streams")!;
    expect(active.kind).toBe("gauge");
    expect(point(active, { endpoint: "gpt" })?.value).toBe(0);

    // Process metrics stay on /metrics only.
    expect(receiver.metrics.some((m) => m.name.startsWith("modelgate_process_"))).toBe(false);
    expect(text).toContain("modelgate_process_");
  });

  it("a later export carries the totals since start (cumulative), not the change", async () => {
    const client = new OpenAI({ apiKey: "unused", baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const before = point(receiver.latestMetric("modelgate_calls"), { endpoint: "gpt", code: "ok" })?.value ?? 0;
    await client.chat.completions.create({ model: "gpt", messages: [{ role: "user", content: "once more" }] });
    await gw.gateway.flushMetrics();
    await receiver.waitForMetrics(() => (point(receiver.latestMetric("modelgate_calls"), { endpoint: "gpt", code: "ok" })?.value ?? 0) > before);
    expect(point(receiver.latestMetric("modelgate_calls"), { endpoint: "gpt", code: "ok" })?.value).toBe(before + 1);
  });

  it("pushes once more when the gateway shuts down (a call since the last export is not lost)", async () => {
    const other = await startGateway(
      `
endpoints:
  - { name: last, endpoint_type: llm/v1/chat, model: { provider: echo, name: echo-1 } }
telemetry: { metrics: { enabled: true, otlp_metrics_endpoint: "${receiver.url}/v1/metrics", export_interval_ms: 600000 } }
`,
      {},
      { env: { OTEL_SERVICE_NAME: "modelgate-shutting-down" } },
    );
    const client = new OpenAI({ apiKey: "unused", baseURL: `${other.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: "last", messages: [{ role: "user", content: "just before the end" }] });
    await other.close();
    const fromIt = () => receiver.metrics.filter((m) => m.name === "modelgate_calls" && m.resource["service.name"] === "modelgate-shutting-down");
    await receiver.waitForMetrics(() => fromIt().length > 0);
    expect(point(fromIt().at(-1), { endpoint: "last", code: "ok" })?.value).toBe(1);
  });
});

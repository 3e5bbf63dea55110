// An OTLP/HTTP receiver on loopback for the tests: POST /v1/traces with a protobuf
// ExportTraceServiceRequest, decoded with protobuf-es types generated from opentelemetry-proto
// (test/otel/gen), answered with an empty ExportTraceServiceResponse as a collector does; and
// POST /v1/metrics with a protobuf ExportMetricsServiceRequest (decoded with the test-only subset
// in test/otel/proto/modelgate_test), its points kept as received, each export apart.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
} from "./gen/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import type { AnyValue, KeyValue } from "./gen/opentelemetry/proto/common/v1/common_pb";
import { Span_SpanKind, Status_StatusCode } from "./gen/opentelemetry/proto/trace/v1/trace_pb";
import {
  AggregationTemporality,
  ExportMetricsServiceRequestSchema,
  ExportMetricsServiceResponseSchema,
  type Metric,
} from "./gen/modelgate_test/otlp_metrics/v1/otlp_metrics_pb";

/** One data point of a received metric, flattened. */
export interface ReceivedPoint {
  attributes: Record<string, unknown>;
  startNs: bigint;
  timeNs: bigint;
  /** Sums and gauges. */
  value?: number;
  /** Histograms. */
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  bounds?: number[];
}

/** A received metric of one export. */
export interface ReceivedMetric {
  name: string;
  description: string;
  unit: string;
  kind: "sum" | "gauge" | "histogram" | "other";
  monotonic: boolean;
  temporality: "cumulative" | "delta" | "unspecified";
  points: ReceivedPoint[];
  resource: Record<string, unknown>;
  scope: string;
  /** Which POST /v1/metrics it came in (1, 2, ...). */
  exportIndex: number;
}

/** A received span, flattened: hex ids, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  kind: "server" | "client" | "internal" | "producer" | "consumer" | "unspecified";
  attributes: Record<string, unknown>;
  status: "unset" | "ok" | "error";
  statusMessage: string;
  /** The resource's attributes (service.name, ...). */
  resource: Record<string, unknown>;
  startNs: bigint;
  endNs: bigint;
}

export interface OtlpReceiver {
  /** e.g. http://127.0.0.1:4318 (no path). */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** POST requests received (every export, whatever it held). */
  readonly exports: number;
  /** Resolves once `check(spans)` holds; rejects after timeoutMs. */
  waitFor(check: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Every metric of every metrics export, in arrival order. */
  readonly metrics: ReceivedMetric[];
  /** The metric named `name` in the latest export that had it. */
  latestMetric(name: string): ReceivedMetric | undefined;
  /** Resolves once `check(metrics)` holds; rejects after timeoutMs. */
  waitForMetrics(check: (metrics: ReceivedMetric[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const kinds: Record<number, ReceivedSpan["kind"]> = {
  [Span_SpanKind.UNSPECIFIED]: "unspecified",
  [Span_SpanKind.INTERNAL]: "internal",
  [Span_SpanKind.SERVER]: "server",
  [Span_SpanKind.CLIENT]: "client",
  [Span_SpanKind.PRODUCER]: "producer",
  [Span_SpanKind.CONSUMER]: "consumer",
};

function value(v: AnyValue | undefined): unknown {
  const x = v?.value;
  switch (x?.case) {
    case "stringValue":
    case "boolValue":
    case "doubleValue":
      return x.value;
    case "intValue":
      return Number(x.value);
    case "arrayValue":
      return x.value.values.map(value);
    case "kvlistValue":
      return attributes(x.value.values);
    case "bytesValue":
      return Buffer.from(x.value).toString("hex");
    default:
      return undefined;
  }
}

function attributes(kvs: KeyValue[]): Record<string, unknown> {
  return Object.fromEntries(kvs.map((kv) => [kv.key, value(kv.value)]));
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

const temporalities: Record<number, ReceivedMetric["temporality"]> = {
  [AggregationTemporality.CUMULATIVE]: "cumulative",
  [AggregationTemporality.DELTA]: "delta",
};

function flattenMetric(m: Metric): Pick<ReceivedMetric, "kind" | "monotonic" | "temporality" | "points"> {
  const data = m.data;
  switch (data.case) {
    case "sum":
    case "gauge": {
      const points = data.value.dataPoints.map((p) => ({
        attributes: attributes(p.attributes),
        startNs: p.startTimeUnixNano,
        timeNs: p.timeUnixNano,
        value: p.value.case === "asDouble" ? p.value.value : Number(p.value.value ?? NaN),
      }));
      if (data.case === "gauge") return { kind: "gauge", monotonic: false, temporality: "unspecified", points };
      return { kind: "sum", monotonic: data.value.isMonotonic, temporality: temporalities[data.value.aggregationTemporality] ?? "unspecified", points };
    }
    case "histogram":
      return {
        kind: "histogram",
        monotonic: false,
        temporality: temporalities[data.value.aggregationTemporality] ?? "unspecified",
        points: data.value.dataPoints.map((p) => ({
          attributes: attributes(p.attributes),
          startNs: p.startTimeUnixNano,
          timeNs: p.timeUnixNano,
          count: Number(p.count),
          ...(p.sum !== undefined && { sum: p.sum }),
          bucketCounts: p.bucketCounts.map(Number),
          bounds: [...p.explicitBounds],
        })),
      };
    default:
      return { kind: "other", monotonic: false, temporality: "unspecified", points: [] };
  }
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  let exports = 0;
  let metricExports = 0;
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      exports++;
      if (req.method === "POST" && req.url === "/v1/metrics" && req.headers["content-type"] === "application/x-protobuf") {
        let body: ReturnType<typeof fromBinary<typeof ExportMetricsServiceRequestSchema>>;
        try {
          body = fromBinary(ExportMetricsServiceRequestSchema, Buffer.concat(parts));
        } catch {
          res.writeHead(400).end();
          return;
        }
        const exportIndex = ++metricExports;
        for (const rm of body.resourceMetrics) {
          const resource = attributes(rm.resource?.attributes ?? []);
          for (const sm of rm.scopeMetrics) {
            for (const m of sm.metrics) {
              metrics.push({ name: m.name, description: m.description, unit: m.unit, ...flattenMetric(m), resource, scope: sm.scope?.name ?? "", exportIndex });
            }
          }
        }
        res.writeHead(200, { "content-type": "application/x-protobuf" });
        res.end(Buffer.from(toBinary(ExportMetricsServiceResponseSchema, create(ExportMetricsServiceResponseSchema))));
        return;
      }
      if (req.method !== "POST" || req.url !== "/v1/traces" || req.headers["content-type"] !== "application/x-protobuf") {
        res.writeHead(415).end();
        return;
      }
      let body: ReturnType<typeof fromBinary<typeof ExportTraceServiceRequestSchema>>;
      try {
        body = fromBinary(ExportTraceServiceRequestSchema, Buffer.concat(parts));
      } catch {
        res.writeHead(400).end();
        return;
      }
      for (const rs of body.resourceSpans) {
        const resource = attributes(rs.resource?.attributes ?? []);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            spans.push({
              traceId: hex(s.traceId),
              spanId: hex(s.spanId),
              parentSpanId: hex(s.parentSpanId),
              traceState: s.traceState,
              name: s.name,
              kind: kinds[s.kind] ?? "unspecified",
              attributes: attributes(s.attributes),
              status: s.status?.code === Status_StatusCode.ERROR ? "error" : s.status?.code === Status_StatusCode.OK ? "ok" : "unset",
              statusMessage: s.status?.message ?? "",
              resource,
              startNs: s.startTimeUnixNano,
              endNs: s.endTimeUnixNano,
            });
          }
        }
      }
      res.writeHead(200, { "content-type": "application/x-protobuf" });
      res.end(Buffer.from(toBinary(ExportTraceServiceResponseSchema, create(ExportTraceServiceResponseSchema))));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    get exports() {
      return exports;
    },
    async waitFor(check, timeoutMs = 5_000) {
      const until = Date.now() + timeoutMs;
      while (!check(spans)) {
        if (Date.now() > until) throw new Error(`OTLP receiver: condition not met in ${timeoutMs} ms (${spans.length} spans: ${spans.map((s) => s.name).join(", ")})`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    metrics,
    latestMetric(name) {
      for (let i = metrics.length - 1; i >= 0; i--) if (metrics[i]!.name === name) return metrics[i];
      return undefined;
    },
    async waitForMetrics(check, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (!check(metrics)) {
        if (Date.now() > until) {
          throw new Error(`OTLP receiver: metrics condition not met in ${timeoutMs} ms (${metricExports} exports: ${[...new Set(metrics.map((m) => m.name))].join(", ")})`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// The OTLP metrics export, the SDK half (loaded by startMetricsExport in otel.ts only when the
// export is on): the gateway's prom-client metrics, bridged as they are (one definition of each
// metric, GET /metrics and OTLP alike), pushed over OTLP/HTTP protobuf by the OpenTelemetry
// metrics SDK's periodic reader. The bridge is a MetricProducer: at each export it reads the
// registry's values (GatewayMetrics.snapshot) and hands them over as cumulative OTLP data:
//   - counters: monotonic cumulative sums, named without the `_total` suffix (OTLP-to-Prometheus
//     translation adds it back), e.g. modelgate_calls;
//   - gauges: gauges; histograms: explicit-bucket histograms (prom-client's cumulative `le`
//     buckets turned into per-bucket counts), e.g. modelgate_call_duration_seconds (unit "s");
//   - the labels become the points' attributes.
// Process metrics (modelgate_process_*) and summaries stay on GET /metrics only.
import type { HrTime } from "@opentelemetry/api";
// Types only at the top (as otel-sdk.ts): loadMetricsLib imports the packages when the export starts.
import type * as Api from "@opentelemetry/api";
import type * as Core from "@opentelemetry/core";
import type * as Exporter from "@opentelemetry/exporter-metrics-otlp-proto";
import type * as Resources from "@opentelemetry/resources";
import type * as SdkMetrics from "@opentelemetry/sdk-metrics";
import type { CollectionResult, DataPoint, Histogram, MeterProvider, MetricData, MetricProducer } from "@opentelemetry/sdk-metrics";
import type { Logger } from "pino";
import type { MetricsExport, MetricsExportSettings, MetricsSnapshot, MetricsSnapshotSource } from "./otel";

export interface MetricsLib {
  api: typeof Api;
  core: typeof Core;
  exporter: typeof Exporter;
  resources: typeof Resources;
  sdk: typeof SdkMetrics;
}

export async function loadMetricsLib(): Promise<MetricsLib> {
  const [api, core, exporter, resources, sdk] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/core"),
    import("@opentelemetry/exporter-metrics-otlp-proto"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-metrics"),
  ]);
  return { api, core, exporter, resources, sdk };
}

/** The instrumentation scope the bridged metrics are exported under. */
export const metricsScope = "modelgate";

/** Whether a prom-client metric is exported over OTLP. */
function exported(name: string): boolean {
  return name.startsWith("modelgate_") && !name.startsWith("modelgate_process_");
}

/** The OTLP name of a prom-client metric: counters without `_total`. */
export function otlpName(name: string, type: string): string {
  return type === "counter" && name.endsWith("_total") ? name.slice(0, -"_total".length) : name;
}

type Labels = Record<string, string | number | undefined>;

function attributesOf(labels: Labels, skip?: string): Api.Attributes {
  const out: Api.Attributes = {};
  for (const [k, v] of Object.entries(labels)) if (k !== skip && v !== undefined) out[k] = v;
  return out;
}

/** A stable key of a label set without `le` (a histogram's series). */
function seriesKey(labels: Labels): string {
  return JSON.stringify(
    Object.keys(labels)
      .filter((k) => k !== "le")
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

/** prom-client's values as OTLP metric data (see the file's head); `start` begins every cumulative point. */
export function bridgeMetrics(snapshot: MetricsSnapshot, start: HrTime, now: HrTime, lib: Pick<MetricsLib, "api" | "sdk">): MetricData[] {
  const { api, sdk } = lib;
  const { AggregationTemporality, DataPointType } = sdk;
  const out: MetricData[] = [];
  for (const m of snapshot) {
    if (!exported(m.name)) continue;
    // prom-client declares `type` a numeric enum, but its values are "counter", "gauge", ...
    const type = String(m.type);
    const descriptor = {
      name: otlpName(m.name, type),
      description: m.help,
      unit: m.name.endsWith("_seconds") ? "s" : "",
      valueType: api.ValueType.DOUBLE,
    };
    if (type === "counter" || type === "gauge") {
      const dataPoints: DataPoint<number>[] = m.values.map((v) => ({
        startTime: type === "counter" ? start : now,
        endTime: now,
        attributes: attributesOf(v.labels),
        value: v.value,
      }));
      if (type === "counter") {
        out.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.SUM, isMonotonic: true, dataPoints });
      } else {
        out.push({ descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints });
      }
    } else if (type === "histogram") {
      out.push({
        descriptor,
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: histogramPoints(m.name, m.values, start, now),
      });
    }
  }
  return out;
}

interface Series {
  labels: Labels;
  /** Finite upper bounds and their cumulative counts. */
  buckets: [number, number][];
  sum: number;
  count: number;
}

function histogramPoints(name: string, values: MetricsSnapshot[number]["values"], start: HrTime, now: HrTime): DataPoint<Histogram>[] {
  const series = new Map<string, Series>();
  for (const v of values) {
    const metricName = "metricName" in v && typeof v.metricName === "string" ? v.metricName : "";
    const key = seriesKey(v.labels);
    let s = series.get(key);
    if (!s) series.set(key, (s = { labels: v.labels, buckets: [], sum: 0, count: 0 }));
    if (metricName === `${name}_bucket`) {
      const le = Number(v.labels["le"]);
      if (Number.isFinite(le)) s.buckets.push([le, v.value]);
    } else if (metricName === `${name}_sum`) {
      s.sum = v.value;
    } else if (metricName === `${name}_count`) {
      s.count = v.value;
    }
  }
  return [...series.values()].map((s) => {
    s.buckets.sort((a, b) => a[0] - b[0]);
    const counts: number[] = [];
    let below = 0;
    for (const [, cumulative] of s.buckets) {
      counts.push(cumulative - below);
      below = cumulative;
    }
    counts.push(s.count - below); // (last bound, +Inf)
    return {
      startTime: start,
      endTime: now,
      attributes: attributesOf(s.labels, "le"),
      value: { buckets: { boundaries: s.buckets.map(([le]) => le), counts }, sum: s.sum, count: s.count },
    };
  });
}

/** The bridge the periodic reader collects from, beside the (empty) SDK meters. */
class PromBridge implements MetricProducer {
  private readonly start: HrTime;

  constructor(
    private readonly source: MetricsSnapshotSource,
    private readonly lib: MetricsLib,
  ) {
    this.start = lib.core.hrTime();
  }

  async collect(): Promise<CollectionResult> {
    const snapshot = await this.source.snapshot();
    const metrics = bridgeMetrics(snapshot, this.start, this.lib.core.hrTime(), this.lib);
    return {
      resourceMetrics: { resource: this.lib.resources.emptyResource(), scopeMetrics: [{ scope: { name: metricsScope }, metrics }] },
      errors: [],
    };
  }
}

export class SdkMetricsExport implements MetricsExport {
  private readonly provider: MeterProvider;

  constructor(
    readonly settings: MetricsExportSettings,
    source: MetricsSnapshotSource,
    lib: MetricsLib,
    log?: Logger,
  ) {
    const exporter = new lib.exporter.OTLPMetricExporter({ url: settings.metricsUrl, headers: settings.headers, timeoutMillis: settings.timeoutMs });
    const reader = new lib.sdk.PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: settings.intervalMs,
      exportTimeoutMillis: settings.timeoutMs,
      metricProducers: [new PromBridge(source, lib)],
    });
    this.provider = new lib.sdk.MeterProvider({
      resource: lib.resources.resourceFromAttributes({ ...settings.resourceAttributes, "service.name": settings.serviceName }),
      readers: [reader],
    });
    // Failed exports reach OTel's diag logger (one per process, shared with the traces' export,
    // which routes it the same way).
    if (log) {
      const child = log.child({ component: "otel" });
      lib.api.diag.setLogger(
        {
          error: (msg, ...args) => child.error({ args }, msg),
          warn: (msg, ...args) => child.warn({ args }, msg),
          info: () => {},
          debug: () => {},
          verbose: () => {},
        },
        { logLevel: lib.api.DiagLogLevel.WARN, suppressOverrideMessage: true },
      );
    }
  }

  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  async shutdown(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.provider.shutdown({ timeoutMillis: timeoutMs }).catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}

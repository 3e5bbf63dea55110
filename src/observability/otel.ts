// OpenTelemetry traces, the light half: what the request path needs whether tracing is on or
// off (the upstream trace interfaces, the context key, the pass-through of a caller's context)
// and the settings. The SDK itself (otel-sdk.ts: spans, OTLP export) is imported only when
// tracing is on: loading it costs ~0.2 s of start-up, and nothing of it runs per call when off.
import { createContextKey } from "@connectrpc/connect";
import type { Attributes } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { TelemetryConfig } from "../config/schema";
import type { PiiKind } from "../policies/config";
import type { ContextValues } from "@connectrpc/connect";

/** What the upstream client needs of a call's trace: one attempt (CLIENT span) per HTTP request. */
export interface UpstreamTrace {
  startAttempt(provider: string, req: { method: string; url: string; body?: unknown }): UpstreamAttempt;
}

/** One upstream HTTP request: the headers that carry its context, and its end. */
export interface UpstreamAttempt {
  /** traceparent (naming this attempt's span), tracestate and baggage to send upstream. */
  readonly headers: Readonly<Record<string, string>>;
  /** The upstream's HTTP status, once it answered. */
  responded(status: number): void;
  /** A streamed chunk (its model and, on the closing chunk, its usage). */
  chunk?(chunk: { model?: string; usage?: { promptTokens: number; completionTokens: number } }): void;
  end(err?: unknown): void;
}

/** The call's trace, for the upstream client (set by the tracing interceptor). */
export const upstreamTraceKey = createContextKey<UpstreamTrace | undefined>(undefined, { description: "modelgate upstream trace" });

/**
 * With telemetry off, a caller's tracestate and baggage still travel upstream beside the cheap
 * traceparent (no span: the one traceparent for every attempt, as before).
 */
export function passThroughTrace(traceparent: string, tracestate: string | null, baggage: string | null): UpstreamTrace {
  const headers: Record<string, string> = { traceparent };
  if (tracestate) headers["tracestate"] = tracestate;
  if (baggage) headers["baggage"] = baggage;
  const attempt: UpstreamAttempt = { headers, responded() {}, end() {} };
  return { startAttempt: () => attempt };
}

/** The settings in force: the `telemetry:` block, with the OTEL_* variables for what it leaves unset. */
export interface TelemetrySettings {
  tracesUrl: string;
  headers: Record<string, string>;
  serviceName: string;
  sampler: SamplerSpec;
  maxQueueSize: number;
  exportDelayMs: number;
  resourceAttributes: Attributes;
  /** PII kinds redacted from captured prompts and completions (none: recorded as sent). */
  redact: readonly PiiKind[];
}

type Env = Readonly<Record<string, string | undefined>>;

/** Null when tracing is off: off by default, on with `telemetry.enabled` or an OTLP endpoint variable. */
export function telemetrySettings(config: TelemetryConfig, env: Env): TelemetrySettings | null {
  if (env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() === "true") return null;
  if (env["OTEL_TRACES_EXPORTER"]?.trim().toLowerCase() === "none") return null;
  const tracesEnv = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]?.trim();
  const baseEnv = env["OTEL_EXPORTER_OTLP_ENDPOINT"]?.trim();
  const enabled = config.enabled ?? Boolean(tracesEnv || baseEnv);
  if (!enabled) return null;
  const tracesUrl =
    config.otlp_traces_endpoint ??
    (tracesEnv || (baseEnv ? `${baseEnv.replace(/\/+$/, "")}/v1/traces` : "http://localhost:4318/v1/traces"));
  return {
    tracesUrl,
    headers: { ...parseKeyValues(env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] ?? env["OTEL_EXPORTER_OTLP_HEADERS"]), ...config.headers },
    serviceName: config.service_name ?? (env["OTEL_SERVICE_NAME"]?.trim() || "modelgate"),
    sampler: config.sampler_ratio !== undefined ? { name: "parentbased_traceidratio", ratio: config.sampler_ratio } : samplerFromEnv(env),
    maxQueueSize: config.max_queue_size,
    exportDelayMs: config.export_delay_ms,
    resourceAttributes: parseKeyValues(env["OTEL_RESOURCE_ATTRIBUTES"]),
    redact: config.redact,
  };
}

/** Where and how often the metrics are pushed over OTLP (see otel-metrics-sdk.ts). */
export interface MetricsExportSettings {
  metricsUrl: string;
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Attributes;
  intervalMs: number;
  /** At most intervalMs (the SDK's rule). */
  timeoutMs: number;
}

/**
 * Null when the OTLP metrics export is off: off by default; on with `telemetry.metrics.enabled`,
 * OTEL_METRICS_EXPORTER=otlp or an OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (the generic
 * OTEL_EXPORTER_OTLP_ENDPOINT turns on traces only: a deployment tracing today does not start
 * pushing metrics). OTEL_SDK_DISABLED=true and OTEL_METRICS_EXPORTER=none win.
 */
export function metricsExportSettings(config: TelemetryConfig, env: Env): MetricsExportSettings | null {
  if (env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() === "true") return null;
  const exporter = env["OTEL_METRICS_EXPORTER"]?.trim().toLowerCase();
  if (exporter === "none") return null;
  const metricsEnv = env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]?.trim();
  const enabled = config.metrics.enabled ?? (exporter === "otlp" || Boolean(metricsEnv));
  if (!enabled) return null;
  const baseEnv = env["OTEL_EXPORTER_OTLP_ENDPOINT"]?.trim();
  const metricsUrl =
    config.metrics.otlp_metrics_endpoint ??
    (metricsEnv || (baseEnv ? `${baseEnv.replace(/\/+$/, "")}/v1/metrics` : "http://localhost:4318/v1/metrics"));
  const intervalMs = config.metrics.export_interval_ms ?? positiveMs(env["OTEL_METRIC_EXPORT_INTERVAL"], 100, 3_600_000) ?? 60_000;
  return {
    metricsUrl,
    headers: { ...parseKeyValues(env["OTEL_EXPORTER_OTLP_METRICS_HEADERS"] ?? env["OTEL_EXPORTER_OTLP_HEADERS"]), ...config.headers },
    serviceName: config.service_name ?? (env["OTEL_SERVICE_NAME"]?.trim() || "modelgate"),
    resourceAttributes: parseKeyValues(env["OTEL_RESOURCE_ATTRIBUTES"]),
    intervalMs,
    timeoutMs: Math.min(intervalMs, positiveMs(env["OTEL_METRIC_EXPORT_TIMEOUT"], 1, 600_000) ?? 30_000),
  };
}

/** A whole number of milliseconds within [min, max], else undefined (a bad variable is ignored). */
function positiveMs(value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
}

/** The OTLP metrics export when on: pushes every interval, flushes on shutdown. */
export interface MetricsExport {
  readonly settings: MetricsExportSettings;
  /** Exports the metrics now. */
  flush(): Promise<void>;
  /** A last export, then stops, within `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** What the export reads: the gateway's prom-client metrics, one consistent read at a time. */
export interface MetricsSnapshotSource {
  snapshot(): Promise<MetricsSnapshot>;
}
/** prom-client's metrics as values (registry.getMetricsAsJSON()). */
export type MetricsSnapshot = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

/** Loads the metrics SDK and starts the periodic export (only called when it is on). */
export async function startMetricsExport(settings: MetricsExportSettings, source: MetricsSnapshotSource, log?: Logger): Promise<MetricsExport> {
  const { loadMetricsLib, SdkMetricsExport } = await import("./otel-metrics-sdk");
  return new SdkMetricsExport(settings, source, await loadMetricsLib(), log);
}

/** The samplers of the SDK spec's OTEL_TRACES_SAMPLER (built by otel-sdk.ts). */
export const samplerNames = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"] as const;
export interface SamplerSpec {
  name: (typeof samplerNames)[number];
  /** For the ratio samplers, in [0, 1]. */
  ratio: number;
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on; a bad ratio is 1). */
export function samplerFromEnv(env: Env): SamplerSpec {
  const given = env["OTEL_TRACES_SAMPLER"]?.trim().toLowerCase() ?? "";
  const name = samplerNames.find((n) => n === given) ?? "parentbased_always_on";
  const arg = Number(env["OTEL_TRACES_SAMPLER_ARG"] ?? "1");
  return { name, ratio: Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1 };
}

/** `k=v,k2=v2` (OTEL_*_HEADERS, OTEL_RESOURCE_ATTRIBUTES), values percent-decoded. */
function parseKeyValues(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (value ?? "").split(",")) {
    const at = pair.indexOf("=");
    if (at < 1) continue;
    try {
      out[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      // A malformed percent escape: that pair is skipped.
    }
  }
  return out;
}

/** A call's SERVER span, as the tracing interceptor drives it (see otel-sdk.ts). */
export interface CallTrace extends UpstreamTrace {
  /** W3C traceparent naming the call's span. */
  readonly traceparent: string;
  /** Whether this endpoint records prompts and completions (and the span is sampled). */
  readonly captureContent: boolean;
  /** A response message (unary) or streamed chunk: response model, finish reasons, output text. */
  observe(message: unknown, capture: boolean): void;
  end(err?: unknown): void;
}

/** Tracing when on: spans for calls, export, flush on shutdown. */
export interface Telemetry {
  readonly settings: TelemetrySettings;
  /** `values`: the call's context values, read when the span ends (endpoint, caller, outcome). */
  startCall(service: string, method: string, header: Headers, requestId: string, values: ContextValues): CallTrace;
  /** Exports every finished span now. */
  flush(): Promise<void>;
  /** Flushes and stops the exporter, within `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** Loads the SDK and starts the export pipeline (only called when tracing is on). */
export async function startTelemetry(settings: TelemetrySettings, log?: Logger): Promise<Telemetry> {
  const { loadOtelLib, SdkTelemetry } = await import("./otel-sdk");
  return new SdkTelemetry(settings, await loadOtelLib(), log);
}

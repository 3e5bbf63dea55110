// Which settings tracing runs with: the `telemetry:` block over the standard OTEL_* variables,
// off by default, OTEL_SDK_DISABLED winning over everything.
import { describe, expect, it } from "vitest";
import * as sdk from "@opentelemetry/sdk-trace-base";
import { ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOffSampler } from "@opentelemetry/sdk-trace-base";
import { telemetrySchema } from "../../src/config/schema";
import { metricsExportSettings, samplerFromEnv, telemetrySettings } from "../../src/observability/otel";
import { buildSampler, captureRedactor } from "../../src/observability/otel-sdk";

const block = (v: unknown = {}) => telemetrySchema.parse(v);

describe("telemetrySettings", () => {
  it("is off with no block and no variable", () => {
    expect(telemetrySettings(block(), {})).toBeNull();
  });

  it("is on with an OTLP endpoint variable, the traces path added to the base endpoint", () => {
    const s = telemetrySettings(block(), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" });
    expect(s?.tracesUrl).toBe("http://collector:4318/v1/traces");
    expect(s?.serviceName).toBe("modelgate");
  });

  it("takes the traces endpoint variable as the full URL", () => {
    const s = telemetrySettings(block(), {
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://base:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:9999/custom",
    });
    expect(s?.tracesUrl).toBe("http://traces:9999/custom");
  });

  it("is on with enabled: true, exporting to the default local collector", () => {
    expect(telemetrySettings(block({ enabled: true }), {})?.tracesUrl).toBe("http://localhost:4318/v1/traces");
  });

  it("stays off with enabled: false even when an endpoint variable is set", () => {
    expect(telemetrySettings(block({ enabled: false }), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toBeNull();
  });

  it("is off with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none whatever the block says", () => {
    expect(telemetrySettings(block({ enabled: true }), { OTEL_SDK_DISABLED: "TRUE" })).toBeNull();
    expect(telemetrySettings(block({ enabled: true }), { OTEL_TRACES_EXPORTER: "none" })).toBeNull();
  });

  it("prefers the block's values, the variables filling the rest", () => {
    const s = telemetrySettings(
      block({ enabled: true, otlp_traces_endpoint: "https://otel.example.test/v1/traces", service_name: "gw-eu", headers: { "x-scope": "a" } }),
      {
        OTEL_SERVICE_NAME: "from-env",
        OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20t0k,x-scope=env",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=prod,service.namespace=ai",
      },
    );
    expect(s).toMatchObject({
      tracesUrl: "https://otel.example.test/v1/traces",
      serviceName: "gw-eu",
      headers: { authorization: "Bearer t0k", "x-scope": "a" },
      resourceAttributes: { "deployment.environment.name": "prod", "service.namespace": "ai" },
      maxQueueSize: 2048,
      exportDelayMs: 1000,
    });
    expect(telemetrySettings(block({ enabled: true }), { OTEL_SERVICE_NAME: "from-env" })?.serviceName).toBe("from-env");
  });

  it("uses sampler_ratio as a parent-based ratio sampler", () => {
    const s = telemetrySettings(block({ enabled: true, sampler_ratio: 0.25 }), {});
    expect(s?.sampler).toEqual({ name: "parentbased_traceidratio", ratio: 0.25 });
    const sampler = buildSampler(s!.sampler, sdk);
    expect(sampler).toBeInstanceOf(ParentBasedSampler);
    expect(sampler.toString()).toContain("TraceIdRatioBased{0.25}");
  });

  it("refuses a block with an unknown key, a bad URL or a ratio out of range", () => {
    expect(telemetrySchema.safeParse({ enable: true }).success).toBe(false);
    expect(telemetrySchema.safeParse({ otlp_traces_endpoint: "ftp://x/v1/traces" }).success).toBe(false);
    expect(telemetrySchema.safeParse({ sampler_ratio: 1.5 }).success).toBe(false);
  });
});

describe("samplerFromEnv", () => {
  it("reads OTEL_TRACES_SAMPLER and its argument, parent-based always-on by default", () => {
    const sampler = (env: Record<string, string>) => buildSampler(samplerFromEnv(env), sdk);
    expect(sampler({}).toString()).toContain("ParentBased{root=AlwaysOnSampler");
    expect(sampler({ OTEL_TRACES_SAMPLER: "Always_Off" })).toBeInstanceOf(AlwaysOffSampler);
    const ratio = sampler({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" });
    expect(ratio).toBeInstanceOf(TraceIdRatioBasedSampler);
    expect(ratio.toString()).toContain("0.1");
    // An argument out of range falls back to 1, an unknown name to the default, rather than failing the start.
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "7" })).toEqual({ name: "parentbased_traceidratio", ratio: 1 });
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: "jaeger_remote" }).name).toBe("parentbased_always_on");
  });
});

describe("telemetry.redact (captured prompts and completions)", () => {
  it("defaults to emails, phone numbers, cards and secrets; [] turns it off; an unknown kind is refused", () => {
    expect(telemetrySettings(block({ enabled: true }), {})?.redact).toEqual(["email", "phone", "card", "secret"]);
    expect(telemetrySettings(block({ enabled: true, redact: [] }), {})?.redact).toEqual([]);
    expect(() => block({ redact: ["address"] })).toThrow();
  });

  it("redacts each kind asked for, then clips; a match across the bound is redacted, not cut into a leak", () => {
    const text = "jane@example.com +44 20 7946 0958 DE89 3704 0044 0532 0130 00";
    expect(captureRedactor(["email", "phone", "card", "secret"])(text, 1_000)).toBe("[REDACTED:pii.email] [REDACTED:pii.phone] DE89 3704 0044 0532 0130 00");
    expect(captureRedactor(["iban"])(text, 1_000)).toBe("jane@example.com +44 20 7946 0958 [REDACTED:pii.iban]");
    expect(captureRedactor([])(text, 10)).toBe("jane@examp");
    // The bound falls inside the address: what is left is the start of the replacement.
    expect(captureRedactor(["email"])(`${"x ".repeat(5)}jane.doe@example.com`, 16)).toBe("x x x x x [REDAC");
  });
});

describe("metricsExportSettings (OTLP metrics)", () => {
  it("is off by default, and with only the generic OTLP endpoint (that one turns on traces)", () => {
    expect(metricsExportSettings(block(), {})).toBeNull();
    expect(metricsExportSettings(block(), { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBeNull();
  });

  it("is on with OTEL_METRICS_EXPORTER=otlp, the metrics path added to the base endpoint, the interval and timeout from the variables", () => {
    const s = metricsExportSettings(block(), {
      OTEL_METRICS_EXPORTER: "otlp",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/",
      OTEL_METRIC_EXPORT_INTERVAL: "15000",
      OTEL_METRIC_EXPORT_TIMEOUT: "5000",
      OTEL_EXPORTER_OTLP_HEADERS: "x-tenant=a%20b",
      OTEL_SERVICE_NAME: "gw",
    });
    expect(s).toEqual({
      metricsUrl: "http://collector:4318/v1/metrics",
      headers: { "x-tenant": "a b" },
      serviceName: "gw",
      resourceAttributes: {},
      intervalMs: 15_000,
      timeoutMs: 5_000,
    });
  });

  it("is on with OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (the full URL); defaults 60 s, timeout at most the interval; a bad interval is ignored", () => {
    const s = metricsExportSettings(block(), { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://m:4318/custom", OTEL_METRIC_EXPORT_INTERVAL: "soon" });
    expect(s).toMatchObject({ metricsUrl: "http://m:4318/custom", intervalMs: 60_000, timeoutMs: 30_000 });
    expect(metricsExportSettings(block({ metrics: { enabled: true, export_interval_ms: 1_000 } }), {})).toMatchObject({
      metricsUrl: "http://localhost:4318/v1/metrics",
      intervalMs: 1_000,
      timeoutMs: 1_000,
    });
  });

  it("the block wins over the variables; OTEL_SDK_DISABLED and OTEL_METRICS_EXPORTER=none win over everything", () => {
    const on = block({ metrics: { enabled: true, otlp_metrics_endpoint: "http://own:4318/v1/metrics" }, headers: { authorization: "Bearer x" } });
    expect(metricsExportSettings(on, { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "http://env:4318/v1/metrics" })).toMatchObject({
      metricsUrl: "http://own:4318/v1/metrics",
      headers: { authorization: "Bearer x" },
    });
    expect(metricsExportSettings(block({ metrics: { enabled: false } }), { OTEL_METRICS_EXPORTER: "otlp" })).toBeNull();
    expect(metricsExportSettings(on, { OTEL_SDK_DISABLED: "true" })).toBeNull();
    expect(metricsExportSettings(on, { OTEL_METRICS_EXPORTER: "none" })).toBeNull();
    expect(() => block({ metrics: { export_interval_ms: 10 } })).toThrow();
    expect(() => block({ metrics: { push: true } })).toThrow();
  });
});

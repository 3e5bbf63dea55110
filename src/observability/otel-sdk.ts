// OpenTelemetry traces, the SDK half (loaded by startTelemetry in otel.ts only when tracing is
// on): a SERVER span per call and a CLIENT span per upstream attempt, with the GenAI semantic
// conventions, exported over OTLP/HTTP (protobuf) through a bounded batch processor.
//
// The parent of each span is passed explicitly (no global context manager, no
// AsyncLocalStorage): the call's span travels to the upstream client in the call's options.
import { Code, ConnectError } from "@connectrpc/connect";
// Types only at the top: a bundle (bin/modelgate.mjs) hoists a static import of an external
// package to its start, which would load the SDK even with tracing off. loadOtelLib imports them.
import type * as Api from "@opentelemetry/api";
import type { Attributes, Context, Span, TextMapGetter, TextMapSetter, Tracer } from "@opentelemetry/api";
import type * as Core from "@opentelemetry/core";
import type * as Exporter from "@opentelemetry/exporter-trace-otlp-proto";
import type * as Resources from "@opentelemetry/resources";
import type * as SdkTrace from "@opentelemetry/sdk-trace-base";
import type { BasicTracerProvider, Sampler } from "@opentelemetry/sdk-trace-base";
import type { Logger } from "pino";
import type { ContextValues } from "@connectrpc/connect";
import { getCallEndpoint, getCallScope, getCaller, type CallScope } from "../interceptors/call-info";
import { checkText, compileGuardRule, type GuardDecision } from "../policies/guardrails";
import type { CallTrace as CallTraceApi, SamplerSpec, Telemetry, TelemetrySettings, UpstreamAttempt } from "./otel";

/** The OpenTelemetry packages, imported when tracing starts. */
export interface OtelLib {
  api: typeof Api;
  core: typeof Core;
  exporter: typeof Exporter;
  resources: typeof Resources;
  sdk: typeof SdkTrace;
}

export async function loadOtelLib(): Promise<OtelLib> {
  const [api, core, exporter, resources, sdk] = await Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/core"),
    import("@opentelemetry/exporter-trace-otlp-proto"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-base"),
  ]);
  return { api, core, exporter, resources, sdk };
}

/** The SDK sampler for a SamplerSpec. */
export function buildSampler(spec: SamplerSpec, sdk: typeof SdkTrace): Sampler {
  const { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = sdk;
  switch (spec.name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(spec.ratio);
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(spec.ratio) });
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

const headerGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};
const recordSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** GenAI `gen_ai.operation.name` by endpoint type (predict has none in the conventions). */
const operations: Record<string, string> = {
  "llm/v1/chat": "chat",
  "llm/v1/completions": "text_completion",
  "llm/v1/embeddings": "embeddings",
};

/** Our provider names where the GenAI conventions spell them differently (`gen_ai.provider.name`). */
const providerNames: Record<string, string> = {
  bedrock: "aws.bedrock",
  "amazon-bedrock": "aws.bedrock",
  gemini: "gcp.gemini",
  mistral: "mistral_ai",
  xai: "x_ai",
  "mlflow-model-serving": "mlflow",
  "mlflow-registry": "mlflow",
};

/** Bound of each captured prompt or completion attribute (characters). */
const maxCapturedChars = 16_384;
/**
 * Text kept past the bound until it is redacted: a PII match cut by the bound would no longer be
 * recognised, and its start would leak. Redaction runs on the bound plus this, then clips.
 */
const redactMarginChars = 512;

/** Redacts captured text (telemetry.redact), then clips it to `max` characters. */
export type CaptureRedactor = (text: string, max: number) => string;

/** The redactor for `kinds`: the guardrails' PII detectors, each match replaced by [REDACTED:pii.<kind>]. */
export function captureRedactor(kinds: readonly TelemetrySettings["redact"][number][]): CaptureRedactor {
  if (kinds.length === 0) return (text, max) => text.slice(0, max);
  const rule = compileGuardRule({ type: "pii", kinds: [...kinds], action: "redact" });
  return (text, max) => {
    const decisions: GuardDecision[] = [];
    return checkText([rule], text.slice(0, max + redactMarginChars), decisions).slice(0, max);
  };
}

/** Tracer, propagators and the export pipeline; built only when telemetry is on. */
export class SdkTelemetry implements Telemetry {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator: Core.CompositePropagator;
  private readonly api: typeof Api;
  private readonly redact: CaptureRedactor;

  constructor(
    readonly settings: TelemetrySettings,
    lib: OtelLib,
    log?: Logger,
  ) {
    const { api, core, sdk } = lib;
    this.api = api;
    this.redact = captureRedactor(settings.redact);
    this.propagator = new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] });
    const exporter = new lib.exporter.OTLPTraceExporter({ url: settings.tracesUrl, headers: settings.headers, timeoutMillis: 10_000 });
    this.provider = new sdk.BasicTracerProvider({
      resource: lib.resources.resourceFromAttributes({ ...settings.resourceAttributes, "service.name": settings.serviceName }),
      sampler: buildSampler(settings.sampler, sdk),
      spanProcessors: [
        new sdk.BatchSpanProcessor(exporter, {
          maxQueueSize: settings.maxQueueSize,
          maxExportBatchSize: Math.min(512, settings.maxQueueSize),
          scheduledDelayMillis: settings.exportDelayMs,
          exportTimeoutMillis: 10_000,
        }),
      ],
    });
    this.tracer = this.provider.getTracer("modelgate");
    // Export failures and dropped spans reach OTel's diag logger: send its warnings to ours.
    if (log) {
      const child = log.child({ component: "otel" });
      api.diag.setLogger(
        {
          error: (msg, ...args) => child.error({ args }, msg),
          warn: (msg, ...args) => child.warn({ args }, msg),
          info: () => {},
          debug: () => {},
          verbose: () => {},
        },
        { logLevel: api.DiagLogLevel.WARN, suppressOverrideMessage: true },
      );
    }
  }

  /** Starts the SERVER span of a call, continuing the caller's trace context (traceparent, tracestate, baggage). */
  startCall(service: string, method: string, header: Headers, requestId: string, values: ContextValues): CallTrace {
    const api = this.api;
    const parent = this.propagator.extract(api.ROOT_CONTEXT, header, headerGetter);
    const contentType = header.get("content-type") ?? "";
    const span = this.tracer.startSpan(
      `${service}/${method}`,
      {
        kind: api.SpanKind.SERVER,
        attributes: {
          "rpc.system": contentType.startsWith("application/grpc") ? "grpc" : "connect_rpc",
          "rpc.service": service,
          "rpc.method": method,
          "modelgate.request_id": requestId,
        },
      },
      parent,
    );
    return new CallTrace(api, this.tracer, this.propagator, span, api.trace.setSpan(parent, span), values, this.redact);
  }

  /** Exports every finished span now (tests; shutdown does it too). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  /** Flushes and stops the exporter, within `timeoutMs`. */
  async shutdown(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.provider.shutdown().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}

interface ResponseLike {
  model?: string;
  choices?: readonly { finishReason?: string; message?: { role?: string; content?: string }; delta?: { content?: string }; text?: string }[];
}

/** The SERVER span of one call, and the parent of its upstream attempts. */
export class CallTrace implements CallTraceApi {
  private attempts = 0;
  private responseModel = "";
  private readonly finishReasons = new Set<string>();
  private output: string | undefined;

  constructor(
    private readonly api: typeof Api,
    private readonly tracer: Tracer,
    private readonly propagator: Core.CompositePropagator,
    readonly span: Span,
    private readonly context: Context,
    private readonly values: ContextValues,
    private readonly redact: CaptureRedactor = (text, max) => text.slice(0, max),
  ) {}

  /** W3C traceparent naming this call's span (what the logs and non-traced requests carry). */
  get traceparent(): string {
    const c = this.span.spanContext();
    return `00-${c.traceId}-${c.spanId}-0${(c.traceFlags & 1).toString()}`;
  }

  startAttempt(provider: string, req: { method: string; url: string; body?: unknown }): UpstreamAttempt {
    this.attempts++;
    const endpoint = getCallEndpoint(this.values)?.endpoint;
    const operation = endpoint ? operations[endpoint.type] : undefined;
    const bodyModel = (req.body as { model?: unknown } | undefined)?.model;
    const model = typeof bodyModel === "string" ? bodyModel : getCallScope(this.values)?.outcome.model;
    let address: string | undefined;
    let port: number | undefined;
    try {
      const url = new URL(req.url);
      address = url.hostname;
      port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    } catch {
      address = undefined;
    }
    const attributes: Attributes = {
      "gen_ai.provider.name": providerNames[provider] ?? provider,
      "http.request.method": req.method,
      "modelgate.attempt": this.attempts,
    };
    if (operation) attributes["gen_ai.operation.name"] = operation;
    if (model) attributes["gen_ai.request.model"] = model;
    if (address) {
      attributes["server.address"] = address;
      attributes["server.port"] = port;
    }
    const span = this.tracer.startSpan(`${operation ?? "upstream"}${model ? ` ${model}` : ""}`, { kind: this.api.SpanKind.CLIENT, attributes }, this.context);
    const headers: Record<string, string> = {};
    this.propagator.inject(this.api.trace.setSpan(this.context, span), headers, recordSetter);
    return new Attempt(this.api, span, headers);
  }

  /** A response message (unary) or a streamed chunk: response model, finish reasons, output text. */
  observe(message: unknown, capture: boolean): void {
    const m = message as ResponseLike;
    if (m.model) this.responseModel = m.model;
    if (!m.choices) return;
    for (const choice of m.choices) {
      if (choice.finishReason) this.finishReasons.add(choice.finishReason);
      if (!capture) continue;
      const text = choice.message?.content ?? choice.delta?.content ?? choice.text;
      // Kept past the bound by the redaction margin; redacted and clipped when the span ends.
      const room = maxCapturedChars + redactMarginChars;
      if (text && (this.output?.length ?? 0) < room) this.output = ((this.output ?? "") + text).slice(0, room);
    }
  }

  /** Whether this endpoint records prompts and completions on its spans. */
  get captureContent(): boolean {
    return getCallEndpoint(this.values)?.endpoint?.captureContent === true && this.span.isRecording();
  }

  end(err?: unknown): void {
    const span = this.span;
    if (!span.isRecording()) {
      span.end();
      return;
    }
    const scope = getCallScope(this.values);
    if (scope) span.setAttributes(callAttributes(scope, this.values, this.attempts));
    if (this.responseModel) span.setAttribute("gen_ai.response.model", this.responseModel);
    if (this.finishReasons.size > 0) span.setAttribute("gen_ai.response.finish_reasons", [...this.finishReasons]);
    if (scope && this.captureContent) {
      const input = inputMessages(scope.message, this.redact);
      if (input) span.setAttribute("gen_ai.input.messages", input);
      if (this.output !== undefined) {
        const content = this.redact(this.output, maxCapturedChars);
        span.setAttribute(
          "gen_ai.output.messages",
          JSON.stringify([{ role: "assistant", parts: [{ type: "text", content }], finish_reason: [...this.finishReasons][0] ?? "" }]),
        );
      }
    }
    if (err !== undefined) {
      const e = ConnectError.from(err);
      span.setAttribute("error.type", codeName(e.code));
      span.setAttribute("rpc.response.status_code", codeName(e.code));
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: e.rawMessage.slice(0, 500) });
    } else {
      span.setAttribute("rpc.response.status_code", "OK");
    }
    span.end();
  }
}

/** A Connect code as gRPC spells it (UNAVAILABLE, INVALID_ARGUMENT). */
function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

function callAttributes(scope: CallScope, values: ContextValues, attemptSpans: number): Attributes {
  const a: Attributes = {};
  const called = getCallEndpoint(values);
  if (called !== undefined) {
    a["modelgate.endpoint"] = called.name;
    const op = called.endpoint ? operations[called.endpoint.type] : undefined;
    if (op) a["gen_ai.operation.name"] = op;
  }
  const outcome = scope.outcome;
  if (outcome.provider) a["gen_ai.provider.name"] = providerNames[outcome.provider] ?? outcome.provider;
  if (outcome.model) a["gen_ai.request.model"] = outcome.model;
  if (outcome.target) a["modelgate.target"] = outcome.target;
  const attempts = outcome.attempts ?? attemptSpans;
  if (attempts > 0) a["modelgate.attempts"] = attempts;
  const principal = getCaller(values)?.principal;
  if (principal?.keyName) a["modelgate.key_name"] = principal.keyName;
  if (principal?.team) a["modelgate.team"] = principal.team;
  if (outcome.cache) a["modelgate.cache"] = outcome.cache;
  if (outcome.template) a["modelgate.template"] = outcome.template;
  if (outcome.guardrails?.length) a["modelgate.guardrails"] = outcome.guardrails;
  if (outcome.usage) {
    a["gen_ai.usage.input_tokens"] = outcome.usage.promptTokens;
    a["gen_ai.usage.output_tokens"] = outcome.usage.completionTokens;
  }
  const req = scope.message as { maxTokens?: unknown; temperature?: unknown; topP?: unknown } | undefined;
  if (typeof req?.maxTokens === "number") a["gen_ai.request.max_tokens"] = req.maxTokens;
  if (typeof req?.temperature === "number") a["gen_ai.request.temperature"] = req.temperature;
  if (typeof req?.topP === "number") a["gen_ai.request.top_p"] = req.topP;
  return a;
}

/** `gen_ai.input.messages` (GenAI conventions' JSON shape), each text redacted and clipped, the whole bounded. */
function inputMessages(message: unknown, redact: CaptureRedactor): string | undefined {
  const m = message as { messages?: readonly { role?: string; content?: string }[]; prompt?: string; input?: readonly string[] } | undefined;
  let messages: { role: string; parts: { type: "text"; content: string }[] }[];
  if (m?.messages) messages = m.messages.map((x) => ({ role: x.role ?? "user", parts: [{ type: "text", content: x.content ?? "" }] }));
  else if (typeof m?.prompt === "string") messages = [{ role: "user", parts: [{ type: "text", content: m.prompt }] }];
  else if (m?.input) messages = m.input.map((content) => ({ role: "user", parts: [{ type: "text", content }] }));
  else return undefined;
  let budget = maxCapturedChars;
  for (const msg of messages) {
    const part = msg.parts[0]!;
    part.content = budget > 0 ? redact(part.content, budget) : "";
    budget -= part.content.length;
  }
  return JSON.stringify(messages.filter((msg, i) => i === 0 || msg.parts[0]!.content.length > 0));
}

/** The CLIENT span of one upstream HTTP request. */
class Attempt implements UpstreamAttempt {
  private ended = false;
  private status = 0;

  constructor(
    private readonly api: typeof Api,
    private readonly span: Span,
    readonly headers: Record<string, string>,
  ) {}

  responded(status: number): void {
    this.status = status;
    this.span.setAttribute("http.response.status_code", status);
  }

  chunk(chunk: { model?: string; usage?: { promptTokens: number; completionTokens: number } }): void {
    if (chunk.model) this.span.setAttribute("gen_ai.response.model", chunk.model);
    if (chunk.usage) {
      this.span.setAttribute("gen_ai.usage.input_tokens", chunk.usage.promptTokens);
      this.span.setAttribute("gen_ai.usage.output_tokens", chunk.usage.completionTokens);
    }
  }

  end(err?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (err !== undefined) {
      const e = ConnectError.from(err);
      // HTTP client conventions: the status code when the upstream answered one, else what failed.
      this.span.setAttribute("error.type", this.status >= 400 ? String(this.status) : codeName(e.code));
      this.span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: e.rawMessage.slice(0, 500) });
    }
    this.span.end();
  }
}

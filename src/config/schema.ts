// The config file's shape (zod). Compatible with the MLflow AI Gateway file (`endpoints:` with
// name / endpoint_type / model / limit); our extensions (server, auth, logging) sit beside it.
import { constants as bufferConstants } from "node:buffer";
import { z } from "zod";
import { accessSchema, jwtConfigSchema } from "../auth/config";
import { MAX_TIMER_MS } from "../timers";
import { DEFAULT_MAX_UPSTREAM_BODY_BYTES, DEFAULT_MAX_UPSTREAM_EVENT_BYTES } from "../upstream/limits";
import { pricesSchema } from "../usage/prices";
import { checkTargets, modelSchema, routingSchema, targetSchema, withTargets } from "../routing/config";
import { piiKinds, policiesSchema } from "../policies/config";
import { checkPredictSchemaConfig } from "../policies/predict-schema";
import { templatesSchema } from "../policies/templates-config";

export const endpointTypes = [
  "llm/v1/chat",
  "llm/v1/completions",
  "llm/v1/embeddings",
  "predict",
] as const;
export type EndpointType = (typeof endpointTypes)[number];

/** MLflow's periods (its limiter counts a month as 30 days and a year as 365). */
export const renewalPeriods = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000, month: 2_592_000_000, year: 31_536_000_000 } as const;
export type RenewalPeriod = keyof typeof renewalPeriods;

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "use letters, digits, '.', '_' or '-' (at most 128)");

/**
 * MLflow writes the period as its rate limiter (the `limits` package) reads it: any case, around
 * spaces, singular or plural, "1 minute". Those all name one period; "2 minutes" (a window of
 * several periods) is refused by name, as the limiter here counts whole periods.
 */
function renewalPeriod(value: unknown, ctx: z.core.$RefinementCtx): unknown {
  if (typeof value !== "string") return value;
  const m = /^\s*(?:(\d+)\s+)?([a-z]+?)s?\s*$/i.exec(value);
  const unit = m?.[2]?.toLowerCase();
  if (!m || unit === undefined || !(unit in renewalPeriods)) return value;
  if (m[1] !== undefined && Number(m[1]) !== 1) {
    ctx.addIssue({ code: "custom", input: value, message: `a window of several periods ("${value.trim()}") is not supported: use one ${unit}` });
    return z.NEVER;
  }
  return unit;
}

export const limitSchema = z.strictObject({
  renewal_period: z.preprocess(renewalPeriod, z.enum(Object.keys(renewalPeriods) as [RenewalPeriod, ...RenewalPeriod[]])),
  /** 0 refuses every call (MLflow loads it too). A numeric string is read as a number, as MLflow does. */
  calls: z.preprocess((v) => (typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v), z.number().int().min(0)),
  /** Our extension: tokens (prompt + completion) per renewal_period for the whole endpoint. */
  tokens: z.number().int().positive().optional(),
  /** MLflow's optional limit key; accepted for compatibility (limits are per endpoint). */
  key: z.string().nullish(),
});

/** Per endpoint: prompts and completions on the trace spans (GenAI `gen_ai.*.messages`), off by default. */
export const endpointTelemetrySchema = z.strictObject({
  capture_content: z.boolean().default(false),
});

/**
 * OpenTelemetry traces over OTLP/HTTP (protobuf). Off by default; on with `enabled: true` or when
 * OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and off whatever this
 * says with OTEL_SDK_DISABLED=true. The OTEL_* variables fill what this block leaves unset.
 * Takes effect at start (a reload does not change it).
 */
export const telemetrySchema = z.strictObject({
  enabled: z.boolean().optional(),
  /** Full traces URL (…/v1/traces); else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, http://localhost:4318/v1/traces. */
  otlp_traces_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Headers for the exporter's requests (over OTEL_EXPORTER_OTLP_HEADERS). */
  headers: z.record(z.string(), z.string()).default({}),
  /** `service.name` (else OTEL_SERVICE_NAME, else "modelgate"). */
  service_name: z.string().min(1).optional(),
  /** Share of new traces kept, parent-based (else OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG). */
  sampler_ratio: z.number().min(0).max(1).optional(),
  /** Finished spans waiting for export at most; more are dropped (and counted in a warning). */
  max_queue_size: z.number().int().min(1).max(1_000_000).default(2048),
  /** How often the batch of finished spans is exported. */
  export_delay_ms: z.number().int().min(10).max(60_000).default(1000),
  /**
   * What is redacted from captured prompts and completions (an endpoint's
   * telemetry.capture_content) before they go on a span, by the guardrails' PII detectors; []
   * records them as sent.
   */
  redact: z.array(z.enum(piiKinds)).default(["email", "phone", "card", "secret"]),
  /**
   * The gateway's metrics pushed over OTLP/HTTP (protobuf), beside GET /metrics: off by default;
   * on with `enabled: true`, OTEL_METRICS_EXPORTER=otlp or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT
   * (off whatever this says with OTEL_SDK_DISABLED=true or OTEL_METRICS_EXPORTER=none).
   */
  metrics: z
    .strictObject({
      enabled: z.boolean().optional(),
      /** Full metrics URL (…/v1/metrics); else OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT + /v1/metrics, http://localhost:4318/v1/metrics. */
      otlp_metrics_endpoint: z.url({ protocol: /^https?$/ }).optional(),
      /** How often the metrics are exported (else OTEL_METRIC_EXPORT_INTERVAL, else 60 s). */
      export_interval_ms: z.number().int().min(100).max(3_600_000).optional(),
    })
    .prefault({}),
});
export type TelemetryConfig = z.infer<typeof telemetrySchema>;

export const endpointSchema = z
  .strictObject({
    name,
    endpoint_type: z.enum(endpointTypes),
    /** MLflow's one model; or `targets` (src/routing/config.ts), never both. */
    model: modelSchema.optional(),
    targets: z.array(targetSchema).min(1).optional(),
    routing: routingSchema.optional(),
    /** `limit: null` (as MLflow writes an absent limit) is no limit. */
    limit: limitSchema.nullish().transform((l) => l ?? undefined),
    /** Tracing for this endpoint's calls (see the top-level `telemetry:` block). */
    telemetry: endpointTelemetrySchema.optional(),
    /** Guardrails, context-window management and the response cache (src/policies/config.ts). */
    policies: policiesSchema.optional(),
  })
  .superRefine(checkTargets)
  .superRefine(checkPredictSchemaConfig)
  // Parsed, every endpoint has its targets (one for `model:`) and `model` = the first target's.
  .transform(withTargets);

/** Limits a key or a team sets for itself (all optional; the strictest of all that apply wins). */
export const ownLimitsSchema = z.strictObject({
  rpm: z.number().int().positive().optional(),
  tpm: z.number().int().positive().optional(),
  budget_usd: z.number().positive().optional(),
  budget_period: z.enum(["day", "month"]).default("month"),
});

export const apiKeySchema = z
  .strictObject({
    /** A label for logs and errors; never the secret. */
    name,
    /** The key itself, normally as a `$ENV` reference. Hashed at load, never kept in clear. */
    key: z.string().min(16, "an API key needs at least 16 characters").optional(),
    /** Or the hex SHA-256 of the key, so the file holds no secret at all. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits").optional(),
    /** Endpoints this key may call; absent = all (or what `access` grants its team). */
    endpoints: z.array(name).optional(),
    /** The key's team, for team quotas, budgets and access grants. */
    team: z.string().default(""),
    /** Roles: "user" calls endpoints, "admin" also manages keys and reads usage. */
    roles: z.array(z.string().min(1)).default(["user"]),
    /** The key's own limits. */
    limits: ownLimitsSchema.optional(),
  })
  .refine((k) => (k.key === undefined) !== (k.sha256 === undefined), {
    message: "give exactly one of `key` or `sha256`",
  });

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default("127.0.0.1"),
      port: z.number().int().min(0).max(65535).default(8080),
      /** Largest request body accepted on any surface. */
      max_body_bytes: z.number().int().positive().default(4 * 1024 * 1024),
      /** How long running calls may take to finish on SIGTERM before they are cut. */
      shutdown_grace_ms: z.number().int().min(0).max(MAX_TIMER_MS).default(10_000),
      /**
       * Origins allowed to call from a browser: exact origins, `scheme://host:*` for any port of a
       * host, or "*" for any origin. The default admits loopback pages only, so a web page on the
       * internet cannot drive a local gateway (with auth off) from a visitor's browser.
       */
      cors_origins: z.array(z.string().min(1)).default(["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"]),
      /**
       * A bearer token that GET /metrics then requires (`Authorization: Bearer <token>`); write it
       * as `$VARIABLE`. Absent: /metrics is open, as Prometheus exporters usually are. Its series
       * name endpoints, targets and teams and carry spend, so a gateway reachable beyond the
       * scraper's network should set one (Prometheus: `authorization: {credentials_file: …}`).
       */
      metrics_token: z
        .string()
        .min(16, "metrics_token: at least 16 characters (a random token, e.g. `openssl rand -hex 32`)")
        .max(1024)
        .regex(/^[\x21-\x7e]+$/, "metrics_token: printable ASCII without spaces (it is sent in an HTTP header)")
        .optional(),
      /**
       * Time allowed for an upstream's answer to start (its headers), for each gap in its body,
       * and for the whole body of a unary answer after its headers (a body that trickles in
       * never has a gap). A stream runs as long as its events keep coming (routing's
       * timeouts bound the wait for its first message); the caller's deadline bounds a whole call.
       */
      upstream_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(120_000),
      /**
       * Largest unary upstream answer read; a longer one fails the attempt with UNAVAILABLE
       * ("unexpected upstream response: body is larger than N bytes"). 128 MiB is far above any
       * chat answer; an embeddings batch of thousands of inputs of thousands of dimensions (JSON
       * floats) may need more. At most V8's longest string, as the body is decoded into one.
       */
      max_upstream_body_bytes: z.number().int().positive().max(bufferConstants.MAX_STRING_LENGTH).default(DEFAULT_MAX_UPSTREAM_BODY_BYTES),
      /**
       * Largest single event of a streamed upstream answer (an SSE event, an NDJSON line, an AWS
       * event-stream frame) held while it arrives; a larger one fails the stream with UNAVAILABLE.
       * Streams themselves are not limited: only what is held at once.
       */
      max_upstream_event_bytes: z.number().int().positive().max(bufferConstants.MAX_STRING_LENGTH).default(DEFAULT_MAX_UPSTREAM_EVENT_BYTES),
      /**
       * Largest total of upstream answers held at once by the process (unary bodies being read,
       * streamed events not ended); the answer that would pass it fails with UNAVAILABLE, the
       * others go on. Default: a quarter of V8's heap limit (`--max-old-space-size`).
       */
      max_upstream_held_bytes: z.number().int().positive().optional(),
      /**
       * How long a client may take to send a request's headers (on a new connection, also its
       * first bytes). Slow-header ("slowloris") connections are closed after this.
       */
      headers_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(10_000),
      /**
       * How long a client may take to send a whole request, headers and body: on HTTP/1.1 the
       * connection is answered 408 and closed, on HTTP/2 the stream gets DEADLINE_EXCEEDED (gRPC)
       * or 408 and is reset. Only the receiving side is timed; a response may stream for as long
       * as the call runs. 60 s sends the largest body (max_body_bytes) at about 0.5 Mbit/s.
       */
      request_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(60_000),
      /**
       * An HTTP/1.1 keep-alive connection with no request, or an HTTP/2 session with no open
       * stream, is closed after this (a session with a running call never is). 65 s is longer
       * than the 60 s idle timeout of common load balancers, so the balancer closes first and
       * never sends a request on a connection the gateway is closing.
       */
      idle_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(65_000),
      /**
       * Every HTTP/2 connection is sent a PING this often (0: never), and closed when it does not
       * answer within http2_keepalive_timeout_ms. A client that vanished behind a load balancer
       * (no FIN, no RST) is found this way, also while one of its calls waits for a slow model.
       * With the defaults a dead peer is found within 50 s, before a balancer's usual 60 s.
       */
      http2_keepalive_ms: z.number().int().min(0).max(MAX_TIMER_MS).default(30_000),
      /** How long a keep-alive PING may go unanswered before the connection is closed. */
      http2_keepalive_timeout_ms: z.number().int().positive().max(MAX_TIMER_MS).default(20_000),
      /**
       * Most client connections open at once; more are closed on accept (and counted in a
       * warning at most every 5 s). With the usual limit of 1,024 file descriptors: about 64 go
       * to the store, logs and Redis, and each call in flight to an HTTP/1.1 upstream holds one
       * more socket, so half of the rest is left for client connections. Raise it with `ulimit -n`.
       */
      max_connections: z.number().int().positive().default(480),
      /**
       * Most connections open at once from one client address (an IPv6 /64 counts as one
       * address), so a single host cannot take every connection. Behind a load balancer or
       * proxy every client has the proxy's address: set this to max_connections there.
       */
      max_connections_per_ip: z.number().int().positive().default(120),
      /** HTTP/2 streams (concurrent calls) one connection may have open; more are refused. */
      http2_max_concurrent_streams: z.number().int().min(1).max(2 ** 31 - 1).default(256),
    })
    .refine((s) => s.headers_timeout_ms <= s.request_timeout_ms, {
      message: "headers_timeout_ms must not be larger than request_timeout_ms",
      path: ["headers_timeout_ms"],
    })
    .prefault({}),
  auth: z
    .strictObject({
      enabled: z.boolean(),
      keys: z.array(apiKeySchema).default([]),
      /** Bearer JWTs from an identity provider (issuer, audience, JWKS or key); needs `access`. */
      jwt: jwtConfigSchema.optional(),
    })
    .prefault({ enabled: false }),
  /** Which teams and roles may call which endpoints. Absent: config keys call what their list allows. */
  access: accessSchema.optional(),
  logging: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    })
    .prefault({}),
  endpoints: z.array(endpointSchema).min(1, "configure at least one endpoint"),
  /** Prompt templates endpoints may name (`policies.template`): versions here, or an MLflow prompt. */
  templates: templatesSchema,
  telemetry: telemetrySchema.prefault({}),
  /** Where keys and the usage ledger live, and the counters shared by replicas. */
  store: z
    .strictObject({
      /** sqlite:<path>, sqlite::memory: or postgres://... (MODELGATE_DATABASE_URL overrides). */
      database_url: z.string().min(1).default("sqlite:.modelgate/modelgate.db"),
      /** redis://... to share rate limits, token quotas and budgets across replicas (MODELGATE_REDIS_URL overrides). */
      redis_url: z.string().min(1).optional(),
      /** When Redis is unreachable: "open" = count locally and log loudly, "closed" = refuse calls. */
      on_redis_error: z.enum(["open", "closed"]).default("open"),
      /** How often each replica polls the key store for created, rotated and revoked keys. */
      key_refresh_ms: z.number().int().min(50).max(60_000).default(500),
      /** The embedded SQLite store (a sqlite: database_url); ignored for PostgreSQL. */
      sqlite: z
        .strictObject({
          /**
           * A usage read's time budget (GetUsage, GetUsageSeries, each ExportUsage page, ListCalls,
           * a budget's first look at the ledger), queued and running, on the read worker:
           * past it the call fails with DEADLINE_EXCEEDED and a read still running is abandoned.
           */
          read_timeout_ms: z.number().int().min(1).max(600_000).default(10_000),
        })
        .prefault({}),
      /** The Responses API's stored responses (`store: true`, OpenAI's default; previous_response_id). */
      responses: z
        .strictObject({
          /** false: nothing is stored (answers say `store: false`) and previous_response_id is refused. */
          enabled: z.boolean().default(true),
          /** How long a stored response can be read and chained, in hours (OpenAI keeps them 30 days). */
          ttl_hours: z.number().positive().max(24 * 365 * 10).default(720),
          /**
           * The most a stored response may hold (its Response JSON and its whole conversation), in
           * bytes. A continued conversation is parsed on the event loop like a request body, so the
           * default is server.max_body_bytes's: previous_response_id costs what sending the whole
           * conversation would (16 MiB of items held the loop for 0.1-0.4 s per call).
           */
          max_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Per-team limits and budgets, by team name. */
  teams: z.record(z.string(), ownLimitsSchema).default({}),
  /** Prices per provider/model (USD per million tokens), over the shipped defaults. */
  prices: pricesSchema,
  quota: z
    .strictObject({
      /** Completion tokens reserved for a call that sets no max_tokens. */
      default_max_tokens: z.number().int().positive().default(1024),
    })
    .prefault({}),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type EndpointConfig = z.infer<typeof endpointSchema>;
export type ApiKeyConfig = z.infer<typeof apiKeySchema>;

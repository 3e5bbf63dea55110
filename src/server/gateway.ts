// Assembles the gateway: runtime state, services with their interceptor chain, health and
// reflection, CORS, the one-port listener, and graceful shutdown.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { endStreamFlag } from "@connectrpc/connect/protocol-connect";
import type { Logger } from "pino";
import { ChatService, file_modelgate_v1_chat } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService, file_modelgate_v1_completions } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService, file_modelgate_v1_embeddings } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService, file_modelgate_v1_endpoint } from "../../gen/modelgate/v1/endpoint_pb";
import { FeedbackService, file_modelgate_v1_feedback } from "../../gen/modelgate/v1/feedback_pb";
import { PredictService, file_modelgate_v1_predict } from "../../gen/modelgate/v1/predict_pb";
import type { LoadedConfig } from "../config/load";
import { authInterceptor, authenticate } from "../interceptors/auth";
import { boundsInterceptor } from "../interceptors/bounds";
import { callContextInterceptor } from "../interceptors/call-context";
import { errorsInterceptor } from "../interceptors/errors";
import { callMetricsInterceptor } from "../interceptors/call-metrics";
import { loggingInterceptor } from "../interceptors/logging";
import { quotaInterceptor, type Accounting } from "../interceptors/quota";
import { quotaFailureSink } from "../quota/failures";
import { AdminService, file_modelgate_v1_admin } from "../../gen/modelgate/v1/admin_pb";
import { UsageService, file_modelgate_v1_usage } from "../../gen/modelgate/v1/usage_pb";
import { StatsService, file_modelgate_v1_stats } from "../../gen/modelgate/v1/stats_pb";
import { LiveStats } from "../observability/live-stats";
import { statsService } from "../services/stats";
import { KeyAdmin } from "../auth/key-admin";
import { KeyCache } from "../auth/key-cache";
import { adminService } from "../services/admin";
import { usageService } from "../services/usage";
import { feedbackService } from "../services/feedback";
import { FeedbackBook } from "../observability/feedback";
import { FeedbackWriter } from "../store/feedback-writer";
import type { Counters } from "../store/counters";
import { MemoryCounters } from "../store/memory/counters";
import { openStore } from "../store/open";
import { RedisCounters } from "../store/redis/counters";
import { resilientCounters, type ResilientCounters } from "../store/resilient-counters";
import { GatewayMetrics } from "../observability/metrics";
import { metricsGuard, refuseMetrics } from "./metrics-auth";
import { StoreWatch } from "../store/store-watch";
import { metricsExportSettings, startMetricsExport, startTelemetry, telemetrySettings, type MetricsExport, type Telemetry } from "../observability/otel";
import type { Store } from "../store/types";
import { LedgerWriter } from "../usage/ledger-writer";
import { reservationForRequest, warmTokenizer } from "../usage/tokens";
import { newRequestId, saneRequestId, tracingInterceptor } from "../interceptors/tracing";
import type { ModelFactory } from "../providers/model";
import { buildRuntimeState, canaryStandings, countsTokensUpFront, type RoutingDeps, type RuntimeState } from "../runtime";
import { breakerLevel, TargetHealthRegistry } from "../routing/target-health";
import { RoutingMetrics } from "../observability/routing-metrics";
import { chatService } from "../services/chat";
import { completionsService } from "../services/completions";
import { embeddingsService } from "../services/embeddings";
import type { ServiceDeps } from "../services/endpoint-call";
import { endpointService } from "../services/endpoints";
import { predictService } from "../services/predict";
import { UpstreamClient } from "../upstream/client";
import { mlflowSurface } from "../surfaces/mlflow/index";
import { openaiSurface } from "../surfaces/openai/index";
import { StoredResponses } from "../surfaces/openai/stored-responses";
import { Conversations } from "../surfaces/openai/conversations";
import { consoleHandler } from "../surfaces/console";
import { createRestRouter } from "../surfaces/router";
import { inProcessClients } from "../surfaces/services";
import { inProcessEmbedder } from "../policies/semantic-cache";
import { applyCors, corsPolicy } from "./cors";
import { HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb";
import { HealthStatus, registerHealth } from "./health";
import { createOnePortServer, endWithHead, GatewayResponse, type NodeRequest, type NodeResponse, type OnePortServer, type RequestListener, type StreamListener } from "./one-port";
import { createNodeHandler, grpcPercentEncode } from "./node-adapter";
import { registerReflection } from "./reflection";
import { closePolicyStores } from "../policies/cache";
import { registerPolicyMetrics, setPolicyLogger } from "../policies/metrics";

export interface GatewayOptions {
  config: LoadedConfig;
  factories: ReadonlyMap<string, ModelFactory>;
  logger: Logger;
  /** MODELGATE_DATABASE_URL and MODELGATE_REDIS_URL override the config's store URLs. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Process-wide parts built once at start: the store, shared counters, the key cache, the ledger. */
interface Backends {
  store: Store;
  /** Says when the store's storage goes wrong under it (a SQLite file deleted while open). */
  storeWatch: StoreWatch;
  counters: Counters | ResilientCounters;
  keyCache: KeyCache;
  ledger: LedgerWriter;
  /** OpenTelemetry traces, when on. */
  telemetry?: Telemetry;
}

export const apiFiles = [
  file_modelgate_v1_admin,
  file_modelgate_v1_usage,
  file_modelgate_v1_chat,
  file_modelgate_v1_completions,
  file_modelgate_v1_embeddings,
  file_modelgate_v1_predict,
  file_modelgate_v1_endpoint,
  file_modelgate_v1_feedback,
  file_modelgate_v1_stats,
];

/** How often expired stored responses are removed (each time in batches, bounded). */
const PURGE_INTERVAL_MS = 10 * 60_000;

export class Gateway {
  readonly health = new HealthStatus();
  private state: RuntimeState;
  private readonly upstream: UpstreamClient;
  private readonly server: OnePortServer;
  private readonly shutdownController = new AbortController();
  private readonly settings: LoadedConfig["file"]["server"];
  private active = 0;
  /** Requests and calls begun since start (the start-up collection waits for a quiet moment). */
  private begun = 0;
  private readonly metrics: GatewayMetrics;
  /** Recent calls by request id and the feedback posted on them (FeedbackService). */
  private readonly feedback: FeedbackBook;
  /** Stored feedback, written in batches. */
  private readonly feedbackWriter: FeedbackWriter;
  /** OpenTelemetry traces; undefined when off (the default). */
  private readonly telemetry: Telemetry | undefined;
  /** The metrics pushed over OTLP; undefined when off (the default). */
  private metricsExport: MetricsExport | undefined;
  /** Breakers by target, kept across reloads for targets that did not change. */
  private readonly targetHealth = new TargetHealthRegistry();
  /** Canary decisions, outlier ejections and ejected targets, in the metrics' registry. */
  private readonly routingMetrics: RoutingMetrics;
  /** Live figures per endpoint and target (StatsService.WatchStats), kept across reloads. */
  private readonly liveStats = new LiveStats();
  /** Aborted when shutdown starts: stats watchers end at once rather than wait out the grace period. */
  private readonly watchersStop = new AbortController();
  /** The Responses API's stored responses (store.responses). */
  private readonly storedResponses: StoredResponses;
  /** The Conversations API's conversations (store.responses too). */
  private readonly conversations: Conversations;
  /** Removes expired stored responses now and then. */
  private readonly purgeTimer: NodeJS.Timeout;
  private idle: (() => void) | undefined;
  /** A call answered on its HTTP/2 stream ended: one function for all of them, nothing of a call's kept by its listener. */
  private readonly streamClosed = () => {
    if (--this.active === 0) this.idle?.();
  };

  private constructor(
    private readonly options: GatewayOptions,
    private readonly backends: Backends,
  ) {
    this.settings = options.config.file.server;
    this.telemetry = backends.telemetry;
    this.upstream = new UpstreamClient({
      timeoutMs: this.settings.upstream_timeout_ms,
      maxBodyBytes: this.settings.max_upstream_body_bytes,
      maxEventBytes: this.settings.max_upstream_event_bytes,
      maxHeldBytes: this.settings.max_upstream_held_bytes,
    });
    this.state = buildRuntimeState(options.config, options.factories, this.upstream, this.routingDeps());
    if (countsTokensUpFront(this.state)) warmTokenizer(); // built in the background, not on the first call
    const counters = backends.counters;
    const health = this.targetHealth;
    this.metrics = new GatewayMetrics({
      quotaBackend: "stats" in counters ? () => counters.stats() : undefined,
      ledger: () => backends.ledger.stats(),
      storeProblem: () => backends.storeWatch.current !== undefined,
      connections: () => this.server.stats(),
      upstreamHeld: () => this.upstream.held,
      breakers: function* () {
        for (const h of health.all()) yield { endpoint: h.endpoint, target: h.target, level: breakerLevel(h.breaker.state) };
      },
      canaries: () => canaryStandings(this.state),
      config: () => this.state,
    });
    this.feedback = new FeedbackBook(this.metrics.registry);
    this.feedbackWriter = new FeedbackWriter(backends.store.feedback);
    const kept = options.config.file.store.responses;
    this.storedResponses = new StoredResponses({
      store: backends.store.responses,
      enabled: kept.enabled,
      ttlMs: kept.ttl_hours * 3_600_000,
      maxBytes: kept.max_bytes,
      authenticate: (header, signal) => authenticate(header, this.state, backends.keyCache, signal),
      log: options.logger,
      onEvent: (event) => this.metrics.recordStoredResponse(event),
    });
    this.conversations = new Conversations({
      store: backends.store.conversations,
      enabled: kept.enabled,
      maxChars: kept.max_bytes,
      maxBodyBytes: this.settings.max_body_bytes,
      authenticate: (header, signal) => authenticate(header, this.state, backends.keyCache, signal),
      log: options.logger,
    });
    this.purgeTimer = setInterval(() => void this.purgeResponses(), PURGE_INTERVAL_MS).unref();
    // Policy decisions (src/policies): counted on this registry, logged by this logger.
    registerPolicyMetrics(this.metrics.registry);
    setPolicyLogger(options.logger);
    const listeners = this.listeners();
    this.server = createOnePortServer(listeners.request, {
      streamListener: listeners.stream,
      headersTimeoutMs: this.settings.headers_timeout_ms,
      requestTimeoutMs: this.settings.request_timeout_ms,
      idleTimeoutMs: this.settings.idle_timeout_ms,
      http2KeepaliveMs: this.settings.http2_keepalive_ms,
      http2KeepaliveTimeoutMs: this.settings.http2_keepalive_timeout_ms,
      maxConnections: this.settings.max_connections,
      maxConnectionsPerAddress: this.settings.max_connections_per_ip,
      http2MaxConcurrentStreams: this.settings.http2_max_concurrent_streams,
      log: options.logger,
    });
    this.routingMetrics = new RoutingMetrics(this.metrics.registry, () => this.state);
  }

  /** Opens the store (migrating it), connects the counters and loads the keys; then builds the gateway. */
  static async open(options: GatewayOptions): Promise<Gateway> {
    const env = options.env ?? process.env;
    const { store: settings } = options.config.file;
    const log = options.logger;
    const store = await openStore(env["MODELGATE_DATABASE_URL"] ?? settings.database_url, {
      sqliteReadTimeoutMs: settings.sqlite.read_timeout_ms,
    });
    try {
      await store.migrate();
      const local = new MemoryCounters();
      const redisUrl = env["MODELGATE_REDIS_URL"] ?? settings.redis_url;
      const counters = redisUrl
        ? // Connected before the port opens (up to 2 s; then the resilient wrapper decides): a first
          // call sent before the connection is up fails at once (no offline queue), which in
          // "closed" mode refused calls for a second after start.
          resilientCounters(await RedisCounters.connect(redisUrl), local, {
            mode: settings.on_redis_error,
            log,
          })
        : local;
      const keyCache = new KeyCache(store.keys, settings.key_refresh_ms, log);
      await keyCache.start();
      const storeWatch = new StoreWatch(store, settings.key_refresh_ms, log);
      storeWatch.start();
      const ledger = new LedgerWriter(store.ledger, { log });
      log.info({ store: store.kind, counters: redisUrl ? "redis" : "memory" }, "state backends ready");
      const tracing = telemetrySettings(options.config.file.telemetry, env);
      const telemetry = tracing ? await startTelemetry(tracing, log) : undefined;
      if (tracing) log.info({ url: tracing.tracesUrl, service: tracing.serviceName }, "OpenTelemetry traces on");
      const gateway = new Gateway(options, { store, storeWatch, counters, keyCache, ledger, telemetry });
      const pushMetrics = metricsExportSettings(options.config.file.telemetry, env);
      if (pushMetrics) {
        gateway.metricsExport = await startMetricsExport(pushMetrics, gateway.metrics, log);
        log.info({ url: pushMetrics.metricsUrl, intervalMs: pushMetrics.intervalMs }, "OpenTelemetry metrics export on");
      }
      return gateway;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** The key store (for the CLI and tests). */
  get store(): Store {
    return this.backends.store;
  }

  /** Bytes of upstream answers held now (unary bodies being read, streamed events not ended). */
  upstreamHeldBytes(): number {
    return this.upstream.held.bytes;
  }

  /** Writes every queued ledger row now (tests, shutdown). */
  flushLedger(): Promise<void> {
    return this.backends.ledger.flush();
  }

  /** Pushes the metrics over OTLP now (tests); a no-op with the export off. */
  async flushMetrics(): Promise<void> {
    await this.metricsExport?.flush();
  }

  /** Exports every finished trace span now (tests); a no-op with telemetry off. */
  async flushTraces(): Promise<void> {
    await this.telemetry?.flush();
  }

  get runtimeState(): RuntimeState {
    return this.state;
  }

  /** The config last reloaded (the one given at start until then). */
  private reloaded: LoadedConfig | undefined;

  /**
   * Serves a newly loaded config: builds its state and swaps it in whole. Calls and streams
   * already running finish on the state they began with; targets that did not change keep their
   * breakers. `server` and `store` settings take a restart (a changed one is named in the log).
   */
  reload(config: LoadedConfig): void {
    const next = buildRuntimeState(config, this.options.factories, this.upstream, this.routingDeps());
    const running = this.reloaded ?? this.options.config;
    const restartNeeded = (["server", "store", "telemetry"] as const).filter((k) => JSON.stringify(config.file[k]) !== JSON.stringify(running.file[k]));
    this.state = next;
    this.reloaded = config;
    this.liveStats.retain(next.endpoints);
    if (countsTokensUpFront(next)) warmTokenizer();
    if (restartNeeded.length > 0) {
      this.options.logger.warn({ sections: restartNeeded }, "config reloaded: changes to these sections take effect after a restart");
    }
  }

  private routingDeps(): RoutingDeps {
    const log = this.options.logger;
    return {
      health: this.targetHealth,
      onRegistryStale: ({ endpoint, target, uri, version, err }) =>
        log.warn(
          { endpoint, target, model: uri, version, err: err instanceof Error ? err.message : String(err) },
          `registry lookup of ${uri} failed; ${endpoint}/${target} keeps serving version ${version} until a lookup succeeds`,
        ),
      hooks: {
        onAttempt: (endpoint, target, outcome, kind) => this.metrics.recordAttempt(endpoint, target, outcome, kind),
        onCanaryDecision: (endpoint, target, decision, evidence) => {
          this.routingMetrics.canaryDecision(endpoint, target, decision);
          log.warn({ endpoint, target, decision, ...evidence }, `canary ${target} of ${endpoint} ${decision === "promoted" ? "promoted" : "rolled back"}: ${evidence.reason}`);
        },
        onEjection: (endpoint, target, evidence) => {
          this.routingMetrics.ejection(endpoint, target);
          log.warn({ endpoint, target, ...evidence }, `target ${target} of ${endpoint} ejected for ${evidence.ejectionMs} ms: ${evidence.reason}`);
        },
        onReturn: (endpoint, target) => log.info({ endpoint, target }, `target ${target} of ${endpoint} back from ejection`),
      },
    };
  }

  /** Requests and calls being served now, and begun since start. */
  get calls(): { running: number; begun: number } {
    return { running: this.active, begun: this.begun };
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  async listen(host = this.settings.host, port = this.settings.port): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.tcp.once("error", reject);
      this.server.tcp.listen(port, host, () => {
        this.server.tcp.off("error", reject);
        resolve();
      });
    });
    for (const service of [ChatService, CompletionsService, EmbeddingsService, PredictService, EndpointService, AdminService, UsageService, FeedbackService, StatsService]) {
      this.health.set(service.typeName, HealthCheckResponse_ServingStatus.SERVING);
    }
    this.health.set("", HealthCheckResponse_ServingStatus.SERVING);
    return this.server.tcp.address() as AddressInfo;
  }

  /**
   * Graceful stop: health turns NOT_SERVING, no new connections, running calls and streams get
   * `graceMs` to finish; then they are cancelled and every connection is closed.
   */
  async shutdown(graceMs = this.settings.shutdown_grace_ms): Promise<void> {
    this.health.shutdown();
    this.watchersStop.abort();
    clearInterval(this.purgeTimer);
    const stopped = this.server.stopAccepting();
    if (this.active > 0) {
      await Promise.race([
        new Promise<void>((resolve) => (this.idle = resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref()),
      ]);
    }
    if (this.active > 0) {
      this.options.logger.warn({ active: this.active }, "shutdown grace period over: cancelling running calls");
      this.shutdownController.abort(new ConnectError("the gateway is shutting down", Code.Unavailable));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.server.destroyAll();
    await stopped;
    await this.upstream.close();
    // The spans of the calls just finished are exported before the process goes (bounded).
    await this.telemetry?.shutdown(5_000);
    await this.metricsExport?.shutdown(5_000);
    this.backends.keyCache.stop();
    this.backends.storeWatch.stop();
    // Bounded: a dead store must not hang the shutdown (unwritten rows go to the error log).
    await this.backends.ledger.close(5_000);
    await Promise.race([this.feedbackWriter.flush().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await this.backends.counters.close();
    await this.backends.store.close();
    await closePolicyStores();
  }

  private async purgeResponses(): Promise<void> {
    try {
      const removed = await this.storedResponses.purge();
      if (removed > 0) this.options.logger.info({ removed }, "expired stored responses removed");
    } catch (err) {
      this.options.logger.error({ err }, "could not remove expired stored responses (retried later)");
    }
  }

  private async serveMetrics(req: NodeRequest, res: NodeResponse): Promise<void> {
    const { body, contentType } = await this.metrics.render(req.headers.accept);
    res.writeHead(200, { "content-type": contentType });
    res.end(body);
  }

  private accounting(): Accounting {
    const ledger = this.backends.ledger;
    return {
      admit: () => ledger.checkAdmission(),
      reservation: (info) => reservationForRequest(info.message, info.state.defaultMaxTokens),
      cost: (provider, model, usage) => this.state.prices.costUsd(provider, model, usage),
      record: (row) => {
        ledger.record(row);
        // Label values only from the config (or capped): a caller's made-up names must not grow the series.
        this.metrics.recordUsage(row);
      },
      spend: (scope, since) => this.backends.store.ledger.spend(scope, since),
    };
  }

  private listeners(): { request: RequestListener; stream: StreamListener } {
    const logger = this.options.logger;
    const getState = () => this.state;
    // The semantic cache embeds prompts through the in-process clients (below) as the gateway.
    const deps: ServiceDeps = { getState, embed: (input) => inProcessEmbedder(clients.embeddings)(input) };
    const chain: Interceptor[] = [
      callContextInterceptor(getState),
      errorsInterceptor(logger),
      loggingInterceptor(logger),
      tracingInterceptor(this.telemetry),
      boundsInterceptor(),
      authInterceptor({ keyCache: this.backends.keyCache }),
      callMetricsInterceptor(this.metrics, this.feedback, this.liveStats),
      quotaInterceptor({ counters: this.backends.counters, accounting: this.accounting(), onFailure: quotaFailureSink(logger, this.metrics.registry) }),
    ];
    const routes = (router: ConnectRouter) => {
      const options = { interceptors: chain };
      router.service(ChatService, chatService(deps), options);
      router.service(CompletionsService, completionsService(deps), options);
      router.service(EmbeddingsService, embeddingsService(deps), options);
      router.service(PredictService, predictService(deps), options);
      router.service(EndpointService, endpointService(deps), options);
      router.service(AdminService, adminService(new KeyAdmin(this.backends.store.keys), () => this.backends.keyCache.refresh()), options);
      router.service(UsageService, usageService({ ledger: this.backends.store.ledger, getState }), options);
      router.service(
        FeedbackService,
        feedbackService({
          book: this.feedback,
          store: this.backends.store.feedback,
          writer: this.feedbackWriter,
          onScore: (call, name, score) => this.state.endpoints.get(call.endpoint)?.router?.recordFeedback(call.target, name, score),
        }),
        options,
      );
      router.service(StatsService, statsService({ getState, live: this.liveStats, stopping: this.watchersStop.signal }), options);
      // Outside auth, so load balancers, buf curl and grpcurl work without credentials.
      // Only the errors interceptor: an undecodable request is INVALID_ARGUMENT here too.
      const outsideAuth = { interceptors: [errorsInterceptor(logger)] };
      registerHealth(router, this.health, outsideAuth);
      registerReflection(router, { files: apiFiles, serviceOptions: outsideAuth });
    };
    // The REST surfaces' calls: the same routes, invoked in process with the messages themselves.
    const clients = inProcessClients(routes, { shutdownSignal: this.shutdownController.signal });
    const rest = createRestRouter([
      // A streamed answer waits for a client that stopped reading as long as an idle connection.
      openaiSurface(clients, this.settings.max_body_bytes, { stored: this.storedResponses, conversations: this.conversations }, {
        stallMs: this.settings.idle_timeout_ms,
        onBackpressure: (event) => this.metrics.recordSseBackpressure("openai", event),
      }),
      mlflowSurface(clients, this.settings.max_body_bytes, (name) => this.state.endpoints.get(name)?.type, {
        stallMs: this.settings.idle_timeout_ms,
        onBackpressure: (event) => this.metrics.recordSseBackpressure("mlflow", event),
      }),
    ]);
    const handler = createNodeHandler({
      routes,
      readMaxBytes: this.settings.max_body_bytes,
      shutdownSignal: this.shutdownController.signal,
      fallback: unknownRoute,
    });
    const cors = corsPolicy(this.settings.cors_origins);
    const metricsAllowed = metricsGuard(this.settings.metrics_token);
    // The web console's static files at /console/ (console/dist).
    const consoleFiles = consoleHandler();
    const request: RequestListener = (req, res) => {
      this.active++;
      this.begun++;
      res.once("close", () => {
        if (--this.active === 0) this.idle?.();
      });
      // The error boundary: no request, however malformed, may end the process.
      try {
        assignRequestId(req, res);
        if (applyCors(cors, req.method, req.headers, res)) return;
        if (req.method === "GET" && (req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
          const authorization = req.headers.authorization;
          if (metricsAllowed !== undefined && !metricsAllowed(authorization)) refuseMetrics(res, authorization !== undefined);
          else this.serveMetrics(req, res).catch((err: unknown) => failRequest(logger, req, res, err));
          return;
        }
        if (consoleFiles(req, res)) return;
        if (rest(req, res)) return;
        handler(req, res);
      } catch (err) {
        failRequest(logger, req, res, err);
      }
    };
    // Server-streaming gRPC over HTTP/2, answered on the stream itself (node-adapter.ts); a
    // request with an Origin (CORS headers) and every other stream go to `request`.
    const stream: StreamListener = (s, headers) => {
      if (headers.origin !== undefined) return false;
      // What assignRequestId does, for a stream the handler takes.
      const requestId = () => {
        const incoming = headers["x-request-id"];
        const id = saneRequestId(typeof incoming === "string" ? incoming : null) ?? newRequestId();
        headers["x-request-id"] = id;
        return { "x-request-id": id };
      };
      try {
        if (!handler.stream(s, headers, requestId)) return false;
      } catch (err) {
        logger.error({ err }, "request handler failed");
        // The stream listener only takes gRPC calls: INTERNAL in trailers-only form, as failRequest.
        if (s.headersSent || s.destroyed) s.destroy();
        else {
          try {
            s.respond({ ":status": 200, ...internalGrpcHead(String(headers["content-type"])) }, { endStream: true });
            s.close(http2.constants.NGHTTP2_NO_ERROR);
          } catch {
            s.destroy();
          }
        }
        return true;
      }
      this.active++;
      this.begun++;
      s.on("close", this.streamClosed);
      return true;
    };
    return { request, stream };
  }
}

/**
 * Every response carries `x-request-id`, errors included, whatever layer answers: the caller's id
 * when it is sane, else a new one. It is set on the incoming headers too, so the interceptors (and
 * REST calls through the in-process transport) use the same id.
 */
function assignRequestId(req: NodeRequest, res: NodeResponse): void {
  const incoming = req.headers["x-request-id"];
  const id = saneRequestId(typeof incoming === "string" ? incoming : null) ?? newRequestId();
  req.headers["x-request-id"] = id;
  if (res instanceof GatewayResponse) res.requestId = id;
  else res.setHeader("x-request-id", id);
}

/**
 * A failure outside every surface's own error handling: a gateway bug, logged (the caller never
 * sees its message). A gRPC caller gets INTERNAL in trailers-only form (a bare HTTP 500 reads as
 * UNKNOWN or "Received RST_STREAM" in gRPC clients), a Connect stream an end-stream message,
 * everyone else a JSON 500 in Connect's unary shape.
 */
function failRequest(log: Logger, req: NodeRequest, res: NodeResponse, err: unknown): void {
  log.error({ err }, "request handler failed");
  try {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const contentType = req.headers["content-type"] ?? "";
    if (contentType.startsWith("application/grpc")) {
      endWithHead(res, 200, internalGrpcHead(contentType));
      return;
    }
    if (contentType.startsWith("application/connect+")) {
      // A Connect stream's error is its end-stream message (a non-200 status reads as UNKNOWN).
      res.writeHead(200, { "content-type": contentType, "content-length": internalEndStream.byteLength });
      res.end(internalEndStream);
      return;
    }
    const body = JSON.stringify({ code: "internal", message: "internal error" });
    res.writeHead(500, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  } catch {
    // Nothing left to answer with: the last boundary must not throw.
    res.destroy();
  }
}

const internalEndStream = encodeEnvelope(endStreamFlag, new TextEncoder().encode(JSON.stringify({ error: { code: "internal", message: "internal error" } })));

function internalGrpcHead(contentType: string): http2.OutgoingHttpHeaders {
  return { "content-type": contentType, "grpc-status": String(Code.Internal), "grpc-message": "internal error" };
}

/** Unknown paths: gRPC clients get UNIMPLEMENTED in trailers-only form, everyone else a JSON 404. */
function unknownRoute(req: NodeRequest, res: NodeResponse): void {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const contentType = req.headers["content-type"] ?? "";
  if (contentType.startsWith("application/grpc")) {
    endWithHead(res, 200, {
      "content-type": contentType,
      "grpc-status": String(Code.Unimplemented),
      "grpc-message": grpcPercentEncode(`unknown method ${path}`),
    });
    return;
  }
  const body = JSON.stringify({ code: "not_found", message: `no route for ${req.method ?? "GET"} ${path}` });
  res.writeHead(404, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

// Assembles the gateway: runtime state, services with their interceptor chain, health and
// reflection, CORS, the one-port listener, and graceful shutdown.
import type { AddressInfo } from "node:net";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ChatService, file_modelgate_v1_chat } from "../../gen/modelgate/v1/chat_pb";
import { CompletionsService, file_modelgate_v1_completions } from "../../gen/modelgate/v1/completions_pb";
import { EmbeddingsService, file_modelgate_v1_embeddings } from "../../gen/modelgate/v1/embeddings_pb";
import { EndpointService, file_modelgate_v1_endpoint } from "../../gen/modelgate/v1/endpoint_pb";
import { PredictService, file_modelgate_v1_predict } from "../../gen/modelgate/v1/predict_pb";
import type { LoadedConfig } from "../config/load";
import { authInterceptor } from "../interceptors/auth";
import { callContextInterceptor } from "../interceptors/call-context";
import { errorsInterceptor } from "../interceptors/errors";
import { loggingInterceptor } from "../interceptors/logging";
import { quotaInterceptor } from "../interceptors/quota";
import { tracingInterceptor } from "../interceptors/tracing";
import type { ModelFactory } from "../providers/model";
import { MemoryRateLimiter, type RateLimiter } from "../quota/limiter";
import { buildRuntimeState, type RuntimeState } from "../runtime";
import { chatService } from "../services/chat";
import { completionsService } from "../services/completions";
import { embeddingsService } from "../services/embeddings";
import type { ServiceDeps } from "../services/endpoint-call";
import { endpointService } from "../services/endpoints";
import { predictService } from "../services/predict";
import { UpstreamClient } from "../upstream/client";
import { mlflowSurface } from "../surfaces/mlflow/index";
import { openaiSurface } from "../surfaces/openai/index";
import { createRestRouter } from "../surfaces/router";
import { inProcessClients } from "../surfaces/services";
import { applyCors } from "./cors";
import { HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb";
import { HealthStatus, registerHealth } from "./health";
import { createOnePortServer, type NodeRequest, type NodeResponse, type OnePortServer, type RequestListener } from "./one-port";
import { createNodeHandler } from "./node-adapter";
import { registerReflection } from "./reflection";

export interface GatewayOptions {
  config: LoadedConfig;
  factories: ReadonlyMap<string, ModelFactory>;
  logger: Logger;
  limiter?: RateLimiter;
}

export const apiFiles = [
  file_modelgate_v1_chat,
  file_modelgate_v1_completions,
  file_modelgate_v1_embeddings,
  file_modelgate_v1_predict,
  file_modelgate_v1_endpoint,
];

export class Gateway {
  readonly health = new HealthStatus();
  private state: RuntimeState;
  private readonly upstream: UpstreamClient;
  private readonly server: OnePortServer;
  private readonly shutdownController = new AbortController();
  private readonly settings: LoadedConfig["file"]["server"];
  private active = 0;
  private idle: (() => void) | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.settings = options.config.file.server;
    this.upstream = new UpstreamClient({ timeoutMs: this.settings.upstream_timeout_ms });
    this.state = buildRuntimeState(options.config, options.factories, this.upstream);
    this.server = createOnePortServer(this.listener());
  }

  get runtimeState(): RuntimeState {
    return this.state;
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
    for (const service of [ChatService, CompletionsService, EmbeddingsService, PredictService, EndpointService]) {
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
  }

  private listener(): RequestListener {
    const logger = this.options.logger;
    const getState = () => this.state;
    const deps: ServiceDeps = { getState };
    const chain: Interceptor[] = [
      callContextInterceptor(getState),
      errorsInterceptor(logger),
      loggingInterceptor(logger),
      tracingInterceptor(),
      authInterceptor(),
      quotaInterceptor(this.options.limiter ?? new MemoryRateLimiter()),
    ];
    const routes = (router: ConnectRouter) => {
      const options = { interceptors: chain };
      router.service(ChatService, chatService(deps), options);
      router.service(CompletionsService, completionsService(deps), options);
      router.service(EmbeddingsService, embeddingsService(deps), options);
      router.service(PredictService, predictService(deps), options);
      router.service(EndpointService, endpointService(deps), options);
      // Outside auth, so load balancers, buf curl and grpcurl work without credentials.
      registerHealth(router, this.health);
      registerReflection(router, { files: apiFiles });
    };
    const clients = inProcessClients(routes, this.settings.max_body_bytes);
    const rest = createRestRouter([
      openaiSurface(clients, this.settings.max_body_bytes),
      mlflowSurface(clients, this.settings.max_body_bytes, (name) => this.state.endpoints.get(name)?.type),
    ]);
    const handler = createNodeHandler({
      routes,
      readMaxBytes: this.settings.max_body_bytes,
      shutdownSignal: this.shutdownController.signal,
      fallback: unknownRoute,
    });
    const origins = this.settings.cors_origins;
    return (req, res) => {
      this.active++;
      res.once("close", () => {
        if (--this.active === 0) this.idle?.();
      });
      if (applyCors(origins, req.method, req.headers, res)) return;
      if (rest(req, res)) return;
      handler(req, res);
    };
  }
}

/** Unknown paths: gRPC clients get UNIMPLEMENTED in trailers-only form, everyone else a JSON 404. */
function unknownRoute(req: NodeRequest, res: NodeResponse): void {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const contentType = req.headers["content-type"] ?? "";
  if (contentType.startsWith("application/grpc")) {
    res.writeHead(200, {
      "content-type": contentType,
      "grpc-status": String(Code.Unimplemented),
      "grpc-message": encodeURIComponent(`unknown method ${path}`),
    });
    res.end();
    return;
  }
  const body = JSON.stringify({ code: "not_found", message: `no route for ${req.method ?? "GET"} ${path}` });
  res.writeHead(404, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

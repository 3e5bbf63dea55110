// Call metrics measured where every surface passes: each model call's result code and latency
// (with its trace id for exemplars), and for streamed answers the time to the first message, the
// time per output token after it, and how many streams are open. Sits after auth and before
// quota in the chain, so it counts what the ledger records and sees the stream quota settles.
import { Code, ConnectError, type ContextValues, type Interceptor, type StreamRequest, type StreamResponse, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import type { FeedbackBook } from "../observability/feedback";
import type { LiveSeries, LiveStats } from "../observability/live-stats";
import type { GatewayMetrics } from "../observability/metrics";
import { callNext, meterStream } from "./call-end";
import { getCallEndpoint, getCallIds, getCallScope, getCaller, type CallScope } from "./call-info";

const modelServices = new Set([
  "modelgate.v1.ChatService",
  "modelgate.v1.CompletionsService",
  "modelgate.v1.EmbeddingsService",
  "modelgate.v1.PredictService",
]);

/** The trace id of a W3C traceparent (`00-<32 hex>-<16 hex>-<2 hex>`), if it is one. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent !== undefined && traceparent.length === 55 ? traceparent.slice(3, 35) : undefined;
}

function codeOf(err: unknown): string {
  return err === undefined ? "ok" : Code[ConnectError.from(err).code];
}

/** Failed for the live figures: an error code the client did not cause by going away. */
function failedLive(err: unknown): boolean {
  return err !== undefined && ConnectError.from(err).code !== Code.Canceled;
}

/**
 * With `feedback`, each answered call is remembered by its request id for FeedbackService; with
 * `live`, each call of a configured endpoint updates its live figures (StatsService.WatchStats).
 */
export function callMetricsInterceptor(metrics: GatewayMetrics, feedback?: FeedbackBook, live?: LiveStats): Interceptor {
  // Runs after bounds, tracing and auth: the endpoint, the ids and the caller are set by then.
  const finish = (scope: CallScope, values: ContextValues, endpointName: string | undefined, err: unknown, end: number, firstAt?: number) => {
    const endpoint = metrics.endpointLabel(endpointName);
    const ids = getCallIds(values);
    metrics.recordCall(endpoint, codeOf(err), (end - scope.startedAt) / 1000, traceIdOf(ids?.traceparent));
    if (live && endpointName !== undefined && getCallEndpoint(values)?.endpoint) {
      const failed = failedLive(err);
      const usage = scope.outcome.usage;
      live.record(endpointName, scope.outcome.target, {
        failed,
        latencyMs: err === undefined ? end - scope.startedAt : NaN,
        ttftMs: firstAt === undefined ? NaN : firstAt - scope.startedAt,
        promptTokens: usage?.promptTokens ?? 0,
        completionTokens: usage?.completionTokens ?? 0,
      });
    }
    if (feedback && err === undefined && endpointName === endpoint && scope.outcome.target !== undefined) {
      const principal = getCaller(values)?.principal;
      feedback.remember(ids?.requestId ?? "", {
        keyId: principal?.keyId ?? "",
        team: principal?.team ?? "",
        endpoint,
        target: scope.outcome.target,
        model: scope.outcome.model ?? "",
        modelVersion: scope.outcome.modelVersion ?? "",
      });
    }
  };
  // A promise chain, not an async function: no frame suspended per call in flight. What `next`
  // throws at once is counted too, and rejects.
  return (next) => (req) => {
    const values = req.contextValues;
    const scope = getCallScope(values);
    if (!scope || !modelServices.has(req.service.typeName)) return next(req);
    const endpointName = getCallEndpoint(values)?.name;
    return callNext(next, req).then(
      (res) => answered(req, res, scope, endpointName),
      (err: unknown) => {
        finish(scope, values, endpointName, err, performance.now());
        throw err;
      },
    );
  };

  function answered(req: UnaryRequest | StreamRequest, res: UnaryResponse | StreamResponse, scope: CallScope, endpointName: string | undefined): UnaryResponse | StreamResponse {
    const values = req.contextValues;
    if (!res.stream) {
      finish(scope, values, endpointName, undefined, performance.now());
      return res;
    }
    return meterStream(res, () => {
      // The target is known once the first message is out.
      const endpoint = metrics.endpointLabel(endpointName);
      metrics.streamActive(endpoint, 1);
      // Open streams in the live figures: the endpoint's from now, the target's once one answered.
      const liveEndpoint: LiveSeries | undefined = live && endpointName !== undefined && getCallEndpoint(values)?.endpoint ? live.endpoint(endpointName) : undefined;
      liveEndpoint?.streamOpened();
      let liveTarget: LiveSeries | undefined;
      let firstAt: number | undefined;
      return {
        message: () => {
          if (firstAt !== undefined) return;
          firstAt = performance.now();
          metrics.recordFirstToken(endpoint, scope.outcome.target ?? "", (firstAt - scope.startedAt) / 1000, traceIdOf(getCallIds(values)?.traceparent));
          if (liveEndpoint && endpointName !== undefined && scope.outcome.target) {
            liveTarget = live?.target(endpointName, scope.outcome.target);
            liveTarget?.streamOpened();
          }
        },
        close: (failure: unknown) => {
          const end = performance.now();
          metrics.streamActive(endpoint, -1);
          liveEndpoint?.streamClosed();
          liveTarget?.streamClosed();
          // A client that went away ends the stream without an error: its abort reason is the result.
          const err = failure ?? (req.signal.aborted ? req.signal.reason : undefined);
          finish(scope, values, endpointName, err, end, firstAt);
          if (err === undefined && firstAt !== undefined) {
            metrics.recordStreamEnd(endpoint, scope.outcome.target ?? "", {
              firstMessageSeconds: (firstAt - scope.startedAt) / 1000,
              restSeconds: (end - firstAt) / 1000,
              outputTokens: scope.outcome.usage?.completionTokens ?? 0,
            });
          }
        },
      };
    });
  }
}


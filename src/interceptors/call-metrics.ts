// Call metrics measured where every surface passes: each model call's result code and latency
// (with its trace id for exemplars), and for streamed answers the time to the first message, the
// time per output token after it, and how many streams are open. Sits after auth and before
// quota in the chain, so it counts what the ledger records and sees the stream quota settles.
import { Code, ConnectError, type ContextValues, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { FeedbackBook } from "../observability/feedback";
import type { GatewayMetrics } from "../observability/metrics";
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

/** With `feedback`, each answered call is remembered by its request id for FeedbackService. */
export function callMetricsInterceptor(metrics: GatewayMetrics, feedback?: FeedbackBook): Interceptor {
  // Runs after bounds, tracing and auth: the endpoint, the ids and the caller are set by then.
  const finish = (scope: CallScope, values: ContextValues, endpointName: string | undefined, err: unknown, end: number) => {
    const endpoint = metrics.endpointLabel(endpointName);
    const ids = getCallIds(values);
    metrics.recordCall(endpoint, codeOf(err), (end - scope.startedAt) / 1000, traceIdOf(ids?.traceparent));
    if (feedback && err === undefined && endpointName === endpoint && scope.outcome.target !== undefined) {
      const keyId = getCaller(values)?.principal.keyId ?? "";
      feedback.remember(ids?.requestId ?? "", { keyId, endpoint, target: scope.outcome.target, modelVersion: scope.outcome.modelVersion ?? "" });
    }
  };
  return (next) => async (req) => {
    const values = req.contextValues;
    const scope = getCallScope(values);
    if (!scope || !modelServices.has(req.service.typeName)) return next(req);
    const endpointName = getCallEndpoint(values)?.name;
    let res;
    try {
      res = await next(req);
    } catch (err) {
      finish(scope, values, endpointName, err, performance.now());
      throw err;
    }
    if (!res.stream) {
      finish(scope, values, endpointName, undefined, performance.now());
      return res;
    }
    const messages = res.message;
    const signal = req.signal;
    return {
      ...res,
      message: (async function* () {
        // The target is known once the first message is out.
        const endpoint = metrics.endpointLabel(endpointName);
        metrics.streamActive(endpoint, 1);
        let firstAt: number | undefined;
        let failure: unknown;
        try {
          for await (const message of messages) {
            if (firstAt === undefined) {
              firstAt = performance.now();
              metrics.recordFirstToken(endpoint, scope.outcome.target ?? "", (firstAt - scope.startedAt) / 1000, traceIdOf(getCallIds(values)?.traceparent));
            }
            yield message;
          }
        } catch (err) {
          failure = err;
          throw err;
        } finally {
          const end = performance.now();
          metrics.streamActive(endpoint, -1);
          // A client that went away ends the generator without an error: its abort reason is the result.
          const err = failure ?? (signal.aborted ? signal.reason : undefined);
          finish(scope, values, endpointName, err, end);
          if (err === undefined && firstAt !== undefined) {
            metrics.recordStreamEnd(endpoint, scope.outcome.target ?? "", {
              firstMessageSeconds: (firstAt - scope.startedAt) / 1000,
              restSeconds: (end - firstAt) / 1000,
              outputTokens: scope.outcome.usage?.completionTokens ?? 0,
            });
          }
        }
      })(),
    } satisfies StreamResponse;
  };
}

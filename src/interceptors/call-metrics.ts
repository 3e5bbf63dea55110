// Call metrics measured where every surface passes: each model call's result code and latency
// (with its trace id for exemplars), and for streamed answers the time to the first message, the
// time per output token after it, and how many streams are open. Sits after auth and before
// quota in the chain, so it counts what the ledger records and sees the stream quota settles.
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import type { FeedbackBook } from "../observability/feedback";
import type { GatewayMetrics } from "../observability/metrics";
import { getCallInfo, type CallInfo } from "./call-info";

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
  const finish = (info: CallInfo, err: unknown, end: number) => {
    const endpoint = metrics.endpointLabel(info.endpoint);
    metrics.recordCall(endpoint, codeOf(err), (end - info.startedAt) / 1000, traceIdOf(info.traceparent));
    if (feedback && err === undefined && info.endpoint === endpoint && info.outcome.target !== undefined) {
      feedback.remember(info.requestId, { keyId: info.principal?.keyId ?? "", endpoint, target: info.outcome.target, modelVersion: info.outcome.modelVersion ?? "" });
    }
  };
  return (next) => async (req) => {
    const info = getCallInfo(req.contextValues);
    if (!info || !modelServices.has(req.service.typeName)) return next(req);
    let res;
    try {
      res = await next(req);
    } catch (err) {
      finish(info, err, performance.now());
      throw err;
    }
    if (!res.stream) {
      finish(info, undefined, performance.now());
      return res;
    }
    const messages = res.message;
    const signal = req.signal;
    return {
      ...res,
      message: (async function* () {
        // The endpoint is known here (quota, inside, read the request); the target once the first message is out.
        const endpoint = metrics.endpointLabel(info.endpoint);
        metrics.streamActive(endpoint, 1);
        let firstAt: number | undefined;
        let failure: unknown;
        try {
          for await (const message of messages) {
            if (firstAt === undefined) {
              firstAt = performance.now();
              metrics.recordFirstToken(endpoint, info.outcome.target ?? "", (firstAt - info.startedAt) / 1000, traceIdOf(info.traceparent));
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
          finish(info, err, end);
          if (err === undefined && firstAt !== undefined) {
            metrics.recordStreamEnd(endpoint, info.outcome.target ?? "", {
              firstMessageSeconds: (firstAt - info.startedAt) / 1000,
              restSeconds: (end - firstAt) / 1000,
              outputTokens: info.outcome.usage?.completionTokens ?? 0,
            });
          }
        }
      })(),
    } satisfies StreamResponse;
  };
}

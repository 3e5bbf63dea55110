import { Code, ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { lineWriter } from "../observability/logger";
import { getCallEndpoint, getCallIds, getCallScope, getCaller } from "./call-info";
import { callNext, onCallEnd } from "./call-end";

/** One structured line per call, written when the call (or its stream) ends. */
export function loggingInterceptor(log: Logger): Interceptor {
  const writeLine = lineWriter(log);
  const write = (procedure: string, values: ContextValues, err?: unknown) => {
    const error = err === undefined ? undefined : ConnectError.from(err);
    const scope = getCallScope(values);
    const ids = getCallIds(values);
    const traceparent = ids?.traceparent;
    const outcome = scope?.outcome;
    const line = {
      requestId: ids?.requestId,
      // W3C ids of the call's span (the upstream requests' parent): 00-<trace_id>-<span_id>-<flags>.
      trace_id: traceparent?.slice(3, 35),
      span_id: traceparent?.slice(36, 52),
      procedure,
      endpoint: getCallEndpoint(values)?.name,
      key: getCaller(values)?.principal.keyName,
      provider: outcome?.provider,
      model: outcome?.model,
      code: error === undefined ? "ok" : Code[error.code],
      streamed: scope?.streamed,
      ms: scope ? Math.round((performance.now() - scope.startedAt) * 100) / 100 : undefined,
      promptTokens: outcome?.usage?.promptTokens,
      completionTokens: outcome?.usage?.completionTokens,
      // Set only on endpoints with policies (absent fields cost nothing in the line).
      cache: outcome?.cache,
      guardrails: outcome?.guardrails,
      template: outcome?.template,
      error: error?.rawMessage,
    };
    writeLine(error === undefined ? "info" : "warn", line, "call");
  };
  // A promise chain, not an async function: no frame suspended per call in flight. What `next`
  // throws at once is logged too, and rejects.
  return (next) => (req) => {
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const values = req.contextValues;
    return callNext(next, req).then(
      (res) => onCallEnd(res, req.signal, (err) => write(procedure, values, err)),
      (err: unknown) => {
        write(procedure, values, err);
        throw err;
      },
    );
  };
}

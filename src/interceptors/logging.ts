import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { getCallInfo, type CallInfo } from "./call-info";
import { onCallEnd } from "./call-end";

/** One structured line per call, written when the call (or its stream) ends. */
export function loggingInterceptor(log: Logger): Interceptor {
  const write = (procedure: string, info: CallInfo | undefined, err?: unknown) => {
    const code = err === undefined ? "ok" : Code[ConnectError.from(err).code];
    const line = {
      requestId: info?.requestId,
      // W3C ids of the call's span (the upstream requests' parent): 00-<trace_id>-<span_id>-<flags>.
      trace_id: info?.traceparent?.slice(3, 35),
      span_id: info?.traceparent?.slice(36, 52),
      procedure,
      endpoint: info?.endpoint,
      key: info?.principal?.keyName,
      provider: info?.outcome.provider,
      model: info?.outcome.model,
      code,
      streamed: info?.streamed,
      ms: info ? Math.round((performance.now() - info.startedAt) * 100) / 100 : undefined,
      promptTokens: info?.outcome.usage?.promptTokens,
      completionTokens: info?.outcome.usage?.completionTokens,
    };
    if (err === undefined) log.info(line, "call");
    else log.warn({ ...line, error: ConnectError.from(err).rawMessage }, "call");
  };
  return (next) => async (req) => {
    const procedure = `${req.service.typeName}/${req.method.name}`;
    const info = getCallInfo(req.contextValues);
    let res;
    try {
      res = await next(req);
    } catch (err) {
      write(procedure, info, err);
      throw err;
    }
    return onCallEnd(res, req.signal, (err) => write(procedure, info, err));
  };
}

import type { Interceptor } from "@connectrpc/connect";
import type { RuntimeState } from "../runtime";
import { callInfoKey } from "./call-info";

/** Outermost: fixes the runtime state for the call and opens its CallInfo. */
export function callContextInterceptor(getState: () => RuntimeState): Interceptor {
  return (next) => (req) => {
    req.contextValues.set(callInfoKey, {
      state: getState(),
      startedAt: performance.now(),
      requestId: "",
      streamed: req.stream,
      outcome: {},
    });
    return next(req);
  };
}

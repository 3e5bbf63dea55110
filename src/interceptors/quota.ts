import type { Interceptor } from "@connectrpc/connect";
import { resourceExhausted } from "../errors";
import type { RateLimiter } from "../quota/limiter";
import { getCallInfo, requestEndpoint } from "./call-info";

/** Enforces each endpoint's `limit` (MLflow's renewal_period + calls) before the call runs. */
export function quotaInterceptor(limiter: RateLimiter): Interceptor {
  return (next) => async (req) => {
    const info = getCallInfo(req.contextValues);
    if (!info) return next(req);
    const name = await requestEndpoint(req, info);
    const limit = name === undefined ? undefined : info.state.endpoints.get(name)?.limit;
    if (!limit) return next(req);
    const decision = await limiter.hit(`endpoint:${name}`, limit.calls, limit.windowMs);
    if (!decision.allowed) {
      const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw resourceExhausted(
        `rate limit reached for endpoint "${name}" (${limit.calls} calls per ${limit.renewalPeriod}); retry in ${seconds}s`,
        decision.retryAfterMs,
      );
    }
    return next(req);
  };
}

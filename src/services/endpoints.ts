import type { ServiceImpl } from "@connectrpc/connect";
import { EndpointTarget_BreakerState, EndpointTarget_CanaryStanding, type EndpointService } from "../../gen/modelgate/v1/endpoint_pb";
import { checkVisible, sourceOfKeyId, type AccessPrincipal } from "../auth/access";
import { notFound, permissionDenied, unauthenticated } from "../errors";
import { getCallScope, getCaller } from "../interceptors/call-info";
import { anonymous, type RuntimeEndpoint, type RuntimeState } from "../runtime";
import { unixNow } from "../routing/router";
import { breakerStateName, type CanaryJudgement, type OutlierState } from "../routing/target-health";
import type { ServiceDeps } from "./endpoint-call";

/** The public description of an endpoint: never its provider config (which holds secrets). */
export function describeEndpoint(ep: RuntimeEndpoint) {
  return {
    name: ep.name,
    endpointType: ep.type,
    provider: ep.provider,
    model: ep.model,
    limit: ep.limit && { renewalPeriod: ep.limit.renewalPeriod, calls: ep.limit.calls },
    routingStrategy: ep.routing?.strategy ?? "",
    targets: ep.targets.map((t, i) => ({
      name: t.name,
      provider: t.provider,
      model: t.model,
      breaker: breakerStates[breakerStateName(t.health.breaker.state)],
      canary: t.canary ? canaryStandings[t.health.canary] : EndpointTarget_CanaryStanding.NOT_CANARY,
      latencyMs: t.health.latency.ms,
      canaryJudgement: t.canary && t.health.judgement ? describeJudgement(t.health.judgement) : undefined,
      outlier: ep.router?.ejects ? describeOutlier(t.health.outlier) : undefined,
      weight: ep.routing?.strategy === "weighted" ? ep.routing.weights[i] : undefined,
    })),
  };
}

/** A figure without samples (NaN) is left unset. */
const figure = (x: number) => (Number.isFinite(x) ? x : undefined);

function describeJudgement(j: CanaryJudgement) {
  return {
    windowCalls: j.windowCalls,
    stableWindowCalls: j.stableWindowCalls,
    errorRate: figure(j.errorRate),
    stableErrorRate: figure(j.stableErrorRate),
    p95LatencyMs: figure(j.p95LatencyMs),
    stableP95LatencyMs: figure(j.stableP95LatencyMs),
    p95TtftMs: figure(j.p95TtftMs),
    stableP95TtftMs: figure(j.stableP95TtftMs),
    reason: j.reason,
    judgedAtUnixMs: BigInt(Math.round(j.at)),
  };
}

function describeOutlier(o: OutlierState) {
  const ejected = o.ejectedUntil > unixNow();
  return {
    ejected,
    ejectedUntilUnixMs: ejected ? BigInt(Math.round(o.ejectedUntil)) : 0n,
    consecutiveEjections: o.consecutive,
    totalEjections: o.total,
    windowCalls: o.windowCalls,
    errorRate: figure(o.errorRate),
  };
}

const breakerStates = {
  closed: EndpointTarget_BreakerState.CLOSED,
  "half-open": EndpointTarget_BreakerState.HALF_OPEN,
  open: EndpointTarget_BreakerState.OPEN,
} as const;

const canaryStandings = {
  running: EndpointTarget_CanaryStanding.RUNNING,
  promoted: EndpointTarget_CanaryStanding.PROMOTED,
  rolled_back: EndpointTarget_CanaryStanding.ROLLED_BACK,
} as const;

/** Each target's name, provider, model and breaker state (never its config). */
export function describeTargets(ep: RuntimeEndpoint): string {
  return ep.targets
    .map(
      (t) =>
        `${t.name};provider=${t.provider};model=${encodeURIComponent(t.model)};breaker=${breakerStateName(t.health.breaker.state)}` +
        (t.canary ? `;canary=${t.health.canary}` : "") +
        (ep.router?.ejects && t.health.outlier.ejectedUntil > unixNow() ? ";ejected" : ""),
    )
    .join(", ");
}

/**
 * Who asks, for access checks: the caller the auth interceptor set; without the chain (in-process
 * use) only a gateway with auth off.
 */
function viewerOf(values: Parameters<typeof getCaller>[0], state: RuntimeState): AccessPrincipal {
  const principal = getCaller(values)?.principal ?? (state.auth.enabled ? undefined : anonymous);
  if (!principal) throw unauthenticated("missing API key");
  return { ...principal, source: sourceOfKeyId(principal.keyId) };
}

/**
 * Endpoints are shown to those who may call them (the "admin" role: all): a key limited to some
 * endpoints lists only those, and GetEndpoint of another name, existing or not, is refused as a
 * call to it would be (PERMISSION_DENIED), so neither its targets and health nor its existence leak.
 */
export function endpointService(deps: ServiceDeps): ServiceImpl<typeof EndpointService> {
  return {
    listEndpoints(_req, ctx) {
      const state = getCallScope(ctx.values)?.state ?? deps.getState();
      const viewer = viewerOf(ctx.values, state);
      const visible = [...state.endpoints.values()].filter((ep) => checkVisible(viewer, ep.name, state.auth.grants).allowed);
      return { endpoints: visible.map(describeEndpoint) };
    },
    getEndpoint(req, ctx) {
      const state = getCallScope(ctx.values)?.state ?? deps.getState();
      const decision = checkVisible(viewerOf(ctx.values, state), req.name, state.auth.grants);
      if (!decision.allowed) throw permissionDenied(decision.missing);
      const ep = state.endpoints.get(req.name);
      if (!ep) throw notFound(`unknown endpoint "${req.name}"`);
      // Also as a header, for REST callers and curl: `a;provider=openai;model=gpt-4o;breaker=closed, b;...`.
      ctx.responseHeader.set("x-modelgate-targets", describeTargets(ep));
      return { endpoint: describeEndpoint(ep) };
    },
  };
}

// What every model-calling RPC does first: find the endpoint (of the right type) on the call's
// state, and gather the per-call options for the upstream.
import type { HandlerContext } from "@connectrpc/connect";
import type { EndpointType } from "../config/schema";
import { invalidArgument, notFound } from "../errors";
import { callInfoKey, type CallInfo } from "../interceptors/call-info";
import type { CallOptions } from "../providers/model";
import type { RuntimeEndpoint, RuntimeState } from "../runtime";

export interface ServiceDeps {
  /** The current state, for calls that reach a service without the interceptor chain. */
  getState: () => RuntimeState;
}

export interface EndpointCall {
  endpoint: RuntimeEndpoint;
  info: CallInfo;
  options: CallOptions;
}

export function beginEndpointCall(
  deps: ServiceDeps,
  ctx: HandlerContext,
  name: string,
  type: EndpointType,
): EndpointCall {
  let info = ctx.values.get(callInfoKey);
  if (!info) {
    info = { state: deps.getState(), startedAt: performance.now(), requestId: "", streamed: false };
    ctx.values.set(callInfoKey, info);
  }
  if (!name) throw invalidArgument("endpoint: an endpoint name is required");
  const endpoint = info.state.endpoints.get(name);
  if (!endpoint) throw notFound(`unknown endpoint "${name}"`);
  if (endpoint.type !== type) {
    throw invalidArgument(`endpoint "${name}" is of type ${endpoint.type}; this method needs a ${type} endpoint`);
  }
  info.endpoint = name;
  info.provider = endpoint.provider;
  info.model = endpoint.model;
  const call = info;
  const options: CallOptions & UpstreamReachedHook = {
    signal: ctx.signal,
    traceparent: info.traceparent,
    requestId: info.requestId,
    allowedModelVersions: info.allowedModelVersions,
    // The quota interceptor bills the prompt of a call that fails after this (see CallInfo).
    onUpstreamReached: () => {
      call.upstreamReached = true;
    },
  };
  return { endpoint, info, options };
}

/**
 * Called by the upstream client once the upstream has the request and may bill it (a 2xx answer,
 * or no answer within the timeout after the request was sent); sets CallInfo.upstreamReached.
 * (Declared here until src/upstream/client.ts's UpstreamCall carries it.)
 */
export interface UpstreamReachedHook {
  onUpstreamReached?: () => void;
}

/** A ModelClient method the endpoint's provider lacks: the loader prevents it, so it is a bug. */
export function missingMethod(endpoint: RuntimeEndpoint): never {
  throw new Error(`provider ${endpoint.provider} has no client method for ${endpoint.type}`);
}

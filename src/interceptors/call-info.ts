// The per-call context: typed values in the call's contextValues, each set ONCE by the one layer
// that knows it and read by the others through the getters below (each a property lookup):
//
//   callScopeKey     callContext (outermost)  the state the call runs on, its start, its request
//                                             message (read once), and the CallOutcome the layers fill
//   callIdsKey       tracing                  request id and W3C traceparent
//   callerKey        auth                     the principal and what its grants allow on the endpoint
//   callEndpointKey  bounds                   the endpoint the request names (once the name passed
//                                             the identifier checks), resolved once on the call's state
//
// Services read them too (src/services/endpoint-call.ts); a service reached without the chain
// (unit tests, in-process calls) opens its own scope and resolves the endpoint itself.
import { createContextKey, type ContextKey, type ContextValues, type StreamRequest } from "@connectrpc/connect";
import type { Usage } from "../../gen/modelgate/v1/common_pb";
import type { Principal, RuntimeEndpoint, RuntimeState } from "../runtime";
import type { StreamedTokenCounter } from "../usage/tokens";

/**
 * What the call measured, each part written by the layer that measured it and read when the
 * call ends (quota settlement and the ledger row, the log line, metrics, the trace): the
 * services set the answer's usage and model version (recordAnswer in
 * src/services/endpoint-call.ts), routing the target that served and its attempts
 * (servedBy), the upstream client's hook whether the upstream had the request. Kept apart from
 * the call's identity (state, request id, principal, endpoint), fixed before the service runs.
 */
export interface CallOutcome {
  /** The provider and model that answered: the endpoint's first target until routing says which served. */
  provider?: string;
  model?: string;
  /** The endpoint target that answered (its provider and model above), once one did. */
  target?: string;
  /** Upstream requests the answer took (retries and fallbacks included). */
  attempts?: number;
  usage?: Omit<Usage, "$typeName" | "$unknown">;
  /** The registry version that answered (Predict), when known. */
  modelVersion?: string;
  /**
   * What the stream sent the client so far (text and tool calls): settles the tokens of a stream
   * that ends without the provider's usage (cancelled or broken).
   */
  streamedOutput?: StreamedTokenCounter;
  /**
   * The upstream has the request and may bill it (it answered 2xx, or it was sent and no answer
   * came in time): a call that fails from here on without usage still records the prompt
   * estimate (and whatever was streamed). Unset for calls refused before any upstream request
   * (auth, quota, validation, unknown endpoint) or refused by the upstream (an error status).
   */
  upstreamReached?: boolean;
  /** The response cache's answer for this call, when the endpoint has a cache policy. */
  cache?: "hit" | "semantic_hit" | "miss" | "bypass";
  /** For a cache hit: what the answer would have cost at today's price (unset when unknown). */
  costSavedUsd?: number;
  /** The prompt template the request was rendered from, as `name@version`. */
  template?: string;
  /** Guardrail decisions as `side:reason:action` (never the text), at most 32. */
  guardrails?: string[];
}

/** What the call runs on: set by the callContext interceptor when the call starts. */
export interface CallScope {
  /** The state this call runs on, fixed at its start (config reloads swap state, not calls). */
  readonly state: RuntimeState;
  readonly startedAt: number;
  readonly streamed: boolean;
  /**
   * The request message (a server stream's one message), read once before any other interceptor
   * runs; undefined for a stream that sent none. Token estimates and identifier checks read it.
   */
  readonly message: unknown;
  /**
   * Why a stream's message could not be read (undecodable bytes, a broken request body): the
   * bounds interceptor refuses the call with it, inside the error mapping, logging and tracing
   * layers, before auth and quota run.
   */
  readonly unreadable?: unknown;
  /** What the call measured (see CallOutcome). */
  readonly outcome: CallOutcome;
}

/** The call's ids: set by the tracing interceptor. */
export interface CallIds {
  readonly requestId: string;
  /** W3C traceparent for upstream requests (our span as the parent). */
  readonly traceparent: string;
}

/** Who calls: set by the auth interceptor. */
export interface Caller {
  readonly principal: Principal;
  /** Registry model versions the principal's grants allow for this endpoint (undefined = any). */
  readonly allowedModelVersions?: ReadonlySet<string>;
  /**
   * For a server stream, which can outlive its credentials: the principal the call's credentials
   * give on `state` now (a reload may have changed a config key's roles), or a throw of
   * UNAUTHENTICATED once they no longer hold (a key revoked, expired or removed from the config,
   * a token past its exp). Reads only memory (the state, the key cache): cheap enough per tick.
   * Undefined for unary calls and for callers with nothing to re-check (the gateway's own).
   */
  readonly recheck?: (state: RuntimeState) => Principal;
}

/** The endpoint the request names: set by the bounds interceptor once the name passed its checks. */
export interface CallEndpoint {
  readonly name: string;
  /** The endpoint on the call's state; undefined when no endpoint has that name. */
  readonly endpoint: RuntimeEndpoint | undefined;
}

export const callScopeKey = createContextKey<CallScope | undefined>(undefined, { description: "modelgate call scope" });
export const callIdsKey = createContextKey<CallIds | undefined>(undefined, { description: "modelgate call ids" });
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "modelgate caller" });
export const callEndpointKey = createContextKey<CallEndpoint | undefined>(undefined, { description: "modelgate call endpoint" });

export const getCallScope = (values: ContextValues): CallScope | undefined => values.get(callScopeKey);
export const getCallIds = (values: ContextValues): CallIds | undefined => values.get(callIdsKey);
export const getCaller = (values: ContextValues): Caller | undefined => values.get(callerKey);
export const getCallEndpoint = (values: ContextValues): CallEndpoint | undefined => values.get(callEndpointKey);

/**
 * Sets a per-call value that is set once: a second set is a bug in the chain (two layers
 * claiming the same fact), never something a request can cause.
 */
export function setOnce<T>(values: ContextValues, key: ContextKey<T | undefined>, value: T): T {
  if (values.get(key) !== undefined) throw new Error(`per-call value "${key.id.description ?? "?"}" set twice`);
  values.set(key, value);
  return value;
}

/** Opens the call's scope with its request message (a stream's first: see readFirstMessage). */
export function openScope(values: ContextValues, state: RuntimeState, streamed: boolean, message: unknown, unreadable?: unknown): CallScope {
  return setOnce(values, callScopeKey, { state, startedAt: performance.now(), streamed, message, unreadable, outcome: {} });
}

/**
 * A stream request's first message, read once, and a new request that replays it in front of the
 * rest (the request object the caller passed is left as it was). Undefined message for a stream
 * that ended before its first message; `unreadable` (and a request whose stream throws it) when
 * reading failed.
 */
export async function readFirstMessage(req: StreamRequest): Promise<{ message: unknown; unreadable?: unknown; req: StreamRequest }> {
  const it = req.message[Symbol.asyncIterator]();
  let first: Awaited<ReturnType<typeof it.next>>;
  try {
    first = await it.next();
  } catch (err) {
    return { message: undefined, unreadable: err, req: { ...req, message: failingStream(err) } };
  }
  if (first.done) return { message: undefined, req: { ...req, message: emptyStream() } };
  const value = first.value;
  return { message: value, req: { ...req, message: replayFirst(value, it) } };
}

/**
 * `first`, then the rest of `it`: a plain iterator rather than an async generator, which a
 * server stream's request would keep suspended for the whole call (issue 11: memory per stream).
 */
function replayFirst<T>(first: T, it: AsyncIterator<T>): AsyncIterable<T> {
  let replayed = false;
  const iterator: AsyncIterator<T> = {
    next: () => {
      if (replayed) return it.next();
      replayed = true;
      return Promise.resolve({ done: false, value: first });
    },
    return: (value?: unknown) => (it.return ? it.return(value) : Promise.resolve({ done: true, value: value as T })),
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

async function* failingStream(err: unknown): AsyncGenerator<never> {
  throw err;
}

async function* emptyStream(): AsyncGenerator<never> {}

/** The `endpoint` field of a request message, when it has one. */
export function endpointNameOf(message: unknown): string | undefined {
  const endpoint = (message as { endpoint?: unknown } | null | undefined)?.endpoint;
  return typeof endpoint === "string" ? endpoint : undefined;
}


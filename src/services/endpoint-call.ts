// What every model-calling RPC does first: find the endpoint (of the right type) on the call's
// state, and gather the per-call options for the upstream.
import type { HandlerContext } from "@connectrpc/connect";
import type { EndpointType } from "../config/schema";
import { invalidArgument, notFound } from "../errors";
import { getCallEndpoint, getCallIds, getCallScope, getCaller, openScope, type CallOutcome } from "../interceptors/call-info";
import { StreamedTokenCounter, type StreamChunkLike } from "../usage/tokens";
import { upstreamTraceKey } from "../observability/otel";
import type { CallOptions } from "../providers/model";
import { MappedStream } from "../providers/mapped-stream";
import type { RuntimeEndpoint, RuntimeState } from "../runtime";
import type { Embedder } from "../policies/semantic-cache";
import { idempotencyKeyOf } from "../routing/idempotency";
import type { EndpointRouter, RouteRequest, Served } from "../routing/router";

/** Response header (and, for streams, trailer) naming the target that answered. */
export const targetHeader = "x-modelgate-target";
/** Response header (and trailer) with the number of upstream requests the answer took. */
export const attemptsHeader = "x-modelgate-attempts";

export interface ServiceDeps {
  /** The current state, for calls that reach a service without the interceptor chain. */
  getState: () => RuntimeState;
  /** Embeds prompts for the semantic cache (the gateway's in-process embeddings client). */
  embed?: Embedder;
}

export interface EndpointCall {
  endpoint: RuntimeEndpoint;
  /** What this call measures (see CallOutcome), read by the interceptors when it ends. */
  outcome: CallOutcome;
  options: CallOptions;
}

export function beginEndpointCall(
  deps: ServiceDeps,
  ctx: HandlerContext,
  name: string,
  type: EndpointType,
): EndpointCall {
  const values = ctx.values;
  // Without the interceptor chain (unit tests, a service called directly) the service opens the scope.
  const scope = getCallScope(values) ?? openScope(values, deps.getState(), ctx.method.methodKind !== "unary", undefined);
  if (!name) throw invalidArgument("endpoint: an endpoint name is required");
  // Resolved once, by the bounds interceptor, on the call's state; looked up here only without it.
  const called = getCallEndpoint(values);
  const endpoint = called?.name === name ? called.endpoint : scope.state.endpoints.get(name);
  if (!endpoint) throw notFound(`unknown endpoint "${name}"`);
  if (endpoint.type !== type) {
    throw invalidArgument(`endpoint "${name}" is of type ${endpoint.type}; this method needs a ${type} endpoint`);
  }
  const outcome = scope.outcome;
  outcome.provider = endpoint.provider;
  outcome.model = endpoint.model;
  if (!endpoint.router) {
    // One target, one attempt: known now (the ledger records it). No x-modelgate-* headers: they
    // would say nothing the config does not, and measurably cost the one-target hot path (two
    // more response headers: +0.1-0.3 ms p50 at c=1 over HTTP/1.1 in `npm run bench`).
    outcome.target = endpoint.targetName;
    outcome.attempts = 1;
  }
  const ids = getCallIds(values);
  const options: CallOptions & UpstreamReachedHook = {
    signal: ctx.signal,
    traceparent: ids?.traceparent,
    trace: values.get(upstreamTraceKey),
    requestId: ids?.requestId ?? "",
    idempotencyKey: idempotencyKeyOf(ctx.requestHeader),
    allowedModelVersions: getCaller(values)?.allowedModelVersions,
    // The quota interceptor bills the prompt of a call that fails after this (see CallOutcome).
    onUpstreamReached: () => {
      outcome.upstreamReached = true;
    },
  };
  return { endpoint, outcome, options };
}

/**
 * Called by the upstream client once the upstream has the request and may bill it (a 2xx answer,
 * or no answer within the timeout after the request was sent); sets CallOutcome.upstreamReached.
 * (Declared here until src/upstream/client.ts's UpstreamCall carries it.)
 */
export interface UpstreamReachedHook {
  onUpstreamReached?: () => void;
}

/** Which target answered and after how many attempts, for the response's `routing` field. */
export function routingOf(outcome: CallOutcome): { target: string; attempts: number } {
  return { target: outcome.target ?? "", attempts: outcome.attempts ?? 0 };
}

/**
 * What a service measured of an answer, recorded once it has it (a unary result, or the last
 * chunk of a stream with its usage): the usage, and for Predict the registry model and version
 * that answered.
 */
export function recordAnswer(outcome: CallOutcome, answer: { usage?: CallOutcome["usage"]; model?: string; modelVersion?: string }): void {
  if (answer.usage !== undefined) outcome.usage = answer.usage;
  if (answer.model) outcome.model = answer.model;
  if (answer.modelVersion !== undefined) outcome.modelVersion = answer.modelVersion;
}

/**
 * A unary answer with its outcome recorded (recordAnswer) and the routing it took: a promise chain
 * on the answer, not an async function around it (no frame suspended per call in flight).
 */
export function recordedUnary<R extends { usage?: CallOutcome["usage"]; model?: string; modelVersion?: string }>(
  answer: Promise<R>,
  outcome: CallOutcome,
): Promise<R & { routing: ReturnType<typeof routingOf> }> {
  return answer.then((res) => {
    recordAnswer(outcome, res);
    return Object.assign(res, { routing: routingOf(outcome) });
  });
}

/** The stream's output so far, for settling it if it ends without usage (see CallOutcome). */
export function streamedOutput(outcome: CallOutcome): StreamedTokenCounter {
  return (outcome.streamedOutput ??= new StreamedTokenCounter());
}

/**
 * A model stream passed on as it comes, recording what it streamed (settles a stream that ends
 * without usage); the last message, which carries the usage, also gets the routing (the target is
 * known by then). A plain iterator rather than an async generator: nothing of its own stays
 * suspended while the stream is open (issue 11: memory per open stream).
 */
export function recordedStream<C extends StreamChunkLike & { usage?: CallOutcome["usage"] }>(chunks: AsyncIterable<C>, outcome: CallOutcome): AsyncIterable<C> {
  return new RecordedStream(chunks, outcome);
}

/** recordedStream's iterator (MappedStream: one object per stream, its methods on the prototype). */
class RecordedStream<C extends StreamChunkLike & { usage?: CallOutcome["usage"] }> extends MappedStream<C> {
  private readonly streamed: ReturnType<typeof streamedOutput>;
  constructor(
    chunks: AsyncIterable<C>,
    private readonly outcome: CallOutcome,
  ) {
    super(chunks);
    this.streamed = streamedOutput(outcome);
  }
  protected map(chunk: C): C {
    if (chunk.usage) {
      recordAnswer(this.outcome, { usage: chunk.usage });
      Object.assign(chunk, { routing: routingOf(this.outcome) });
    }
    this.streamed.addChunk(chunk);
    return chunk;
  }
}

/**
 * A server stream made when it is first read, as an async generator method's body runs on its
 * first next(): what `open` throws (an unknown endpoint, an invalid request) fails that read. A
 * plain iterator rather than a generator around the stream `open` returns: nothing of its own stays
 * suspended while the stream is open (issue 11: memory per open stream).
 */
export function lazyStream<C>(open: () => AsyncIterable<C>): AsyncIterable<C> {
  return new LazyStream(open);
}

class LazyStream<C> implements AsyncIterable<C>, AsyncIterator<C> {
  private it: AsyncIterator<C> | undefined;
  private done = false;
  constructor(private open: (() => AsyncIterable<C>) | undefined) {}
  [Symbol.asyncIterator](): AsyncIterator<C> {
    return this;
  }
  next(): Promise<IteratorResult<C>> {
    const it = this.opened();
    if (it instanceof Promise) return it;
    return it === undefined ? Promise.resolve({ done: true, value: undefined }) : it.next();
  }
  return(value?: unknown): Promise<IteratorResult<C>> {
    // Not opened yet: a generator returned before its first next() never runs its body.
    this.done = true;
    this.open = undefined;
    const it = this.it;
    return it?.return ? it.return(value) : Promise.resolve({ done: true, value: value as C });
  }
  throw(err?: unknown): Promise<IteratorResult<C>> {
    this.done = true;
    this.open = undefined;
    const it = this.it;
    // As the generators this replaced: a throw closes the stream underneath, then fails.
    return (it?.return ? it.return() : Promise.resolve()).then((): never => {
      throw err;
    });
  }
  /** The stream, opened on the first call; a rejection when opening it threw (the stream is then done). */
  private opened(): AsyncIterator<C> | Promise<never> | undefined {
    if (this.it !== undefined || this.done) return this.it;
    const open = this.open!;
    this.open = undefined;
    try {
      this.it = open()[Symbol.asyncIterator]();
      return this.it;
    } catch (err) {
      this.done = true;
      return Promise.reject(err);
    }
  }
}

/** A ModelClient method the endpoint's provider lacks: the loader prevents it, so it is a bug. */
export function missingMethod(endpoint: RuntimeEndpoint): never {
  throw new Error(`provider ${endpoint.provider} has no client method for ${endpoint.type}`);
}

/** What the router needs to know about this call: the caller's sticky key and deadline. */
export function routeRequest(router: EndpointRouter, ctx: HandlerContext): RouteRequest {
  const sticky = router.sticky;
  const stickyKey =
    sticky === undefined
      ? undefined
      : "name" in sticky
        ? (ctx.requestHeader.get(sticky.name) ?? undefined)
        : sticky.by === "key"
          ? getCaller(ctx.values)?.principal.keyId
          : getCaller(ctx.values)?.principal.team;
  const timeoutMs = ctx.timeoutMs();
  return { stickyKey: stickyKey || undefined, deadline: timeoutMs === undefined ? undefined : performance.now() + timeoutMs };
}

/** Records and announces the target that answered a routed call (headers; trailers for streams). */
export function servedBy(ctx: HandlerContext, outcome: CallOutcome, served: Served): void {
  const { target, attempts } = served;
  outcome.target = target.name;
  outcome.provider = target.provider;
  outcome.model = target.model;
  outcome.attempts = attempts;
  ctx.responseHeader.set(targetHeader, target.name);
  ctx.responseHeader.set(attemptsHeader, String(attempts));
  if (ctx.method.methodKind === "server_streaming") {
    ctx.responseTrailer.set(targetHeader, target.name);
    ctx.responseTrailer.set(attemptsHeader, String(attempts));
  }
}

/** A unary call through the endpoint's router. */
export async function routedUnary<R>(
  router: EndpointRouter,
  ctx: HandlerContext,
  outcome: CallOutcome,
  options: CallOptions,
  invoke: (client: RuntimeEndpoint["client"], call: CallOptions) => Promise<R>,
): Promise<R> {
  const served = await router.unary(invoke, options, routeRequest(router, ctx));
  servedBy(ctx, outcome, served);
  return served.value;
}

/** A stream through the endpoint's router, committed to a target at its first chunk. */
export function routedStream<C>(
  router: EndpointRouter,
  ctx: HandlerContext,
  outcome: CallOutcome,
  options: CallOptions,
  invoke: (client: RuntimeEndpoint["client"], call: CallOptions) => AsyncIterable<C>,
): AsyncIterable<C> {
  return router.stream(invoke, options, routeRequest(router, ctx), (served) => servedBy(ctx, outcome, served));
}

// The in-process path from the REST surfaces to the services: a connect `Transport` that calls
// the method implementations through the same interceptor chain the gRPC/Connect handlers use,
// with the message objects themselves: no encoding, no HTTP machinery, no buffering.
//
// It records what the gateway's `routes` register (a ConnectRouter that keeps the implementation
// specs and their interceptors instead of building protocol handlers) and invokes them with
// connect's own pieces, invokeUnaryImplementation/transformInvokeImplementation (the
// interceptors, response headers and trailers), exactly what connect-node's handlers call
// between decoding and encoding, in a context with the same deadline, cancellation and shutdown
// (handler-context.ts, as the unary fast path builds it). Server streams, the only streams the
// REST surfaces call, go through interceptor-chain.ts instead, as the gRPC stream fast path does:
// the same interceptors without connect-es's generator pipeline around every message.
//
// What the wire used to give for free is kept:
// - values: requests are copied into conforming messages (see message-conform.ts), answers are
//   checked as an encode would;
// - the head of a stream: `stream()` resolves once the first message is there (as the Connect
//   handler answers once it has one), so the headers a service sets before it are in the head and
//   an error before any output rejects the call;
// - errors: a ConnectError keeps its code, message and details; its metadata also gets the
//   call's response headers and trailers (what a client reads back from the wire); anything else
//   is INTERNAL "internal error", as a handler answers.
// Streams pull: a message is produced when the caller asks for it, so a REST client that stops
// reading holds the service (and the upstream read) back instead of piling the answer up here.
import type { DescMessage, DescMethod, DescMethodStreaming, DescMethodUnary, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createMethodImplSpec,
  createServiceImplSpec,
  type ConnectRouter,
  type ContextValues,
  type Interceptor,
  type MethodImplSpec,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { callContext, type AbortableContext } from "./handler-context";
import { conformRequest, conformResponse } from "./message-conform";
import { FastHeaders } from "./fast-headers";
import { copyHeaders, invokeServerStream, invokeUnary, onlyMessage } from "./interceptor-chain";

/** What `HandlerContext.protocolName` says for a call that came in through a REST surface. */
export const DIRECT_PROTOCOL = "in-process";

type HeaderInit = ConstructorParameters<typeof Headers>[0];

/**
 * The reason a finished call's signal is aborted with (the abort releases the deadline timer and
 * the listeners on the caller's and the shutdown signal). One shared error: an abort without a
 * reason makes a DOMException, stack trace included, on every call (3 % of a REST call's CPU).
 */
const callOver = new ConnectError("the call is over", Code.Canceled);

export interface Registered {
  spec: MethodImplSpec;
  interceptors: Interceptor[];
  /** `/package.Service/Method`, made once (the context's url). */
  url: string;
}

export interface DirectTransportOptions {
  /** Aborts every running call (the gateway's shutdown after its grace period), as for gRPC calls. */
  shutdownSignal?: AbortSignal;
}

/** The direct transport: a Transport, and server streams called with their one request as is. */
export interface DirectTransport extends Transport {
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodStreaming<I, O>,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeaderInit | undefined,
    input: MessageInitShape<I>,
    contextValues?: ContextValues,
  ): Promise<StreamResponse<I, O>>;
}

/** A Transport over the implementations that `routes` registers, with their interceptors. */
export function createDirectTransport(routes: (router: ConnectRouter) => void, options: DirectTransportOptions = {}): DirectTransport {
  const methods = recordRoutes(routes);
  const lookup = (method: DescMethod): Registered => {
    const found = methods.get(method);
    if (!found) throw new ConnectError(`${method.parent.typeName}/${method.name} is not served in process`, Code.Unimplemented);
    return found;
  };
  // The call's context (handler-context.ts): what connect's createHandlerContext builds, without
  // its deadline controller for calls that have no deadline and its copy of the response headers.
  const contextFor = (
    method: DescMethod,
    url: string,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: HeaderInit | undefined,
    contextValues: ContextValues | undefined,
  ) =>
    callContext({
      method,
      protocolName: DIRECT_PROTOCOL,
      url,
      timeoutMs,
      requestSignal: signal,
      shutdownSignal: options.shutdownSignal,
      requestHeader: new FastHeaders(header),
      responseHeader: new FastHeaders(),
      contextValues,
    });

  const transport: DirectTransport = {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeaderInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      // A promise chain, not an async function: no frame suspended per call in flight. It rejects;
      // it never throws.
      let context: AbortableContext;
      let called: Promise<MessageShape<O>>;
      try {
        const { spec, interceptors, url } = lookup(method);
        if (spec.kind !== "unary") throw new ConnectError(`${method.parent.typeName}/${method.name} is not unary`, Code.Internal);
        const message = conformRequest(method.input, input);
        context = contextFor(method, url, signal, timeoutMs, header, contextValues);
        called = invokeUnary(spec, context, message, interceptors) as Promise<MessageShape<O>>;
      } catch (err) {
        return Promise.reject(err);
      }
      const failed = (err: unknown): never => {
        context.abort(err); // also clears the deadline timer and the signal links
        throw callError(err, context.responseHeader, context.responseTrailer);
      };
      return called.then((output) => {
        let res: UnaryResponse<I, O>;
        try {
          res = {
            stream: false,
            service: method.parent,
            method,
            header: context.responseHeader,
            trailer: context.responseTrailer,
            message: conformResponse(method.output, output),
          };
        } catch (err) {
          return failed(err);
        }
        context.finish(callOver); // clears the deadline timer and the signal links
        return res;
      }, failed);
    },

    stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeaderInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      if (method.methodKind === "server_streaming") {
        return onlyMessage(input).then((single) => transport.serverStream(method, signal, timeoutMs, header, single, contextValues));
      }
      const { spec, interceptors, url } = lookup(method);
      const context = contextFor(method, url, signal, timeoutMs, header, contextValues);
      // Client and bidi streams' requests are conformed as they come.
      return streamResponse<I, O>(method, context, async () => {
        const requests = (async function* () {
          for await (const init of input) yield conformRequest(method.input, init);
        })();
        return { it: transformInvokeImplementation(spec, context, interceptors)(requests)[Symbol.asyncIterator]() };
      });
    },

    /**
     * A server stream of one request message, without connect-es's generator pipeline
     * (interceptor-chain.ts): every stream the REST surfaces call. The request is conformed before the
     * call starts, as a unary one is (a value the proto cannot carry never reaches the interceptors);
     * the response's headers are copied before its first message and its trailers at its end, as
     * connect-es does.
     */
    async serverStream(method, signal, timeoutMs, header, input, contextValues) {
      const { spec, interceptors, url } = lookup(method);
      if (spec.kind !== "server_streaming") throw new ConnectError(`${method.parent.typeName}/${method.name} is not server-streaming`, Code.Internal);
      const single = conformRequest(method.input, input);
      const context = contextFor(method, url, signal, timeoutMs, header, contextValues);
      return streamResponse(method, context, async () => {
        const response = await invokeServerStream({ spec, interceptors }, context, () => single);
        copyHeaders(response.header, context.responseHeader);
        return { it: response.message[Symbol.asyncIterator](), trailer: response.trailer };
      });
    },
  };
  return transport;
}

/**
 * A stream's response once `start` has begun its call in `context`: the head resolves once the
 * first message (or the end, or an error) is there, so headers set before it are in the head and
 * an error before any output rejects the call. Messages are conformed as an encode would check
 * them; `trailer`, if given, becomes the call's trailers at the end.
 */
async function streamResponse<I extends DescMessage, O extends DescMessage>(
  method: DescMethodStreaming<I, O>,
  context: AbortableContext,
  start: () => Promise<{ it: AsyncIterator<unknown>; trailer?: Headers }>,
): Promise<StreamResponse<I, O>> {
  const fail = (err: unknown): never => {
    context.abort(err);
    throw callError(err, context.responseHeader, context.responseTrailer);
  };
  let it: AsyncIterator<unknown>;
  let trailer: Headers | undefined;
  let first: IteratorResult<unknown>;
  try {
    ({ it, trailer } = await start());
    first = await it.next();
  } catch (err) {
    return fail(err);
  }
  let pending: IteratorResult<unknown> | undefined = first;
  const messages: AsyncIterator<MessageShape<O>> = {
    async next() {
      let result: IteratorResult<unknown>;
      try {
        result = pending ?? (await it.next());
        pending = undefined;
      } catch (err) {
        return fail(err);
      }
      if (result.done === true) {
        if (trailer !== undefined) copyHeaders(trailer, context.responseTrailer);
        context.abort(callOver);
        return { done: true, value: undefined };
      }
      try {
        return { done: false, value: conformResponse(method.output, result.value as MessageShape<O>) };
      } catch (err) {
        await it.return?.();
        return fail(err);
      }
    },
    async return() {
      // The caller stopped reading: the call is cancelled and the implementation finishes.
      pending = undefined;
      context.abort(new ConnectError("the caller stopped reading the stream", Code.Canceled));
      await it.return?.();
      return { done: true, value: undefined };
    },
  };
  return {
    stream: true,
    service: method.parent,
    method,
    header: context.responseHeader,
    trailer: context.responseTrailer,
    message: { [Symbol.asyncIterator]: () => messages },
  };
}

/**
 * Runs `routes` against a ConnectRouter that keeps, for each method, its implementation spec and
 * the interceptors it was registered with (connect's own router would build protocol handlers).
 * With `also`, every registration is passed on to that router too (one `routes` run for both).
 */
export function recordRoutes(routes: (router: ConnectRouter) => void, also?: ConnectRouter): Map<DescMethod, Registered> {
  const methods = new Map<DescMethod, Registered>();
  const router: ConnectRouter = {
    handlers: [],
    service(service, implementation, opts) {
      also?.service(service, implementation, opts);
      const spec = createServiceImplSpec(service, implementation);
      for (const method of service.methods) methods.set(method, { spec: spec.methods[method.localName]!, interceptors: opts?.interceptors ?? [], url: urlOf(method) });
      return router;
    },
    rpc(method, implementation, opts) {
      also?.rpc(method, implementation, opts);
      methods.set(method, { spec: createMethodImplSpec(method, implementation), interceptors: opts?.interceptors ?? [], url: urlOf(method) });
      return router;
    },
  };
  routes(router);
  return methods;
}

function urlOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/**
 * The error as the caller sees it: a ConnectError keeps code, message, details and cause, with
 * the call's response headers and trailers added to its metadata (the error's own entries win);
 * anything else is INTERNAL, as a handler answers it.
 */
function callError(err: unknown, header: Headers, trailer: Headers): ConnectError {
  const e = err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
  let metadata: Headers | undefined;
  for (const from of [header, trailer]) {
    from.forEach((value, key) => {
      if (e.metadata.has(key)) return;
      metadata ??= new Headers(e.metadata);
      if (!metadata.has(key)) metadata.set(key, value);
    });
  }
  if (metadata === undefined) return e;
  return new ConnectError(e.rawMessage, e.code, metadata, e.details as ConstructorParameters<typeof ConnectError>[3], e.cause);
}

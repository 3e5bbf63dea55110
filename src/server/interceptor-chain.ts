// The interceptors of a method, applied once. connect-es's invokeUnaryImplementation (and its
// server-stream counterpart) applies them to a new innermost function on every call: one closure
// per interceptor per call, each holding the next, and all of them kept alive as long as an open
// stream holds a callback made inside one (issue 11: CPU per call, memory per open stream). Here
// the innermost function finds the call's HandlerContext in the call's context values, so each
// method's chain is built the first time it is called and serves every call after. The calls the
// gateway serves itself (the unary and gRPC-stream fast paths, the REST surfaces' in-process
// transport) go through it; connect-es's own handlers keep theirs.
//
// Server streams of one request message skip connect-es's invokeStreamImplementation: it runs
// every server stream through a pipeline of tslib-compiled async generators (the implementation's
// output, the interceptors' view of it, the request side), each with its own queue and pending
// promises for every message, for the whole life of the stream. Here the interceptors see the same
// stream request and stream response, and each message passes through one small object. Used by
// the gRPC stream fast path (stream-fast-path.ts) and the REST surfaces' in-process transport
// (direct-transport.ts).
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey,
  type ContextKey,
  type ContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

const callContextKey = createContextKey<HandlerContext | undefined>(undefined, { description: "modelgate call context" });

/**
 * connect-es's createContextValues as a class: its get/set/delete on the prototype rather than
 * three closures per call. The values are the object's own symbol-keyed properties, as there.
 */
export class CallValues implements ContextValues {
  get<T>(key: ContextKey<T>): T {
    return key.id in this ? (this as unknown as Record<symbol, T>)[key.id]! : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    (this as unknown as Record<symbol, T>)[key.id] = value;
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    delete (this as unknown as Record<symbol, unknown>)[key.id];
    return this;
  }
}

/** Makes `context` the one its values lead to (for the chain's innermost function). */
export function bindCallContext<C extends HandlerContext>(context: C): C {
  context.values.set(callContextKey, context);
  return context;
}

function callContextOf(req: { contextValues: ContextValues }): HandlerContext {
  const context = req.contextValues.get(callContextKey);
  if (context === undefined) throw new ConnectError("call context missing from the request's context values", Code.Internal);
  return context;
}

/** connect-es's mergeRequest: the context as the implementation sees it, with what the interceptors set on the request. */
function merged(context: HandlerContext, req: UnaryRequest | StreamRequest): HandlerContext {
  return { ...context, service: req.service, requestHeader: req.header, signal: req.signal, values: req.contextValues };
}

type AnyFn = Parameters<Interceptor>[0];

/** What invokeServerStream needs of a registered method. */
export interface ServerStreamMethod {
  spec: Extract<MethodImplSpec, { kind: "server_streaming" }>;
  interceptors: readonly Interceptor[];
}

/** Each method's chain, rebuilt only if it is called with another list of interceptors. */
const chains = new WeakMap<MethodImplSpec, { interceptors: readonly Interceptor[]; next: AnyFn }>();

function chainOf(spec: MethodImplSpec, interceptors: readonly Interceptor[], innermost: (spec: MethodImplSpec) => AnyFn): AnyFn {
  const known = chains.get(spec);
  if (known !== undefined && known.interceptors === interceptors) return known.next;
  // connect-es's applyInterceptors: the first interceptor is the outermost.
  let next = innermost(spec);
  for (let i = interceptors.length - 1; i >= 0; i--) next = interceptors[i]!(next);
  chains.set(spec, { interceptors, next });
  return next;
}

function unaryImpl(spec: MethodImplSpec): AnyFn {
  const method = spec.method;
  const impl = spec.impl as (req: unknown, ctx: HandlerContext) => unknown;
  // Promise chains, not async functions, here and in invokeUnary: no frame suspended per call in
  // flight. Either rejects; neither throws.
  return ((req: UnaryRequest): Promise<UnaryResponse> => {
    let context: HandlerContext;
    let answered: unknown;
    try {
      context = callContextOf(req);
      answered = impl(req.message, merged(context, req));
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve(answered).then((output) => {
      const message = create(method.output, output as never);
      return { stream: false, message, method, service: method.parent, header: context.responseHeader, trailer: context.responseTrailer } as UnaryResponse;
    });
  }) as AnyFn;
}

function serverStreamImpl(spec: MethodImplSpec): AnyFn {
  const method = spec.method;
  const impl = spec.impl as (req: unknown, ctx: HandlerContext) => AsyncIterable<unknown>;
  return (async (req: StreamRequest): Promise<StreamResponse> => {
    const context = callContextOf(req);
    const single = await firstMessage(req.message);
    const message = normalized(method.output, impl(single, merged(context, req)));
    return { stream: true, message, method, service: method.parent, header: context.responseHeader, trailer: context.responseTrailer } as StreamResponse;
  }) as AnyFn;
}

/** The request a call starts with (connect-es's requestCommon and the message). */
function requestOf(spec: MethodImplSpec, context: HandlerContext, stream: boolean, message: unknown): UnaryRequest | StreamRequest {
  return {
    stream,
    message,
    method: spec.method,
    requestMethod: context.requestMethod,
    url: context.url,
    signal: context.signal,
    header: context.requestHeader,
    service: spec.method.parent,
    contextValues: context.values,
  } as UnaryRequest | StreamRequest;
}

/**
 * connect-es's invokeUnaryImplementation: `input` through the interceptors to the implementation;
 * the response's headers and trailers copied into the context's. `context` must be bound
 * (bindCallContext).
 */
export function invokeUnary<I extends DescMessage, O extends DescMessage>(
  spec: MethodImplSpec<I, O> & { kind: "unary" },
  context: HandlerContext,
  input: MessageShape<I>,
  interceptors: readonly Interceptor[],
): Promise<MessageShape<O>> {
  let called: Promise<UnaryResponse>;
  try {
    const next = chainOf(spec as MethodImplSpec, interceptors, unaryImpl);
    called = next(requestOf(spec as MethodImplSpec, context, false, input)) as Promise<UnaryResponse>;
  } catch (err) {
    return Promise.reject(err);
  }
  return called.then(({ message, header, trailer }) => {
    copyHeaders(header, context.responseHeader);
    copyHeaders(trailer, context.responseTrailer);
    return message as MessageShape<O>;
  });
}

/**
 * A server-streaming call of one request message through its interceptors (see above):
 * the interceptors see a stream request and a stream response, as on connect-es's path. The
 * message is parsed when it is first read, as there: an interceptor that refuses the call without
 * reading it (auth) answers before an undecodable message would. `context` must be bound.
 */
export function invokeServerStream(
  m: ServerStreamMethod,
  context: HandlerContext,
  parse: () => MessageShape<DescMessage>,
): Promise<StreamResponse> {
  const next = chainOf(m.spec, m.interceptors, serverStreamImpl);
  return next(requestOf(m.spec, context, true, parsedOnRead(parse))) as Promise<StreamResponse>;
}

/** The request's one message (the fast path only takes a body of exactly one envelope). */
async function firstMessage(messages: AsyncIterable<unknown>): Promise<unknown> {
  const r = await messages[Symbol.asyncIterator]().next();
  if (r.done === true) throw missingInput();
  return r.value;
}

/** A server stream's one request from a caller's input: none or more than one is refused as connect-es does. */
export async function onlyMessage<T>(input: AsyncIterable<T>): Promise<T> {
  let single: { value: T } | undefined;
  for await (const value of input) {
    if (single !== undefined) throw new ConnectError("protocol error: received extra input message for server-streaming method", Code.Unimplemented);
    single = { value };
  }
  if (single === undefined) throw missingInput();
  return single.value;
}

function missingInput(): ConnectError {
  return new ConnectError("protocol error: missing input message for server-streaming method", Code.Unimplemented);
}

/** An async iterable of one value, made by `parse` when it is read (a throw rejects), without a generator. */
function parsedOnRead<T>(parse: () => T): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      let done = false;
      return {
        next: () => {
          if (done) return Promise.resolve({ done: true, value: undefined });
          done = true;
          try {
            return Promise.resolve({ done: false, value: parse() });
          } catch (err) {
            return Promise.reject(err);
          }
        },
      };
    },
  };
}

/**
 * connect-es's normalizeIterable: each output a message of the method's output type (create()
 * returns a message as is). One object with its methods on the prototype, not a set of closures:
 * it lives as long as the stream.
 */
function normalized<D extends DescMessage>(desc: D, input: AsyncIterable<unknown>): AsyncIterable<MessageShape<D>> {
  return new Normalized(desc, input);
}

class Normalized<D extends DescMessage> implements AsyncIterable<MessageShape<D>>, AsyncIterator<MessageShape<D>> {
  private it: AsyncIterator<unknown> | undefined;
  private readonly map = (r: IteratorResult<unknown>): IteratorResult<MessageShape<D>> => (r.done === true ? r : { done: false, value: create(this.desc, r.value as never) });
  constructor(
    private readonly desc: D,
    private readonly input: AsyncIterable<unknown>,
  ) {}
  [Symbol.asyncIterator](): AsyncIterator<MessageShape<D>> {
    return this;
  }
  next(): Promise<IteratorResult<MessageShape<D>>> {
    return this.iterator().next().then(this.map);
  }
  throw(e?: unknown): Promise<IteratorResult<MessageShape<D>>> {
    const it = this.iterator();
    return it.throw ? it.throw(e).then(this.map) : Promise.reject(e);
  }
  return(v?: unknown): Promise<IteratorResult<MessageShape<D>>> {
    const it = this.iterator();
    return it.return ? it.return(v).then(this.map) : Promise.resolve({ done: true, value: undefined });
  }
  private iterator(): AsyncIterator<unknown> {
    return (this.it ??= this.input[Symbol.asyncIterator]());
  }
}

/** connect-es's copyHeaders: `to` becomes a copy of `from`. */
export function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  to.forEach((_, key) => to.delete(key));
  from.forEach((value, key) => to.set(key, value));
}


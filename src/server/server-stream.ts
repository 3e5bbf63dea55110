// A server-streaming call of one request message, invoked through its interceptors without
// connect-es's invokeStreamImplementation: connect-es runs every server stream through a pipeline
// of tslib-compiled async generators (the implementation's output, the interceptors' view of it,
// the request side), each with its own queue and pending promises for every message, for the
// whole life of the stream. Here the interceptors see the same stream request and stream
// response, and each message passes through one small object. Used by the gRPC stream fast path
// (stream-fast-path.ts) and the in-process path of the REST surfaces (direct-transport.ts).
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type Interceptor, type MethodImplSpec, type StreamRequest, type StreamResponse } from "@connectrpc/connect";

/** What invokeServerStream needs of a registered method. */
export interface ServerStreamMethod {
  spec: Extract<MethodImplSpec, { kind: "server_streaming" }>;
  interceptors: Interceptor[];
}

/**
 * connect-es's invokeStreamImplementation for a server stream of one request message: the
 * interceptors see a stream request and a stream response, as on connect-es's path. The message is
 * parsed when it is first read, as there: an interceptor that refuses the call without reading it
 * (auth) answers before an undecodable message would.
 */
export function invokeServerStream(m: ServerStreamMethod, context: HandlerContext, parse: () => MessageShape<DescMessage>): Promise<StreamResponse> {
  const method = m.spec.method;
  const impl = m.spec.impl as (req: unknown, ctx: HandlerContext) => AsyncIterable<unknown>;
  const anyFn = async (req: StreamRequest): Promise<StreamResponse> => {
    const single = await firstMessage(req.message);
    const merged: HandlerContext = { ...context, service: req.service, requestHeader: req.header, signal: req.signal, values: req.contextValues };
    return { stream: true, message: normalized(method.output, impl(single, merged)), method, service: method.parent, header: context.responseHeader, trailer: context.responseTrailer };
  };
  // connect-es's applyInterceptors: the first interceptor is the outermost.
  let next: Parameters<Interceptor>[0] = anyFn as Parameters<Interceptor>[0];
  for (let i = m.interceptors.length - 1; i >= 0; i--) next = m.interceptors[i]!(next);
  return next({
    stream: true,
    message: parsedOnRead(parse),
    method,
    requestMethod: context.requestMethod,
    url: context.url,
    signal: context.signal,
    header: context.requestHeader,
    service: method.parent,
    contextValues: context.values,
  }) as Promise<StreamResponse>;
}

/** The request's one message (the fast path only takes a body of exactly one envelope). */
async function firstMessage(messages: AsyncIterable<unknown>): Promise<unknown> {
  const r = await messages[Symbol.asyncIterator]().next();
  if (r.done === true) throw new ConnectError("protocol error: missing input message for server-streaming method", Code.Unimplemented);
  return r.value;
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

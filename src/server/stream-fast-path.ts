// Server-streaming gRPC calls over HTTP/2 (application/grpc[+proto|+json], one uncompressed request
// envelope) answered without connect-es's universal handler, for what an open stream holds
// (issue 11: memory per open stream). connect-es's gRPC handler keeps, for the whole life of a
// server stream, a pipeline of async generators compiled with tslib (invokeStreamImplementation,
// pipe, transformSerializeEnvelope, transformCompressEnvelope, transformJoinEnvelopes,
// transformCatchFinally, untilFirst), each with its own queue, closures and pending promises,
// plus the request-side generators and the response body as one more async iterable. Here the
// request envelope is read into one buffer (unary-fast-path.ts's readBody), the implementation is
// invoked through the same interceptors with the same context, and each response message is
// written to the HTTP/2 stream as one envelope as it comes, waiting for 'drain' only when write()
// asks for it; the status goes out in the trailers as connect-es writes it.
//
// Anything else goes to connect-es's handler with the body replayed, as on the unary fast path:
// HTTP/1.1, gRPC-Web, a compressed request, a Content-Length over the read limit, a body that is
// not exactly one complete envelope, a request stream that failed.
import { create, type DescMethod, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  createMethodImplSpec,
  createServiceImplSpec,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  encodeEnvelope,
  envelopeCompress,
  validateUniversalHandlerOptions,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import {
  contentTypeJson as grpcContentTypeJson,
  contentTypeProto as grpcContentTypeProto,
  grpcStatusOk,
  parseContentType as parseGrpcContentType,
  parseTimeout as parseGrpcTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { drained, FLUSHED_MESSAGES, fixGrpcTrailer, flushWrites, toNodeHeaders } from "./node-adapter";
import type { NodeRequest, NodeResponse } from "./one-port";
import { readBody, replay, type Fallback } from "./unary-fast-path";

type Options = ReturnType<typeof validateUniversalHandlerOptions>;
type Serialization = ReturnType<typeof createMethodSerializationLookup>;

interface FastStreamMethod {
  spec: Extract<MethodImplSpec, { kind: "server_streaming" }>;
  interceptors: Interceptor[];
  serialization: Serialization;
}

/**
 * A router that registers every service on `router` (connect-es's handlers) and records the
 * server-streaming methods by request path, for the fast path: pass it where `router` would go.
 */
export function serverStreamFastPaths(
  router: ConnectRouter,
  routerOptions: Omit<ConnectNodeAdapterOptions, "routes" | "fallback">,
): { router: ConnectRouter; methods: Map<string, FastStreamMethod>; options: Options } {
  const options = validateUniversalHandlerOptions(routerOptions);
  const methods = new Map<string, FastStreamMethod>();
  // A request gate or a required Connect-Protocol-Version header: connect-es's handlers only.
  const enabled = options.requestGate === undefined && !options.requireConnectProtocolHeader;
  const record = (method: DescMethod, spec: MethodImplSpec, interceptors: Interceptor[] | undefined) => {
    if (!enabled || spec.kind !== "server_streaming") return;
    methods.set(`/${method.parent.typeName}/${method.name}`, {
      spec,
      interceptors: interceptors ?? [],
      serialization: createMethodSerializationLookup(method, options.binaryOptions, options.jsonOptions, options),
    });
  };
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, opts) {
      router.service(service, implementation, opts);
      const spec = createServiceImplSpec(service, implementation);
      for (const method of service.methods) record(method, spec.methods[method.localName]!, opts?.interceptors);
      return recording;
    },
    rpc(method, implementation, opts) {
      router.rpc(method, implementation, opts);
      record(method, createMethodImplSpec(method, implementation), opts?.interceptors);
      return recording;
    },
  };
  return { router: recording, methods, options };
}

/** `{ binary }` for a gRPC POST over HTTP/2 with an uncompressed request; undefined otherwise. */
export function fastStreamProtocol(uReq: UniversalServerRequest, req: NodeRequest): { binary: boolean } | undefined {
  if (uReq.method !== "POST" || !("stream" in req)) return undefined;
  const h = uReq.header;
  const contentType = h.get("content-type");
  if (contentType === null || !contentType.startsWith("application/grpc") || contentType.startsWith("application/grpc-web")) return undefined;
  const encoding = h.get("grpc-encoding");
  if (encoding !== null && encoding !== "identity") return undefined;
  const type = parseGrpcContentType(contentType);
  return type === undefined ? undefined : { binary: type.binary };
}

/** The abort reason of a call whose answer is complete (see node-adapter.ts). */
const callCompleted = new ConnectError("call completed", Code.Canceled);

/**
 * Answers one server-streaming call. Resolves once the answer is written (or handed to
 * `fallback`); rejects only when writing failed.
 */
export async function serveServerStream(
  m: FastStreamMethod,
  options: Options,
  binary: boolean,
  uReq: UniversalServerRequest,
  req: NodeRequest,
  res: NodeResponse,
  fallback: Fallback,
): Promise<void> {
  const lengthHeader = uReq.header.get("content-length");
  const length = lengthHeader === null ? undefined : Number(lengthHeader);
  const limit = options.readMaxBytes + 5;
  if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0 && length <= limit)) {
    fallback(uReq);
    return;
  }
  const body = await readBody(req, limit);
  const bytes = body.chunks.length === 1 ? body.chunks[0]! : Buffer.concat(body.chunks, body.size);
  const unusual =
    !body.complete || (length !== undefined && length !== body.size) || bytes.length < 5 || bytes[0] !== 0 || bytes.readUInt32BE(1) !== bytes.length - 5;
  if (unusual) {
    fallback({ ...uReq, body: replay(body.chunks, body.complete ? undefined : req) });
    return;
  }
  await grpcServerStream(m, options, binary, uReq, bytes.subarray(5), res);
}

/** connect-es's gRPC handler (protocol-grpc/handler-factory.js) for a server stream whose request is read. */
async function grpcServerStream(m: FastStreamMethod, opt: Options, binary: boolean, uReq: UniversalServerRequest, data: Uint8Array, res: NodeResponse): Promise<void> {
  const timeout = parseGrpcTimeout(uReq.header.get("grpc-timeout"), opt.maxTimeoutMs);
  const context = createHandlerContext({
    ...m.spec,
    service: m.spec.method.parent,
    requestMethod: "POST",
    protocolName: "grpc",
    timeoutMs: timeout.timeoutMs,
    shutdownSignal: opt.shutdownSignal,
    requestSignal: uReq.signal,
    requestHeader: uReq.header,
    url: uReq.url,
    responseHeader: { "content-type": binary ? grpcContentTypeProto : grpcContentTypeJson },
    responseTrailer: { "grpc-status": grpcStatusOk },
    contextValues: uReq.contextValues,
  });
  const compression = compressionNegotiate(opt.acceptCompression, null, uReq.header.get("grpc-accept-encoding"), "grpc-accept-encoding");
  if (compression.response) context.responseHeader.set("grpc-encoding", compression.response.name);
  const serializer = m.serialization.getO(binary);
  let it: AsyncIterator<MessageShape<DescMessage>> | undefined;
  let headWritten = false;
  let flushes = FLUSHED_MESSAGES;
  const writeHead = () => {
    headWritten = true;
    res.writeHead(200, toNodeHeaders(context.responseHeader));
  };
  try {
    if (timeout.error) throw timeout.error;
    const input = m.serialization.getI(binary).parse(data);
    const response = await invokeServerStream(m, context, input);
    it = response.message[Symbol.asyncIterator]();
    copyHeaders(response.header, context.responseHeader);
    for (let r = await it.next(); r.done !== true; r = await it.next()) {
      const envelope = await envelopeCompress({ flags: 0, data: serializer.serialize(r.value) }, compression.response, opt.compressMinBytes);
      if (!headWritten) writeHead();
      if (res.destroyed) {
        // The client went away (the context's signal is aborted): end the implementation's
        // generators here, so their finally blocks (ledger, metrics, log line) run.
        await it.return?.();
        break;
      }
      if (!res.write(encodeEnvelope(envelope.flags, envelope.data))) await drained(res);
      else if (flushes > 0) {
        flushes--;
        await flushWrites(res);
      }
    }
    copyHeaders(response.trailer, context.responseTrailer);
  } catch (e) {
    context.abort(e);
    void it?.return?.().catch(() => {});
    setTrailerStatus(context.responseTrailer, e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e));
  } finally {
    context.abort(callCompleted);
  }
  if (res.destroyed) return;
  if (!headWritten) writeHead();
  fixGrpcTrailer(context.responseTrailer);
  res.addTrailers(toNodeHeaders(context.responseTrailer)!);
  res.end();
}

/**
 * connect-es's invokeStreamImplementation for a server stream of one request message: the
 * interceptors see a stream request and a stream response, as on connect-es's path.
 */
function invokeServerStream(m: FastStreamMethod, context: HandlerContext, input: MessageShape<DescMessage>): Promise<StreamResponse> {
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
    message: once(input),
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

/** An async iterable of one value, without a generator. */
function once<T>(value: T): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      let done = false;
      return {
        next: () => {
          if (done) return Promise.resolve({ done: true, value: undefined });
          done = true;
          return Promise.resolve({ done: false, value });
        },
      };
    },
  };
}

/** connect-es's normalizeIterable: each output a message of the method's output type (create() returns a message as is). */
function normalized<D extends DescMessage>(desc: D, input: AsyncIterable<unknown>): AsyncIterable<MessageShape<D>> {
  return {
    [Symbol.asyncIterator]() {
      const it = input[Symbol.asyncIterator]();
      const map = (r: IteratorResult<unknown>): IteratorResult<MessageShape<D>> => (r.done === true ? r : { done: false, value: create(desc, r.value as never) });
      return {
        next: () => it.next().then(map),
        throw: (e?: unknown) => (it.throw ? it.throw(e).then(map) : Promise.reject(e)),
        return: (v?: unknown) => (it.return ? it.return(v).then(map) : Promise.resolve({ done: true, value: undefined })),
      };
    },
  };
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  to.forEach((_, key) => to.delete(key));
  from.forEach((value, key) => to.set(key, value));
}

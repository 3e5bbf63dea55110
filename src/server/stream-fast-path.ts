// Server-streaming gRPC calls over HTTP/2 (application/grpc[+proto|+json], one uncompressed request
// envelope) answered without connect-es's universal handler, for what an open stream holds
// (issue 11: memory per open stream). connect-es's gRPC handler keeps, for the whole life of a
// server stream, a pipeline of async generators compiled with tslib (invokeStreamImplementation,
// pipe, transformSerializeEnvelope, transformCompressEnvelope, transformJoinEnvelopes,
// transformCatchFinally, untilFirst), each with its own queue, closures and pending promises,
// plus the request-side generators and the response body as one more async iterable. Here the
// request envelope is read into one buffer, the implementation is invoked through the same
// interceptors with the context the unary fast path builds (handler-context.ts), and each response
// message is written to the HTTP/2 stream as one envelope as it comes, waiting for 'drain' only
// when write() asks for it; the status goes out in the trailers as connect-es writes it.
// The gateway serves these calls straight from the server's 'stream' event (serveRawServerStream:
// no Http2ServerRequest/Response, their stream states and header copies, for the whole call); a
// call that carries an Origin (CORS headers) comes through Node's compat objects (serveServerStream).
//
// Anything else goes to connect-es's handler with the body replayed, as on the unary fast path:
// HTTP/1.1, gRPC-Web, a compressed request, a Content-Length over the read limit, a body that is
// not exactly one complete envelope, a request stream that failed.
import type { DescMethod, DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createMethodImplSpec,
  createServiceImplSpec,
  type ConnectRouter,
  type ContextValues,
  type Interceptor,
  type MethodImplSpec,
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
import type { ServerHttp2Stream } from "node:http2";
import type { Readable } from "node:stream";
import { callContext } from "./handler-context";
import { copyHeaders, invokeServerStream, type ServerStreamMethod } from "./interceptor-chain";
import { afterH2Send, drained, FLUSHED_MESSAGES, fixGrpcTrailer, flushWrites, toNodeHeaders } from "./node-adapter";
import type { NodeRequest, NodeResponse } from "./one-port";
import type { Fallback } from "./unary-fast-path";
import { FastHeaders } from "./fast-headers";

type Options = ReturnType<typeof validateUniversalHandlerOptions>;
type Serialization = ReturnType<typeof createMethodSerializationLookup>;

interface FastStreamMethod extends ServerStreamMethod {
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
  const contentType = uReq.header.get("content-type");
  const binary = contentType === null ? undefined : grpcStreamBinary(contentType, uReq.header.get("grpc-encoding"));
  return binary === undefined ? undefined : { binary };
}

/** Whether a gRPC request (not gRPC-Web) with this content type and grpc-encoding is binary; undefined when the fast path does not take it. */
export function grpcStreamBinary(contentType: string, encoding: string | null): boolean | undefined {
  if (!contentType.startsWith("application/grpc") || contentType.startsWith("application/grpc-web")) return undefined;
  if (encoding !== null && encoding !== "identity") return undefined;
  return parseGrpcContentType(contentType)?.binary;
}

/** The abort reason of a call whose answer is complete (see node-adapter.ts). */
const callCompleted = new ConnectError("call completed", Code.Canceled);

/**
 * Answers one server-streaming call. Resolves once the answer is written (or handed to
 * `fallback`); rejects only when writing failed.
 */
export function serveServerStream(
  m: FastStreamMethod,
  options: Options,
  binary: boolean,
  uReq: UniversalServerRequest,
  req: NodeRequest,
  res: NodeResponse,
  fallback: Fallback,
): Promise<void> {
  return serve(m, options, binary, uReq, req, new CompatOut(res), fallback);
}

/**
 * serveServerStream for a bare HTTP/2 stream (no compat request or response: what an open stream
 * holds, issue 11). `responseHeaders` go into the response's head.
 */
export function serveRawServerStream(
  m: FastStreamMethod,
  options: Options,
  binary: boolean,
  uReq: UniversalServerRequest,
  stream: ServerHttp2Stream,
  responseHeaders: Record<string, string>,
  fallback: Fallback,
): Promise<void> {
  return serve(m, options, binary, uReq, stream, new StreamOut(stream, responseHeaders), fallback);
}

/** Reads the request, then answers (grpcServerStream) or falls back. */
async function serve(m: FastStreamMethod, options: Options, binary: boolean, uReq: UniversalServerRequest, req: Readable, out: Out, fallback: Fallback): Promise<void> {
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
  // Returned, not awaited: this function's frame (the request's buffers among its registers) is
  // not kept suspended for the whole stream.
  return grpcServerStream(m, options, binary, uReq, { data: bytes.subarray(5) }, out);
}

/** The request message's bytes, dropped once parsed: the answer may stream for minutes, a prompt may be large. */
interface RequestBytes {
  data: Uint8Array | undefined;
}

function parseRequest(m: FastStreamMethod, binary: boolean, request: RequestBytes): MessageShape<DescMessage> {
  const data = request.data ?? new Uint8Array(0);
  request.data = undefined;
  return m.serialization.getI(binary).parse(data);
}

/**
 * A request body read into buffers, up to `max` bytes (unary-fast-path.ts's readBody, for any
 * Readable: a compat request or the HTTP/2 stream itself).
 */
function readBody(req: Readable, max: number): Promise<{ chunks: Buffer[]; size: number; complete: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (complete: boolean) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      if (!complete) req.pause();
      resolve({ chunks, size, complete });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > max) done(false);
    };
    const onEnd = () => done(true);
    const onError = () => done(false);
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
  });
}

/** The body read so far, then the rest of the request, for connect-es. */
async function* replay(chunks: Buffer[], rest: Readable | undefined): AsyncGenerator<Uint8Array> {
  yield* chunks;
  if (rest) yield* rest as AsyncIterable<Uint8Array>;
}

/** Where a server stream's answer goes: the HTTP/2 compat response, or the HTTP/2 stream itself. */
interface Out {
  readonly destroyed: boolean;
  /** Status 200 and `headers`. */
  head(headers: Record<string, string | string[]>): void;
  write(data: Uint8Array): boolean;
  drained(): Promise<void>;
  /** After one of the first messages (see flushWrites). */
  flush(): Promise<void> | undefined;
  end(trailers: Record<string, string | string[]>): void;
}

class CompatOut implements Out {
  constructor(private readonly res: NodeResponse) {}
  get destroyed(): boolean {
    return this.res.destroyed;
  }
  head(headers: Record<string, string | string[]>): void {
    this.res.writeHead(200, headers);
  }
  write(data: Uint8Array): boolean {
    return this.res.write(data);
  }
  drained(): Promise<void> {
    return drained(this.res);
  }
  flush(): Promise<void> | undefined {
    return flushWrites(this.res);
  }
  end(trailers: Record<string, string | string[]>): void {
    this.res.addTrailers(trailers);
    this.res.end();
  }
}

/** What Http2ServerResponse does for the calls above, on the stream: the head, data, then trailers once nghttp2 asks for them. */
class StreamOut implements Out {
  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly responseHeaders: Record<string, string>,
  ) {}
  get destroyed(): boolean {
    return this.stream.destroyed;
  }
  head(headers: Record<string, string | string[]>): void {
    this.stream.respond({ ...this.responseHeaders, ...headers, ":status": 200 }, { waitForTrailers: true });
  }
  write(data: Uint8Array): boolean {
    return this.stream.write(data);
  }
  drained(): Promise<void> {
    return drained(this.stream);
  }
  flush(): Promise<void> {
    return afterH2Send();
  }
  end(trailers: Record<string, string | string[]>): void {
    const stream = this.stream;
    stream.once("wantTrailers", () => {
      if (!stream.destroyed) stream.sendTrailers(trailers);
    });
    stream.end();
  }
}

/** connect-es's gRPC handler (protocol-grpc/handler-factory.js) for a server stream whose request is read. */
async function grpcServerStream(m: FastStreamMethod, opt: Options, binary: boolean, uReq: UniversalServerRequest, request: RequestBytes, res: Out): Promise<void> {
  const timeout = parseGrpcTimeout(uReq.header.get("grpc-timeout"), opt.maxTimeoutMs);
  // The unary fast path's context (handler-context.ts): the request's Headers not copied again, one
  // AbortController, a timer only for a deadline; held for the whole stream.
  const context = callContext({
    method: m.spec.method,
    protocolName: "grpc",
    url: uReq.url,
    timeoutMs: timeout.timeoutMs,
    requestSignal: uReq.signal,
    shutdownSignal: opt.shutdownSignal,
    requestHeader: uReq.header,
    responseHeader: new FastHeaders({ "content-type": binary ? grpcContentTypeProto : grpcContentTypeJson }),
    contextValues: uReq.contextValues as ContextValues | undefined,
  });
  context.responseTrailer.set("grpc-status", grpcStatusOk);
  const compression = compressionNegotiate(opt.acceptCompression, null, uReq.header.get("grpc-accept-encoding"), "grpc-accept-encoding");
  if (compression.response) context.responseHeader.set("grpc-encoding", compression.response.name);
  const serializer = m.serialization.getO(binary);
  let it: AsyncIterator<MessageShape<DescMessage>> | undefined;
  let headWritten = false;
  let flushes = FLUSHED_MESSAGES;
  const writeHead = () => {
    headWritten = true;
    res.head(toNodeHeaders(context.responseHeader)!);
  };
  try {
    // A bad grpc-timeout fails the request's read, as connect-es's request pipeline does: after
    // the interceptors, when the implementation asks for its message.
    const timeoutError = timeout.error;
    const parse = () => {
      if (timeoutError) throw timeoutError;
      return parseRequest(m, binary, request);
    };
    const response = await invokeServerStream(m, context, parse);
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
      if (!res.write(encodeEnvelope(envelope.flags, envelope.data))) await res.drained();
      else if (flushes > 0) {
        flushes--;
        await res.flush();
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
  res.end(toNodeHeaders(context.responseTrailer)!);
}

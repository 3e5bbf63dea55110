// Unary calls over the Connect protocol (POST, application/json or application/proto) and gRPC
// (application/grpc[+proto|+json]) answered without connect-es's universal handler: the body is
// read with 'data' events into one buffer, the message parsed, the implementation invoked through
// the method's interceptors as connect's invokeUnaryImplementation does (interceptor-chain.ts: the
// same context and header handling, the chain built once), and the answer written with one end(). The same pieces connect-es's handlers use, minus their
// per-call costs (bench/README.md, "connect-es per call"): the async-generator pipeline of the
// gRPC handler (ten generators per unary call), the `new URL()` per Connect POST, the response
// body as an async iterable, and the context's abort() with no reason on every finished call,
// which makes a DOMException with a stack trace (here one shared reason, and only if something
// still listens: handler-context.ts, finish).
//
// Anything this path does not handle the way connect-es does goes to connect-es's handler with the
// body replayed: compressed requests, a GET, a Content-Length over the read limit, a body that is
// not exactly one complete gRPC envelope, a request stream that failed. So what the wire sees
// stays what connect-es answers, and protocols.spec / bad-input.spec run against both paths.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ContextValues, type Interceptor, type MethodImplSpec } from "@connectrpc/connect";
import {
  compressionNegotiate,
  createMethodSerializationLookup,
  encodeEnvelope,
  envelopeCompress,
  mergeNonProtocolHeaders,
  validateUniversalHandlerOptions,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType as parseConnectContentType,
  parseTimeout as parseConnectTimeout,
} from "@connectrpc/connect/protocol-connect";
import {
  contentTypeJson as grpcContentTypeJson,
  contentTypeProto as grpcContentTypeProto,
  grpcStatusOk,
  parseContentType as parseGrpcContentType,
  parseTimeout as parseGrpcTimeout,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { recordRoutes } from "./direct-transport";
import { callContext, type AbortableContext } from "./handler-context";
import { fixGrpcTrailer, toNodeHeaders } from "./node-adapter";
import type { NodeRequest, NodeResponse } from "./one-port";
import { invokeUnary } from "./interceptor-chain";
import { FastHeaders } from "./fast-headers";

type Options = ReturnType<typeof validateUniversalHandlerOptions>;
type Serialization = ReturnType<typeof createMethodSerializationLookup>;

interface FastMethod {
  spec: Extract<MethodImplSpec, { kind: "unary" }>;
  interceptors: Interceptor[];
  serialization: Serialization;
}

/** What answered a call: the fast path, or (for anything it leaves alone) connect-es with the body replayed. */
export type Fallback = (uReq: UniversalServerRequest) => void;

/**
 * Registers `routes` on `router` (connect-es's handlers) and returns the unary methods by request
 * path, for the fast path: one run of `routes` for both.
 */
export function unaryFastPaths(
  routes: (router: ConnectRouter) => void,
  router: ConnectRouter,
  routerOptions: Omit<ConnectNodeAdapterOptions, "routes" | "fallback">,
): { methods: Map<string, FastMethod>; options: Options } {
  const options = validateUniversalHandlerOptions(routerOptions);
  const methods = new Map<string, FastMethod>();
  const recorded = recordRoutes(routes, router);
  // A request gate or a required Connect-Protocol-Version header: connect-es's handlers only.
  if (options.requestGate !== undefined || options.requireConnectProtocolHeader) return { methods, options };
  for (const [method, { spec, interceptors }] of recorded) {
    if (spec.kind !== "unary") continue;
    methods.set(`/${method.parent.typeName}/${method.name}`, {
      spec,
      interceptors,
      serialization: createMethodSerializationLookup(method as DescMethod, options.binaryOptions, options.jsonOptions, options),
    });
  }
  return { methods, options };
}

/** Which protocol a POST speaks, when the fast path can answer it; undefined otherwise. */
export function fastProtocol(uReq: UniversalServerRequest): { grpc: boolean; binary: boolean } | undefined {
  if (uReq.method !== "POST") return undefined;
  const h = uReq.header;
  const contentType = h.get("content-type");
  if (contentType === null) return undefined;
  if (contentType.startsWith("application/grpc")) {
    const encoding = h.get("grpc-encoding");
    if (encoding !== null && encoding !== "identity") return undefined;
    const type = parseGrpcContentType(contentType);
    return type === undefined ? undefined : { grpc: true, binary: type.binary };
  }
  if (h.has("content-encoding")) return undefined;
  const type = parseConnectContentType(contentType);
  return type === undefined || type.stream ? undefined : { grpc: false, binary: type.binary };
}

/** The abort reason of a call whose answer is complete (see node-adapter.ts). */
const callCompleted = new ConnectError("call completed", Code.Canceled);

/**
 * Reads the whole request body, up to `max` bytes. `complete: false` when it is longer or the
 * stream failed: the chunks read so far are returned and the stream is left paused, to be
 * replayed to connect-es.
 */
export function readBody(req: NodeRequest, max: number): Promise<{ chunks: Buffer[]; size: number; complete: boolean }> {
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

export async function* replay(chunks: Buffer[], rest: NodeRequest | undefined): AsyncGenerator<Uint8Array> {
  yield* chunks;
  if (rest) yield* rest as AsyncIterable<Uint8Array>;
}

/**
 * Answers one unary call. Resolves once the answer is written (or handed to `fallback`);
 * rejects only when writing failed.
 */
export async function serveUnary(
  m: FastMethod,
  options: Options,
  protocol: { grpc: boolean; binary: boolean },
  uReq: UniversalServerRequest,
  req: NodeRequest,
  res: NodeResponse,
  fallback: Fallback,
): Promise<void> {
  const lengthHeader = uReq.header.get("content-length");
  const length = lengthHeader === null ? undefined : Number(lengthHeader);
  const limit = protocol.grpc ? options.readMaxBytes + 5 : options.readMaxBytes;
  if (length !== undefined && !(Number.isSafeInteger(length) && length >= 0 && length <= limit)) {
    fallback(uReq);
    return;
  }
  const body = await readBody(req, limit);
  const bytes = body.chunks.length === 1 ? body.chunks[0]! : Buffer.concat(body.chunks, body.size);
  const unusual =
    !body.complete ||
    (length !== undefined && length !== body.size) ||
    (protocol.grpc && (bytes.length < 5 || bytes[0] !== 0 || bytes.readUInt32BE(1) !== bytes.length - 5));
  if (unusual) {
    fallback({ ...uReq, body: replay(body.chunks, body.complete ? undefined : req) });
    return;
  }
  if (protocol.grpc) await grpcUnary(m, options, protocol.binary, uReq, bytes.subarray(5), res);
  else await connectUnary(m, options, protocol.binary, uReq, bytes, res);
}

/** The call's context (handler-context.ts) for a request the adapter has just read. */
function fastContext(
  m: FastMethod,
  protocolName: string,
  timeoutMs: number | undefined,
  shutdownSignal: AbortSignal | undefined,
  uReq: UniversalServerRequest,
  contentType: string,
): AbortableContext {
  return callContext({
    method: m.spec.method,
    protocolName,
    url: uReq.url,
    timeoutMs,
    requestSignal: uReq.signal,
    shutdownSignal,
    requestHeader: uReq.header,
    responseHeader: new FastHeaders({ "content-type": contentType }),
    contextValues: uReq.contextValues as ContextValues | undefined,
  });
}

function appendHeader(out: Record<string, string | string[]>, key: string, value: string): void {
  const had = out[key];
  if (had === undefined) out[key] = value;
  else if (typeof had === "string") out[key] = [had, value];
  else had.push(value);
}

/** connect-es's createUnaryHandler (protocol-connect/handler-factory.js) for a POST whose body is read. */
async function connectUnary(m: FastMethod, opt: Options, binary: boolean, uReq: UniversalServerRequest, bytes: Uint8Array, res: NodeResponse): Promise<void> {
  const timeout = parseConnectTimeout(uReq.header.get("connect-timeout-ms"), opt.maxTimeoutMs);
  const context = fastContext(m, "connect", timeout.timeoutMs, opt.shutdownSignal, uReq, binary ? contentTypeUnaryProto : contentTypeUnaryJson);
  const compression = compressionNegotiate(opt.acceptCompression, null, uReq.header.get("accept-encoding"), "accept-encoding");
  let status = 200;
  let body: Uint8Array;
  try {
    if (timeout.error) throw timeout.error;
    const input = m.serialization.getI(binary).parse(bytes);
    const output = await invokeUnary(m.spec, context, input, m.interceptors);
    body = m.serialization.getO(binary).serialize(output);
  } catch (e) {
    context.abort(e);
    let error = e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e);
    // An undecodable message is the caller's fault (connect-es says INTERNAL: see node-adapter.ts).
    if (error.code === Code.Internal && error.rawMessage.startsWith("parse binary:")) {
      error = new ConnectError(error.rawMessage, Code.InvalidArgument, error.metadata, error.details as ConstructorParameters<typeof ConnectError>[3], error.cause);
    }
    status = codeToHttpStatus(error.code);
    context.responseHeader.set("content-type", contentTypeUnaryJson);
    if (!error.isWireError) mergeNonProtocolHeaders(context.responseHeader, error.metadata);
    body = errorToJsonBytes(error, opt.jsonOptions);
  } finally {
    context.finish(callCompleted);
  }
  if (compression.response && body.byteLength >= opt.compressMinBytes) {
    body = await compression.response.compress(body);
    context.responseHeader.set("content-encoding", compression.response.name);
  }
  // connect-es's trailerMux (trailers as `trailer-` headers) straight into Node's header object.
  const header = toNodeHeaders(context.responseHeader)!;
  context.responseTrailer.forEach((value, key) => appendHeader(header, `trailer-${key}`, value));
  header["content-length"] = String(body.byteLength);
  res.writeHead(status, header);
  res.end(body);
}

/** connect-es's gRPC handler (protocol-grpc/handler-factory.js) for one unary message. */
async function grpcUnary(m: FastMethod, opt: Options, binary: boolean, uReq: UniversalServerRequest, data: Uint8Array, res: NodeResponse): Promise<void> {
  const timeout = parseGrpcTimeout(uReq.header.get("grpc-timeout"), opt.maxTimeoutMs);
  const context = fastContext(m, "grpc", timeout.timeoutMs, opt.shutdownSignal, uReq, binary ? grpcContentTypeProto : grpcContentTypeJson);
  context.responseTrailer.set("grpc-status", grpcStatusOk);
  const compression = compressionNegotiate(opt.acceptCompression, null, uReq.header.get("grpc-accept-encoding"), "grpc-accept-encoding");
  if (compression.response) context.responseHeader.set("grpc-encoding", compression.response.name);
  let body: Uint8Array | undefined;
  try {
    if (timeout.error) throw timeout.error;
    const input = m.serialization.getI(binary).parse(data);
    const output = await invokeUnary(m.spec, context, input, m.interceptors);
    const envelope = await envelopeCompress({ flags: 0, data: m.serialization.getO(binary).serialize(output) }, compression.response, opt.compressMinBytes);
    body = encodeEnvelope(envelope.flags, envelope.data);
  } catch (e) {
    context.abort(e);
    setTrailerStatus(context.responseTrailer, e instanceof ConnectError ? e : new ConnectError("internal error", Code.Internal, undefined, undefined, e));
  } finally {
    context.finish(callCompleted);
  }
  res.writeHead(200, toNodeHeaders(context.responseHeader));
  fixGrpcTrailer(context.responseTrailer);
  res.addTrailers(toNodeHeaders(context.responseTrailer)!);
  if (body) res.end(body);
  else res.end();
}

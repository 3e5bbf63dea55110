// connect-node's adapter, plus two corrections to what reaches the wire. Both are fixed here,
// in one place, rather than worked around by each client:
//  1. A request whose protobuf bytes cannot be decoded is the caller's fault: connect-es
//     reports it as INTERNAL ("parse binary: ..."); we answer INVALID_ARGUMENT, as we do for
//     bad JSON. (Server streams are caught earlier, in the errors interceptor.)
//  2. gRPC's `grpc-message` is percent-encoded only outside printable ASCII (gRPC HTTP/2 spec);
//     connect-es encodes with encodeURIComponent, which grpc-js decodes with decodeURI and so
//     shows "%3A" for every ':'. We re-encode to the spec, which every client decodes right.
import { Code, ConnectError, createConnectRouter, type ConnectRouter } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import { Http2ServerResponse, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { NodeRequest, NodeResponse, RequestListener } from "./one-port";
import { fastProtocol, serveUnary, unaryFastPaths } from "./unary-fast-path";
import { fastStreamProtocol, grpcStreamBinary, serveRawServerStream, serveServerStream, serverStreamFastPaths } from "./stream-fast-path";
import { eachHeader, FastHeaders } from "./fast-headers";
import { withoutFarDeadline } from "./handler-context";
import { acceptedCompressions } from "./compression";
import { fromGrpcWebText, isGrpcWebText, toGrpcWebText } from "./grpc-web-text";

export function isParseError(err: ConnectError): boolean {
  return err.code === Code.Internal && err.rawMessage.startsWith("parse binary:");
}

/**
 * The node handler: a request listener for Node's request and response objects (HTTP/1.1, and
 * HTTP/2 through Node's compat layer); its `stream` answers a server-streaming gRPC call straight
 * from its HTTP/2 stream, before any compat object exists, and returns false for every other
 * stream. `callHeaders` is called once for a stream it takes, before the request headers are read
 * (it may set some: the gateway's x-request-id), and returns headers for every answer on it.
 */
export type NodeHandler = RequestListener & {
  stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, callHeaders: () => Record<string, string>): boolean;
};

export function createNodeHandler(
  options: Omit<ConnectNodeAdapterOptions, "routes" | "fallback"> & {
    routes: (router: ConnectRouter) => void;
    fallback: (req: NodeRequest, res: NodeResponse) => void;
  },
): NodeHandler {
  const routerOptions = { acceptCompression: acceptedCompressions, ...options };
  const router = createConnectRouter(routerOptions);
  // Unary Connect and gRPC calls skip connect-es's universal handler (see unary-fast-path.ts).
  // Server-streaming gRPC over HTTP/2 too, for what each open stream holds (see stream-fast-path.ts).
  const streams = serverStreamFastPaths(router, routerOptions);
  const fast = unaryFastPaths(options.routes, streams.router, routerOptions);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const request: RequestListener = (req, res) => {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const handler = handlers.get(q < 0 ? url : url.slice(0, q));
    if (!handler) {
      options.fallback(req, res);
      return;
    }
    let uReq: UniversalServerRequest;
    try {
      uReq = universalRequest(req, res);
    } catch (err) {
      // No Host header (HTTP/1.1) or :authority (HTTP/2): nothing to route a Connect call by.
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      res.end(ConnectError.from(err).rawMessage);
      return;
    }
    // Everything the fast paths leave to connect-es, gRPC-Web's text mode included (neither fast
    // path takes its content type): translated around the binary handler (grpc-web-text.ts).
    const connectEs = (u: UniversalServerRequest) => {
      const text = isGrpcWebText(req.headers["content-type"]);
      handler(withoutFarDeadline(text ? fromGrpcWebText(u) : u))
        .then((uRes) => writeResponse(text ? toGrpcWebText(conform(uRes)) : conform(uRes), res))
        .catch((reason: unknown) => onWriteFailed(reason, res));
    };
    const unary = fast.methods.get(handler.requestPath);
    const protocol = unary && fastProtocol(uReq);
    if (unary && protocol) {
      serveUnary(unary, fast.options, protocol, uReq, req, res, connectEs).catch((reason: unknown) => onWriteFailed(reason, res));
      return;
    }
    const stream = unary ? undefined : streams.methods.get(handler.requestPath);
    const streamProtocol = stream && fastStreamProtocol(uReq, req);
    if (stream && streamProtocol) serveServerStream(stream, streams.options, streamProtocol.binary, uReq, req, res, connectEs).catch((reason: unknown) => onWriteFailed(reason, res));
    else connectEs(uReq);
  };
  const stream: NodeHandler["stream"] = (h2stream, headers, callHeaders) => {
    const path = headers[":path"];
    const authority = headers[":authority"] ?? headers.host;
    if (headers[":method"] !== "POST" || path === undefined || authority === undefined || authority === "") return false;
    const q = path.indexOf("?");
    const handler = handlers.get(q < 0 ? path : path.slice(0, q));
    if (!handler || fast.methods.has(handler.requestPath)) return false;
    const method = streams.methods.get(handler.requestPath);
    const contentType = headers["content-type"];
    const encoding = headers["grpc-encoding"];
    const binary = method && typeof contentType === "string" ? grpcStreamBinary(contentType, typeof encoding === "string" ? encoding : null) : undefined;
    if (!method || binary === undefined) return false;
    const responseHeaders = callHeaders();
    // The rare request the fast path leaves to connect-es (see stream-fast-path.ts) gets a compat
    // response made for it then.
    const connectEs = (u: UniversalServerRequest) => {
      const res = new Http2ServerResponse(h2stream);
      for (const key in responseHeaders) res.setHeader(key, responseHeaders[key]!);
      handler(withoutFarDeadline(u))
        .then((uRes) => writeResponse(conform(uRes), res))
        .catch((reason: unknown) => onWriteFailed(reason, res));
    };
    const uReq = streamRequest(h2stream, headers, path, authority);
    serveRawServerStream(method, streams.options, binary, uReq, h2stream, responseHeaders, connectEs).catch((reason: unknown) => {
      if (ConnectError.from(reason).code !== Code.Aborted) h2stream.destroy();
    });
    return true;
  };
  return Object.assign(request, { stream });
}

function onWriteFailed(reason: unknown, res: NodeResponse): void {
  // Aborted: the client went away while we were writing; nothing left to tell anyone.
  if (ConnectError.from(reason).code !== Code.Aborted) res.destroy();
}

// What connect-node's universalRequestFromNodeRequest / universalResponseToNodeResponse do, minus
// their per-call costs (bench/README.md, "connect-es per call"): the request's URL is one string,
// not `new URL()` (parsed again only for an authority that is not plainly a host[:port]); a call
// whose response was fully written has its signal aborted with one shared reason, where connect-
// node aborts with no reason and so makes a DOMException with a stack trace on every successful
// call; the body is the request stream itself (an async iterable of Buffers) rather than one more
// async generator around it; a response chunk waits for 'drain' only when write() asks for it,
// and gRPC trailers are corrected as they are written, not by one more generator around the body.
// A call cut short keeps connect-node's reasons: the HTTP/2 reset code's, or the socket error's.

/** The abort reason of a call whose response was completely written (nobody is left to read it). */
const callCompleted = new ConnectError("call completed", Code.Canceled);
const plainAuthority = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

function universalRequest(req: NodeRequest, res: NodeResponse): UniversalServerRequest {
  const encrypted = "encrypted" in req.socket && req.socket.encrypted === true;
  const authority = "authority" in req ? req.authority : req.headers.host;
  if (authority === undefined || authority === "") {
    throw new ConnectError("unable to determine request authority from Node.js server request", Code.Internal);
  }
  const path = req.url ?? "";
  const base = `${encrypted ? "https" : "http"}://${authority}`;
  const url = plainAuthority.test(authority) && path.startsWith("/") ? base + path : new URL(path, base).toString();
  const controller = new AbortController();
  if ("stream" in req) {
    req.once("close", () => {
      if (res.writableFinished) controller.abort(callCompleted);
      else controller.abort(h2CloseReason(req.stream));
    });
  } else {
    // HTTP/1.1 ends the request when its body is read: the response's close is the call's end.
    const onError = (e: Error) => {
      req.off("error", onError);
      res.off("close", onClose);
      controller.abort(nodeReasonError(e));
    };
    const onClose = () => {
      req.off("error", onError);
      res.off("close", onClose);
      if (res.writableFinished) controller.abort(callCompleted);
      else controller.abort(req.errored ? nodeReasonError(req.errored) : undefined);
    };
    req.once("error", onError);
    res.once("close", onClose);
  }
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url,
    header: FastHeaders.fromIncoming(req.headers),
    body: req as AsyncIterable<Uint8Array>,
    signal: controller.signal,
    contextValues: undefined,
  };
}

/** universalRequest for a bare HTTP/2 stream (no compat request or response). */
function streamRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, path: string, authority: string): UniversalServerRequest {
  const base = `${stream.session?.encrypted === true ? "https" : "http"}://${authority}`;
  const url = plainAuthority.test(authority) && path.startsWith("/") ? base + path : new URL(path, base).toString();
  const controller = new AbortController();
  stream.on("close", () => {
    if (stream.writableFinished) controller.abort(callCompleted);
    else controller.abort(h2CloseReason(stream));
  });
  return {
    httpVersion: "2.0",
    method: "POST",
    url,
    header: FastHeaders.fromIncoming(headers),
    body: stream as AsyncIterable<Uint8Array>,
    signal: controller.signal,
    contextValues: undefined,
  };
}

export function toNodeHeaders(headers: Headers | undefined): Record<string, string | string[]> | undefined {
  if (headers === undefined) return undefined;
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const add = (value: string, key: string) => {
    const had = out[key];
    if (had === undefined) out[key] = value;
    else if (typeof had === "string") out[key] = [had, value];
    else had.push(value);
  };
  eachHeader(headers, add);
  return out;
}

/**
 * Why a call's HTTP/2 stream closed before its answer was written. With its connection gone (the
 * client's socket closed, or the gateway ended the session: a rapid-reset flood, an unanswered
 * keep-alive PING) Node resets the session's streams with INTERNAL_ERROR, which is no fault of
 * the call: it is canceled, as by a client that went away. A reset on a live connection keeps
 * connect-node's code for it.
 */
function h2CloseReason(stream: ServerHttp2Stream): ConnectError | undefined {
  const session = stream.session;
  if (session === undefined || session.destroyed || session.closed) return connectionGone;
  return h2ResetError(stream.rstCode);
}
/** One shared reason (no stack trace per call). */
const connectionGone = new ConnectError("the connection closed before the answer was sent", Code.Canceled);

/** connect-node's mapping of an HTTP/2 reset code (node-error.js connectErrorFromH2ResetCode). */
function h2ResetError(rstCode: number): ConnectError | undefined {
  const code = h2ResetCodes[rstCode];
  if (code === undefined) return undefined; // NO_ERROR, STREAM_CLOSED …: connect-node aborts with no reason
  const name = h2CodeNames[rstCode] ?? String(rstCode);
  return new ConnectError(`http/2 stream closed with error code ${name} (0x${rstCode.toString(16)})`, code);
}
const h2CodeNames: Record<number, string> = {
  1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT", 6: "FRAME_SIZE_ERROR",
  7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR", 10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM",
  12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED",
};
const h2ResetCodes: Record<number, Code> = {
  1: Code.Internal, 2: Code.Internal, 3: Code.Internal, 4: Code.Internal, 6: Code.Internal, 9: Code.Internal, 10: Code.Internal,
  7: Code.Unavailable, 8: Code.Canceled, 11: Code.ResourceExhausted, 12: Code.PermissionDenied, 13: Code.PermissionDenied,
};

/** connect-node's mapping of a socket error (node-error.js connectErrorFromNodeReason). */
function nodeReasonError(reason: unknown): ConnectError {
  const codes: unknown[] = [];
  for (let e: unknown = reason, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    codes.push((e as NodeJS.ErrnoException).code);
  }
  let code = Code.Internal;
  if (codes.some((c) => c === "ERR_STREAM_WRITE_AFTER_END" || c === "ERR_STREAM_DESTROYED" || c === "ERR_HTTP2_INVALID_STREAM" || c === "ECONNRESET")) {
    code = Code.Aborted;
  } else if (codes.some((c) => c === "ETIMEDOUT" || c === "ENOTFOUND" || c === "EAI_AGAIN" || c === "ECONNREFUSED")) {
    code = Code.Unavailable;
  }
  const ce = ConnectError.from(reason, code);
  if (ce !== reason) ce.cause = reason;
  return ce;
}

function connectStream(uRes: UniversalServerResponse): boolean {
  return uRes.header?.get("content-type")?.startsWith("application/connect+") === true;
}

/** Writes a universal response: head after the first chunk (the implementation may still set headers), trailers, end. */
async function writeResponse(uRes: UniversalServerResponse, res: NodeResponse): Promise<void> {
  const it = uRes.body?.[Symbol.asyncIterator]();
  let writing = false;
  try {
    let chunk = it ? await it.next() : undefined;
    res.writeHead(uRes.status, toNodeHeaders(uRes.header));
    // A Connect server stream's first messages go out as they come (a unary answer is one write).
    let flushes = connectStream(uRes) ? FLUSHED_MESSAGES : 0;
    while (chunk !== undefined && chunk.done !== true) {
      writing = true;
      const value = chunk.value;
      if (!res.write(value)) await drained(res);
      else if (flushes > 0) {
        flushes--;
        await flushWrites(res);
      }
      writing = false;
      chunk = await it!.next();
    }
    if (uRes.trailer) {
      if (isGrpc(uRes)) fixGrpcTrailer(uRes.trailer);
      res.addTrailers(toNodeHeaders(uRes.trailer)!);
    }
    res.end();
  } catch (e) {
    // A write failed: tell the implementation (its generator sees the error), then report it.
    if (writing) it?.throw?.(e).catch(() => {});
    void it?.return?.().catch(() => {});
    throw nodeReasonError(e);
  }
}

/**
 * Sends what a streamed response wrote so far now rather than at the end of the burst it is in.
 * Node corks an HTTP/1.1 response's socket on a write until the next tick, and an HTTP/2 session
 * sends its streams' data from a setImmediate; messages made in one go (upstream chunks read at
 * once, decoded through promise jobs, which run before either) would all leave after the last
 * one. Writers call this after a stream's first few messages (time to first token), so a burst
 * costs a few more writes, not one per message. HTTP/2: resolves after the session's send.
 */
export function flushWrites(res: NodeResponse): Promise<void> | undefined {
  if (res instanceof Http2ServerResponse) return afterH2Send();
  if (res.socket?.writableCorked) res.socket.uncork();
  return undefined;
}

/** Resolves after the HTTP/2 sessions' pending sends (see flushWrites). */
export function afterH2Send(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** How many of a stream's first messages each go out on their own (see flushWrites). */
export const FLUSHED_MESSAGES = 3;

/** What drained() waits on: a response or an HTTP/2 stream. */
interface Drainable {
  readonly errored: Error | null;
  once(event: "drain" | "close", listener: () => void): unknown;
  once(event: "error", listener: (err: Error) => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
  off(event: "error", listener: (err: Error) => void): unknown;
}

export function drained(res: Drainable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.errored) {
      reject(res.errored);
      return;
    }
    const onDrain = () => {
      res.off("error", onError);
      res.off("close", onClose);
      resolve();
    };
    const onError = (err: Error) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      reject(err);
    };
    const onClose = () => {
      res.off("drain", onDrain);
      res.off("error", onError);
      const err = new Error("the response was closed before it was written") as NodeJS.ErrnoException;
      err.code = "ERR_STREAM_DESTROYED";
      reject(err);
    };
    res.once("drain", onDrain);
    res.once("error", onError);
    res.once("close", onClose);
  });
}

function isGrpc(uRes: UniversalServerResponse): boolean {
  const contentType = uRes.header?.get("content-type") ?? "";
  return contentType.startsWith("application/grpc") && !contentType.startsWith("application/grpc-web");
}

function conform(uRes: UniversalServerResponse): UniversalServerResponse {
  const contentType = uRes.header?.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) {
    return uRes.body ? { ...uRes, body: mapChunks(uRes.body, fixGrpcWebTrailerFrame) } : uRes;
  }
  // application/grpc: the trailer is corrected by writeResponse once the body is written.
  if (contentType.startsWith("application/grpc")) return uRes;
  if (uRes.status === 500 && uRes.body) {
    const fixed = { ...uRes };
    fixed.body = fixConnectErrorBody(uRes.body, fixed);
    return fixed;
  }
  return uRes;
}

async function* mapChunks(body: AsyncIterable<Uint8Array>, fn: (chunk: Uint8Array) => Uint8Array) {
  for await (const chunk of body) yield fn(chunk);
}

export function fixGrpcTrailer(trailer: Headers): void {
  const status = trailer.get("grpc-status");
  const message = trailer.get("grpc-message");
  if (message === null) return;
  const text = safeDecode(message);
  if (status === String(Code.Internal) && text.startsWith("parse binary:")) {
    trailer.set("grpc-status", String(Code.InvalidArgument));
  }
  trailer.set("grpc-message", grpcPercentEncode(text));
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** gRPC-Web carries trailers in a final frame with flag 0x80 (uncompressed: exactly 0x80). */
function fixGrpcWebTrailerFrame(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 5 || chunk[0] !== 0x80) return chunk;
  const headers = new Headers();
  for (const line of textDecoder.decode(chunk.subarray(5)).split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  if (!headers.has("grpc-message")) return chunk;
  fixGrpcTrailer(headers);
  let text = "";
  headers.forEach((value, key) => (text += `${key}: ${value}\r\n`));
  const data = textEncoder.encode(text);
  const frame = new Uint8Array(5 + data.length);
  frame[0] = 0x80;
  new DataView(frame.buffer).setUint32(1, data.length);
  frame.set(data, 5);
  return frame;
}

/** A Connect unary error is a JSON body with HTTP 500 for INTERNAL; a parse error becomes a 400. */
async function* fixConnectErrorBody(body: AsyncIterable<Uint8Array>, uRes: UniversalServerResponse) {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  const bytes = Buffer.concat(parts);
  try {
    const json = JSON.parse(bytes.toString("utf8")) as { code?: unknown; message?: unknown };
    if (json.code === "internal" && typeof json.message === "string" && json.message.startsWith("parse binary:")) {
      uRes.status = 400;
      uRes.header?.delete("content-length");
      yield textEncoder.encode(JSON.stringify({ ...json, code: "invalid_argument" }));
      return;
    }
  } catch {
    // Not a Connect error body: pass it on unchanged.
  }
  yield bytes;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Percent-encodes '%' and everything outside printable ASCII, byte by byte (gRPC spec), and a
 * space at either end: HTTP drops a field value's leading and trailing whitespace, so a message
 * that ends in one ("invalid grpc timeout value: ") would lose it on the way.
 */
export function grpcPercentEncode(text: string): string {
  let out = "";
  const bytes = textEncoder.encode(text);
  const last = bytes.length - 1;
  for (let i = 0; i <= last; i++) {
    const byte = bytes[i]!;
    const plain = byte >= 0x20 && byte <= 0x7e && byte !== 0x25 && !(byte === 0x20 && (i === 0 || i === last));
    out += plain ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

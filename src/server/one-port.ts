// One TCP port for HTTP/2 cleartext (gRPC, Connect over h2) and HTTP/1.1 (Connect JSON, REST,
// browsers). Node's cleartext http2 server refuses HTTP/1.1, so each connection's first bytes
// are inspected: the HTTP/2 preface goes to the http2 server, anything else to the http server.
// The original socket is handed over (not wrapped), which keeps HTTP/2 on Node's native path.
//
// Connections are bounded in number and in time, so slow or silent clients cannot hold file
// descriptors forever:
//  - a global cap and a cap per client address; connections over either are closed at once;
//  - the first bytes (the sniff) and a request's headers must arrive within `headersTimeoutMs`;
//  - a whole request (headers and body) must arrive within `requestTimeoutMs`, on HTTP/1.1
//    (Node's `requestTimeout`) and per HTTP/2 stream (reset with a gRPC / HTTP error);
//  - an HTTP/1.1 keep-alive connection between requests, and an HTTP/2 session with no open
//    stream, are closed after `idleTimeoutMs`. Only the receiving side is timed: a response
//    that streams tokens for minutes is never cut by these timeouts;
//  - every HTTP/2 session is sent a PING every `http2KeepaliveMs`, and one that does not answer
//    within `http2KeepaliveTimeoutMs` is destroyed: a peer that vanished behind a load balancer
//    (no FIN, no RST) is found, also while a long call of its is waiting for its first token.
//
// Node checks `headersTimeout`/`requestTimeout` of an http.Server only for connections in the
// server's connections list, which it creates (with the periodic check) on the server's own
// 'listening' event. Our http server never listens (sockets arrive through
// `emit("connection")`), so that setup is triggered here by emitting 'listening' once, before
// any connection arrives; without it those timeouts never apply.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Counts } from "../counts";
import { grpcPercentEncode } from "./node-adapter";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** A handler for both servers (the shape connect-node's adapter returns). */
export type RequestListener = ReturnType<typeof connectNodeAdapter>;
export type NodeRequest = Parameters<RequestListener>[0];
export type NodeResponse = Parameters<RequestListener>[1];

/**
 * Gets the first look at each HTTP/2 stream, before Node's compat request and response objects
 * exist, and returns true when it answers the stream itself (the gRPC server-stream fast path:
 * an open stream then holds no Http2ServerRequest/Response, issue 11). Streams it declines go to
 * the request listener as usual.
 */
export type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

/**
 * The HTTP/1.1 responses: `requestId`, when set, goes out as the `x-request-id` header of the
 * head, as `setHeader` would put it there, but without making the head a progressive one: once a
 * header is set with setHeader, Node's writeHead passes every header given to it through setHeader
 * again (checks, a lower-cased map) instead of writing the object as it is (~2 % of a REST
 * call's CPU, issue 11). A head that already has headers set, or is given as an array or not at
 * all (end() without writeHead), gets it through setHeader; one whose headers name it keeps theirs.
 */
export class GatewayResponse<Request extends http.IncomingMessage = http.IncomingMessage> extends http.ServerResponse<Request> {
  requestId: string | undefined;

  override writeHead(statusCode: number, reason?: string | http.OutgoingHttpHeaders | http.OutgoingHttpHeader[], headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this {
    const id = this.requestId;
    if (id === undefined) return typeof reason === "string" ? super.writeHead(statusCode, reason, headers) : super.writeHead(statusCode, reason);
    this.requestId = undefined;
    let given = typeof reason === "string" ? headers : reason;
    if (given === undefined || Array.isArray(given) || this.getHeaderNames().length > 0) this.setHeader("x-request-id", id);
    else if (!Object.hasOwn(given, "x-request-id")) given = { "x-request-id": id, ...given };
    return typeof reason === "string" ? super.writeHead(statusCode, reason, given) : super.writeHead(statusCode, given);
  }
}

export interface OnePortServer {
  tcp: net.Server;
  http1: http.Server;
  http2: http2.Http2Server;
  /** Stops accepting connections; open HTTP/2 sessions get a GOAWAY, idle HTTP/1.1 ones close. */
  stopAccepting(): Promise<void>;
  /** Destroys every remaining connection. */
  destroyAll(): void;
  /** Open connections, the connections refused so far (over a cap), and HTTP/2 sessions destroyed for an unanswered PING. */
  stats(): { connections: number; refusedGlobal: number; refusedPerAddress: number; keepaliveTimeouts: number };
}

/** Where refused connections and abusive HTTP/2 sessions are reported (a pino logger fits). */
export interface OnePortLog {
  warn(fields: object, message: string): void;
}

export interface OnePortOptions {
  /** How long a new connection may take to send its first bytes (default: `headersTimeoutMs`). */
  sniffTimeoutMs?: number;
  /** How long a request's headers may take to arrive (HTTP/1.1). Default 10 s. */
  headersTimeoutMs?: number;
  /** How long a whole request, headers and body, may take to arrive (HTTP/1.1 and each HTTP/2 stream). Default 60 s. */
  requestTimeoutMs?: number;
  /** Idle HTTP/1.1 keep-alive connections and HTTP/2 sessions with no open stream close after this. Default 65 s. */
  idleTimeoutMs?: number;
  /** An HTTP/2 session is sent a PING this often; 0 sends none. Default 30 s. */
  http2KeepaliveMs?: number;
  /** A session whose PING is not answered within this is destroyed. Default 20 s. */
  http2KeepaliveTimeoutMs?: number;
  /** Most connections open at once; more are closed at once. Default 480. */
  maxConnections?: number;
  /** Most connections open at once from one client address (an IPv6 /64 counts as one). Default 120. */
  maxConnectionsPerAddress?: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per session. Default 256. */
  http2MaxConcurrentStreams?: number;
  /** Refused connections are counted in one warning at most this often. Default 5 s. */
  refusalLogIntervalMs?: number;
  log?: OnePortLog;
  /** Answers some HTTP/2 streams without the compat objects (see StreamListener). */
  streamListener?: StreamListener;
}

/** The defaults, for a process with 1,024 file descriptors (see the config schema for why). */
export const onePortDefaults = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 65_000,
  http2KeepaliveMs: 30_000,
  http2KeepaliveTimeoutMs: 20_000,
  maxConnections: 480,
  maxConnectionsPerAddress: 120,
  http2MaxConcurrentStreams: 256,
} as const;

export function createOnePortServer(listener: RequestListener, options: OnePortOptions = {}): OnePortServer {
  const requestTimeoutMs = options.requestTimeoutMs ?? onePortDefaults.requestTimeoutMs;
  // Node refuses headersTimeout > requestTimeout: the headers are part of the request.
  const headersTimeoutMs = Math.min(options.headersTimeoutMs ?? onePortDefaults.headersTimeoutMs, requestTimeoutMs);
  const sniffTimeoutMs = options.sniffTimeoutMs ?? headersTimeoutMs;
  const idleTimeoutMs = options.idleTimeoutMs ?? onePortDefaults.idleTimeoutMs;
  const maxConnections = options.maxConnections ?? onePortDefaults.maxConnections;
  const maxPerAddress = options.maxConnectionsPerAddress ?? onePortDefaults.maxConnectionsPerAddress;
  const maxStreams = options.http2MaxConcurrentStreams ?? onePortDefaults.http2MaxConcurrentStreams;
  const keepalive = {
    intervalMs: options.http2KeepaliveMs ?? onePortDefaults.http2KeepaliveMs,
    timeoutMs: options.http2KeepaliveTimeoutMs ?? onePortDefaults.http2KeepaliveTimeoutMs,
    timeouts: 0,
    log: options.log,
  };

  const http1 = http.createServer(
    {
      ServerResponse: GatewayResponse,
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: idleTimeoutMs,
      // How often Node looks for connections over headersTimeout/requestTimeout (default 30 s,
      // which would let a 10 s timeout run to 40 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    },
    listener as http.RequestListener,
  );
  // Creates the connections list and starts its periodic check (see the comment at the top).
  http1.emit("listening");

  const h2 = http2.createServer(
    {
      settings: { maxConcurrentStreams: maxStreams },
      // Rapid reset (CVE-2023-44487): nghttp2 answers a burst of RST_STREAMs over this rate with
      // GOAWAY. Its default (1,000 then 33/s) lets one session cost the event loop about a second;
      // a client that cancels every stream it may have open at once still fits in this burst.
      streamResetBurst: Math.min(1_000, Math.max(100, maxStreams)),
      streamResetRate: 20,
      // A conformant client sends no invalid frames and opens no stream over the limit.
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
    },
  );
  // No request listener: Node would make the compat objects for every stream. onStream makes them
  // for the streams the stream listener declines, as Node's compat layer does (onServerStream).
  h2.on("stream", onStream);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    watchIdleSession(session, idleTimeoutMs);
    if (keepalive.intervalMs > 0) pingSession(session, keepalive);
    session.once("close", () => sessions.delete(session));
  });

  // Each HTTP/2 stream: skips streams the client already reset (a rapid-reset flood costs no
  // handler work), and times the receiving side of every other stream.
  const streamListener = options.streamListener;
  function onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]): void {
    if (stream.destroyed || stream.closed) return;
    if (streamListener?.(stream, headers) === true) {
      // A client's RST_STREAM with an error code destroys the stream with an error; its 'close'
      // tells the call (Node's compat request ignores the error the same way). Unheard, the
      // 'error' event would end the process.
      stream.on("error", ignoreStreamError);
      if (!stream.endAfterHeaders) guardRequestBody(stream, headers, requestTimeoutMs, undefined);
      return;
    }
    const req = new http2.Http2ServerRequest(stream, headers, {}, rawHeaders);
    const res = new http2.Http2ServerResponse(stream);
    if (!stream.endAfterHeaders) guardRequestBody(stream, headers, requestTimeoutMs, res);
    // What Node's compat layer does before its 'request' event (no 'connect', 'checkContinue'
    // or 'checkExpectation' listeners here).
    if (headers[":method"] === "CONNECT") {
      res.statusCode = 405;
      res.end();
    } else if (headers.expect !== undefined && headers.expect !== "100-continue") {
      res.statusCode = 417;
      res.end();
    } else {
      if (headers.expect !== undefined) res.writeContinue();
      listener(req, res);
    }
  }

  const perAddress = new Counts();
  const refusals = refusalLog(options.log, options.refusalLogIntervalMs ?? 5_000);
  const tcp = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    const address = clientKey(socket.remoteAddress);
    if (address === undefined) {
      socket.destroy(); // already gone
      return;
    }
    if (perAddress.get(address) >= maxPerAddress) {
      refusals.refused("address", address);
      socket.destroy();
      return;
    }
    perAddress.add(address, 1);
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      perAddress.add(address, -1);
    });
    sniff(socket);
  });
  // Over the global cap, Node closes the connection before it becomes a JS socket ('drop').
  tcp.maxConnections = maxConnections;
  tcp.on("drop", (data?: { remoteAddress?: string }) => refusals.refused("global", clientKey(data?.remoteAddress) ?? "?"));

  function sniff(socket: net.Socket): void {
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      }
      const n = Math.min(head.length, preface.length);
      const mayBeH2 = head.subarray(0, n).equals(preface.subarray(0, n));
      if (mayBeH2 && head.length < preface.length) return; // a short first read: wait for more
      clearTimeout(timer);
      socket.removeListener("readable", onReadable);
      socket.removeListener("error", onError);
      socket.removeListener("end", onError);
      socket.unshift(head);
      if (mayBeH2) {
        h2.emit("connection", socket);
      } else {
        http1.emit("connection", socket);
        socket.resume();
      }
    };
    socket.on("readable", onReadable);
    socket.on("error", onError);
    socket.once("end", onError);
  }

  return {
    tcp,
    http1,
    http2: h2,
    stopAccepting() {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const session of sessions) session.close();
      http1.closeIdleConnections();
      // Keep-alive HTTP/1.1 connections close after their current response.
      http1.on("request", (_req, res) => res.setHeader("connection", "close"));
      return closed;
    },
    destroyAll() {
      for (const socket of sockets) socket.destroy();
      for (const session of sessions) session.destroy();
      // Stops the connections check started above (the http server never listened).
      http1.close();
      refusals.stop();
    },
    stats() {
      return {
        connections: sockets.size,
        refusedGlobal: refusals.total.global,
        refusedPerAddress: refusals.total.address,
        keepaliveTimeouts: keepalive.timeouts,
      };
    },
  };
}

function ignoreStreamError(): void {}

/**
 * Closes an HTTP/2 session (GOAWAY, then the socket) once it has had no open stream for
 * `idleMs`. A session with a running call is never idle, however long the call is silent: a
 * model may think for minutes before its first token. PINGs and SETTINGS do not count as use.
 */
function watchIdleSession(session: http2.Http2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => {
      if (open > 0 || session.closed || session.destroyed) return;
      session.close();
      // close() ends the session once its streams are done; there are none, but a peer that
      // never reads must not keep the socket.
      setTimeout(() => session.destroy(), 1_000).unref();
    }, idleMs);
    timer.unref();
  };
  arm();
  // One listener for all the session's streams ('close' is emitted once per stream).
  const onStreamClose = () => {
    if (--open === 0 && !session.closed && !session.destroyed) arm();
  };
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    // A stream the client reset in the same read as it opened it may be gone (and its 'close'
    // emitted) already: counting it would keep the session from ever being idle.
    if (stream.destroyed) return;
    if (open++ === 0) clearTimeout(timer);
    stream.on("close", onStreamClose);
  });
  session.once("close", () => clearTimeout(timer));
}

/**
 * Sends the session a PING every `intervalMs` (one at a time) and destroys it when a PING is
 * not answered within `timeoutMs`. Pings go to busy sessions too: a call waiting minutes for its
 * first token sends nothing, and its peer may be gone. Any peer acknowledges PINGs (RFC 9113
 * §6.7), gRPC clients included; only a peer that is gone or stuck fails to.
 */
function pingSession(
  session: http2.Http2Session,
  keepalive: { intervalMs: number; timeoutMs: number; timeouts: number; log: OnePortLog | undefined },
): void {
  let deadline: NodeJS.Timeout | undefined;
  const interval = setInterval(() => {
    if (deadline !== undefined || session.closed || session.destroyed) return;
    deadline = setTimeout(() => {
      if (session.destroyed) return;
      keepalive.timeouts++;
      keepalive.log?.warn(
        { remote_address: session.socket?.remoteAddress, keepalive_timeout_ms: keepalive.timeoutMs },
        "HTTP/2 session closed: its keep-alive PING was not answered",
      );
      session.destroy();
    }, keepalive.timeoutMs);
    deadline.unref();
    // Fails (err set) only when the session is closing or has too many PINGs in flight; either
    // way the deadline above still decides.
    const sent = session.ping((err) => {
      if (err) return;
      clearTimeout(deadline);
      deadline = undefined;
    });
    if (!sent) {
      clearTimeout(deadline);
      deadline = undefined;
    }
  }, keepalive.intervalMs);
  interval.unref();
  session.once("close", () => {
    clearInterval(interval);
    clearTimeout(deadline);
  });
}

/**
 * Answers with a head and nothing else, the head ending the stream: on HTTP/2 one HEADERS frame
 * with END_STREAM, which is how a gRPC trailers-only answer must arrive. (writeHead() then end()
 * makes Node's compat layer send a head that does not end the stream, then no trailers: grpc-js
 * and grpc-go read that as INTERNAL, grpcio as UNKNOWN.) Headers set one by one, then end().
 */
export function endWithHead(res: NodeResponse, status: number, head: http.OutgoingHttpHeaders): void {
  res.statusCode = status;
  for (const name in head) res.setHeader(name, head[name]!);
  res.end();
}

/**
 * The request side of one HTTP/2 stream must be received in full within `timeoutMs` (a gRPC
 * message whose length prefix promises more bytes than ever come would otherwise hang the call
 * and hold its memory forever). On expiry the caller gets DEADLINE_EXCEEDED (gRPC) or a 408
 * (anything else) if no response has started, and the stream is reset. Once the client has sent
 * its whole request, nothing here times the stream: the response may stream for as long as it takes.
 */
function guardRequestBody(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, timeoutMs: number, res: http2.Http2ServerResponse | undefined): void {
  const contentType = String(headers["content-type"] ?? "");
  const timer = setTimeout(() => {
    if (stream.destroyed || stream.closed || stream.readableEnded || stream.state.remoteClose) return;
    const message = `the request was not received in full within ${timeoutMs} ms`;
    if (!stream.headersSent) {
      const grpc = contentType.startsWith("application/grpc");
      const body = grpc ? "" : JSON.stringify({ code: "deadline_exceeded", message });
      const head: http2.OutgoingHttpHeaders = grpc
        ? { "content-type": contentType, "grpc-status": "4", "grpc-message": grpcPercentEncode(message) }
        : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
      // gRPC's answer is trailers-only (see endWithHead).
      if (res !== undefined) {
        if (grpc) endWithHead(res, 200, head);
        else {
          res.writeHead(408, head);
          res.end(body);
        }
      } else {
        // A stream the stream listener took has no compat response (and so none of the headers
        // set on one): the request id the gateway gave the call is echoed from the request.
        const id = headers["x-request-id"];
        stream.respond({ ":status": grpc ? 200 : 408, ...head, ...(typeof id === "string" ? { "x-request-id": id } : {}) }, { endStream: grpc });
        if (!grpc) stream.end(body);
      }
      // After the complete answer, RST_STREAM(NO_ERROR) tells the client to stop sending (RFC 9113 §8.1).
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
    } else {
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }, timeoutMs);
  timer.unref();
  // Both listeners go once either fires: a stream that streams its answer for minutes keeps
  // neither (nor, through them, the request's headers).
  const clear = () => {
    clearTimeout(timer);
    stream.off("end", clear);
    stream.off("close", clear);
  };
  stream.on("end", clear);
  stream.on("close", clear);
}

/**
 * The key a connection counts against in the per-address cap: the IPv4 address (also when it
 * arrives IPv4-mapped), or the /64 prefix of an IPv6 address, since one host usually has a
 * whole /64 to pick addresses from.
 */
export function clientKey(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(":")) return address;
  const zoneless = address.split("%")[0]!.toLowerCase();
  const [left = "", right] = zoneless.split("::");
  const leftGroups = left ? left.split(":") : [];
  const rightGroups = right === undefined ? [] : right ? right.split(":") : [];
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(Math.max(0, missing)).fill("0"), ...rightGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/** Counts refused connections and reports them in one warning at most every `intervalMs`. */
function refusalLog(log: OnePortLog | undefined, intervalMs: number) {
  const total = { global: 0, address: 0 };
  let pending = { global: 0, address: 0 };
  let addresses = new Map<string, number>();
  let lastAt = -Infinity;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (pending.global + pending.address === 0) return;
    lastAt = performance.now();
    const top = [...addresses].sort((a, b) => b[1] - a[1]).slice(0, 5);
    log?.warn(
      {
        refused_over_max_connections: pending.global,
        refused_over_max_connections_per_ip: pending.address,
        refused_by_address: Object.fromEntries(top),
      },
      "connections refused: over the connection cap",
    );
    pending = { global: 0, address: 0 };
    addresses = new Map();
  };
  return {
    total,
    refused(kind: "global" | "address", address: string) {
      total[kind]++;
      pending[kind]++;
      if (addresses.size < 100 || addresses.has(address)) addresses.set(address, (addresses.get(address) ?? 0) + 1);
      if (timer) return;
      const wait = lastAt + intervalMs - performance.now();
      if (wait <= 0) flush();
      else (timer = setTimeout(flush, wait)).unref();
    },
    stop() {
      clearTimeout(timer);
      flush();
    },
  };
}

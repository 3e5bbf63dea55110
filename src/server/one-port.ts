// One TCP port for HTTP/2 cleartext (gRPC, Connect over h2) and HTTP/1.1 (Connect JSON, REST,
// browsers). Node's cleartext http2 server refuses HTTP/1.1, so each connection's first bytes
// are inspected: the HTTP/2 preface goes to the http2 server, anything else to the http server.
// The original socket is handed over (not wrapped), which keeps HTTP/2 on Node's native path.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** A handler for both servers (the shape connect-node's adapter returns). */
export type RequestListener = ReturnType<typeof connectNodeAdapter>;
export type NodeRequest = Parameters<RequestListener>[0];
export type NodeResponse = Parameters<RequestListener>[1];

export interface OnePortServer {
  tcp: net.Server;
  http1: http.Server;
  http2: http2.Http2Server;
  /** Stops accepting connections; open HTTP/2 sessions get a GOAWAY, idle HTTP/1.1 ones close. */
  stopAccepting(): Promise<void>;
  /** Destroys every remaining connection. */
  destroyAll(): void;
}

export interface OnePortOptions {
  /** How long a new connection may stay silent before it is dropped. */
  sniffTimeoutMs?: number;
}

export function createOnePortServer(listener: RequestListener, options: OnePortOptions = {}): OnePortServer {
  const sniffTimeoutMs = options.sniffTimeoutMs ?? 10_000;
  const http1 = http.createServer({ keepAliveTimeout: 5_000 }, listener as http.RequestListener);
  const h2 = http2.createServer({}, listener as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const tcp = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
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
  });

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
    },
  };
}

// The plumbing the provider fakes in fake-gemini.ts and fake-cohere.ts share, in the style of
// fake-upstream.ts: one node:http server on 127.0.0.1 (HTTP/1.1, keep-alive), recorded
// requests, `closedEarly` for connections the client dropped, and the directives of
// parseDirectives() (#status:NNN, #garbage, #break, #slow, #hang, #delay:N, #stream-error)
// applied the same way. Each fake supplies its routes and its wire format.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  type Directives,
  type FakeUpstream,
  type JsonObject,
  type JsonValue,
  type RecordedRequest,
  RETRY_AFTER_SECONDS,
  SLOW_CHUNK_COUNT,
  SLOW_INTERVAL_MS,
  fakeReplyText,
  slowReplyText,
  splitIntoChunks,
} from "./fake-upstream";

/** A fake answer: its streamed pieces (joined = text) and why it ended. */
export interface FakeReply {
  pieces: string[];
  text: string;
  finish: "stop" | "length" | "stop_sequence";
}

/**
 * The answer to `input`, as fake-upstream.ts answers: fakeReplyText(input) (slowReplyText()
 * for #slow), cut before the first stop sequence, capped at maxTokens words.
 */
export function fakeReply(input: string, slow: boolean, maxTokens: number | undefined, stops: string[]): FakeReply {
  if (slow) return { pieces: splitIntoChunks(slowReplyText()), text: slowReplyText(), finish: "stop" };
  let text = fakeReplyText(input);
  let finish: FakeReply["finish"] = "stop";
  const cuts = stops.map((s) => text.indexOf(s)).filter((i) => i !== -1);
  if (cuts.length > 0) {
    text = text.slice(0, Math.min(...cuts));
    finish = "stop_sequence";
  }
  let pieces = splitIntoChunks(text);
  if (maxTokens !== undefined && pieces.length > maxTokens) {
    pieces = pieces.slice(0, maxTokens);
    pieces[pieces.length - 1] = (pieces.at(-1) ?? "").trimEnd();
    text = pieces.join("");
    finish = "length";
  }
  return { pieces, text, finish };
}

export function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function positiveInt(v: JsonValue | undefined): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

export function stringList(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string" && s !== "") : [];
}

export interface FakeCtx {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request path without the query string. */
  path: string;
  /** The query string parameters. */
  query: URLSearchParams;
  /** Set when the fake closed the socket on purpose (#break) or is shutting down. */
  selfClosed: boolean;
  timer: NodeJS.Timeout | undefined;
  interval: NodeJS.Timeout | undefined;
}

/** A streamed answer: sent at once, one event per content piece, sent after the content. */
export interface StreamPlan {
  head: string[];
  body: string[];
  tail: string[];
  /** The provider's in-stream error (for #stream-error); "" when it has none. */
  error: string;
  /** What #garbage sends instead of the content. */
  garbage: string;
}

/** How a provider's fake answers errors and streams. */
export interface FakeProtocol {
  /** The error body for an HTTP status, in the provider's format. */
  errorBody(status: number, message?: string): string;
  /** The content type of its streams. */
  streamContentType: string;
}

export type Route = (ctx: FakeCtx, body: JsonValue | undefined, rawBody: string) => void;

const noop = (): void => {};

interface Waiter {
  n: number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export class FakeHttpServer implements FakeUpstream {
  url = "";
  port = 0;
  closedEarly = 0;
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private closing = false;
  private closedWaiters: Waiter[] = [];
  private requestWaiters: Waiter[] = [];

  constructor(
    private readonly protocol: FakeProtocol,
    private readonly route: (path: string, method: string) => Route | undefined,
  ) {
    this.server = createServer({ noDelay: true, keepAlive: true }, (req, res) => this.onRequest(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    this.port = addr.port;
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  waitForClosedEarly(n: number, timeoutMs = 2000): Promise<void> {
    return this.wait(this.closedWaiters, n, () => this.closedEarly, timeoutMs, "closedEarly");
  }

  waitForRequests(n: number, timeoutMs = 2000): Promise<void> {
    return this.wait(this.requestWaiters, n, () => this.requests.length, timeoutMs, "requests");
  }

  reset(): void {
    this.requests.length = 0;
    this.closedEarly = 0;
  }

  close(): Promise<void> {
    this.closing = true;
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Sends a whole answer (no-op once the client is gone). */
  send(res: ServerResponse, status: number, body: string, extra?: Record<string, string>, contentType = "application/json"): void {
    if (res.destroyed) return;
    res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  sendError(ctx: FakeCtx, status: number, message: string): void {
    this.send(ctx.res, status, this.protocol.errorBody(status, message));
  }

  /**
   * Applies the directives, then calls `respond` (the normal answer), which streams through
   * sendStream() so #break, #slow, #stream-error and #garbage take effect there.
   */
  act(ctx: FakeCtx, d: Readonly<Directives>, stream: boolean, respond: () => void): void {
    if (d.delayMs > 0) {
      ctx.timer = setTimeout(() => {
        ctx.timer = undefined;
        this.afterDelay(ctx, d, stream, respond);
      }, d.delayMs);
      return;
    }
    this.afterDelay(ctx, d, stream, respond);
  }

  sendStream(ctx: FakeCtx, d: Readonly<Directives>, plan: StreamPlan): void {
    const { res } = ctx;
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": this.protocol.streamContentType, "cache-control": "no-cache" });
    if (d.garbage) {
      res.end(plan.head.join("") + plan.garbage);
      return;
    }
    if (d.break) {
      const socket: Socket | null = res.socket;
      ctx.selfClosed = true;
      res.write(plan.head.join("") + plan.body.slice(0, 2).join(""), () => {
        // End the TCP connection without the terminal event or the final zero-length chunk.
        socket?.end();
        setTimeout(() => socket?.destroy(), 1000).unref();
      });
      return;
    }
    if (d.streamError) {
      res.end(plan.head.join("") + plan.body.slice(0, 2).join("") + plan.error);
      return;
    }
    if (d.slow) {
      res.write(plan.head.join(""));
      let i = 0;
      ctx.interval = setInterval(() => {
        if (res.destroyed) return;
        const event = plan.body[i++];
        if (event !== undefined) res.write(event);
        if (i >= plan.body.length) {
          clearInterval(ctx.interval);
          ctx.interval = undefined;
          res.end(plan.tail.join(""));
        }
      }, SLOW_INTERVAL_MS);
      return;
    }
    res.end(plan.head.join("") + plan.body.join("") + plan.tail.join(""));
  }

  private afterDelay(ctx: FakeCtx, d: Readonly<Directives>, stream: boolean, respond: () => void): void {
    const { res } = ctx;
    if (res.destroyed || d.hang) return;
    if (d.status !== 0) {
      const extra = d.status === 429 ? { "retry-after": String(RETRY_AFTER_SECONDS) } : undefined;
      return this.send(res, d.status, this.protocol.errorBody(d.status), extra);
    }
    if (!stream) {
      if (d.garbage) return this.send(res, 200, '{"id": "fake", "candidates": [{"content": {"par');
      if (d.break) {
        ctx.selfClosed = true;
        res.socket?.destroy();
        return;
      }
      if (d.slow) {
        ctx.timer = setTimeout(respond, SLOW_CHUNK_COUNT * SLOW_INTERVAL_MS);
        return;
      }
    }
    respond();
  }

  private wait(list: Waiter[], n: number, current: () => number, timeoutMs: number, what: string): Promise<void> {
    if (current() >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        n,
        resolve,
        timer: setTimeout(() => {
          const i = list.indexOf(w);
          if (i !== -1) list.splice(i, 1);
          reject(new Error(`fake: ${what} is ${current()} after ${timeoutMs} ms, wanted ${n}`));
        }, timeoutMs),
      };
      list.push(w);
    });
  }

  private static notify(list: Waiter[], value: number): void {
    for (let i = list.length - 1; i >= 0; i--) {
      const w = list[i];
      if (w !== undefined && value >= w.n) {
        list.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://fake");
    const ctx: FakeCtx = { req, res, path: url.pathname, query: url.searchParams, selfClosed: false, timer: undefined, interval: undefined };
    req.on("error", noop);
    res.on("error", noop);
    res.on("close", () => {
      if (ctx.timer !== undefined) clearTimeout(ctx.timer);
      if (ctx.interval !== undefined) clearInterval(ctx.interval);
      if (!res.writableEnded && !ctx.selfClosed && !this.closing) {
        this.closedEarly++;
        FakeHttpServer.notify(this.closedWaiters, this.closedEarly);
      }
    });
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      raw += chunk;
    });
    req.on("end", () => {
      let body: JsonValue | undefined;
      try {
        body = raw === "" ? undefined : (JSON.parse(raw) as JsonValue);
      } catch {
        body = undefined;
      }
      this.requests.push({ method: req.method ?? "GET", path: ctx.path, query: url.search.slice(1), headers: req.headers, body, rawBody: raw, remotePort: req.socket.remotePort });
      FakeHttpServer.notify(this.requestWaiters, this.requests.length);
      const route = this.route(ctx.path, req.method ?? "GET");
      if (route === undefined) return this.sendError(ctx, 404, `Invalid URL (${req.method ?? "GET"} ${ctx.path})`);
      route(ctx, body, raw);
    });
  }
}

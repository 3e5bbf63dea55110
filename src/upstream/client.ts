// The one HTTP client for every provider: an undici Agent (a keep-alive pool per upstream
// origin), JSON and SSE responses, and the caller's cancellation propagated to the upstream.
import { Agent, errors as undiciErrors, request } from "undici";
import { ConnectError } from "@connectrpc/connect";
import { badUpstreamResponse, fromUpstreamStatus, unavailable } from "../errors";
import type { UpstreamPeer as Provider, StreamDecoder, UpstreamRequest } from "./wire";
import type { UpstreamAttempt, UpstreamTrace } from "../observability/otel";
import { framings } from "./framing";
import type { Usage } from "../../gen/modelgate/v1/common_pb";

/** Per-call context for an upstream request. */
export interface UpstreamCall {
  /** Aborts the upstream request: the caller cancelled or its deadline passed. */
  signal: AbortSignal;
  /** W3C traceparent to send upstream (our span as the parent). */
  traceparent?: string;
  /** The call's trace: each request is an attempt (span) whose headers replace `traceparent`. */
  trace?: UpstreamTrace;
  requestId?: string;
  /** The caller's Idempotency-Key, sent upstream unchanged on every attempt (src/routing/idempotency.ts). */
  idempotencyKey?: string;
  /**
   * Called when the upstream has the request and may bill it: it answered 2xx, or the request
   * was sent and no answer came within the timeout. Not for a connection that failed, or an
   * error status (providers do not bill those). The caller then bills the prompt of a call that
   * fails later (a stream broken or cancelled, a body cut off).
   */
  onUpstreamReached?: () => void;
}

export interface UpstreamClientOptions {
  /** Time allowed for the upstream's response headers, and for each gap in its body. */
  timeoutMs: number;
  connectTimeoutMs?: number;
}

/**
 * What went wrong with an upstream, for the routing layer's retry and fallback decisions: the
 * HTTP status (with Retry-After), a connection failure, or a timeout. Kept beside the error
 * rather than in its message.
 */
export type UpstreamFailure =
  | { kind: "status"; status: number; retryAfterMs?: number }
  | { kind: "connection" }
  | { kind: "timeout" };

const failures = new WeakMap<ConnectError, UpstreamFailure>();

/** The upstream failure behind an error this client threw (undefined: not an upstream failure it saw). */
export function upstreamFailure(err: unknown): UpstreamFailure | undefined {
  return err instanceof ConnectError ? failures.get(err) : undefined;
}

function tagged(err: ConnectError, failure: UpstreamFailure): ConnectError {
  failures.set(err, failure);
  return err;
}

/** Largest upstream error body we read to extract a message. */
const maxErrorBody = 64 * 1024;

type UsageInit = Omit<Usage, "$typeName" | "$unknown"> | undefined;

export class UpstreamClient {
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(options: UpstreamClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs ?? 10_000 },
    });
  }

  /** Sends the request and returns the parsed JSON body of a 2xx answer. */
  async json(req: UpstreamRequest, provider: Provider, call: UpstreamCall): Promise<unknown> {
    const attempt = call.trace?.startAttempt(provider.name, req);
    if (!attempt) return this.jsonAttempt(req, provider, call);
    try {
      const body = await this.jsonAttempt(req, provider, call, attempt);
      attempt.end();
      return body;
    } catch (err) {
      attempt.end(err);
      throw err;
    }
  }

  /**
   * Sends the request and returns the body of a 2xx answer as text, at most `maxBytes` (a longer
   * body fails as a bad response): files that are not JSON, such as an MLflow model's MLmodel.
   */
  async text(req: UpstreamRequest, provider: Provider, call: UpstreamCall, maxBytes: number): Promise<string> {
    const res = await this.send(req, provider, call, "*/*");
    let text: string;
    try {
      text = await readCapped(res.body, maxBytes + 1);
    } catch (err) {
      throw this.failure(provider, call, err);
    }
    if (Buffer.byteLength(text) > maxBytes) throw badUpstreamResponse(provider.name, `body is larger than ${maxBytes} bytes`);
    return text;
  }

  private async jsonAttempt(req: UpstreamRequest, provider: Provider, call: UpstreamCall, attempt?: UpstreamAttempt): Promise<unknown> {
    const res = await this.send(req, provider, call, "application/json", attempt);
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw this.failure(provider, call, err);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badUpstreamResponse(provider.name, "body is not valid JSON");
    }
  }

  /**
   * Sends a streaming request and yields the decoder's chunks as SSE events arrive, then one
   * closing chunk built by `closing` with the usage. A stream that ends without the
   * provider's terminal event, or whose connection breaks, fails with UNAVAILABLE.
   */
  stream<Chunk extends { id: string; model: string }>(
    req: UpstreamRequest,
    decoder: StreamDecoder<Chunk>,
    provider: Provider,
    call: UpstreamCall,
    closing: (id: string, model: string, usage: UsageInit) => Chunk,
  ): AsyncGenerator<Chunk> {
    const attempt = call.trace?.startAttempt(provider.name, req);
    const chunks = this.streamAttempt(req, decoder, provider, call, closing, attempt);
    return attempt ? tracedStream(chunks, attempt, call.signal) : chunks;
  }

  private async *streamAttempt<Chunk extends { id: string; model: string }>(
    req: UpstreamRequest,
    decoder: StreamDecoder<Chunk>,
    provider: Provider,
    call: UpstreamCall,
    closing: (id: string, model: string, usage: UsageInit) => Chunk,
    attempt: UpstreamAttempt | undefined,
  ): AsyncGenerator<Chunk> {
    const framing = framings[decoder.framing ?? "sse"];
    const res = await this.send(req, provider, call, framing.contentTypes[0], attempt);
    const contentType = res.headers["content-type"];
    if (typeof contentType !== "string" || !framing.contentTypes.some((t) => contentType.includes(t))) {
      res.body.destroy();
      throw badUpstreamResponse(provider.name, `expected ${framing.contentTypes[0]}, got ${String(contentType)}`);
    }
    let id = "";
    let model = "";
    try {
      for await (const event of framing.events(res.body)) {
        for (const chunk of decoder.push(event)) {
          id = chunk.id || id;
          model = chunk.model || model;
          yield chunk;
        }
        if (decoder.done) break;
      }
    } catch (err) {
      throw this.failure(provider, call, err);
    } finally {
      // Ends the upstream request when the caller stops early (cancel, error, or we are done).
      if (!res.body.destroyed) res.body.destroy();
    }
    if (!decoder.done) {
      throw unavailable(`${provider.name}: upstream stream ended before it was complete`);
    }
    yield closing(id, model, decoder.usage());
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async send(req: UpstreamRequest, provider: Provider, call: UpstreamCall, accept: string, attempt?: UpstreamAttempt) {
    const headers: Record<string, string> = { accept, ...req.headers };
    if (attempt) Object.assign(headers, attempt.headers);
    else if (call.traceparent) headers["traceparent"] = call.traceparent;
    if (call.requestId) headers["x-request-id"] = call.requestId;
    if (call.idempotencyKey) headers["idempotency-key"] = call.idempotencyKey;
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers["content-type"] ??= "application/json";
    }
    if (provider.authorize) {
      try {
        Object.assign(headers, await provider.authorize(req, body, call.signal));
      } catch (err) {
        throw this.failure(provider, call, err);
      }
    }
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(req.url, {
        dispatcher: this.agent,
        method: req.method,
        headers,
        body,
        signal: call.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      if (err instanceof undiciErrors.HeadersTimeoutError) call.onUpstreamReached?.();
      throw this.failure(provider, call, err);
    }
    attempt?.responded(res.statusCode);
    if (res.statusCode >= 200 && res.statusCode < 300) {
      call.onUpstreamReached?.();
      return res;
    }
    throw await this.statusError(provider, call, res);
  }

  private async statusError(
    provider: Provider,
    call: UpstreamCall,
    res: Awaited<ReturnType<typeof request>>,
  ): Promise<ConnectError> {
    let message: string | undefined;
    try {
      const text = await readCapped(res.body, maxErrorBody);
      try {
        message = provider.errorMessage?.(JSON.parse(text));
      } catch {
        message = undefined;
      }
      if (message === undefined && text.length > 0 && !text.trimStart().startsWith("<")) {
        message = text.slice(0, 300);
      }
    } catch (err) {
      if (call.signal.aborted) return this.failure(provider, call, err);
    }
    const retryAfter = retryAfterMs(res.headers["retry-after"]);
    return tagged(fromUpstreamStatus(provider.name, res.statusCode, message?.slice(0, 1000), retryAfter), {
      kind: "status",
      status: res.statusCode,
      retryAfterMs: retryAfter,
    });
  }

  /** Maps a transport failure: the caller's abort keeps its own code, everything else is UNAVAILABLE. */
  private failure(provider: Provider, call: UpstreamCall, err: unknown): ConnectError {
    if (call.signal.aborted) return ConnectError.from(call.signal.reason);
    if (err instanceof ConnectError) return err;
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
      return tagged(unavailable(`${provider.name}: upstream timed out`, err), { kind: "timeout" });
    }
    const code = (err as { code?: unknown }).code;
    const what = typeof code === "string" ? code : err instanceof Error ? err.message : "unknown error";
    return tagged(unavailable(`${provider.name}: upstream connection failed (${what})`, err), { kind: "connection" });
  }
}

/** An attempt's chunks, its span ended when the stream does (or is abandoned). */
async function* tracedStream<Chunk extends { model: string }>(chunks: AsyncGenerator<Chunk>, attempt: UpstreamAttempt, signal: AbortSignal): AsyncGenerator<Chunk> {
  let failure: unknown;
  try {
    for await (const chunk of chunks) {
      attempt.chunk?.(chunk as { model: string; usage?: { promptTokens: number; completionTokens: number } });
      yield chunk;
    }
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    attempt.end(failure ?? (signal.aborted ? signal.reason : undefined));
  }
}

async function readCapped(body: AsyncIterable<unknown> & { destroy(): void }, cap: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    parts.push(buf);
    size += buf.length;
    if (size >= cap) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(parts).toString("utf8").slice(0, cap);
}

function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

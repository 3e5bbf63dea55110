// The one HTTP client for every provider: an undici Agent (a keep-alive pool per upstream
// origin), JSON and SSE responses, and the caller's cancellation propagated to the upstream.
import type { IncomingHttpHeaders } from "node:http";
import { Agent, errors as undiciErrors, type Dispatcher } from "undici";
import { ConnectError } from "@connectrpc/connect";
import { badUpstreamResponse, fromUpstreamStatus, unavailable } from "../errors";
import type { UpstreamPeer as Provider, SseEvent, StreamDecoder, UpstreamRequest } from "./wire";
import type { UpstreamAttempt, UpstreamTrace } from "../observability/otel";
import { framings } from "./framing";
import { dropRawHeaders } from "./raw-headers";
import { requestBuffered, type BufferedAnswer } from "./buffered";
import { requestStreamed, type StreamedAnswer, type UpstreamBody } from "./streamed";
import { withoutCredentials } from "./credentials";
import {
  DEFAULT_MAX_UPSTREAM_BODY_BYTES,
  DEFAULT_MAX_UPSTREAM_EVENT_BYTES,
  defaultMaxHeldBytes,
  HeldAnswers,
  OversizeAnswerError,
  type EventLimits,
} from "./limits";
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
  /** The most bytes of a unary answer (default DEFAULT_MAX_UPSTREAM_BODY_BYTES); larger fails the attempt. */
  maxBodyBytes?: number;
  /** The most bytes of one streamed event (default DEFAULT_MAX_UPSTREAM_EVENT_BYTES); larger fails the stream. */
  maxEventBytes?: number;
  /** The most bytes of all answers held at once (default: a quarter of the heap limit); past it, the answer that asks fails. */
  maxHeldBytes?: number;
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

/** A request ready to send: its headers (signed, for a provider that signs) and JSON body. */
interface Prepared {
  headers: Record<string, string>;
  body: string | undefined;
}

export class UpstreamClient {
  private readonly agent: Dispatcher;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;
  /** What all answers hold at once (unary bodies, streamed events not ended). */
  readonly held: HeldAnswers;
  private readonly eventLimits: EventLimits;

  constructor(options: UpstreamClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_UPSTREAM_BODY_BYTES;
    this.held = new HeldAnswers(options.maxHeldBytes ?? defaultMaxHeldBytes());
    this.eventLimits = { maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_UPSTREAM_EVENT_BYTES, held: this.held };
    this.agent = new Agent({
      keepAliveTimeout: 30_000,
      connect: { timeout: options.connectTimeoutMs ?? 10_000 },
    }).compose(dropRawHeaders);
  }

  /**
   * Sends the request and returns the parsed JSON body of a 2xx answer. Untraced, the attempt's
   * own promise (not async: an async function resolving to a promise costs three more microtask turns).
   */
  json(req: UpstreamRequest, provider: Provider, call: UpstreamCall): Promise<unknown> {
    const attempt = call.trace?.startAttempt(provider.name, req);
    return attempt ? this.tracedJson(req, provider, call, attempt) : this.jsonAttempt(req, provider, call);
  }

  private async tracedJson(req: UpstreamRequest, provider: Provider, call: UpstreamCall, attempt: UpstreamAttempt): Promise<unknown> {
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
    const { res } = await this.send(req, provider, call, "*/*");
    let text: string;
    try {
      text = await readCapped(res.body, maxBytes + 1, this.timeoutMs);
    } catch (err) {
      throw failure(provider, call, err);
    }
    if (Buffer.byteLength(text) > maxBytes) throw badUpstreamResponse(provider.name, `body is larger than ${maxBytes} bytes`);
    return text;
  }

  /**
   * A unary call: the answer is read whole (requestBuffered: no Readable stream per call), then
   * parsed. Promise chains, not an async function: no frame suspended per call in flight. It
   * rejects; it never throws.
   */
  private jsonAttempt(req: UpstreamRequest, provider: Provider, call: UpstreamCall, attempt?: UpstreamAttempt): Promise<unknown> {
    let prepared: Prepared | Promise<Prepared>;
    try {
      prepared = this.prepare(req, provider, call, "application/json", attempt);
    } catch (err) {
      return Promise.reject(err);
    }
    return prepared instanceof Promise ? prepared.then((p) => this.requestJson(p, req, provider, call, attempt)) : this.requestJson(prepared, req, provider, call, attempt);
  }

  private requestJson({ headers, body }: Prepared, req: UpstreamRequest, provider: Provider, call: UpstreamCall, attempt: UpstreamAttempt | undefined): Promise<unknown> {
    let reached = false;
    /** The error a failed send rejects with (a timeout before the head still counts as reached). */
    const failed = (err: unknown): unknown => {
      if (!reached && err instanceof undiciErrors.HeadersTimeoutError) call.onUpstreamReached?.();
      return failure(provider, call, err);
    };
    let sent: Promise<BufferedAnswer>;
    try {
      sent = requestBuffered(this.agent, req.url, {
        method: req.method,
        headers,
        body,
        signal: call.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        maxErrorBytes: maxErrorBody,
        maxBytes: this.maxBodyBytes,
        held: this.held,
        onStatus: (status) => {
          attempt?.responded(status);
          if (status >= 200 && status < 300) {
            reached = true;
            call.onUpstreamReached?.();
          }
        },
      });
    } catch (err) {
      return Promise.reject(failed(err));
    }
    return sent.then((res) => {
      if (res.statusCode < 200 || res.statusCode >= 300) {
        const text = res.body.toString("utf8", 0, Math.min(res.body.length, maxErrorBody));
        throw withoutCredentials(statusErrorOf(provider, res.statusCode, res.headers, text), headers, req.url);
      }
      try {
        return JSON.parse(res.body.toString("utf8")) as unknown;
      } catch {
        throw badUpstreamResponse(provider.name, "body is not valid JSON");
      }
    }, (err: unknown) => {
      throw failed(err);
    });
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
  ): AsyncIterable<Chunk> {
    const attempt = call.trace?.startAttempt(provider.name, req);
    const framing = framings[decoder.framing ?? "sse"];
    const send = (signal: AbortSignal) => this.send(req, provider, call, framing.contentTypes[0], attempt, signal);
    const chunks = new StreamAttempt(send, framing, this.eventLimits, decoder, provider, call, closing);
    return attempt ? tracedStream(chunks, attempt, call.signal) : chunks;
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /**
   * The request's headers (trace context, request id, idempotency key, the provider's auth) and
   * body: a promise only when the provider signs requests (no await per call otherwise).
   */
  private prepare(req: UpstreamRequest, provider: Provider, call: UpstreamCall, accept: string, attempt: UpstreamAttempt | undefined): Prepared | Promise<Prepared> {
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
    if (!provider.authorize) return { headers, body };
    return this.authorized(provider.authorize, req, provider, call, headers, body);
  }

  private async authorized(authorize: NonNullable<Provider["authorize"]>, req: UpstreamRequest, provider: Provider, call: UpstreamCall, headers: Record<string, string>, body: string | undefined): Promise<Prepared> {
    try {
      Object.assign(headers, await authorize(req, body, call.signal));
    } catch (err) {
      throw failure(provider, call, err);
    }
    return { headers, body };
  }

  /** Sends the request; a 2xx answer with the headers it was sent with (whose credentials no error may quote). */
  private async send(req: UpstreamRequest, provider: Provider, call: UpstreamCall, accept: string, attempt?: UpstreamAttempt, signal = call.signal): Promise<Sent> {
    const prepared = this.prepare(req, provider, call, accept, attempt);
    const { headers, body } = prepared instanceof Promise ? await prepared : prepared;
    let res: StreamedAnswer;
    try {
      res = await requestStreamed(this.agent, req.url, {
        method: req.method,
        headers,
        body,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      if (err instanceof undiciErrors.HeadersTimeoutError) call.onUpstreamReached?.();
      throw failure(provider, call, err);
    }
    attempt?.responded(res.statusCode);
    if (res.statusCode >= 200 && res.statusCode < 300) {
      call.onUpstreamReached?.();
      return { res, headers, url: req.url };
    }
    throw withoutCredentials(await this.statusError(provider, call, res), headers, req.url);
  }

  private async statusError(provider: Provider, call: UpstreamCall, res: StreamedAnswer): Promise<ConnectError> {
    let text: string | undefined;
    try {
      text = await readCapped(res.body, maxErrorBody, this.timeoutMs);
    } catch (err) {
      if (call.signal.aborted) return failure(provider, call, err);
    }
    return statusErrorOf(provider, res.statusCode, res.headers, text);
  }

}

/**
 * The error for an upstream's non-2xx answer: its status mapped to a code, the provider's own
 * message (else the start of a body that is not HTML), Retry-After kept for the router.
 */
function statusErrorOf(provider: Provider, statusCode: number, headers: IncomingHttpHeaders, text: string | undefined): ConnectError {
  let message: string | undefined;
  if (text !== undefined) {
    try {
      message = provider.errorMessage?.(JSON.parse(text));
    } catch {
      message = undefined;
    }
    if (message === undefined && text.length > 0 && !text.trimStart().startsWith("<")) {
      message = text.slice(0, 300);
    }
  }
  const retryAfter = retryAfterMs(headers["retry-after"]);
  return tagged(fromUpstreamStatus(provider.name, statusCode, message?.slice(0, 1000), retryAfter), {
    kind: "status",
    status: statusCode,
    retryAfterMs: retryAfter,
  });
}

/** Maps a transport failure: the caller's abort keeps its own code, everything else is UNAVAILABLE. */
function failure(provider: Provider, call: UpstreamCall, err: unknown): ConnectError {
  if (call.signal.aborted) return ConnectError.from(call.signal.reason);
  if (err instanceof ConnectError) return err;
  if (err instanceof OversizeAnswerError) return badUpstreamResponse(provider.name, err.message);
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return tagged(unavailable(`${provider.name}: upstream timed out`, err), { kind: "timeout" });
  }
  const code = (err as { code?: unknown }).code;
  const what = typeof code === "string" ? code : err instanceof Error ? err.message : "unknown error";
  return tagged(unavailable(`${provider.name}: upstream connection failed (${what})`, err), { kind: "connection" });
}

/** A 2xx answer, and the headers and URL its request was sent with. */
interface Sent {
  res: StreamedAnswer;
  headers: Record<string, string>;
  url: string;
}
type Framing = (typeof framings)[keyof typeof framings];
const finished = <T>(value?: unknown): IteratorResult<T> => ({ done: true, value: value as T });

/**
 * One streamed upstream request: sends it on the first read, then the decoder's chunks as the
 * framing's events arrive, then one closing chunk built by `closing` with the usage. A stream
 * that ends without the provider's terminal event, or whose connection breaks, fails with
 * UNAVAILABLE; a return or throw from the reader ends the upstream request. What the async
 * generator it replaced did, as a plain iterator (issue 11: memory per open stream): only a read
 * in progress (`read`, a loop) holds a frame. An error's message never quotes the credentials
 * the request was sent with (an upstream error event may).
 */
class StreamAttempt<Chunk extends { id: string; model: string }> implements AsyncIterable<Chunk>, AsyncIterator<Chunk> {
  private state: "new" | "open" | "done" = "new";
  private res: StreamedAnswer | undefined;
  /** The headers and URL the request was sent with. */
  private sentHeaders: Record<string, string> = {};
  private sentUrl: string | undefined;
  private events: AsyncIterator<SseEvent> | undefined;
  /** The chunks of the last event not read yet. */
  private queue: Chunk[] = [];
  private at = 0;
  private id = "";
  private model = "";
  /** The last read's promise: a return or throw waits for it, as a generator queues them. */
  private last: Promise<unknown> | undefined;
  /**
   * The request's own signal, which follows the call's until the terminal event (this object is
   * the call signal's abort listener, `handleEvent`): a call ends (and connect aborts its signal)
   * as soon as its last chunk is out, and the upstream's body may end a little after its terminal
   * event; aborting it then would cost the connection.
   */
  private readonly request = new AbortController();

  constructor(
    private send: ((signal: AbortSignal) => Promise<Sent>) | undefined,
    private readonly framing: Framing,
    private readonly limits: EventLimits,
    private readonly decoder: StreamDecoder<Chunk>,
    private readonly provider: Provider,
    private readonly call: UpstreamCall,
    private readonly closing: (id: string, model: string, usage: UsageInit) => Chunk,
  ) {
    if (call.signal.aborted) this.handleEvent();
    else call.signal.addEventListener("abort", this, { once: true });
  }

  /** The call's abort: the request's too (until `detach`). */
  handleEvent(): void {
    this.request.abort(this.call.signal.reason);
  }

  /** Stops the call's abort from reaching the request (after the terminal event). */
  private detach(): void {
    this.call.signal.removeEventListener("abort", this);
  }

  [Symbol.asyncIterator](): AsyncIterator<Chunk> {
    return this;
  }

  next(): Promise<IteratorResult<Chunk>> {
    let p: Promise<IteratorResult<Chunk>>;
    if (this.at < this.queue.length) p = Promise.resolve(this.take());
    else if (this.state === "open") p = this.read();
    else if (this.state === "done") p = Promise.resolve(finished<Chunk>());
    else {
      this.state = "open";
      const send = this.send!;
      this.send = undefined;
      p = send(this.request.signal).then(
        (sent) => this.started(sent),
        (err: unknown): never => {
          this.state = "done";
          throw err;
        },
      );
    }
    this.last = p;
    return p;
  }

  return(value?: unknown): Promise<IteratorResult<Chunk>> {
    return this.afterLast(() =>
      this.state === "open" ? this.close(true).then(() => finished<Chunk>(value), (err: unknown) => this.mapped(err)) : this.end(finished<Chunk>(value)),
    );
  }

  throw(err?: unknown): Promise<IteratorResult<Chunk>> {
    return this.afterLast(() => (this.state === "open" ? this.failWith(err) : this.end(Promise.reject(err))));
  }

  /** Closes the events and the request, then fails with `err` mapped (a failure to close is dropped, as a for-await loop's). */
  private failWith(err: unknown): Promise<never> {
    const fail = (): never => this.mapped(err);
    return this.close(true).then(fail, fail);
  }

  private mapped(err: unknown): never {
    throw withoutCredentials(failure(this.provider, this.call, err), this.sentHeaders, this.sentUrl);
  }

  private afterLast(then: () => Promise<IteratorResult<Chunk>>): Promise<IteratorResult<Chunk>> {
    const last = this.last;
    return last === undefined ? then() : last.then(then, then);
  }

  private end(result: IteratorResult<Chunk> | Promise<never>): Promise<IteratorResult<Chunk>> {
    this.state = "done";
    this.send = undefined;
    this.queue = [];
    return Promise.resolve(result);
  }

  private started({ res, headers, url }: Sent): Promise<IteratorResult<Chunk>> {
    this.sentHeaders = headers;
    this.sentUrl = url;
    const framing = this.framing;
    const contentType = res.headers["content-type"];
    if (typeof contentType !== "string" || !framing.contentTypes.some((t) => contentType.includes(t))) {
      this.state = "done";
      res.body.destroy();
      throw badUpstreamResponse(this.provider.name, `expected ${framing.contentTypes[0]}, got ${String(contentType)}`);
    }
    this.res = res;
    this.events = framing.events(res.body, this.limits)[Symbol.asyncIterator]();
    return this.read();
  }

  private take(): IteratorResult<Chunk> {
    const chunk = this.queue[this.at++]!;
    this.id = chunk.id || this.id;
    this.model = chunk.model || this.model;
    return { done: false, value: chunk };
  }

  /**
   * The next chunk: from the next events, or the closing chunk once the decoder is done. A loop:
   * returning the next read's promise from each event's callback instead would chain one pending
   * promise per event that gives no chunk (keep-alives, empty deltas), all held until a chunk came,
   * so an upstream sending only those grew the heap by the second.
   */
  private async read(): Promise<IteratorResult<Chunk>> {
    for (;;) {
      if (this.decoder.done) return this.complete();
      let r: IteratorResult<SseEvent>;
      try {
        r = await this.events!.next();
      } catch (err) {
        await this.close(false);
        return this.mapped(err);
      }
      if (r.done === true) return this.finish();
      try {
        this.queue = this.decoder.push(r.value);
        this.at = 0;
      } catch (err) {
        // A decoder error (an upstream error event): the events are closed, as a for-await loop does.
        return this.failWith(err);
      }
      if (this.at < this.queue.length) return this.take();
    }
  }

  /**
   * The decoder saw the provider's terminal event: the closing chunk, at once. What is left of the
   * body (normally nothing but its end, in the same read) is read in the background by `settle`,
   * so the request ends as a complete response whose connection goes back to the pool, rather
   * than being aborted (which built an undici RequestAbortedError, stack trace and all, for
   * every stream: ~50 µs).
   */
  private complete(): Promise<IteratorResult<Chunk>> {
    this.state = "done";
    this.queue = [];
    const events = this.events;
    const res = this.res;
    this.events = undefined;
    this.detach();
    if (events !== undefined && res !== undefined) settle(events, res.body);
    return Promise.resolve({ done: false, value: this.closing(this.id, this.model, this.decoder.usage()) });
  }

  /** The events ended by themselves: the closing chunk if the decoder is done, else UNAVAILABLE. */
  private finish(): Promise<IteratorResult<Chunk>> {
    return this.close(false).then(() => {
      if (!this.decoder.done) throw unavailable(`${this.provider.name}: upstream stream ended before it was complete`);
      return { done: false, value: this.closing(this.id, this.model, this.decoder.usage()) };
    }, (err: unknown) => this.mapped(err));
  }

  /**
   * Ends the upstream request (the caller stopped early, an error, or we are done): the events
   * closed first when they did not end by themselves (`early`), then the body destroyed.
   */
  private close(early: boolean): Promise<void> {
    this.state = "done";
    this.queue = [];
    const events = this.events;
    const res = this.res;
    this.events = undefined;
    const destroy = () => {
      if (res !== undefined) res.body.destroy();
    };
    if (!early || events?.return === undefined) {
      destroy();
      return Promise.resolve();
    }
    return events.return().then(destroy, (err: unknown) => {
      destroy();
      throw err;
    });
  }
}

/** How long, and for how many events, `settle` reads a body after its stream's terminal event. */
const SETTLE_MS = 1_000;
const SETTLE_EVENTS = 8;

/**
 * Reads what follows a stream's terminal event (an upstream that keeps sending after it gets at
 * most SETTLE_EVENTS events or SETTLE_MS read), then lets go of the body: ended, it leaves its
 * connection to the pool; not ended, it is destroyed (the request aborted). Never throws.
 */
function settle(events: AsyncIterator<SseEvent>, body: UpstreamBody): void {
  let left = SETTLE_EVENTS;
  const timer = setTimeout(() => body.destroy(), SETTLE_MS);
  timer.unref();
  const done = () => {
    clearTimeout(timer);
    body.destroy();
    // Ended or not, the events give back what they hold (HeldAnswers).
    events.return?.().catch(ignore);
  };
  const step = (r: IteratorResult<SseEvent>): Promise<void> | void => {
    if (r.done === true || --left < 0 || body.destroyed) return done();
    return events.next().then(step);
  };
  events.next().then(step).catch(done);
}


function ignore(): void {}

/** An attempt's chunks, its span ended when the stream does (or is abandoned). */
async function* tracedStream<Chunk extends { model: string }>(chunks: AsyncIterable<Chunk>, attempt: UpstreamAttempt, signal: AbortSignal): AsyncGenerator<Chunk> {
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

/**
 * At most `cap` bytes of a body, within `timeoutMs` (as requestBuffered: a body trickling in
 * never trips undici's gap timeout; past the time, BodyTimeoutError).
 */
async function readCapped(body: UpstreamBody, cap: number, timeoutMs: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  const deadline = performance.now() + timeoutMs;
  for await (const chunk of body) {
    if (performance.now() > deadline) throw new undiciErrors.BodyTimeoutError();
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

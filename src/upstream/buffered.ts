// One upstream request whose whole answer is read into memory (the unary JSON calls): undici's
// dispatch with a handler that gathers the body's chunks. What `request()` adds per call and a
// body read whole does not need is left out: an AsyncResource, a Readable stream for the body
// (its buffering, nextTicks and consume machinery), and the URL parse (origin and path are
// cached per URL). Same options, timeouts and errors as `request()`.
import type { IncomingHttpHeaders } from "node:http";
import { errors as undiciErrors, type Dispatcher } from "undici";
import { OversizeAnswerError, type HeldAnswers } from "./limits";

export interface BufferedAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** What every upstream request is sent with (requestBuffered's and requestStreamed's options). */
export interface DispatchOptions {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  headersTimeout: number;
  /** The longest gap between two pieces of the body (undici's; not counted while the reader holds the connection paused). */
  bodyTimeout: number;
  /** Aborts the request with its reason (rejects with it, as request() does; after the head, the body's next read). */
  signal: AbortSignal;
}

export interface BufferedRequest extends DispatchOptions {
  /**
   * The longest gap between two pieces of the body (undici's), and also the longest the whole
   * body may take after the head: an upstream trickling bytes (a keep-alive every few seconds)
   * never trips the gap, so it would hold the call forever. Past it: BodyTimeoutError.
   */
  bodyTimeout: number;
  /** Told the status as soon as the response's head is in (before the body). */
  onStatus?: (statusCode: number) => void;
  /** The most bytes kept of an answer that is not 2xx (the rest is not read: the connection is closed). */
  maxErrorBytes: number;
  /** The most bytes of a 2xx answer: a longer one rejects with OversizeAnswerError (the connection is closed). */
  maxBytes: number;
  /** What all answers hold at once: the body is taken from it as it comes, given back once answered. */
  held?: HeldAnswers;
}

/** origin and path of each URL sent to (a provider's few URLs), bounded. */
const targets = new Map<string, { origin: string; path: string }>();
const MAX_TARGETS = 1024;

export function targetOf(url: string): { origin: string; path: string } {
  let t = targets.get(url);
  if (t === undefined) {
    const u = new URL(url);
    t = { origin: u.origin, path: u.pathname + u.search };
    if (targets.size >= MAX_TARGETS) targets.delete(targets.keys().next().value!);
    targets.set(url, t);
  }
  return t;
}

export function requestBuffered(dispatcher: Dispatcher, url: string, opts: BufferedRequest): Promise<BufferedAnswer> {
  const { signal } = opts;
  if (signal.aborted) return Promise.reject(signal.reason);
  const { origin, path } = targetOf(url);
  return new Promise<BufferedAnswer>((resolve, reject) => {
    const call = new BufferedCall(opts, resolve, reject);
    signal.addEventListener("abort", call);
    try {
      dispatcher.dispatch(
        { origin, path, method: opts.method as Dispatcher.HttpMethod, headers: opts.headers, body: opts.body, headersTimeout: opts.headersTimeout, bodyTimeout: opts.bodyTimeout },
        call,
      );
    } catch (err) {
      call.settle(err);
    }
  });
}

/**
 * One request of requestBuffered: undici's handler, and the abort listener of the request's
 * signal (handleEvent). One object with its methods on the prototype rather than a handler of
 * closures over the request's state (issue 11: what a call in flight holds).
 */
class BufferedCall implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private statusCode = 0;
  private headers: IncomingHttpHeaders = {};
  /** When the whole body must be in (performance.now()), set once the head is. */
  private bodyDeadline = Infinity;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private settled = false;

  constructor(
    private readonly opts: BufferedRequest,
    private readonly resolve: (answer: BufferedAnswer) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  settle(err: unknown, answer?: BufferedAnswer): void {
    if (this.settled) return;
    this.settled = true;
    this.opts.held?.give(this.size);
    this.opts.signal.removeEventListener("abort", this);
    if (answer !== undefined) this.resolve(answer);
    else this.reject(err);
  }

  /** The signal's abort. */
  handleEvent(): void {
    const { signal } = this.opts;
    if (this.controller !== undefined) this.controller.abort(signal.reason);
    else this.settle(signal.reason);
  }

  private answer(): BufferedAnswer {
    const { chunks, size } = this;
    return { statusCode: this.statusCode, headers: this.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) };
  }

  onRequestStart(c: Dispatcher.DispatchController): void {
    this.controller = c;
    if (this.settled) c.abort(this.opts.signal.reason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, status: number, responseHeaders: IncomingHttpHeaders): void {
    if (status < 200) return; // 1xx: informational, the answer is still to come
    this.statusCode = status;
    this.headers = responseHeaders;
    this.bodyDeadline = performance.now() + this.opts.bodyTimeout;
    this.opts.onStatus?.(status);
  }

  onResponseData(c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.settled) return;
    const { opts } = this;
    if (opts.held !== undefined && !opts.held.take(chunk.length)) {
      this.chunks.length = 0;
      const err = opts.held.full();
      this.settle(err);
      c.abort(err);
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Checked as pieces come (a trickle sends them); a body that stops is undici's gap timeout.
    if (performance.now() > this.bodyDeadline) {
      const err = new undiciErrors.BodyTimeoutError();
      // An error answer still answers with its status and what came of it.
      if (this.statusCode >= 300) this.settle(undefined, this.answer());
      else this.settle(err);
      c.abort(err);
      return;
    }
    if (this.statusCode >= 200 && this.statusCode < 300) {
      if (this.size > opts.maxBytes) {
        this.chunks.length = 0;
        this.settle(new OversizeAnswerError(`body is larger than ${opts.maxBytes} bytes`));
        c.abort(new Error("body larger than its cap"));
      }
    } else if (this.size >= opts.maxErrorBytes) {
      // Enough of an error body: answer with it and stop reading (as readCapped did).
      this.settle(undefined, this.answer());
      c.abort(new Error("error body read up to its cap"));
    }
  }

  onResponseEnd(): void {
    this.settle(undefined, this.answer());
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.opts.signal.aborted) this.settle(this.opts.signal.reason);
    // An error answer whose body broke off still answers with its status (and what came of it).
    else if (this.statusCode >= 300) this.settle(undefined, this.answer());
    else this.settle(err);
  }
}

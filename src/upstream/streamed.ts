// One upstream request whose answer is read as it comes (streams, and bodies read in pieces):
// undici's dispatch with a handler that hands each chunk to the reader, rather than `request()`
// and the Readable it builds for the body (its buffering, nextTicks, listeners and AsyncResource:
// CPU per streamed call and memory per open stream, issue 11). Same options, timeouts and errors
// as `request()`: the promise settles with the response's head, the body is an async iterator
// of its chunks with backpressure (the connection is paused while more than HIGH_WATER bytes
// wait to be read), and the request's signal aborts it before or after the head.
import type { IncomingHttpHeaders } from "node:http";
import type { Dispatcher } from "undici";
import { targetOf, type DispatchOptions } from "./buffered";

/** Bytes received and not read yet past which the connection is paused (a Readable's default). */
const HIGH_WATER = 64 * 1024;


export interface StreamedAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

export function requestStreamed(dispatcher: Dispatcher, url: string, opts: DispatchOptions): Promise<StreamedAnswer> {
  const { signal } = opts;
  if (signal.aborted) return Promise.reject(signal.reason);
  const { origin, path } = targetOf(url);
  return new Promise<StreamedAnswer>((resolve, reject) => {
    const body = new UpstreamBody(signal, resolve, reject);
    try {
      dispatcher.dispatch(
        { origin, path, method: opts.method as Dispatcher.HttpMethod, headers: opts.headers, body: opts.body, headersTimeout: opts.headersTimeout, bodyTimeout: opts.bodyTimeout },
        body,
      );
    } catch (err) {
      body.onResponseError(undefined, err as Error);
    }
  });
}

type Waiting = { resolve(r: IteratorResult<Uint8Array>): void; reject(err: unknown): void };

/**
 * A response's body as it arrives. What a Readable's async iterator gives: its chunks in order,
 * its error once (then done), done at its end; a return (or `destroy`) before the end aborts the
 * request, so the connection is closed rather than left with a body nobody reads. It is also the
 * request's dispatch handler and the listener of its signal's abort (`handleEvent`): one object
 * per request, no closures (issue 11: memory per open stream).
 */
export class UpstreamBody implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array>, Dispatcher.DispatchHandler {
  /** Until the response's head is in: settles the request's promise. */
  private head: { resolve(answer: StreamedAnswer): void; reject(err: unknown): void } | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private chunks: Buffer[] = [];
  private at = 0;
  private queued = 0;
  private paused = false;
  private waiting: Waiting | undefined;
  private error: unknown;
  /** "open" while the body comes; "ended" at its end; "failed" with `error` not read yet; "done" after. */
  private state: "open" | "ended" | "failed" | "done" = "open";

  constructor(
    private readonly signal: AbortSignal,
    resolve: (answer: StreamedAnswer) => void,
    reject: (err: unknown) => void,
  ) {
    this.head = { resolve, reject };
    signal.addEventListener("abort", this);
  }

  /** The signal's abort. */
  handleEvent(): void {
    if (this.controller !== undefined) this.controller.abort(this.signal.reason);
    else this.onResponseError(undefined, this.signal.reason as Error);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  /** The request is over, or nobody reads it any more. */
  get destroyed(): boolean {
    return this.state !== "open";
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.at < this.chunks.length) return Promise.resolve({ done: false, value: this.shift() });
    if (this.state === "failed") {
      this.state = "done";
      return Promise.reject(this.error);
    }
    if (this.state !== "open") return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
    this.destroy();
    return Promise.resolve({ done: true, value });
  }

  throw(err?: unknown): Promise<IteratorResult<Uint8Array>> {
    this.destroy();
    return Promise.reject(err);
  }

  /** Stops reading: a request not over is aborted (its connection closed); what was queued is dropped. */
  destroy(): void {
    const open = this.state === "open";
    this.state = "done";
    this.drop();
    this.waiting?.resolve({ done: true, value: undefined });
    this.waiting = undefined;
    if (open) this.controller?.abort(new Error("upstream body not read to its end"));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal.aborted) controller.abort(this.signal.reason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    const head = this.head;
    if (statusCode < 200 || head === undefined) return; // 1xx: informational, the answer is still to come
    this.head = undefined;
    head.resolve({ statusCode, headers: headers as IncomingHttpHeaders, body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.state !== "open") return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting.resolve({ done: false, value: chunk });
      return;
    }
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER && !this.paused) {
      this.paused = true;
      controller.pause();
    }
  }

  onResponseEnd(): void {
    if (this.state !== "open") return;
    this.state = "ended";
    this.signal.removeEventListener("abort", this);
    this.waiting?.resolve({ done: true, value: undefined });
    this.waiting = undefined;
  }

  /** The request failed: before the head, its promise rejects; after, the next read does (after the chunks queued before it). */
  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    this.signal.removeEventListener("abort", this);
    const head = this.head;
    if (head !== undefined) {
      this.head = undefined;
      this.state = "done";
      head.reject(this.signal.aborted ? this.signal.reason : err);
      return;
    }
    if (this.state !== "open") return;
    this.error = this.signal.aborted ? this.signal.reason : err;
    const waiting = this.waiting;
    if (waiting === undefined) {
      this.state = "failed";
      return;
    }
    this.state = "done";
    this.waiting = undefined;
    waiting.reject(this.error);
  }

  private shift(): Buffer {
    const chunk = this.chunks[this.at++]!;
    this.queued -= chunk.length;
    if (this.at === this.chunks.length) {
      this.chunks = [];
      this.at = 0;
    }
    if (this.paused && this.queued <= HIGH_WATER / 2 && this.state === "open") {
      this.paused = false;
      this.controller?.resume();
    }
    return chunk;
  }

  private drop(): void {
    this.signal.removeEventListener("abort", this);
    this.chunks = [];
    this.at = 0;
    this.queued = 0;
  }
}

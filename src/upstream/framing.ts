// How a streamed upstream body is cut into events. Providers differ: OpenAI, Anthropic, Gemini
// and Cohere send Server-Sent Events, Ollama sends one JSON object per line, Bedrock sends AWS
// event-stream binary frames. Each framing yields SseEvent-shaped events for the decoders, and
// holds at most `maxEventBytes` of an event that has not ended, and only what the process-wide
// HeldAnswers admits (OversizeAnswerError past either). What it holds is given back when the
// stream ends, fails or is returned.
import { Readable } from "node:stream";
import { createParser } from "eventsource-parser";
import { awsEventStreamEvents } from "./aws-eventstream";
import { defaultEventLimits, oversizeEvent, type EventLimits } from "./limits";
import type { SseEvent } from "./wire";

export type Framing = (body: AsyncIterable<Uint8Array>, limits?: EventLimits) => AsyncIterable<SseEvent>;


/**
 * Server-Sent Events, parsed by eventsource-parser. A plain iterator rather than an async
 * generator: nothing of its own stays suspended while the stream is open (issue 11: memory per
 * open stream). A return or throw closes the body's iterator, as a for-await loop does. The
 * parser's buffers (a line not ended, the data lines of an event not ended) are bounded by its
 * `maxBufferSize`, which counts characters (UTF-16 units): never more than the UTF-8 bytes they
 * came from, so an event is refused only when it is larger than `maxEventBytes` bytes. What it
 * holds, for HeldAnswers: the characters fed since the last event or comment ended (a close
 * estimate: at most one chunk more than the parser's buffers).
 */
export function sseEvents(body: AsyncIterable<Uint8Array>, limits = defaultEventLimits()): AsyncIterable<SseEvent> {
  return new SseEvents(body, limits);
}

class SseEvents implements AsyncIterable<SseEvent>, AsyncIterator<SseEvent> {
  /** Events parsed and not read yet, from `at`. */
  private pending: SseEvent[] = [];
  private at = 0;
  private readonly parser;
  /** The parser held more than maxEventBytes of an event: the stream fails. */
  private overflowed = false;
  /** An event or a comment ended in the last feed: the parser's buffers were emptied. */
  private ended = false;
  /** What this stream has taken of limits.held. */
  private held = 0;
  private readonly utf8 = new TextDecoder();
  private bytes: AsyncIterator<Uint8Array> | undefined;
  private done = false;

  constructor(
    private readonly body: AsyncIterable<Uint8Array>,
    private readonly limits: EventLimits,
  ) {
    this.parser = createParser({
      maxBufferSize: limits.maxEventBytes,
      onEvent: (e) => {
        this.ended = true;
        this.pending.push(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data });
      },
      onComment: () => {
        this.ended = true;
      },
      onError: (err) => {
        if (err.type === "max-buffer-size-exceeded") this.overflowed = true;
      },
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<SseEvent> {
    return this;
  }

  next(): Promise<IteratorResult<SseEvent>> {
    if (this.at < this.pending.length) return Promise.resolve(this.shift());
    if (this.done) return Promise.resolve({ done: true, value: undefined });
    return this.fill();
  }

  private shift(): IteratorResult<SseEvent> {
    const event = this.pending[this.at++]!;
    if (this.at === this.pending.length) {
      this.pending = [];
      this.at = 0;
    }
    return { done: false, value: event };
  }

  /**
   * Reads chunks until one completes an event. A loop: returning the next read's promise from each
   * chunk's callback would chain one pending promise per chunk without an event (keep-alive
   * comments), held until an event came. A failed read fails this one; the body's iterator is done
   * after it, and so is this.
   */
  private async fill(): Promise<IteratorResult<SseEvent>> {
    const bytes = (this.bytes ??= chunksOf(this.body));
    try {
      for (;;) {
        const r = await bytes.next();
        if (r.done === true || this.done) {
          this.done = true;
          this.release();
          return { done: true, value: undefined };
        }
        const text = this.utf8.decode(r.value, { stream: true });
        this.ended = false;
        this.parser.feed(text);
        if (this.overflowed) throw oversizeEvent(this.limits.maxEventBytes);
        this.hold(this.ended ? 0 : this.held + text.length);
        if (this.at < this.pending.length) return this.shift();
      }
    } catch (err) {
      this.release();
      throw err;
    }
  }

  /** Holds `chars` of limits.held from now (more taken, or less given back). */
  private hold(chars: number): void {
    this.limits.held.resize(this.held, chars);
    this.held = chars;
  }

  private release(): void {
    this.limits.held.give(this.held);
    this.held = 0;
  }

  return(value?: unknown): Promise<IteratorResult<SseEvent>> {
    const bytes = this.end();
    const result: IteratorResult<SseEvent> = { done: true, value };
    return bytes?.return ? bytes.return().then(() => result) : Promise.resolve(result);
  }

  throw(err?: unknown): Promise<IteratorResult<SseEvent>> {
    const bytes = this.end();
    const fail = (): never => {
      throw err;
    };
    return bytes?.return ? bytes.return().then(fail, fail) : Promise.reject(err);
  }

  private end(): AsyncIterator<Uint8Array> | undefined {
    const bytes = this.done ? undefined : this.bytes;
    this.done = true;
    this.release();
    this.pending = [];
    this.at = 0;
    return bytes;
  }
}

/** The chunks of a body: a Node Readable (undici's response body) read by ReadableChunks. */
function chunksOf(body: AsyncIterable<Uint8Array>): AsyncIterator<Uint8Array> {
  return body instanceof Readable ? new ReadableChunks(body) : body[Symbol.asyncIterator]();
}

const prematureClose = () => Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });

/**
 * What a Readable's async iterator gives (its chunks; its error once, or ERR_STREAM_PREMATURE_CLOSE
 * when it closes before its end; a return destroys it), without Node's async generator and its
 * end-of-stream listeners, kept for the stream's life (issue 11: memory per open stream). One
 * listener for 'readable', 'end', 'error' and 'close': each answer is read off the stream's state.
 */
class ReadableChunks implements AsyncIterator<Uint8Array> {
  private waiting: { resolve(r: IteratorResult<Uint8Array>): void; reject(err: unknown): void } | undefined;
  private listening = false;
  private finished = false;
  private readonly wake = () => {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    const r = this.poll();
    if (r === undefined) return;
    this.waiting = undefined;
    if ("error" in r) waiting.reject(r.error);
    else waiting.resolve(r);
  };

  constructor(private readonly body: Readable) {}

  next(): Promise<IteratorResult<Uint8Array>> {
    const r = this.poll();
    if (r !== undefined) return "error" in r ? Promise.reject(r.error) : Promise.resolve(r);
    if (!this.listening) {
      this.listening = true;
      for (const event of ["readable", "end", "error", "close"]) this.body.on(event, this.wake);
    }
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(value?: unknown): Promise<IteratorResult<Uint8Array>> {
    this.stop();
    return Promise.resolve({ done: true, value });
  }

  throw(err?: unknown): Promise<IteratorResult<Uint8Array>> {
    this.stop();
    return Promise.reject(err);
  }

  /** The answer the stream's state gives now; undefined: wait for it to change. */
  private poll(): IteratorResult<Uint8Array> | { error: unknown } | undefined {
    if (this.finished) return { done: true, value: undefined };
    const body = this.body;
    const chunk = body.destroyed ? null : (body.read() as Uint8Array | null);
    if (chunk !== null) return { done: false, value: chunk };
    if (body.readableEnded) return this.end({ done: true, value: undefined });
    if (body.errored) return this.end({ error: body.errored });
    if (body.destroyed) return this.end({ error: prematureClose() });
    return undefined;
  }

  private end<R>(r: R): R {
    this.finished = true;
    this.detach();
    return r;
  }

  private detach(): void {
    if (!this.listening) return;
    this.listening = false;
    for (const event of ["readable", "end", "error", "close"]) this.body.off(event, this.wake);
  }

  /** A return: the stream is destroyed (its 'error' then heard: undici emits one for an unread body). */
  private stop(): void {
    this.finished = true;
    this.detach();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ done: true, value: undefined });
    if (!this.body.destroyed) {
      this.body.on("error", ignore);
      this.body.destroy();
    }
  }
}

function ignore(): void {}

/**
 * Newline-delimited JSON: each non-empty line is one event's data. A line not ended is held: at
 * most `maxEventBytes` characters (as above), and taken from limits.held.
 */
export async function* ndjsonEvents(body: AsyncIterable<Uint8Array>, limits = defaultEventLimits()): AsyncGenerator<SseEvent> {
  const utf8 = new TextDecoder();
  let rest = "";
  let held = 0;
  try {
    for await (const bytes of body) {
      rest += utf8.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl).trim();
        rest = rest.slice(nl + 1);
        if (line) yield { data: line };
      }
      if (rest.length > limits.maxEventBytes) throw oversizeEvent(limits.maxEventBytes);
      limits.held.resize(held, rest.length);
      held = rest.length;
    }
  } finally {
    limits.held.give(held);
    held = 0;
  }
  const last = rest.trim();
  if (last) yield { data: last };
}

export const framings = {
  sse: { contentTypes: ["text/event-stream"], events: sseEvents },
  ndjson: { contentTypes: ["application/x-ndjson", "application/json"], events: ndjsonEvents },
  "aws-eventstream": { contentTypes: ["application/vnd.amazon.eventstream"], events: awsEventStreamEvents },
} as const satisfies Record<string, { contentTypes: readonly string[]; events: Framing }>;

export type FramingName = keyof typeof framings;

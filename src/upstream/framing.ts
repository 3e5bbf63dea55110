// How a streamed upstream body is cut into events. Providers differ: OpenAI, Anthropic, Gemini
// and Cohere send Server-Sent Events, Ollama sends one JSON object per line, Bedrock sends AWS
// event-stream binary frames. Each framing yields SseEvent-shaped events for the decoders, and
// holds at most `maxEventBytes` of an event that has not ended, and only what the process-wide
// HeldAnswers admits (OversizeAnswerError past either). What it holds is given back when the
// stream ends, fails or is returned.
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
    const bytes = (this.bytes ??= this.body[Symbol.asyncIterator]());
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

// How a streamed upstream body is cut into events. Providers differ: OpenAI, Anthropic, Gemini
// and Cohere send Server-Sent Events, Ollama sends one JSON object per line, Bedrock sends AWS
// event-stream binary frames. Each framing yields SseEvent-shaped events for the decoders.
import { createParser } from "eventsource-parser";
import { awsEventStreamEvents } from "./aws-eventstream";
import type { SseEvent } from "./wire";

export type Framing = (body: AsyncIterable<Uint8Array>) => AsyncIterable<SseEvent>;

/**
 * Server-Sent Events, parsed by eventsource-parser. A plain iterator rather than an async
 * generator: nothing of its own stays suspended while the stream is open (issue 11: memory per
 * open stream). A return or throw closes the body's iterator, as a for-await loop does.
 */
export function sseEvents(body: AsyncIterable<Uint8Array>): AsyncIterable<SseEvent> {
  return new SseEvents(body);
}

class SseEvents implements AsyncIterable<SseEvent>, AsyncIterator<SseEvent> {
  /** Events parsed and not read yet, from `at`. */
  private pending: SseEvent[] = [];
  private at = 0;
  private readonly parser = createParser({
    onEvent: (e) => this.pending.push(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data }),
  });
  private readonly utf8 = new TextDecoder();
  private bytes: AsyncIterator<Uint8Array> | undefined;
  private done = false;

  constructor(private readonly body: AsyncIterable<Uint8Array>) {}

  [Symbol.asyncIterator](): AsyncIterator<SseEvent> {
    return this;
  }

  next(): Promise<IteratorResult<SseEvent>> {
    if (this.at < this.pending.length) {
      const event = this.pending[this.at++]!;
      if (this.at === this.pending.length) {
        this.pending = [];
        this.at = 0;
      }
      return Promise.resolve({ done: false, value: event });
    }
    if (this.done) return Promise.resolve({ done: true, value: undefined });
    // A failed read fails this one; the body's iterator is done after it, and so is this.
    return (this.bytes ??= this.body[Symbol.asyncIterator]()).next().then(this.onBytes);
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
    this.pending = [];
    this.at = 0;
    return bytes;
  }

  private readonly onBytes = (r: IteratorResult<Uint8Array>): IteratorResult<SseEvent> | Promise<IteratorResult<SseEvent>> => {
    if (r.done === true) {
      this.done = true;
      return { done: true, value: undefined };
    }
    this.parser.feed(this.utf8.decode(r.value, { stream: true }));
    return this.next();
  };
}

/** Newline-delimited JSON: each non-empty line is one event's data. */
export async function* ndjsonEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const utf8 = new TextDecoder();
  let rest = "";
  for await (const bytes of body) {
    rest += utf8.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield { data: line };
    }
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

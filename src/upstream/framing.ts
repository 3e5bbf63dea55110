// How a streamed upstream body is cut into events. Providers differ: OpenAI, Anthropic, Gemini
// and Cohere send Server-Sent Events, Ollama sends one JSON object per line, Bedrock sends AWS
// event-stream binary frames. Each framing yields SseEvent-shaped events for the decoders.
import { createParser } from "eventsource-parser";
import { awsEventStreamEvents } from "./aws-eventstream";
import type { SseEvent } from "./wire";

export type Framing = (body: AsyncIterable<Uint8Array>) => AsyncGenerator<SseEvent>;

/** Server-Sent Events, parsed by eventsource-parser. */
export async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const pending: SseEvent[] = [];
  const parser = createParser({
    onEvent: (e) => pending.push(e.event === undefined ? { data: e.data } : { event: e.event, data: e.data }),
  });
  const utf8 = new TextDecoder();
  for await (const bytes of body) {
    parser.feed(utf8.decode(bytes, { stream: true }));
    for (let i = 0; i < pending.length; i++) yield pending[i]!;
    pending.length = 0;
  }
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

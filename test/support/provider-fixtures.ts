// The provider fixtures of test/fixtures/<provider>/<case>/ as the tests read them: one Case per
// folder, its input.json, and the provider's translators run on a fixture's upstream answer or
// stream (test/unit/providers.spec.ts checks them against the expected files; test/fuzz/
// upstream-answers.spec.ts feeds them mutated answers).
import { readdirSync, readFileSync } from "node:fs";
import { createParser } from "eventsource-parser";
import { z } from "zod";
import { ndjsonEvents } from "../../src/upstream/framing";
import type { Provider } from "../../src/providers/types";
import type { SseEvent, StreamDecoder } from "../../src/upstream/wire";

export const fixturesRoot = new URL("../fixtures/", import.meta.url);

export const inputFile = z.strictObject({
  operation: z.enum(["chat", "complete", "embed", "predict"]),
  stream: z.boolean().default(false),
  target: z.strictObject({ name: z.string(), config: z.record(z.string(), z.unknown()) }).optional(),
  /** The modelgate request as proto JSON (ChatRequest, CompleteRequest, EmbedRequest, PredictRequest). */
  params: z.record(z.string(), z.json()).default({}),
});
export type Input = z.infer<typeof inputFile>;

export class Case {
  constructor(readonly dir: URL, readonly files: ReadonlySet<string>) {}
  has(name: string): boolean {
    return this.files.has(name);
  }
  text(name: string): string {
    return readFileSync(new URL(name, this.dir), "utf8");
  }
  json(name: string): unknown {
    return JSON.parse(this.text(name)) as unknown;
  }
  input(): Input {
    return inputFile.parse(this.json("input.json"));
  }
}

export function subdirectories(dir: URL): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/** Every case of one provider's fixture folder. */
export function providerCases(providerName: string): { name: string; case: Case }[] {
  const providerDir = new URL(`${providerName}/`, fixturesRoot);
  return subdirectories(providerDir).map((name) => {
    const dir = new URL(`${name}/`, providerDir);
    return { name, case: new Case(dir, new Set(readdirSync(dir))) };
  });
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`fixture needs ${what}`);
  return value;
}

export function translateResponse(provider: Provider, input: Input, body: unknown): unknown {
  switch (input.operation) {
    case "chat":
      return need(provider.chat, "chat").response(body);
    case "complete":
      return need(provider.complete, "complete").response(body);
    case "embed":
      return need(provider.embed, "embed").response(body);
    case "predict":
      return need(provider.predict, "predict").response(body);
  }
}

export function streamDecoder(provider: Provider, input: Input): StreamDecoder<unknown> {
  if (input.operation === "chat") return need(provider.chat, "chat").streamDecoder();
  if (input.operation === "complete") return need(provider.complete, "complete").streamDecoder();
  throw new Error(`${input.operation} does not stream`);
}

/** NDJSON text (Ollama's streams) to events the way the upstream client delivers them. */
export async function parseNdjson(text: string): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const body = (async function* () {
    yield new TextEncoder().encode(text);
  })();
  for await (const event of ndjsonEvents(body)) events.push(event);
  return events;
}

/** SSE text to events the way the upstream client delivers them. */
export function parseSse(text: string): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = createParser({
    onEvent: ({ event, data }) => events.push(event === undefined ? { data } : { event, data }),
  });
  parser.feed(text);
  return events;
}

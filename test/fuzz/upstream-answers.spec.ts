// Hostile upstreams: every provider's recorded answers and streams (test/fixtures/<provider>/),
// mutated one value at a time (numbers past what the fields carry, wrong types, nulls, lone
// surrogates, huge and deeply nested values, removed keys), through the provider's translator.
// Whatever an upstream sends, the translator either refuses it with a precise error (a
// ConnectError whose code is not INTERNAL/UNKNOWN/DATA_LOSS: an unexpected upstream response is
// UNAVAILABLE) or returns an answer that every protocol can carry: it encodes to binary, goes
// through JSON as a Connect client decodes it, and passes the in-process check the REST surfaces
// run (conformResponse). A TypeError or an answer that only fails at encoding is a bug: the
// caller would get INTERNAL, or a Connect JSON body its client cannot decode.
//
// A longer run: FUZZ_RUNS=2000 FUZZ_SEED=$RANDOM npx vitest run test/fuzz/upstream-answers.spec.ts
import { create, fromBinary, fromJson, fromJsonString, toBinary, toJsonString, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatResponseSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import { UsageSchema } from "../../gen/modelgate/v1/common_pb";
import { CompleteResponseSchema, StreamCompleteResponseSchema } from "../../gen/modelgate/v1/completions_pb";
import { EmbedResponseSchema } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictResponseSchema } from "../../gen/modelgate/v1/predict_pb";
import { httpProviders } from "../../src/providers/registry";
import type { ChatResult, EmbedResult, PredictResult, Provider } from "../../src/providers/types";
import { conformResponse } from "../../src/server/message-conform";
import { checkFloat32 } from "../../src/services/embeddings";
import type { SseEvent } from "../../src/upstream/wire";
import { type Case, type Input, parseNdjson, parseSse, providerCases, streamDecoder, translateResponse } from "../support/provider-fixtures";
import { brokenCodes, deepJson, fuzzRuns as runs, fuzzSeed as seed, hashText, nastyStrings, randomJson, Rng } from "./values";

/** Values that have broken translators: out of every field's range, of the wrong type, or huge. */
function hostileValue(rng: Rng): JsonValue {
  switch (rng.int(6)) {
    case 0:
      return rng.pick([2 ** 32, 2 ** 53 + 2, 1e30, 1e308, -1, -(2 ** 31) - 1, 1.5, 0, 4294967295, 9007199254740991]);
    case 1:
      return rng.pick(nastyStrings);
    case 2:
      return rng.pick([null, true, false, [], {}, "", "0", "1e30"]);
    case 3:
      return rng.chance(0.5) ? deepJson(20 + rng.int(3_000)) : Array.from({ length: 1 + rng.int(5_000) }, (_, i) => i);
    default:
      return randomJson(rng);
  }
}

type Path = (string | number)[];

/** Every place in `value` a mutation can hit (the root apart). */
function placesIn(value: JsonValue, at: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push([...at, i]), placesIn(v, [...at, i], out)));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) out.push([...at, k]), placesIn(v, [...at, k], out);
  return out;
}

/** `value` with one place replaced by a hostile value or removed; and what was done, for the report. */
function mutate(rng: Rng, value: JsonValue): { value: JsonValue; what: string } {
  const copy = structuredClone(value);
  const places = placesIn(copy);
  if (places.length === 0) return { value: hostileValue(rng), what: "the whole body replaced" };
  const path = rng.pick(places);
  let parent = copy as Record<string | number, JsonValue>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, JsonValue>;
  const last = path.at(-1)!;
  const where = path.map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join("");
  if (rng.chance(0.15) && !Array.isArray(parent)) {
    delete parent[last];
    return { value: copy, what: `${where} removed` };
  }
  const hostile = hostileValue(rng);
  parent[last] = hostile;
  return { value: copy, what: `${where} = ${JSON.stringify(hostile)?.slice(0, 80)}` };
}

/**
 * Throws what a protocol would fail with if `init` could not be carried as `schema`: the binary
 * encoding (gRPC, Connect binary) and its decoding in the caller's client, the JSON a Connect client receives (UTF-8 on the wire, so a
 * lone surrogate arrives as U+FFFD) decoded as it decodes it, and the REST surfaces' check.
 */
const utf8 = { encoder: new TextEncoder(), decoder: new TextDecoder() };
function carry(schema: DescMessage, init: object): void {
  const message = create(schema, init as never);
  fromBinary(schema, toBinary(schema, message));
  fromJsonString(schema, utf8.decoder.decode(utf8.encoder.encode(toJsonString(schema, message))));
  conformResponse(schema, message);
}

/** The answer a service builds from a translator's result, as each operation builds it. */
function carryResult(input: Input, result: unknown): void {
  switch (input.operation) {
    case "chat": {
      const r = result as ChatResult;
      return carry(ChatResponseSchema, { id: r.id, model: r.model, choices: r.choices, usage: r.usage, created: r.created, systemFingerprint: r.systemFingerprint, serviceTier: r.serviceTier });
    }
    case "complete":
      return carry(CompleteResponseSchema, result as object);
    case "embed": {
      const r = result as EmbedResult;
      checkFloat32(r.data, "fuzz");
      return carry(EmbedResponseSchema, { model: r.model, data: r.data.map((d) => ({ index: d.index, values: d.values })), usage: r.usage });
    }
    case "predict": {
      const r = result as PredictResult;
      return carry(PredictResponseSchema, { predictions: fromJson(ValueSchema, r.predictions), model: r.model ?? "", modelVersion: r.modelVersion ?? "" });
    }
  }
}

interface Failure {
  what: string;
  error: string;
}

/** A failure unless `err` is a precise refusal. */
function judge(err: unknown, what: string): Failure | undefined {
  if (err instanceof ConnectError && !brokenCodes.has(err.code)) return undefined;
  return { what, error: err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : String(err) };
}

/** Runs `events` through the provider's stream decoder, checking every chunk and the usage it reports. */
function runStream(provider: Provider, input: Input, events: SseEvent[], what: string): Failure | undefined {
  const decoder = streamDecoder(provider, input);
  const schema = input.operation === "chat" ? StreamChatResponseSchema : StreamCompleteResponseSchema;
  try {
    for (const event of events) for (const chunk of decoder.push(event)) carry(schema, chunk as object);
    const usage = decoder.usage();
    if (usage !== undefined) carry(UsageSchema, usage);
  } catch (err) {
    return judge(err, what);
  }
  return undefined;
}

/** The events of a case's recorded stream, in the framing its file holds. */
async function recordedEvents(c: Case): Promise<SseEvent[] | undefined> {
  if (c.has("stream.sse")) return parseSse(c.text("stream.sse"));
  if (c.has("stream.aws-eventstream.sse")) return parseSse(c.text("stream.aws-eventstream.sse"));
  if (c.has("stream.ndjson")) return parseNdjson(c.text("stream.ndjson"));
  return undefined;
}


describe(`hostile upstream answers through every provider's translator (seed ${seed}, ${runs} runs per case)`, () => {
  for (const [providerName, provider] of [...httpProviders].sort(([a], [b]) => a.localeCompare(b))) {
    for (const { name, case: c } of providerCases(providerName)) {
      // Answers the translator reads as they are recorded: the starting points worth mutating.
      if (c.has("response.json") && c.has("expected.json")) {
        it(`${providerName}/${name}: mutated answers`, () => {
          const rng = new Rng(seed ^ hashText(`${providerName}/${name}`));
          const input = c.input();
          const body = c.json("response.json") as JsonValue;
          const failures: Failure[] = [];
          for (let i = 0; i < runs; i++) {
            const { value, what } = mutate(rng, body);
            try {
              carryResult(input, translateResponse(provider, input, value));
            } catch (err) {
              const failure = judge(err, what);
              if (failure) failures.push(failure);
            }
          }
          expect(failures).toEqual([]);
        });
      }
      if (c.has("expected-stream.json") && !(c.json("expected-stream.json") as { error?: unknown }).error) {
        it(`${providerName}/${name}: mutated stream events`, async () => {
          const rng = new Rng(seed ^ hashText(`stream:${providerName}/${name}`));
          const input = c.input();
          const events = (await recordedEvents(c))!;
          const failures: Failure[] = [];
          for (let i = 0; i < runs; i++) {
            const at = rng.int(events.length);
            const event = events[at]!;
            let data: string;
            let what: string;
            try {
              const mutated = mutate(rng, JSON.parse(event.data) as JsonValue);
              data = JSON.stringify(mutated.value);
              what = `event ${at}: ${mutated.what}`;
            } catch {
              data = rng.pick(nastyStrings);
              what = `event ${at}: data ${JSON.stringify(data).slice(0, 40)}`;
            }
            const failure = runStream(provider, input, events.map((e, j) => (j === at ? { ...e, data } : e)), what);
            if (failure) failures.push(failure);
          }
          expect(failures).toEqual([]);
        });
      }
    }
  }
});

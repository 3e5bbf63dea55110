// Table-driven tests for the provider translators over recorded-shape fixtures.
// Each folder test/fixtures/<provider>/<case>/ is one case; the files present decide what is
// checked (see test/fixtures/README.md). Adding a provider or a case is adding a folder.
import { fromJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import type { Usage } from "../../gen/modelgate/v1/common_pb";
import { CompleteRequestSchema } from "../../gen/modelgate/v1/completions_pb";
import { EmbedRequestSchema } from "../../gen/modelgate/v1/embeddings_pb";
import { PredictRequestSchema } from "../../gen/modelgate/v1/predict_pb";
import { httpProviders } from "../../src/providers/registry";
import type { ModelTarget, Provider } from "../../src/providers/types";
import type { SseEvent, UpstreamRequest } from "../../src/upstream/wire";
import { type Case, type Input, fixturesRoot, need, parseNdjson, parseSse, providerCases, streamDecoder, subdirectories, translateResponse } from "../support/provider-fixtures";

const errorFile = z.strictObject({ code: z.string(), message: z.string() });
const usageJson = z.strictObject({
  promptTokens: z.number(),
  completionTokens: z.number(),
  totalTokens: z.number(),
  // The breakdowns, when the provider reports them.
  cachedPromptTokens: z.number().optional(),
  reasoningTokens: z.number().optional(),
  promptAudioTokens: z.number().optional(),
  completionAudioTokens: z.number().optional(),
  acceptedPredictionTokens: z.number().optional(),
  rejectedPredictionTokens: z.number().optional(),
  cacheWritePromptTokens: z.number().optional(),
});

/**
 * Results and chunks as the fixture files hold them: int64 values (`created`, audio
 * `expiresAt`) as JSON numbers, bytes (audio data, logprob bytes) as lists of byte values,
 * absent fields left out.
 */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_, v: unknown) => (typeof v === "bigint" ? Number(v) : v instanceof Uint8Array ? Array.from(v) : v)),
  ) as unknown;
}
const streamFile = z.strictObject({
  chunks: z.array(z.unknown()),
  usage: usageJson.nullable(),
  done: z.boolean(),
  error: errorFile.optional(),
});

/** Every file a case may hold; anything else is a typo that would silently skip a check. */
const knownFiles = new Set([
  "input.json", "request.json", "request-error.json", "response.json", "expected.json",
  "expected-error.json", "stream.sse", "stream.ndjson", "stream.aws-eventstream.sse", "expected-stream.json", "error-body.json",
  "expected-error-message.json", "config.json", "expected-config.json", "config-error.json",
]);

function buildRequest(provider: Provider, input: Input): UpstreamRequest {
  const raw = need(input.target, "input.target");
  // As the config loader does: the provider's schema parses the config once, defaults applied.
  const target: ModelTarget = { name: raw.name, config: provider.configSchema.parse(raw.config) };
  switch (input.operation) {
    case "chat":
      return need(provider.chat, "chat").request(fromJson(ChatRequestSchema, input.params), target, input.stream);
    case "complete":
      return need(provider.complete, "complete").request(fromJson(CompleteRequestSchema, input.params), target, input.stream);
    case "embed":
      return need(provider.embed, "embed").request(fromJson(EmbedRequestSchema, input.params), target);
    case "predict":
      return need(provider.predict, "predict").request(fromJson(PredictRequestSchema, input.params), target);
  }
}

function describeError(error: unknown): z.infer<typeof errorFile> {
  expect(error).toBeInstanceOf(ConnectError);
  const connectError = ConnectError.from(error);
  return { code: Code[connectError.code], message: connectError.rawMessage };
}

function thrownBy(run: () => unknown): z.infer<typeof errorFile> {
  try {
    run();
  } catch (error) {
    return describeError(error);
  }
  throw new Error("expected the translator to throw");
}

function plainUsage(usage: Omit<Usage, "$typeName"> | undefined): z.infer<typeof usageJson> | null {
  if (usage === undefined) return null;
  return usageJson.parse(plain(usage));
}

function runStream(provider: Provider, input: Input, events: SseEvent[], framing: string): z.infer<typeof streamFile> {
  const decoder = streamDecoder(provider, input);
  // The file's framing must be the one the decoder asks the upstream client for.
  expect(decoder.framing ?? "sse").toBe(framing);
  const chunks: unknown[] = [];
  for (const event of events) {
    try {
      chunks.push(...decoder.push(event).map(plain));
    } catch (error) {
      return { chunks, usage: plainUsage(decoder.usage()), done: decoder.done, error: describeError(error) };
    }
  }
  return { chunks, usage: plainUsage(decoder.usage()), done: decoder.done };
}

function defineCaseTests(provider: Provider, c: Case): void {
  const unknown = [...c.files].filter((f) => !knownFiles.has(f));
  const triggers = ["config.json", "request.json", "request-error.json", "response.json", "stream.sse", "stream.ndjson", "stream.aws-eventstream.sse", "error-body.json"];
  it("has only known fixture files, and something to check", () => {
    expect(unknown).toEqual([]);
    expect(triggers.filter((f) => c.has(f))).not.toEqual([]);
  });

  if (c.has("config.json")) {
    it("validates config", () => {
      const parsed = provider.configSchema.safeParse(c.json("config.json"));
      if (c.has("expected-config.json")) {
        expect(parsed.error && z.prettifyError(parsed.error)).toBeUndefined();
        expect(parsed.data).toEqual(c.json("expected-config.json"));
      } else {
        const expected = z.strictObject({ message: z.string() }).parse(c.json("config-error.json"));
        expect(parsed.success).toBe(false);
        expect(parsed.error && z.prettifyError(parsed.error)).toEqual(expected.message);
      }
    });
  }

  if (c.has("request.json") || c.has("request-error.json")) {
    it("builds the upstream request", () => {
      const input = c.input();
      if (c.has("request.json")) {
        expect(buildRequest(provider, input)).toEqual(c.json("request.json"));
      } else {
        expect(thrownBy(() => buildRequest(provider, input))).toEqual(errorFile.parse(c.json("request-error.json")));
      }
    });
  }

  if (c.has("response.json")) {
    it("reads the upstream response", () => {
      const input = c.input();
      const body = c.json("response.json");
      if (c.has("expected.json")) {
        expect(plain(translateResponse(provider, input, body))).toEqual(c.json("expected.json"));
      } else {
        const expected = errorFile.parse(c.json("expected-error.json"));
        expect(thrownBy(() => translateResponse(provider, input, body))).toEqual(expected);
      }
    });
  }

  if (c.has("stream.sse")) {
    it("decodes the upstream stream", () => {
      const expected = streamFile.parse(c.json("expected-stream.json"));
      expect(runStream(provider, c.input(), parseSse(c.text("stream.sse")), "sse")).toEqual(expected);
    });
  }

  if (c.has("stream.aws-eventstream.sse")) {
    // Bedrock's binary frames, already decoded (test/unit/aws-eventstream.spec.ts covers the
    // binary side), written in SSE notation: `event:` the frame's event type, `data:` its payload.
    it("decodes the upstream AWS event stream", () => {
      const expected = streamFile.parse(c.json("expected-stream.json"));
      expect(runStream(provider, c.input(), parseSse(c.text("stream.aws-eventstream.sse")), "aws-eventstream")).toEqual(expected);
    });
  }

  if (c.has("stream.ndjson")) {
    it("decodes the upstream NDJSON stream", async () => {
      const expected = streamFile.parse(c.json("expected-stream.json"));
      expect(runStream(provider, c.input(), await parseNdjson(c.text("stream.ndjson")), "ndjson")).toEqual(expected);
    });
  }

  if (c.has("error-body.json")) {
    it("extracts the upstream error message", () => {
      const expected = z.strictObject({ message: z.string().nullable() }).parse(c.json("expected-error-message.json"));
      expect(need(provider.errorMessage, "errorMessage")(c.json("error-body.json")) ?? null).toEqual(expected.message);
    });
  }
}

describe("provider fixtures", () => {
  const providerDirs = subdirectories(fixturesRoot).filter((name) => name !== "mlflow-configs");

  it("cover every registered provider, and only those", () => {
    expect(providerDirs).toEqual([...httpProviders.keys()].sort());
  });

  for (const providerName of providerDirs) {
    const provider = httpProviders.get(providerName);
    describe(providerName, () => {
      if (provider === undefined) return;
      for (const { name, case: c } of providerCases(providerName)) describe(name, () => defineCaseTests(provider, c));
    });
  }
});

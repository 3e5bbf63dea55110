// Extras may not carry what the typed fields govern (issue 8, item 4): every registered provider
// refuses the keys that lengthen or multiply the output, at the top level and where it nests
// them, with INVALID_ARGUMENT naming the key and the typed field, before any upstream call; it
// accepts a harmless knob. The reservation covers max_tokens x n. Base URLs are read in the
// forms the providers' SDKs use and in MLflow's (issue 8, item 17).
import { create, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChatRequestSchema } from "../../gen/modelgate/v1/chat_pb";
import { CompleteRequestSchema } from "../../gen/modelgate/v1/completions_pb";
import { checkSamplingExtras } from "../../src/providers/extras";
import { httpModelFactory } from "../../src/providers/model";
import { httpProviders } from "../../src/providers/registry";
import { withLastSegment, withoutLastSegment } from "../../src/providers/request-builder";
import type { ModelTarget, Provider } from "../../src/providers/types";
import type { UpstreamRequest } from "../../src/upstream/wire";
import type { UpstreamClient } from "../../src/upstream/client";
import { reservationForRequest } from "../../src/usage/tokens";

/** A minimal valid config and model for every registered provider: a new provider must be added here. */
const targets: Record<string, { name: string; config: Record<string, unknown> }> = {
  openai: { name: "gpt-4o-mini", config: { openai_api_key: "sk-test-0000" } },
  "azure-openai": {
    name: "gpt-4o-mini",
    config: { openai_api_key: "k", openai_api_base: "https://x.openai.azure.com", openai_deployment_name: "d", openai_api_version: "2024-10-21" },
  },
  mistral: { name: "mistral-small-latest", config: { mistral_api_key: "k" } },
  groq: { name: "llama-3.1-8b-instant", config: { groq_api_key: "k" } },
  together: { name: "meta-llama/Llama-3-8b-chat-hf", config: { together_api_key: "k" } },
  togetherai: { name: "meta-llama/Llama-3-8b-chat-hf", config: { togetherai_api_key: "k" } },
  fireworks: { name: "accounts/fireworks/models/llama-v3p1-8b-instruct", config: { fireworks_api_key: "k" } },
  deepseek: { name: "deepseek-chat", config: { deepseek_api_key: "k" } },
  xai: { name: "grok-3", config: { xai_api_key: "k" } },
  openrouter: { name: "openai/gpt-4o", config: { openrouter_api_key: "k" } },
  anthropic: { name: "claude-sonnet-4-5", config: { anthropic_api_key: "sk-ant-test-0000" } },
  "mlflow-model-serving": { name: "llm", config: { model_server_url: "http://127.0.0.1:5001" } },
  "huggingface-text-generation-inference": { name: "tgi", config: { hf_server_url: "http://tgi.internal:8080" } },
  "huggingface-tgi": { name: "tgi", config: { hf_server_url: "http://tgi.internal:8080" } },
  ollama: { name: "llama3.2", config: {} },
  bedrock: { name: "anthropic.claude-3-haiku-20240307-v1:0", config: { aws_region: "us-east-1", bedrock_api_key: "k" } },
  "amazon-bedrock": { name: "anthropic.claude-3-haiku-20240307-v1:0", config: { aws_region: "us-east-1", bedrock_api_key: "k" } },
  gemini: { name: "gemini-2.5-flash", config: { gemini_api_key: "k" } },
  cohere: { name: "command-r-plus", config: { cohere_api_key: "k" } },
};

function targetOf(provider: Provider): ModelTarget {
  const t = targets[provider.name];
  if (t === undefined) throw new Error(`no test target for provider ${provider.name}`);
  return { name: t.name, config: provider.configSchema.parse(t.config) };
}

/** A knob each provider takes as an extra (and where it lands in the body). */
const openaiFamily = new Set(["openai", "azure-openai", "mistral", "groq", "together", "togetherai", "fireworks", "deepseek", "xai", "openrouter"]);
function harmlessKnob(name: string): JsonObject {
  if (openaiFamily.has(name)) return { presence_penalty: 0.5, reasoning_effort: "low" };
  if (name === "gemini") return { generationConfig: { topK: 40, thinkingConfig: { thinkingBudget: 0 } }, safetySettings: [] };
  if (name === "ollama") return { options: { top_k: 40, num_ctx: 4096 }, keep_alive: "5m" };
  if (name === "anthropic") return { top_k: 40, thinking: { type: "enabled", budget_tokens: 1024 } };
  return { top_k: 40 };
}

const messages = [{ role: "user", content: "Hello" }];
const chatParams = (extras: JsonObject) => create(ChatRequestSchema, { endpoint: "e", messages, extras });
const completeParams = (extras: JsonObject) => create(CompleteRequestSchema, { endpoint: "e", prompt: "Hello", extras });

/**
 * What must be refused, everywhere: `path` is how the error names the key; `says` what it
 * tells the caller to do instead (or why not).
 */
const refused: { extras: JsonObject; path: string; says: RegExp }[] = [
  { extras: { max_completion_tokens: 100_000 }, path: "max_completion_tokens", says: /use the max_tokens field instead/ },
  { extras: { max_tokens: 100_000 }, path: "max_tokens", says: /use the max_tokens field instead/ },
  { extras: { max_output_tokens: 100_000 }, path: "max_output_tokens", says: /use the max_tokens field instead/ },
  { extras: { maxOutputTokens: 100_000 }, path: "maxOutputTokens", says: /use the max_tokens field instead/ },
  { extras: { max_new_tokens: 100_000 }, path: "max_new_tokens", says: /use the max_tokens field instead/ },
  { extras: { max_tokens_to_sample: 100_000 }, path: "max_tokens_to_sample", says: /use the max_tokens field instead/ },
  { extras: { max_gen_len: 100_000 }, path: "max_gen_len", says: /use the max_tokens field instead/ },
  { extras: { maxTokenCount: 100_000 }, path: "maxTokenCount", says: /use the max_tokens field instead/ },
  { extras: { num_predict: 100_000 }, path: "num_predict", says: /use the max_tokens field instead/ },
  { extras: { min_tokens: 100_000 }, path: "min_tokens", says: /a minimum output length is not passed on/ },
  { extras: { n: 3 }, path: "n", says: /use the n field instead/ },
  { extras: { candidate_count: 3 }, path: "candidate_count", says: /use the n field instead/ },
  { extras: { candidateCount: 3 }, path: "candidateCount", says: /use the n field instead/ },
  { extras: { num_generations: 3 }, path: "num_generations", says: /use the n field instead/ },
  { extras: { num_return_sequences: 3 }, path: "num_return_sequences", says: /use the n field instead/ },
  { extras: { best_of: 5 }, path: "best_of", says: /use the n field instead/ },
  // Nested where providers nest them.
  { extras: { generationConfig: { maxOutputTokens: 100_000 } }, path: "generationConfig.maxOutputTokens", says: /use the max_tokens field instead/ },
  { extras: { generationConfig: { max_output_tokens: 100_000 } }, path: "generationConfig.max_output_tokens", says: /use the max_tokens field instead/ },
  { extras: { generationConfig: { candidateCount: 4 } }, path: "generationConfig.candidateCount", says: /use the n field instead/ },
  { extras: { options: { num_predict: 100_000 } }, path: "options.num_predict", says: /use the max_tokens field instead/ },
  { extras: { parameters: { max_new_tokens: 100_000 } }, path: "parameters.max_new_tokens", says: /use the max_tokens field instead/ },
  { extras: { textGenerationConfig: { maxTokenCount: 100_000 } }, path: "textGenerationConfig.maxTokenCount", says: /use the max_tokens field instead/ },
];

function expectedMessage(name: string, path: string, says: RegExp): RegExp {
  // MLflow's `amazon-bedrock` is the same provider, which names itself `bedrock` in errors.
  const provider = name === "amazon-bedrock" ? "bedrock" : name;
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${provider}: extras\\.${escaped} is not allowed: .*${says.source}`);
}

function errorOf(run: () => unknown): ConnectError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error("expected the request to be refused");
}

async function asyncErrorOf(run: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return err as ConnectError;
  }
  throw new Error("expected the call to be refused");
}

/** An upstream client that records what would have been sent. */
function recordingUpstream(): { upstream: UpstreamClient; sent: UpstreamRequest[] } {
  const sent: UpstreamRequest[] = [];
  const upstream = {
    json: async (req: UpstreamRequest) => {
      sent.push(req);
      throw new Error("the upstream must not be called");
    },
    stream: async function* (req: UpstreamRequest) {
      sent.push(req);
      throw new Error("the upstream must not be called");
    },
  } as unknown as UpstreamClient;
  return { upstream, sent };
}

const providers = [...httpProviders.values()].filter((p) => p.chat !== undefined || p.complete !== undefined);

describe("extras policy", () => {
  it("covers every registered chat / completions provider", () => {
    expect(providers.map((p) => p.name).filter((name) => targets[name] === undefined)).toEqual([]);
  });

  describe.each(providers.map((p) => [p.name, p] as const))("%s", (name, provider) => {
    const target = targetOf(provider);

    it.each(refused.map((r) => [r.path, r] as const))("refuses extras.%s when building chat and completion requests", (_, { extras, path, says }) => {
      const builds = [
        provider.chat && (() => provider.chat!.request(chatParams(extras), target, false)),
        provider.complete && (() => provider.complete!.request(completeParams(extras), target, false)),
      ];
      for (const build of builds) {
        if (build === undefined) continue;
        const err = errorOf(build);
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toMatch(expectedMessage(name, path, says));
      }
    });

    it.each(refused.map((r) => [r.path, r] as const))("refuses extras.%s before any upstream call", async (_, { extras, path, says }) => {
      const { upstream, sent } = recordingUpstream();
      const client = httpModelFactory(provider).create(target, { upstream });
      const call = { signal: new AbortController().signal };
      const runs: (() => Promise<unknown>)[] = [() => client.chat!(chatParams(extras), call), () => client.complete!(completeParams(extras), call)];
      // Streams too (MLflow's scoring server does not stream at all).
      if (name !== "mlflow-model-serving") {
        runs.push(async () => {
          for await (const _ of client.streamChat!(chatParams(extras), call)) void _;
        });
        runs.push(async () => {
          for await (const _ of client.streamComplete!(completeParams(extras), call)) void _;
        });
      }
      for (const run of runs) {
        const err = await asyncErrorOf(run);
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.rawMessage).toMatch(expectedMessage(name, path, says));
      }
      expect(sent).toEqual([]);
    });

    it("accepts a harmless knob, passed on to the upstream", () => {
      const knob = harmlessKnob(name);
      const requests = [
        provider.chat?.request(chatParams(knob), target, false),
        provider.complete?.request(completeParams(knob), target, false),
      ].filter((r) => r !== undefined);
      expect(requests.length).toBeGreaterThan(0);
      for (const req of requests) {
        const body = JSON.stringify(req.body);
        for (const key of Object.keys(knob)) {
          const inner = knob[key];
          const probe = inner !== null && typeof inner === "object" && !Array.isArray(inner) ? Object.keys(inner)[0]! : key;
          expect(body).toContain(`"${probe}"`);
        }
      }
    });
  });
});

describe("extras policy details", () => {
  const provider = (name: string) => httpProviders.get(name)!;
  const chatError = (name: string, extras: JsonObject) => errorOf(() => provider(name).chat!.request(chatParams(extras), targetOf(provider(name)), false));

  it("matches a key whatever its spelling, and names it as sent", () => {
    expect(() => checkSamplingExtras("openai", { MAX_TOKENS: 1 })).toThrow("openai: extras.MAX_TOKENS is not allowed: use the max_tokens field instead");
    expect(() => checkSamplingExtras("openai", { "max-new-tokens": 1 })).toThrow("openai: extras.max-new-tokens is not allowed: use the max_tokens field instead");
    expect(() => checkSamplingExtras("openai", { maxCompletionTokens: 1 })).toThrow("openai: extras.maxCompletionTokens is not allowed: use the max_tokens field instead");
    expect(() => checkSamplingExtras("ollama", { Options: { NumPredict: 1 } })).toThrow("ollama: extras.Options.NumPredict is not allowed: use the max_tokens field instead");
  });

  it("keeps the provider's own wording where it has one", () => {
    expect(chatError("mlflow-model-serving", { stream: true }).rawMessage).toBe(
      "mlflow-model-serving: extras.stream is not allowed: mlflow-model-serving does not stream",
    );
    expect(chatError("cohere", { p: 0.5 }).rawMessage).toBe("cohere: extras.p is not allowed: use the top_p field instead");
    expect(chatError("bedrock", { inferenceConfig: { maxTokens: 100_000 } }).rawMessage).toBe(
      "bedrock: extras.inferenceConfig is a Converse request field, which extras cannot set (extras are sent to the model as additionalModelRequestFields)",
    );
  });

  it("gemini: generationConfig only under its camelCase name, and its snake_case keys checked too", () => {
    expect(chatError("gemini", { generation_config: { topK: 3 } }).rawMessage).toBe(
      "gemini: extras.generation_config is not allowed: write it as extras.generationConfig",
    );
    expect(chatError("gemini", { generationConfig: { response_mime_type: "application/json" } }).rawMessage).toBe(
      "gemini: extras.generationConfig.response_mime_type is not allowed: use the response_format field instead",
    );
    expect(chatError("gemini", { generationConfig: { candidate_count: 2 } }).rawMessage).toBe(
      "gemini: extras.generationConfig.candidate_count is not allowed: use the n field instead",
    );
  });

  it("the typed fields themselves are fine: max_tokens x n goes upstream where n is supported", () => {
    const req = provider("openai").chat!.request(create(ChatRequestSchema, { messages, maxTokens: 2000, n: 3 }), targetOf(provider("openai")), false);
    expect(req.body).toMatchObject({ max_tokens: 2000, n: 3 });
  });

  it("does not look inside objects that are not sampling settings (user data may hold any key)", () => {
    const openai = provider("openai").chat!.request(chatParams({ metadata: { n: "1", max_tokens: "x" } }), targetOf(provider("openai")), false);
    expect(openai.body).toMatchObject({ metadata: { n: "1", max_tokens: "x" } });
    const cohere = provider("cohere").chat!.request(chatParams({ documents: [{ data: { n: 1, max_tokens: 2 } }] }), targetOf(provider("cohere")), false);
    expect(cohere.body).toMatchObject({ documents: [{ data: { n: 1, max_tokens: 2 } }] });
  });

  it("leaves embedding extras alone (Cohere's embed max_tokens truncates the input)", () => {
    const cohere = provider("cohere");
    const req = cohere.embed!.request({ inputs: ["a"], user: "", extras: { max_tokens: 512 } }, targetOf(cohere));
    expect(req.body).toMatchObject({ max_tokens: 512 });
  });
});

describe("reservation: the output ceiling is max_tokens x n", () => {
  const chat = (init: { maxTokens?: number; n?: number; extras?: JsonObject }) => create(ChatRequestSchema, { endpoint: "e", messages, ...init });

  it("multiplies max_tokens by n", () => {
    expect(reservationForRequest(chat({ maxTokens: 2000, n: 3 }), 1024).maxCompletionTokens).toBe(6000);
    expect(reservationForRequest(chat({ maxTokens: 2000 }), 1024).maxCompletionTokens).toBe(2000);
    expect(reservationForRequest(chat({ n: 3 }), 1024).maxCompletionTokens).toBe(3072);
    expect(reservationForRequest(create(CompleteRequestSchema, { prompt: "Hi", maxTokens: 2000, n: 3 }), 1024).maxCompletionTokens).toBe(6000);
  });

  it("stays an exact integer for out-of-range values (which the service then refuses)", () => {
    const r = reservationForRequest(chat({ maxTokens: 4_294_967_295, n: 4_294_967_295 }), 1024);
    expect(r.maxCompletionTokens).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe("base URLs in the SDKs' forms and MLflow's", () => {
  const url = (name: string, config: Record<string, unknown>, op: "chat" | "complete" = "chat"): string => {
    const p = httpProviders.get(name)!;
    const target = { name: targets[name]!.name, config: p.configSchema.parse({ ...targets[name]!.config, ...config }) };
    return op === "chat" ? p.chat!.request(chatParams({}), target, false).url : p.complete!.request(completeParams({}), target, false).url;
  };

  it("helpers: one trailing segment, trailing slashes tolerated", () => {
    expect(withoutLastSegment("https://a.example/v2/", /^v[12]$/)).toBe("https://a.example");
    expect(withoutLastSegment("https://a.example/x/v2", /^v[12]$/)).toBe("https://a.example/x");
    expect(withoutLastSegment("https://a.example", /^v[12]$/)).toBe("https://a.example");
    expect(withoutLastSegment("https://v1", /^v1$/)).toBe("https://v1");
    expect(withLastSegment("https://a.example/", "v1", /^v1$/)).toBe("https://a.example/v1");
    expect(withLastSegment("https://a.example/v1//", "v1", /^v1$/)).toBe("https://a.example/v1");
  });

  it.each([
    ["https://api.anthropic.com", "https://api.anthropic.com/v1/messages"],
    ["https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"],
    ["https://api.anthropic.com/v1", "https://api.anthropic.com/v1/messages"],
    ["https://api.anthropic.com/v1/", "https://api.anthropic.com/v1/messages"],
    // an AI gateway in front, as the Anthropic SDK is pointed at it
    ["https://gateway.example/v1/acct/gw/anthropic", "https://gateway.example/v1/acct/gw/anthropic/v1/messages"],
  ])("anthropic %s", (base, expected) => {
    expect(url("anthropic", { anthropic_api_base: base })).toBe(expected);
    expect(url("anthropic", { anthropic_api_base: base }, "complete")).toBe(expected);
  });

  it.each([
    ["https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"],
    ["https://generativelanguage.googleapis.com/", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"],
    ["https://generativelanguage.googleapis.com/v1beta/", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"],
    ["https://generativelanguage.googleapis.com/v1beta/models", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"],
    ["https://generativelanguage.googleapis.com/v1", "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:generateContent"],
    ["https://generativelanguage.googleapis.com/v1alpha", "https://generativelanguage.googleapis.com/v1alpha/models/gemini-2.5-flash:generateContent"],
  ])("gemini %s", (base, expected) => {
    expect(url("gemini", { gemini_api_base: base })).toBe(expected);
  });

  it.each([
    ["https://api.cohere.com", "https://api.cohere.com/v2/chat"],
    ["https://api.cohere.com/v2", "https://api.cohere.com/v2/chat"],
    ["https://api.cohere.com/v2/", "https://api.cohere.com/v2/chat"],
    ["https://api.cohere.ai/v1", "https://api.cohere.ai/v2/chat"],
  ])("cohere %s", (base, expected) => {
    expect(url("cohere", { cohere_api_base: base })).toBe(expected);
  });

  it.each([
    ["http://127.0.0.1:11434", "http://127.0.0.1:11434/api/chat"],
    ["http://127.0.0.1:11434/", "http://127.0.0.1:11434/api/chat"],
    ["http://127.0.0.1:11434/api", "http://127.0.0.1:11434/api/chat"],
    ["http://127.0.0.1:11434/v1/", "http://127.0.0.1:11434/api/chat"],
  ])("ollama %s", (base, expected) => {
    expect(url("ollama", { ollama_api_base: base })).toBe(expected);
  });

  it.each(["http://tgi.internal:8080", "http://tgi.internal:8080/", "http://tgi.internal:8080/v1", "http://tgi.internal:8080/v1/"])("tgi %s", (base) => {
    expect(url("huggingface-tgi", { hf_server_url: base })).toBe("http://tgi.internal:8080/v1/chat/completions");
    expect(url("huggingface-tgi", { hf_server_url: base }, "complete")).toBe("http://tgi.internal:8080/generate");
  });

  it.each([
    // OpenAI-family bases carry their own prefix (/v1, /openai/v1, /api/v1, none): used as written.
    ["openai", { openai_api_base: "https://api.openai.com/v1" }, "https://api.openai.com/v1/chat/completions"],
    ["openai", { openai_api_base: "http://vllm.internal:8000/v1/" }, "http://vllm.internal:8000/v1/chat/completions"],
    ["deepseek", { deepseek_api_base: "https://api.deepseek.com" }, "https://api.deepseek.com/chat/completions"],
    ["groq", {}, "https://api.groq.com/openai/v1/chat/completions"],
  ])("%s keeps its base as written", (name, config, expected) => {
    expect(url(name, config)).toBe(expected);
  });
});

// MLflow AI Gateway / Deployments Server config files, written exactly as MLflow's docs and
// examples publish them (test/fixtures/mlflow-configs/, each file names its source), through
// the real loader and provider catalog. A file either loads unchanged (same endpoints, types,
// providers, model names and limits; each provider config with the secrets resolved) or fails
// with exactly the problems an operator is told about. The failing ones are MLflow shapes we do
// not serve; each case says why.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";

const fixturesDir = new URL("../fixtures/mlflow-configs/", import.meta.url);
const fixture = (file: string) => readFileSync(new URL(file, fixturesDir), "utf8");

/** The secrets the files reference as `$NAME`, as `mlflow deployments start-server` reads them. */
const env = {
  OPENAI_API_KEY: "sk-openai-test-0001",
  AZURE_AAD_TOKEN: "eyJ0eXAiOiJKV1QifQ.aad-token-test-0002",
  AZURE_OPENAI_API_KEY: "azure-key-test-0003",
  ANTHROPIC_API_KEY: "sk-ant-test-0004",
  COHERE_API_KEY: "co-test-0005",
  AWS_ACCESS_KEY_ID: "AKIATESTKEYID0000006",
  AWS_SECRET_ACCESS_KEY: "aws/secret/test/0007",
  MISTRAL_API_KEY: "mistral-test-0008",
  TOGETHERAI_API_KEY: "together-test-0009",
  GEMINI_API_KEY: "AIza-test-0010",
  PALM_API_KEY: "palm-test-0011",
};

/** "path: message" for every problem the loader reports; [] when the file loads. */
function problemsOf(text: string, source: string, vars: Record<string, string> = env): string[] {
  try {
    parseConfig(text, source, modelFactories, vars);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

const openai = { openai_api_key: env.OPENAI_API_KEY, openai_api_base: "https://api.openai.com/v1" };
const azureBase = "https://{your_resource_name}-azureopenai.openai.azure.com/";
const azure = (type: "azure" | "azuread", key: string) => ({
  openai_api_type: type,
  openai_api_key: key,
  openai_deployment_name: "{your_deployment_name}",
  openai_api_base: azureBase,
  openai_api_version: "2023-05-15",
});
const anthropic = { anthropic_api_key: env.ANTHROPIC_API_KEY, anthropic_api_base: "https://api.anthropic.com/v1", anthropic_version: "2023-06-01" };
const bedrock = {
  aws_region: "us-east-1",
  bedrock_api_base: "https://bedrock-runtime.us-east-1.amazonaws.com",
  aws_access_key_id: env.AWS_ACCESS_KEY_ID,
  aws_secret_access_key: env.AWS_SECRET_ACCESS_KEY,
};
const together = { togetherai_api_key: env.TOGETHERAI_API_KEY, togetherai_api_base: "https://api.together.xyz/v1" };
const cohere = { cohere_api_key: env.COHERE_API_KEY, cohere_api_base: "https://api.cohere.com" };
const mistral = { mistral_api_key: env.MISTRAL_API_KEY, mistral_api_base: "https://api.mistral.ai/v1" };
const gemini = { gemini_api_key: env.GEMINI_API_KEY, gemini_api_base: "https://generativelanguage.googleapis.com/v1beta" };
const mlflowServing = (url: string) => ({ model_server_url: url, registry_cache_ttl_ms: 30_000 });

/** Files that load: each endpoint's provider config after validation (defaults filled in). */
const loads: Record<string, Record<string, Record<string, unknown>>> = {
  "openai-quickstart.yaml": { completions: openai, chat: openai, embeddings: openai },
  "openai-optional-keys.yaml": { "gpt4-chat": { ...openai, openai_organization: "your_org_id" } },
  "azure-openai.yaml": {
    chat: azure("azure", env.OPENAI_API_KEY),
    completions: azure("azuread", env.AZURE_AAD_TOKEN),
    embeddings: azure("azure", env.OPENAI_API_KEY),
  },
  "azure-openai-aad-with-limit.yaml": { completions: azure("azuread", env.AZURE_AAD_TOKEN) },
  "anthropic.yaml": { completions: anthropic, "claude-chat": anthropic },
  // aws_config is MLflow's nesting; the parsed config holds the same keys flat.
  "bedrock.yaml": { "bedrock-chat": bedrock },
  // MLflow's AWSRole: STS AssumeRole from the default credential chain, refreshed before expiry.
  "bedrock-role.yaml": {
    completions: {
      aws_region: "us-east-1",
      bedrock_api_base: "https://bedrock-runtime.us-east-1.amazonaws.com",
      aws_role_arn: "arn:aws:iam::123456789012:role/bedrock-access",
      session_length_seconds: 900,
    },
  },
  "amazon-bedrock.yaml": { completions: bedrock },
  "togetherai.yaml": { completions: together, chat: together, embeddings: together },
  "huggingface-text-generation-inference.yaml": { completions: { hf_server_url: "http://127.0.0.1:8080" } },
  "mlflow-model-serving.yaml": { "custom-model": mlflowServing("http://localhost:5001") },
  "legacy-routes-mlflow-serving.yaml": {
    fillmask: mlflowServing("http://127.0.0.1:9010"),
    embeddings: mlflowServing("http://127.0.0.1:9020"),
  },
  "legacy-routes-openai.yaml": { chat: openai, completions: openai, embeddings: openai },
  // Completions on chat-only providers are served as a one-message chat, as MLflow does.
  "cohere.yaml": { completions: cohere, embeddings: cohere },
  "mistral.yaml": { completions: mistral, embeddings: mistral },
  "gemini.yaml": { embeddings: gemini, completions: gemini, chat: gemini },
};


/** Files that fail, with exactly what the operator reads, and why. */
const fails: Record<string, { why: string; problems: string[] }> = {
  "palm.yaml": {
    why: "Google retired the PaLM API: every endpoint is named, with the replacement",
    problems: [0, 1, 2].map((i) => `endpoints[${i}].model.provider: unsupported provider "palm": Google retired the PaLM API; use provider gemini`),
  },
  "azure-provider-azuread.yaml": {
    why: "the docs' `provider: azuread` is not a provider in MLflow either (it is an openai_api_type)",
    problems: ['endpoints[0].model.provider: unsupported provider "azuread": use provider azure-openai (or openai) with openai_api_type: azuread'],
  },
  "model-parameters.yaml": {
    why: "MLflow ignores unknown config keys (ConfigModel extra=ignore), so these defaults never applied there; our strict provider schemas name them instead",
    problems: ["endpoints[0].model.config: unknown key(s): temperature, max_tokens, top_p"],
  },
};

interface RawEndpoint {
  name: string;
  endpoint_type?: string;
  route_type?: string;
  model: { provider: string; name: string };
  limit?: { renewal_period: string; calls: number };
}

/** What the file itself says about its endpoints, read with a plain YAML parser. */
function declaredEndpoints(text: string) {
  const raw = parse(text) as { endpoints?: RawEndpoint[]; routes?: RawEndpoint[] };
  return (raw.endpoints ?? raw.routes ?? []).map((ep) => ({
    name: ep.name,
    endpoint_type: ep.endpoint_type ?? ep.route_type,
    provider: ep.model.provider,
    model: ep.model.name,
    limit: ep.limit,
  }));
}

describe("MLflow config fixtures", () => {
  it("every file in the folder is checked here, and every case has its file", () => {
    const files = readdirSync(fixturesDir).filter((f) => f.endsWith(".yaml")).sort();
    expect(files).toEqual([...Object.keys(loads), ...Object.keys(fails), "traffic-routes.yaml"].sort());
  });
});

describe("traffic-routes.yaml", () => {
  it("MLflow 3's `routes:` load unchanged: each route is an endpoint splitting over its destinations' models", () => {
    const { file: config, targetConfigs } = parseConfig(fixture("traffic-routes.yaml"), "traffic-routes.yaml", modelFactories, env);
    expect(config.endpoints.map((ep) => ep.name)).toEqual(["chat1", "chat2", "chat-route"]);
    const route = config.endpoints[2]!;
    expect(route.endpoint_type).toBe("llm/v1/chat");
    expect(route.routing?.strategy).toBe("weighted");
    expect(route.targets.map((t) => [t.name, t.model.provider, t.model.name, t.weight])).toEqual([
      ["chat1", "openai", "gpt-5", 80],
      ["chat2", "openai", "gpt-4.1", 20],
    ]);
    expect(targetConfigs.get("chat-route")).toEqual([openai, openai]);
  });
});

describe.each(Object.entries(loads))("%s", (file, expectedConfigs) => {
  it("loads unchanged: endpoints, types, providers, model names and limits as written", () => {
    const text = fixture(file);
    const { file: config, providerConfigs } = parseConfig(text, file, modelFactories, env);
    expect(
      config.endpoints.map((ep) => ({
        name: ep.name,
        endpoint_type: ep.endpoint_type,
        provider: ep.model.provider,
        model: ep.model.name,
        limit: ep.limit,
      })),
    ).toEqual(declaredEndpoints(text));
    expect(Object.fromEntries(providerConfigs)).toEqual(expectedConfigs);
  });
});

describe.each(Object.entries(fails))("%s", (file, { why, problems }) => {
  it(`fails with exactly the expected problems: ${why}`, () => {
    expect(problemsOf(fixture(file), file)).toEqual(problems);
  });
});

describe("MLflow behaviours around the files", () => {
  it("an unset $VARIABLE is reported for each endpoint that uses it, as MLflow refuses to start", () => {
    expect(problemsOf(fixture("openai-quickstart.yaml"), "q.yaml", {})).toEqual(
      [0, 1, 2].map((i) => `endpoints[${i}].model.config.openai_api_key: environment variable OPENAI_API_KEY is not set`),
    );
  });

  it("limit: null is no limit, as in MLflow's own listing", () => {
    const text = fixture("openai-quickstart.yaml").replace(/limit:\n\s+renewal_period: minute\n\s+calls: \d+/, "limit: null");
    expect(text).toContain("limit: null");
    const { file } = parseConfig(text, "null.yaml", modelFactories, env);
    expect(file.endpoints[0]?.limit).toBeUndefined();
  });

  it("limit.renewal_period as MLflow's limiter reads it: any case, plural, '1 minute'; several periods are refused by name", () => {
    const withPeriod = (period: string) => fixture("openai-quickstart.yaml").replace("renewal_period: minute", `renewal_period: ${period}`);
    for (const period of ["Minute", "minutes", "1 minute", '" hour "']) {
      expect(problemsOf(withPeriod(period), period)).toEqual([]);
    }
    const { file } = parseConfig(withPeriod("minutes"), "p.yaml", modelFactories, env);
    expect(file.endpoints[0]?.limit?.renewal_period).toBe("minute");
    expect(problemsOf(withPeriod("2 minutes"), "2")).toEqual([
      'endpoints[0].limit.renewal_period: a window of several periods ("2 minutes") is not supported: use one minute',
    ]);
  });

  it("limit.calls: 0 (every call refused) and a numeric string load, as in MLflow; a negative count does not", () => {
    const withCalls = (calls: string) => fixture("openai-quickstart.yaml").replace(/calls: \d+/, `calls: ${calls}`);
    expect(problemsOf(withCalls("0"), "0")).toEqual([]);
    expect(parseConfig(withCalls('"5"'), "5", modelFactories, env).file.endpoints[0]?.limit?.calls).toBe(5);
    expect(problemsOf(withCalls("-1"), "-1")).toEqual(["endpoints[0].limit.calls: Too small: expected number to be >=0"]);
  });

  it("a provider key given as a file path is read from the file (a trailing newline dropped); `$VAR` values never are", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyfile-"));
    try {
      const keyFile = join(dir, "key");
      writeFileSync(keyFile, "sk-from-file\n");
      const text = (key: string) =>
        `endpoints:\n  - { name: c, endpoint_type: llm/v1/chat, model: { provider: openai, name: m, config: { openai_api_key: ${JSON.stringify(key)} } } }\n`;
      const keyOf = (key: string, vars: Record<string, string> = {}) => parseConfig(text(key), "k.yaml", modelFactories, vars).providerConfigs.get("c")?.["openai_api_key"];
      expect(keyOf(keyFile)).toBe("sk-from-file");
      // MLflow: an environment variable's value is the key, even when it names a file.
      expect(keyOf("$KEY_PATH", { KEY_PATH: keyFile })).toBe(keyFile);
      // Not a file (a directory, a missing path): the value is the key itself.
      expect(keyOf(dir)).toBe(dir);
      expect(keyOf(join(dir, "missing"))).toBe(join(dir, "missing"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an MLflow provider without its config is refused, as MLflow refuses it", () => {
    expect(problemsOf("endpoints:\n  - { name: c, endpoint_type: llm/v1/chat, model: { provider: openai, name: m } }\n", "nc.yaml")).toEqual([
      'endpoints[0].model.config: provider "openai" needs its config (MLflow refuses an endpoint without one too)',
    ]);
  });

  it("limit.renewal_period: all six of MLflow's periods load (a month is 30 days, a year 365, as MLflow's limiter counts)", () => {
    const withPeriod = (period: string) => fixture("openai-quickstart.yaml").replace("renewal_period: minute", `renewal_period: ${period}`);
    for (const period of ["second", "minute", "hour", "day", "month", "year"]) expect(problemsOf(withPeriod(period), period)).toEqual([]);
    expect(problemsOf(withPeriod("week"), "week")).toEqual([
      'endpoints[0].limit.renewal_period: Invalid option: expected one of "second"|"minute"|"hour"|"day"|"month"|"year"',
    ]);
  });
});

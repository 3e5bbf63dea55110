import { constants as bufferConstants } from "node:buffer";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, "t.yaml", modelFactories, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

const chat = (extra = "") => `
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    model: { provider: openai, name: gpt-4o, config: { openai_api_key: $KEY${extra} } }
`;

describe("config loader", () => {
  it("accepts an MLflow AI Gateway file and applies defaults", () => {
    const { file, providerConfigs } = parseConfig(chat(), "t.yaml", modelFactories, { KEY: "sk-1" });
    expect(file.server).toMatchObject({ host: "127.0.0.1", port: 8080, max_body_bytes: 4194304 });
    expect(file.auth.enabled).toBe(false);
    expect(providerConfigs.get("chat")).toEqual({ openai_api_key: "sk-1", openai_api_base: "https://api.openai.com/v1" });
  });

  it("resolves $NAME and ${NAME}, and reports a missing variable at its path", () => {
    expect(parseConfig(chat().replace("$KEY", "\"${KEY}\""), "t", modelFactories, { KEY: "x" }).providerConfigs.get("chat")).toMatchObject({ openai_api_key: "x" });
    expect(problems(chat())).toEqual(["endpoints[0].model.config.openai_api_key: environment variable KEY is not set"]);
  });

  it("reports unknown keys, bad types and provider problems together", () => {
    expect(
      problems(
        `
servr: {}
endpoints:
  - name: "bad name!"
    endpoint_type: llm/v1/chat
    model: { provider: anthropic, name: c, config: {} }
  - name: e
    endpoint_type: llm/v1/embeddings
    model: { provider: anthropic, name: c, config: { anthropic_api_key: k } }
`,
      ),
    ).toEqual([
      "endpoints[0].name: use letters, digits, '.', '_' or '-' (at most 128)",
      "(root): unknown key(s): servr",
      "endpoints[1].endpoint_type: provider \"anthropic\" does not serve llm/v1/embeddings (it serves: llm/v1/chat, llm/v1/completions)",
    ]);
  });

  it("rejects duplicate endpoint names and keys naming unknown endpoints", () => {
    const yaml = `
auth:
  enabled: true
  keys: [{ name: k, key: "0123456789abcdef0123", endpoints: [chat, nope] }]
endpoints:
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: e } }
  - { name: chat, endpoint_type: llm/v1/chat, model: { provider: echo, name: e } }
`;
    expect(problems(yaml)).toEqual([
      'endpoints[1].name: duplicate endpoint name "chat"',
      'auth.keys[0].endpoints[1]: unknown endpoint "nope"',
    ]);
  });

  it("requires exactly one of key or sha256", () => {
    expect(problems(`auth: { enabled: true, keys: [{ name: k }] }\nendpoints: [{ name: c, endpoint_type: llm/v1/chat, model: { provider: echo, name: e } }]`)).toEqual([
      "auth.keys[0]: give exactly one of `key` or `sha256`",
    ]);
  });

  it("names unsupported providers and lists the supported ones", () => {
    const [problem] = problems(`endpoints: [{ name: c, endpoint_type: llm/v1/chat, model: { provider: nosuch, name: e } }]`);
    expect(problem).toMatch(/^endpoints\[0\]\.model\.provider: unsupported provider "nosuch" \(supported: echo, /);
    for (const name of ["openai", "anthropic", "mlflow-model-serving"]) expect(problem).toContain(name);
  });

  it("refuses a duration no timer can hold (over 2^31-1 ms, ~24.8 days: setTimeout would fire at once)", () => {
    const routed = `endpoints: [{ name: c, endpoint_type: llm/v1/chat, targets: [{ name: a, model: { provider: echo, name: e } }],
      routing: { strategy: fallback, attempt_timeout_ms: 2147483648, retries: { max_delay_ms: 2592000000 } } }]`;
    expect(problems(`server: { idle_timeout_ms: 2592000000, upstream_timeout_ms: 2147483647 }\n${routed}`)).toEqual([
      "server.idle_timeout_ms: Too big: expected number to be <=2147483647",
      "endpoints[0].routing.attempt_timeout_ms: Too big: expected number to be <=2147483647",
      "endpoints[0].routing.retries.max_delay_ms: Too big: expected number to be <=2147483647",
    ]);
  });

  it("bounds what the gateway reads of an upstream's answer: positive, at most V8's longest string", () => {
    const ok = `endpoints: [{ name: c, endpoint_type: llm/v1/chat, model: { provider: echo, name: e } }]`;
    expect(problems(`server: { max_upstream_body_bytes: 0, max_upstream_event_bytes: 1073741824 }\n${ok}`)).toEqual([
      "server.max_upstream_body_bytes: Too small: expected number to be >0",
      `server.max_upstream_event_bytes: Too big: expected number to be <=${bufferConstants.MAX_STRING_LENGTH}`,
    ]);
    expect(problems(`server: { max_upstream_body_bytes: 1048576, max_upstream_event_bytes: 65536 }\n${ok}`)).toEqual([]);
  });

  it("reports YAML syntax errors with a line", () => {
    expect(problems("endpoints: [\n  - a: b\n")[0]).toMatch(/^line \d+: /);
  });

  it("rejects an empty endpoint list and a non-http base URL", () => {
    expect(problems("endpoints: []")).toEqual(["endpoints: configure at least one endpoint"]);
    expect(problems(chat().replace("$KEY", "k, openai_api_base: 'file:///etc'"))).toEqual([
      "endpoints[0].model.config.openai_api_base: must be an http(s) URL",
    ]);
  });

  it("the shipped configs load", async () => {
    const { loadConfigFile } = await import("../../src/config/load");
    await expect(loadConfigFile("config/default.yaml", modelFactories, {})).resolves.toBeTruthy();
    await expect(
      loadConfigFile("config/example.yaml", modelFactories, {
        OPENAI_API_KEY: "a",
        ANTHROPIC_API_KEY: "b",
        MODELGATE_KEY_ALICE: "0123456789abcdef",
        MODELGATE_DATABASE_URL: "sqlite::memory:",
        MODELGATE_REDIS_URL: "redis://127.0.0.1:6379",
      }),
    ).resolves.toBeTruthy();
  });

  it("reads MLflow's legacy `routes:` / `route_type:` spelling", () => {
    const { file } = parseConfig(
      `routes:\n  - name: old\n    route_type: llm/v1/chat\n    model: { provider: echo, name: e }\n`,
      "t.yaml",
      modelFactories,
      {},
    );
    expect(file.endpoints[0]).toMatchObject({ name: "old", endpoint_type: "llm/v1/chat" });
  });

  it("names retired MLflow providers with what to use instead", () => {
    expect(problems(`endpoints: [{ name: c, endpoint_type: llm/v1/chat, model: { provider: palm, name: e } }]`)).toEqual([
      'endpoints[0].model.provider: unsupported provider "palm": Google retired the PaLM API; use provider gemini',
    ]);
  });
});

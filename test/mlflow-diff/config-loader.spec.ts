// MLflow's documented config examples (test/fixtures/mlflow-configs: every provider and endpoint
// type the docs show; test/mlflow-diff/configs: the `limit` forms, legacy keys, the mistakes
// MLflow names), plus keys given as $ENV and as file paths: each file loads in modelgate exactly
// when it loads in MLflow 3.8.1's own loader (mlflow.gateway.config._validate_config, what
// `mlflow gateway start` runs), except the files in DIFFERENT, each with its reason. A refusal
// always names its reason (path and message).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";
import { runMlflowPython } from "./mlflow-gateway";

const here = fileURLToPath(new URL(".", import.meta.url));
const fixtures = fileURLToPath(new URL("../fixtures/mlflow-configs/", import.meta.url));
const examples = `${here}configs/`;

/** The $VARIABLES the examples name, for both loaders. */
const env: Record<string, string> = {
  OPENAI_API_KEY: "sk-openai-test-0001",
  AZURE_AAD_TOKEN: "aad-token-test-0002",
  AZURE_OPENAI_API_KEY: "azure-key-test-0003",
  ANTHROPIC_API_KEY: "sk-ant-test-0004",
  COHERE_API_KEY: "co-test-0005",
  AWS_ACCESS_KEY_ID: "AKIATESTKEYID0000006",
  AWS_SECRET_ACCESS_KEY: "aws/secret/test/0007",
  MISTRAL_API_KEY: "mistral-test-0008",
  TOGETHERAI_API_KEY: "together-test-0009",
  GEMINI_API_KEY: "AIza-test-0010",
  PALM_API_KEY: "palm-test-0011",
  AI21LABS_API_KEY: "ai21-test-0012",
  MOSAICML_API_KEY: "mosaic-test-0013",
  DATABRICKS_TOKEN: "dapi-test-0014",
};

/** Where modelgate's answer differs from MLflow's loader, and why. Every other file: the same answer. */
const DIFFERENT: Record<string, { mlflow: "loads" | "refuses"; why: string }> = {
  "palm.yaml": { mlflow: "loads", why: "Google retired the PaLM API: every call would fail; modelgate refuses at start and names provider gemini" },
  "ai21labs.yaml": { mlflow: "loads", why: "AI21 retired the J2 models, the only ones MLflow's ai21labs provider takes; modelgate names what to use instead" },
  "mosaicml.yaml": { mlflow: "loads", why: "MosaicML's inference API was retired; modelgate names the replacement (Databricks serving through provider openai)" },
  "model-parameters.yaml": {
    mlflow: "loads",
    why: "MLflow ignores unknown provider config keys (its docs' model parameters never apply there); modelgate names them instead of dropping them silently",
  },
  "limit-unknown-key.yaml": { mlflow: "loads", why: "MLflow ignores unknown limit keys; modelgate names them" },
  "limit-two-minutes.yaml": {
    mlflow: "loads",
    why: "a window of several periods (\"2 minutes\"): modelgate's limiter counts whole periods, so it refuses what it cannot honour",
  },
  "bedrock-no-region.yaml": {
    mlflow: "loads",
    why: "no aws_region: MLflow leaves it to boto3's defaults at call time; modelgate needs it at start (the Bedrock URL and the signature depend on it)",
  },
  "legacy-routes-openai.yaml": {
    mlflow: "refuses",
    why: "modelgate's superset: MLflow 3 reads `routes:` as traffic routes and fails on files written for MLflow < 2.9 (KeyError 'task_type'); modelgate still reads them",
  },
  "legacy-routes-mlflow-serving.yaml": { mlflow: "refuses", why: "as legacy-routes-openai.yaml" },
};

let dir: string;
/** name -> path of every example file. */
const files = new Map<string, string>();
let mlflow: Map<string, { ok: boolean; error?: string }>;

beforeAll(async () => {
  for (const d of [fixtures, examples]) for (const f of readdirSync(d).filter((f) => f.endsWith(".yaml"))) files.set(f, `${d}${f}`);
  // Keys as file paths and $ENV (MLflow's _resolve_api_key_from_input), written here with real paths.
  dir = mkdtempSync(join(tmpdir(), "mlflow-configs-"));
  writeFileSync(join(dir, "openai.key"), "sk-from-a-file-0001");
  const generated: Record<string, string> = {
    "key-file.yaml": join(dir, "openai.key"),
    "key-file-missing.yaml": join(dir, "no-such.key"),
    "key-env-unset.yaml": "$UNSET_TEST_KEY_VARIABLE",
  };
  for (const [name, key] of Object.entries(generated)) {
    const path = join(dir, name);
    writeFileSync(
      path,
      `endpoints:\n  - name: chat\n    endpoint_type: llm/v1/chat\n    model: { provider: openai, name: gpt-4o-mini, config: { openai_api_key: ${JSON.stringify(key)} } }\n`,
    );
    files.set(name, path);
  }
  const out = await runMlflowPython(`${here}load_configs.py`, [...files.values()], env);
  const byPath = new Map(
    out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { file: string; ok: boolean; error?: string })
      .map((r) => [r.file, r]),
  );
  mlflow = new Map([...files].map(([name, path]) => [name, byPath.get(path)!]));
}, 900_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function modelgateLoads(name: string): { ok: boolean; problems: string[] } {
  try {
    parseConfig(readFileSync(files.get(name)!, "utf8"), name, modelFactories, env);
    return { ok: true, problems: [] };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, problems: err.problems.map((p) => `${p.path}: ${p.message}`) };
    throw err;
  }
}

describe("MLflow's config examples load in modelgate where they load in MLflow 3.8.1", () => {
  it("MLflow's loader answered for every file", () => {
    expect([...mlflow].filter(([, r]) => r === undefined).map(([f]) => f)).toEqual([]);
  });

  it("every file: the same answer, or a listed difference", () => {
    const outcomes = [...files.keys()].sort().map((name) => {
      const m = mlflow.get(name)!;
      const g = modelgateLoads(name);
      const expected = DIFFERENT[name];
      return {
        name,
        mlflow: m.ok ? "loads" : `refuses (${m.error})`,
        modelgate: g.ok ? "loads" : `refuses (${g.problems.join("; ")})`,
        fine: expected === undefined ? m.ok === g.ok : (expected.mlflow === "loads") === m.ok && m.ok !== g.ok,
      };
    });
    expect(outcomes.filter((o) => !o.fine)).toEqual([]);
  });

  it("every refusal names the field and the reason", () => {
    for (const name of files.keys()) {
      const g = modelgateLoads(name);
      if (!g.ok) for (const p of g.problems) expect(p, name).toMatch(/^[\w.[\]()]+: .{10,}/);
    }
  });

  it("a key file is read as MLflow reads it; a missing file is the key itself", () => {
    const config = (name: string) => parseConfig(readFileSync(files.get(name)!, "utf8"), name, modelFactories, env).providerConfigs.get("chat");
    expect(config("key-file.yaml")?.["openai_api_key"]).toBe("sk-from-a-file-0001");
    expect(config("key-file-missing.yaml")?.["openai_api_key"]).toBe(join(dir, "no-such.key"));
  });
});

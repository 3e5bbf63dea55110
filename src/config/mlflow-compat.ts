// What MLflow's gateway loader does to a config file before validating it, done here the same way
// on the raw document (before `$ENV` references are resolved).
//
// Provider API keys given as a file path, as MLflow's gateway reads them
// (mlflow/gateway/config.py, _resolve_api_key_from_input): a key value that does not start with
// `$` and names an existing regular file (relative to the working directory) is replaced by the
// file's text; any other value is the key itself. `$NAME` values are environment references and
// are never read as paths (MLflow returns the variable's value as it is).
//
// One deliberate difference: a trailing line break is dropped (`echo KEY > file` writes one).
// MLflow keeps it and then fails every call, as no HTTP client sends a header holding a newline.
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";

/**
 * MLflow's own providers (mlflow/gateway/config.py Provider) that modelgate serves too: an
 * endpoint naming one must give its `config` (MLflow: "A config must be supplied when setting a
 * provider"). modelgate's own providers (echo ...) may go without; the MLflow providers modelgate
 * does not serve (palm, ai21labs, mosaicml, databricks) are refused by name elsewhere.
 */
const mlflowProviders = new Set([
  "openai",
  "anthropic",
  "cohere",
  "mlflow-model-serving",
  "huggingface-text-generation-inference",
  "gemini",
  "bedrock",
  "amazon-bedrock",
  "mistral",
  "togetherai",
]);

export interface KeyFileProblem {
  path: (string | number)[];
  message: string;
}

/** Config keys read this way: every provider's `*_api_key` (MLflow's openai_api_key, anthropic_api_key ...). */
export function isApiKeyField(key: string): boolean {
  return key.endsWith("_api_key");
}

/**
 * Checks that MLflow's providers have a config, and returns `raw` with every `*_api_key` of a model config (an object with a `provider` and a
 * `config`, wherever it sits under `endpoints`) that names a file replaced by the file's text.
 */
export function readKeyFiles(raw: unknown, problems: KeyFileProblem[], cwd: string = process.cwd()): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const file = raw as Record<string, unknown>;
  if (!Array.isArray(file["endpoints"])) return raw;
  return { ...file, endpoints: visit(file["endpoints"], ["endpoints"], problems, cwd) };
}

function visit(value: unknown, path: (string | number)[], problems: KeyFileProblem[], cwd: string): unknown {
  if (Array.isArray(value)) return value.map((v, i) => visit(v, [...path, i], problems, cwd));
  if (value === null || typeof value !== "object") return value;
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = visit(v, [...path, k], problems, cwd);
  const config = out["config"];
  if (typeof out["provider"] === "string" && mlflowProviders.has(out["provider"]) && (config === undefined || config === null)) {
    problems.push({ path: [...path, "config"], message: `provider "${out["provider"]}" needs its config (MLflow refuses an endpoint without one too)` });
  }
  if (typeof out["provider"] === "string" && config !== null && typeof config === "object" && !Array.isArray(config)) {
    const resolved: Record<string, unknown> = { ...(config as Record<string, unknown>) };
    for (const [k, v] of Object.entries(resolved)) {
      if (!isApiKeyField(k) || typeof v !== "string" || v.startsWith("$")) continue;
      const text = readKeyFile(v, cwd);
      if (text === undefined) continue;
      if (typeof text === "object") {
        problems.push({ path: [...path, "config", k], message: `cannot read the key file (${text.code})` });
        continue;
      }
      resolved[k] = text.replace(/\r?\n$/, "");
    }
    out["config"] = resolved;
  }
  return out;
}

/** The file's text, undefined when `value` names no regular file, or the read error's code. */
function readKeyFile(value: string, cwd: string): string | { code: string } | undefined {
  if (value === "" || value.includes("\0")) return undefined;
  const path = resolve(cwd, value);
  try {
    if (!statSync(path).isFile()) return undefined;
  } catch {
    // Missing, or not a usable path at all (too long, a component not a directory): the key itself.
    return undefined;
  }
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? "error" };
  }
}

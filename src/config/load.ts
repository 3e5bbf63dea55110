// Reads, resolves and validates a config file. Every problem is collected with its path so an
// operator fixes the file in one go; nothing secret is ever echoed back.
import { constants as fsConstants } from "node:fs";
import { open } from "node:fs/promises";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { configSchema, endpointSchema, type ConfigFile, type EndpointConfig } from "./schema";
import type { ModelFactory } from "../providers/model";
import { accessConfigProblems } from "../auth/config";
import { semanticCacheConfigProblems } from "../policies/semantic-cache";
import { templateConfigProblems } from "../policies/templates-config";
import { readKeyFiles, type KeyFileProblem } from "./mlflow-compat";
import { endpointsFromRoutes, type RouteProblem } from "../routing/mlflow-routes";

export interface ConfigProblem {
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p.path}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** The config file does not exist: the caller says how to name another (a CLI flag, a variable). */
export class ConfigFileNotFoundError extends ConfigError {
  constructor(readonly path: string) {
    super(path, [{ path: "(file)", message: "file not found" }]);
    this.message = `config file "${path}" not found`;
    this.name = "ConfigFileNotFoundError";
  }
}

/** A validated config: the file, and each endpoint's provider config parsed by its provider. */
export interface LoadedConfig {
  file: ConfigFile;
  /** Provider config per endpoint name, after `$ENV` resolution and provider validation. */
  providerConfigs: ReadonlyMap<string, Record<string, unknown>>;
  /** Provider config of each of an endpoint's targets, in order (the first is providerConfigs'). */
  targetConfigs: ReadonlyMap<string, readonly Record<string, unknown>[]>;
}

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * The text of a config file. Opened without blocking and checked to be a regular file before it
 * is read: a FIFO or a device would hold a thread of libuv's pool forever (and with it every later
 * reload and the process's exit). Fails with the errno code (ENOENT, EACCES, …) or ENOTREG.
 */
export async function readConfigText(path: string): Promise<string> {
  const file = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    if (!(await file.stat()).isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "ENOTREG" });
    return await file.readFile("utf8");
  } finally {
    await file.close();
  }
}

export async function loadConfigFile(
  path: string,
  factories: ReadonlyMap<string, ModelFactory>,
  env: Env = process.env,
): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readConfigText(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    if (code === "ENOENT") throw new ConfigFileNotFoundError(path);
    throw new ConfigError(path, [{ path: "(file)", message: `cannot read the file (${code})` }]);
  }
  return parseConfig(text, path, factories, env);
}

export function parseConfig(
  text: string,
  source: string,
  factories: ReadonlyMap<string, ModelFactory>,
  env: Env = process.env,
): LoadedConfig {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}` : "(root)", message: e.message.split("\n")[0] ?? e.message })),
    );
  }
  const problems: ConfigProblem[] = [];
  // Paths of `$ENV` references whose variable is not set: problems at or below them are
  // consequences (a required value missing, a key that is too short), not further mistakes.
  const unset: ConfigProblem[] = [];
  const fromRoutes = { count: 0 };
  // As MLflow's loader: keys given as file paths are read before `$ENV` references are resolved.
  const keyFiles: KeyFileProblem[] = [];
  const raw = resolveEnv(readKeyFiles(fromLegacyRoutes(doc.toJS() as unknown, problems, fromRoutes), keyFiles), [], env, problems, unset);
  problems.push(...keyFiles.map((p) => ({ path: formatPath(p.path), message: p.message })));
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) problems.push(...zodProblems(parsed.error.issues, []));
  // Provider checks run even when other parts of the file are wrong, so one run reports all.
  const endpoints: [EndpointConfig, number][] = parsed.success
    ? parsed.data.endpoints.map((ep, i) => [ep, i])
    : rawEndpoints(raw).flatMap((ep, i) => {
        const r = endpointSchema.safeParse(ep);
        return r.success ? [[r.data, i] as [EndpointConfig, number]] : [];
      });
  const providerConfigs = new Map<string, Record<string, unknown>>();
  const targetConfigs = new Map<string, Record<string, unknown>[]>();
  const names = new Set<string>();
  const fileEndpoints = rawEndpoints(raw).length - fromRoutes.count;
  for (const [ep, i] of endpoints) {
    const at = ["endpoints", i];
    if (names.has(ep.name)) problems.push({ path: formatPath([...at, "name"]), message: `duplicate endpoint name "${ep.name}"` });
    names.add(ep.name);
    // An MLflow route's targets are its destination endpoints' models: already checked there.
    const found = i < fileEndpoints ? problems : [];
    const configs = ep.targets.map((t, j) =>
      checkProvider(ep, t.model, ep.targets.length === 1 && t.model === ep.model ? [...at, "model"] : [...at, "targets", j, "model"], factories, found),
    );
    if (configs.every((c) => c !== undefined)) {
      providerConfigs.set(ep.name, configs[0]!);
      targetConfigs.set(ep.name, configs);
    }
  }
  if (!parsed.success) throw new ConfigError(source, withoutFollowOns(problems, unset));
  const file = parsed.data;
  file.auth.keys.forEach((key, i) => {
    key.endpoints?.forEach((name, j) => {
      if (!names.has(name)) {
        problems.push({ path: formatPath(["auth", "keys", i, "endpoints", j]), message: `unknown endpoint "${name}"` });
      }
    });
  });
  problems.push(
    ...accessConfigProblems({ jwt: file.auth.jwt, access: file.access }, new Map(file.endpoints.map((e) => [e.name, e.endpoint_type]))),
    ...semanticCacheConfigProblems(file.endpoints),
    ...templateConfigProblems(file.templates, file.endpoints),
  );
  if (problems.length > 0) throw new ConfigError(source, withoutFollowOns(problems, unset));
  return { file, providerConfigs, targetConfigs };
}

/** Drops the problems at or below the path of an unset `$ENV` reference, except that one. */
function withoutFollowOns(problems: ConfigProblem[], unset: readonly ConfigProblem[]): ConfigProblem[] {
  const follows = (path: string) =>
    unset.some(({ path: at }) => path === at || path.startsWith(`${at}.`) || path.startsWith(`${at}[`));
  return problems.filter((p) => unset.includes(p) || !follows(p.path));
}

function checkProvider(
  ep: EndpointConfig,
  model: EndpointConfig["model"],
  at: (string | number)[],
  factories: ReadonlyMap<string, ModelFactory>,
  problems: ConfigProblem[],
): Record<string, unknown> | undefined {
  const factory = factories.get(model.provider);
  if (!factory) {
    const hint = unsupportedProviders[model.provider];
    problems.push({
      path: formatPath([...at, "provider"]),
      message: hint
        ? `unsupported provider "${model.provider}": ${hint}`
        : `unsupported provider "${model.provider}" (supported: ${[...factories.keys()].join(", ")})`,
    });
    return undefined;
  }
  if (!factory.supports.includes(ep.endpoint_type)) {
    problems.push({
      path: formatPath([...at.slice(0, 2), "endpoint_type"]),
      message: `provider "${factory.name}" does not serve ${ep.endpoint_type} (it serves: ${factory.supports.join(", ")})`,
    });
    return undefined;
  }
  const result = factory.configSchema.safeParse(model.config);
  if (!result.success) {
    problems.push(...zodProblems(result.error.issues, [...at, "config"]));
    return undefined;
  }
  return result.data;
}

/**
 * MLflow AI Gateway files before MLflow 2.9 say `routes:` with `route_type:`; the Deployments
 * Server says `endpoints:` with `endpoint_type:`. The older spelling is read as the newer one.
 */
function fromLegacyRoutes(raw: unknown, problems: ConfigProblem[], fromRoutes: { count: number }): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const { routes, ...rest } = raw as Record<string, unknown>;
  if (!Array.isArray(routes)) return raw;
  if ("endpoints" in rest) {
    // MLflow 3 traffic routes (destinations, TRAFFIC_SPLIT) sit beside endpoints: each becomes an
    // endpoint whose targets are its destinations' models (src/routing/mlflow-routes.ts).
    const endpoints = Array.isArray(rest["endpoints"]) ? (rest["endpoints"] as unknown[]) : [];
    const found: RouteProblem[] = [];
    const routeEndpoints = endpointsFromRoutes(routes, endpoints, found);
    problems.push(...found.map((p) => ({ path: formatPath(p.path), message: p.message })));
    fromRoutes.count = routeEndpoints.length;
    return { ...rest, endpoints: [...endpoints, ...routeEndpoints] };
  }
  const looksLegacy = routes.every((r) => r !== null && typeof r === "object" && "route_type" in r);
  if (!looksLegacy) return raw;
  return {
    ...rest,
    endpoints: routes.map((r) => {
      const { route_type, ...route } = r as Record<string, unknown>;
      return { ...route, endpoint_type: route_type };
    }),
  };
}

/** MLflow provider names we do not serve, with what to use instead. */
const unsupportedProviders: Readonly<Record<string, string>> = {
  palm: "Google retired the PaLM API; use provider gemini",
  ai21labs: "not supported; AI21's Jamba models are reachable through bedrock or an OpenAI-compatible base URL",
  mosaicml: "MosaicML's inference API was retired; use databricks serving through provider openai with openai_api_base",
  "databricks-model-serving": "use provider openai with openai_api_base set to the serving endpoint's OpenAI-compatible URL",
  azuread: "use provider azure-openai (or openai) with openai_api_type: azuread",
  azure: "use provider azure-openai (or openai) with openai_api_type: azure",
};

function rawEndpoints(raw: unknown): unknown[] {
  const eps = (raw as { endpoints?: unknown } | null)?.endpoints;
  return Array.isArray(eps) ? eps : [];
}

const envRef = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/;

/**
 * Replaces every string value of the form `$NAME` or `${NAME}` by the environment variable.
 * A missing variable is a problem at that path (recorded in `unset`); the reference itself stays
 * in its place, so validation does not also report the value as absent.
 */
function resolveEnv(
  value: unknown,
  path: (string | number)[],
  env: Env,
  problems: ConfigProblem[],
  unset: ConfigProblem[],
): unknown {
  if (typeof value === "string") {
    const m = envRef.exec(value);
    if (!m) return value;
    const name = (m[1] ?? m[2])!;
    const resolved = env[name];
    if (resolved === undefined || resolved === "") {
      const problem = { path: formatPath(path), message: `environment variable ${name} is not set` };
      problems.push(problem);
      unset.push(problem);
      return value;
    }
    return resolved;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, [...path, i], env, problems, unset));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveEnv(v, [...path, k], env, problems, unset)]),
    );
  }
  return value;
}

function zodProblems(issues: z.core.$ZodIssue[], prefix: (string | number)[]): ConfigProblem[] {
  return issues.map((issue) => ({
    path: formatPath([...prefix, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))]),
    message: issue.code === "unrecognized_keys" ? `unknown key(s): ${issue.keys.join(", ")}` : issue.message,
  }));
}

function formatPath(path: (string | number)[]): string {
  if (path.length === 0) return "(root)";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

// Prompt templates (issue 14): an endpoint may name a template, and callers send its variables
// (`template_variables`) instead of the prompt. The template step runs first in the policy chain
// (src/policies/pipeline.ts), so the context window, the cache and the guardrails all see the
// rendered prompt.
//
// - Config templates (`templates: NAME: {versions: [...]}`) are compiled at load: a pinned version
//   (`NAME@3`) or the highest one.
// - MLflow prompts (`templates: NAME: {mlflow: {uri: prompts:/NAME@ALIAS, ...}}`) are fetched from
//   the tracking server's REST API (MLflow 3 keeps a prompt as a registered model tagged
//   `mlflow.prompt.is_prompt`, its text in the version tag `mlflow.prompt.text`, `{{var}}`
//   placeholders, `_mlflow_prompt_type` "text" or "chat" (a JSON list of {role, content})),
//   through the model registry's alias cache (TTL, single-flight, stale-while-error): moving the
//   alias changes the prompt within the TTL, without a restart. A fixed version is fetched once.
//
// Rendering (chat): the template's system messages go before the caller's messages, its other
// messages after them. Completions: the template's parts joined by a blank line, before the
// caller's prompt (each of `prompts`). Every variable the template requires must be given, none
// it does not know; numbers and booleans arrive as text ("3", "true") and are checked.
import { create } from "@bufbuild/protobuf";
import { ChatMessageSchema, type ChatMessage } from "../../gen/modelgate/v1/common_pb";
import { badUpstreamResponse, invalidArgument } from "../errors";
import type { ChatParams, CompleteParams } from "../providers/types";
import { AliasCache } from "../routing/registry-alias-cache";
import { registryVersion, TRACKING, type RegistryVersion, type TrackingServer } from "../routing/registry-tracking-client";
import type { UpstreamCall, UpstreamClient } from "../upstream/client";
import { templateRenders, warnPolicy } from "./metrics";
import {
  parseTemplateRef,
  PLACEHOLDER,
  PROMPT_URI,
  type MlflowTemplateConfig,
  type TemplatesConfig,
  type TemplateVariableConfig,
  type TemplateVersionConfig,
} from "./templates-config";

/** The most variables one request may send, and the longest value (UTF-16 code units). */
export const MAX_TEMPLATE_VARIABLES = 64;
export const MAX_TEMPLATE_VALUE_CHARS = 32_768;

type Part = string | { variable: string };
type Role = "system" | "user" | "assistant";
interface TemplateMessage {
  role: Role;
  parts: Part[];
}

/** One version of a template, ready to render. */
export interface CompiledTemplate {
  /** `name@version`, as the ledger records it. */
  ref: string;
  messages: TemplateMessage[];
  /** Every variable the version uses, with its type and default. */
  variables: ReadonlyMap<string, TemplateVariableConfig>;
  /**
   * Variables the config declares for an MLflow prompt that this version does not use: accepted
   * (type-checked) and ignored, so callers keep working when the alias moves between versions.
   */
  ignored: ReadonlyMap<string, TemplateVariableConfig>;
}

/** Where an endpoint's template comes from: fixed at load, or looked up in MLflow. */
export interface TemplateSource {
  /** The endpoint's reference to it (`policies.template`). */
  readonly ref: string;
  current(call: UpstreamCall): Promise<CompiledTemplate>;
}

function parse(text: string): Part[] {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push({ variable: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function compile(ref: string, messages: { role: Role; content: string }[], typing: Readonly<Record<string, TemplateVariableConfig>>): CompiledTemplate {
  const compiled = messages.map((m) => ({ role: m.role, parts: parse(m.content) }));
  const variables = new Map<string, TemplateVariableConfig>();
  for (const m of compiled) {
    for (const p of m.parts) {
      if (typeof p !== "string" && !variables.has(p.variable)) variables.set(p.variable, Object.hasOwn(typing, p.variable) ? typing[p.variable]! : { type: "string" });
    }
  }
  const ignored = new Map(Object.entries(typing).filter(([name]) => !variables.has(name)));
  return { ref, messages: compiled, variables, ignored };
}

function compileConfigVersion(name: string, v: TemplateVersionConfig): CompiledTemplate {
  const messages: { role: Role; content: string }[] = [];
  if (v.system !== undefined) messages.push({ role: "system", content: v.system });
  if (v.user !== undefined) messages.push({ role: "user", content: v.user });
  return compile(`${name}@${v.version}`, messages, v.variables);
}

/** A prompt version from MLflow's registry (its tags), compiled; a bad one fails the lookup. */
export function compileMlflowVersion(name: string, uri: string, found: RegistryVersion, typing: MlflowTemplateConfig["variables"]): CompiledTemplate {
  const bad = (detail: string) => badUpstreamResponse(TRACKING, `${uri} (version ${found.version}): ${detail}`);
  if (found.tags.get("mlflow.prompt.is_prompt") !== "true") throw bad("not a prompt (no mlflow.prompt.is_prompt tag): a registered model?");
  const text = found.tags.get("mlflow.prompt.text");
  if (text === undefined) throw bad("no mlflow.prompt.text tag");
  const type = found.tags.get("_mlflow_prompt_type") ?? "text";
  let messages: { role: Role; content: string }[];
  if (type === "chat") {
    let list: unknown;
    try {
      list = JSON.parse(text);
    } catch {
      throw bad("a chat prompt whose text is not JSON");
    }
    if (!Array.isArray(list) || list.length === 0) throw bad("a chat prompt must be a non-empty list of messages");
    messages = list.map((m: unknown, i) => {
      const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
      if (role !== "system" && role !== "user" && role !== "assistant") throw bad(`message ${i}: role must be system, user or assistant`);
      if (typeof content !== "string") throw bad(`message ${i}: content must be text`);
      return { role, content };
    });
  } else if (type === "text") {
    messages = [{ role: "user", content: text }];
  } else {
    throw bad(`unsupported prompt type ${JSON.stringify(type.slice(0, 40))}`);
  }
  return compile(`${name}@${found.version}`, messages, typing);
}

/** Compiled versions kept per MLflow template (a version's text never changes). */
const MAX_VERSIONS_KEPT = 32;

function mlflowSource(name: string, cfg: MlflowTemplateConfig, upstream: UpstreamClient, now: () => number, onStale?: TemplateStaleHook): Omit<TemplateSource, "ref"> {
  const m = PROMPT_URI.exec(cfg.uri);
  if (!m) throw new Error(`template ${name}: bad uri (the schema checks it)`);
  const [, prompt, alias, version] = m;
  const server: TrackingServer = { uri: cfg.tracking_uri, token: cfg.tracking_token };
  const compiled = new Map<string, CompiledTemplate>();
  const cache = new AliasCache<CompiledTemplate>({
    uri: cfg.uri,
    // A fixed version is fetched once (retried while it fails).
    ttlMs: alias === undefined ? Number.POSITIVE_INFINITY : cfg.cache_ttl_ms,
    now,
    lookup: async (call) => {
      const found = await registryVersion(upstream, server, prompt!, alias === undefined ? { version: version! } : { alias }, call);
      let t = compiled.get(found.version);
      if (t === undefined) {
        t = compileMlflowVersion(name, cfg.uri, found, cfg.variables);
        if (compiled.size >= MAX_VERSIONS_KEPT) compiled.clear();
        compiled.set(found.version, t);
      }
      return t;
    },
    onStale: onStale && ((err, t) => onStale({ template: name, uri: cfg.uri, ref: t.ref, err })),
  });
  return { current: (call) => cache.version(call) };
}

/** The default stale hook: a warning in the gateway's log (the calls keep being answered). */
function logStale(stale: { template: string; uri: string; ref: string; err: unknown }): void {
  const reason = stale.err instanceof Error ? stale.err.message : String(stale.err);
  warnPolicy({ template: stale.template, uri: stale.uri, serving: stale.ref, err: reason }, "prompt template: MLflow lookup failed; the last known version keeps serving");
}

/** Told when an MLflow lookup failed and the last known version stays in use. */
export type TemplateStaleHook = (stale: { template: string; uri: string; ref: string; err: unknown }) => void;

export interface TemplateRegistryOptions {
  now?: () => number;
  onStale?: TemplateStaleHook;
}

/** The config's templates, compiled once per config (re)load: what endpoints' references resolve to. */
export class TemplateRegistry {
  private readonly sources = new Map<string, TemplateSource>();

  constructor(
    private readonly config: TemplatesConfig,
    private readonly upstream: UpstreamClient,
    private readonly options: TemplateRegistryOptions = {},
  ) {}

  /** The source for an endpoint's `policies.template` (checked at load by templateConfigProblems). */
  source(ref: string): TemplateSource {
    let source = this.sources.get(ref);
    if (source !== undefined) return source;
    const { name, version } = parseTemplateRef(ref);
    const template = Object.hasOwn(this.config, name) ? this.config[name] : undefined;
    if (template === undefined) throw new Error(`template "${name}" is not configured (the loader checks it)`);
    if ("mlflow" in template) {
      source = { ref, ...mlflowSource(name, template.mlflow, this.upstream, this.options.now ?? (() => performance.now()), this.options.onStale ?? logStale) };
    } else {
      const chosen = version === undefined ? template.versions.reduce((a, b) => (b.version > a.version ? b : a)) : template.versions.find((v) => v.version === version);
      if (chosen === undefined) throw new Error(`template "${name}" has no version ${version} (the loader checks it)`);
      const fixed = compileConfigVersion(name, chosen);
      source = { ref, current: async () => fixed };
    }
    this.sources.set(ref, source);
    return source;
  }
}

function describeNames(names: readonly string[]): string {
  return names.length > 0 ? names.join(", ") : "none";
}

/** The caller's values checked against the template, defaults filled in: INVALID_ARGUMENT naming what is wrong. */
export function bindVariables(t: CompiledTemplate, given: Readonly<Record<string, string>>): Map<string, string> {
  const names = Object.keys(given);
  if (names.length > MAX_TEMPLATE_VARIABLES) throw invalidArgument(`template_variables: at most ${MAX_TEMPLATE_VARIABLES} variables`);
  const unknown = names.filter((n) => !t.variables.has(n) && !t.ignored.has(n)).sort();
  const missing = [...t.variables].filter(([n, v]) => v.default === undefined && !Object.hasOwn(given, n)).map(([n]) => n).sort();
  if (missing.length > 0 || unknown.length > 0) {
    const problems = [
      missing.length > 0 ? `missing variable${missing.length > 1 ? "s" : ""} ${missing.join(", ")}` : "",
      unknown.length > 0 ? `unknown variable${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => JSON.stringify(n.slice(0, 64))).join(", ")}` : "",
    ].filter(Boolean);
    throw invalidArgument(`template_variables: template ${t.ref}: ${problems.join("; ")} (it takes: ${describeNames([...t.variables.keys()].sort())})`);
  }
  const values = new Map<string, string>();
  for (const [name, spec] of [...t.variables, ...[...t.ignored].filter(([n]) => Object.hasOwn(given, n))]) {
    const value = Object.hasOwn(given, name) ? given[name]! : String(spec.default);
    if (value.length > MAX_TEMPLATE_VALUE_CHARS) throw invalidArgument(`template_variables.${name}: longer than ${MAX_TEMPLATE_VALUE_CHARS} characters`);
    if (spec.type === "number" && !(/^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/.test(value) && Number.isFinite(Number(value)))) {
      throw invalidArgument(`template_variables.${name}: template ${t.ref} wants a number, got ${JSON.stringify(value.slice(0, 40))}`);
    }
    if (spec.type === "bool" && value !== "true" && value !== "false") {
      throw invalidArgument(`template_variables.${name}: template ${t.ref} wants true or false, got ${JSON.stringify(value.slice(0, 40))}`);
    }
    values.set(name, spec.type === "number" ? value.trim() : value);
  }
  return values;
}

function renderParts(parts: readonly Part[], values: ReadonlyMap<string, string>): string {
  let out = "";
  for (const p of parts) out += typeof p === "string" ? p : values.get(p.variable)!;
  return out;
}

/** What the typed requests (ChatRequest, CompleteRequest and their stream twins) carry. */
type WithVariables = { templateVariables?: { [name: string]: string } };

/** The chat request with the template rendered around the caller's messages. */
export function renderChat<P extends ChatParams & WithVariables>(t: CompiledTemplate, params: P): P {
  const values = bindVariables(t, params.templateVariables ?? {});
  const rendered = (m: TemplateMessage): ChatMessage => create(ChatMessageSchema, { role: m.role, content: renderParts(m.parts, values) });
  const before = t.messages.filter((m) => m.role === "system").map(rendered);
  const after = t.messages.filter((m) => m.role !== "system").map(rendered);
  return { ...params, messages: [...before, ...params.messages, ...after], templateVariables: {} };
}

/** The completion request with the rendered template before the caller's prompt(s). */
export function renderComplete<P extends CompleteParams & WithVariables>(t: CompiledTemplate, params: P): P {
  if ((params.tokenPrompts?.length ?? 0) > 0) throw invalidArgument("token_prompts: cannot be combined with the endpoint's prompt template (send text)");
  const values = bindVariables(t, params.templateVariables ?? {});
  const text = t.messages.map((m) => renderParts(m.parts, values)).join("\n\n");
  const joined = (prompt: string) => (prompt === "" ? text : `${text}\n\n${prompt}`);
  return {
    ...params,
    prompt: (params.prompts?.length ?? 0) > 0 ? params.prompt : joined(params.prompt),
    prompts: params.prompts?.map(joined),
    templateVariables: {},
  };
}

/** Refuses variables sent to an endpoint that has no template (they would be dropped silently). */
export function refuseStrayVariables(endpoint: string, params: WithVariables): void {
  const names = Object.keys(params.templateVariables ?? {});
  if (names.length > 0) {
    throw invalidArgument(`template_variables: endpoint "${endpoint}" has no prompt template (got ${names.slice(0, 8).map((n) => JSON.stringify(n.slice(0, 64))).join(", ")})`);
  }
}

/** What the template step reads and writes of a call (a subset of the pipeline's PolicyCall). */
interface TemplateCall {
  endpoint: { name: string };
  outcome: { template?: string };
  options: { requestId?: string };
}

/**
 * The template step, first in the policy chain: the request rendered from the endpoint's
 * template (its `name@version` noted for the ledger), or, on an endpoint without one, the
 * request as it is once it is known to carry no template variables.
 */
export async function applyTemplate<P extends ChatParams | CompleteParams>(
  source: TemplateSource | undefined,
  call: TemplateCall,
  signal: AbortSignal,
  params: P,
): Promise<P> {
  if (source === undefined) return withoutTemplate(call.endpoint.name, params);
  const endpoint = call.endpoint.name;
  let template: CompiledTemplate;
  try {
    template = await source.current({ signal, requestId: call.options.requestId });
  } catch (err) {
    if (!signal.aborted) templateRenders.add({ endpoint, template: source.ref, result: "unavailable" });
    throw err;
  }
  call.outcome.template = template.ref;
  let rendered: ChatParams | CompleteParams;
  try {
    rendered = "messages" in params ? renderChat(template, params as ChatParams & WithVariables) : renderComplete(template, params as CompleteParams & WithVariables);
  } catch (err) {
    templateRenders.add({ endpoint, template: template.ref, result: "invalid" });
    throw err;
  }
  templateRenders.add({ endpoint, template: template.ref, result: "ok" });
  return rendered as P;
}

/** The request on an endpoint without a template: refused if it carries template variables. */
export function withoutTemplate<P extends object>(endpoint: string, params: P): P {
  // The hot path of every endpoint without policies: no allocation when the map is empty.
  const variables = (params as WithVariables).templateVariables;
  for (const _ in variables) {
    refuseStrayVariables(endpoint, params as WithVariables);
    break;
  }
  return params;
}

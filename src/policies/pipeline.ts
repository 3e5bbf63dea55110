// The per-endpoint policy chain, compiled once per config (re)load into the immutable runtime
// state, and run by the chat and completions services (so by the typed API and every REST
// surface): on the way in, input guardrails, then the context window, then the cache lookup;
// on the way back, output guardrails (chunk by chunk for streams), then the cache store.
// An endpoint without `policies:` never enters this module's code past one property check.
import { create, fromBinary, toBinary, toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ChatRequestSchema, ChatResponseSchema, StreamChatRequestSchema, StreamChatResponseSchema } from "../../gen/modelgate/v1/chat_pb";
import {
  CompleteRequestSchema,
  CompleteResponseSchema,
  StreamCompleteRequestSchema,
  StreamCompleteResponseSchema,
} from "../../gen/modelgate/v1/completions_pb";
import { RoutingSchema } from "../../gen/modelgate/v1/common_pb";
import type { EndpointConfig } from "../config/schema";
import type { CallOutcome } from "../interceptors/call-info";
import type { PriceTable } from "../usage/prices";
import type { ChatParams, CompleteParams, EmbedParams } from "../providers/types";
import type { RuntimeEndpoint } from "../runtime";
import { cacheKey, decodeEntry, encodeEntry, MemoryCacheStore, RedisCacheStore, type CacheStore } from "./cache";
import { applyTemplate, withoutTemplate, type TemplateRegistry, type TemplateSource } from "./templates";
import { compileContextPolicy, fitChat, fitComplete, type ContextPolicy } from "./context";
import { compileSemanticCache, semanticLookup, similarityHeader, type Embedder, type SemanticCachePolicy, type SemanticLookup } from "./semantic-cache";
import { blockedBy, checkText, compileGuardRule, guardrailError, type GuardDecision, type GuardRule } from "./guardrails";
import { remoteContext, remoteInput, remoteOutputUnary, StreamRemoteGuard } from "./guardrails-flow";
import { compileRemoteRule, type RemoteRule } from "./guardrails-remote";
import { compilePredictSchema, type PredictSchemaPolicy } from "./predict-schema";
import type { AnyGuardRuleConfig, GuardRuleConfig } from "./config";
import type { UpstreamClient } from "../upstream/client";
import { cacheLookups, cacheSavedUsd, contextOutcomes, guardrailDecisions, logPolicy } from "./metrics";

/** Response header (and stream trailer): whether the answer came from the response cache. */
export const cacheHeader = "x-modelgate-cache";

export interface CachePolicy {
  store: CacheStore;
  ttlMs: number;
  maxEntryBytes: number;
  allowNondeterministic: boolean;
  /** On an exact miss, the nearest answer to a similar prompt (src/policies/semantic-cache.ts). */
  semantic?: SemanticCachePolicy;
}

export interface EndpointPolicies {
  /** The config's prices, for the cost a cache hit saved. */
  prices: PriceTable;
  inputRules: readonly GuardRule[];
  outputRules: readonly GuardRule[];
  /** Moderation and webhook checks (after the local rules), and how often a stream is checked. */
  inputRemote: readonly RemoteRule[];
  outputRemote: readonly RemoteRule[];
  streamCheckChars: number;
  /** Predict endpoints: input transformation and signature checks. */
  predictSchema?: PredictSchemaPolicy;
  context?: ContextPolicy;
  cache?: CachePolicy;
  /** The endpoint's prompt template (src/policies/templates.ts), rendered first. */
  template?: TemplateSource;
}

/** The endpoint's compiled policies; undefined when it configures none. */
export function compilePolicies(ep: EndpointConfig, prices: PriceTable, upstream: UpstreamClient, templates?: TemplateRegistry): EndpointPolicies | undefined {
  const p = ep.policies;
  if (!p) return undefined;
  const targets = ep.targets.map((t) => ({ provider: t.model.provider, model: t.model.name }));
  const cache = p.cache;
  return {
    prices,
    inputRules: (p.guardrails?.input ?? []).filter(isLocalRule).map(compileGuardRule),
    outputRules: (p.guardrails?.output ?? []).filter(isLocalRule).map(compileGuardRule),
    inputRemote: (p.guardrails?.input ?? []).filter((r) => !isLocalRule(r)).map((r) => compileRemoteRule(r, upstream)),
    outputRemote: (p.guardrails?.output ?? []).filter((r) => !isLocalRule(r)).map((r) => compileRemoteRule(r, upstream)),
    streamCheckChars: p.guardrails?.stream_check_chars ?? 0,
    predictSchema: p.predict_schema && compilePredictSchema(p.predict_schema, upstream),
    context: p.context && compileContextPolicy(p.context, targets),
    cache: cache && {
      store: cache.redis_url ? new RedisCacheStore(cache.redis_url, cache.key_prefix) : new MemoryCacheStore(cache.max_bytes),
      ttlMs: cache.ttl_ms,
      maxEntryBytes: cache.max_entry_bytes,
      allowNondeterministic: cache.allow_nondeterministic,
      semantic: cache.semantic && compileSemanticCache(cache.semantic, cache.max_bytes),
    },
    template: p.template === undefined ? undefined : templates?.source(p.template),
  };
}

function isLocalRule(rule: AnyGuardRuleConfig): rule is GuardRuleConfig {
  return rule.type !== "moderation" && rule.type !== "webhook";
}

type Params = ChatParams | CompleteParams;
interface Schemas {
  request: DescMessage;
  response: DescMessage;
  stream: boolean;
}
const schemasByType = new Map<string, Schemas>([
  [ChatRequestSchema.typeName, { request: ChatRequestSchema, response: ChatResponseSchema, stream: false }],
  [StreamChatRequestSchema.typeName, { request: StreamChatRequestSchema, response: StreamChatResponseSchema, stream: true }],
  [CompleteRequestSchema.typeName, { request: CompleteRequestSchema, response: CompleteResponseSchema, stream: false }],
  [StreamCompleteRequestSchema.typeName, { request: StreamCompleteRequestSchema, response: StreamCompleteResponseSchema, stream: true }],
]);

function schemasOf(params: Params): Schemas {
  const s = schemasByType.get((params as { $typeName?: string }).$typeName ?? "");
  if (!s) throw new Error("policies: the services pass their request messages");
  return s;
}

function isChat(params: Params): params is ChatParams {
  return "messages" in params;
}

/** What the pipeline reads and writes of a call begun by beginEndpointCall (services/endpoint-call.ts). */
export interface PolicyCall {
  endpoint: RuntimeEndpoint;
  outcome: CallOutcome;
  options: { requestId?: string; traceparent?: string };
  /** Embeds prompts for the semantic cache (the gateway's in-process embeddings client). */
  embed?: Embedder;
}

// ---- input guardrails

function guardInput(rules: readonly GuardRule[], params: Params, decisions: GuardDecision[]): Params {
  if (isChat(params)) {
    let changed = false;
    const messages = params.messages.map((m) => {
      const content = checkText(rules, m.content, decisions);
      let partsChanged = false;
      const parts = m.parts.map((part) => {
        if (part.part.case !== "text") return part;
        const value = checkText(rules, part.part.value, decisions);
        if (value === part.part.value) return part;
        partsChanged = true;
        return { ...part, part: { case: "text" as const, value } };
      });
      const toolCalls = m.toolCalls.map((c) => {
        const args = c.function?.arguments;
        if (!args || !c.function) return c;
        const value = checkText(rules, args, decisions);
        if (value === args) return c;
        partsChanged = true;
        return { ...c, function: { ...c.function, arguments: value } };
      });
      if (content === m.content && !partsChanged) return m;
      changed = true;
      return { ...m, content, parts, toolCalls };
    });
    return changed ? { ...params, messages } : params;
  }
  const prompt = checkText(rules, params.prompt, decisions);
  const prompts = params.prompts?.map((p) => checkText(rules, p, decisions));
  const changed = prompt !== params.prompt || prompts?.some((p, i) => p !== params.prompts?.[i]);
  return changed ? { ...params, prompt, prompts } : params;
}

export function record(call: PolicyCall, side: "input" | "output", decisions: readonly GuardDecision[]): void {
  if (decisions.length === 0) return;
  const endpoint = call.endpoint.name;
  const noted = (call.outcome.guardrails ??= []);
  for (const d of decisions) {
    guardrailDecisions.add({ endpoint, side, reason: d.reason, action: d.action });
    if (noted.length < 32) noted.push(`${side}:${d.reason}:${d.action}`);
  }
  logPolicy({ endpoint, requestId: call.options.requestId, side, decisions }, "guardrail decision");
}

// ---- output guardrails

/** Text of an answer's choices (unary chat, unary completion, or one stream chunk). */
interface ChoiceLike {
  index?: number;
  text?: string;
  message?: { content?: string };
  delta?: { content?: string };
}
/** A unary answer or a stream chunk, as the services hand them on (message init shapes). */
interface AnswerLike {
  choices?: ChoiceLike[];
  usage?: { promptTokens?: number; completionTokens?: number };
}

function usageOf(a: AnswerLike | undefined): { promptTokens: number; completionTokens: number } | undefined {
  const u = a?.usage;
  return u && { promptTokens: u.promptTokens ?? 0, completionTokens: u.completionTokens ?? 0 };
}

function choiceText(c: ChoiceLike): { get: () => string; set: (v: string) => void } | undefined {
  const msg = c.message ?? c.delta;
  if (msg) return { get: () => msg.content ?? "", set: (v) => (msg.content = v) };
  if (typeof c.text === "string") return { get: () => c.text ?? "", set: (v) => (c.text = v) };
  return undefined;
}

/**
 * Checks a stream's output chunk by chunk: block and flag rules see each new piece with the last
 * `overlap` characters before it (a match split across chunks is still found), redact rules the
 * new piece (a value split across two chunks is not redacted: block it instead when that matters).
 */
const overlap = 256;
class StreamOutputGuard {
  private readonly tails = new Map<number, string>();
  readonly decisions: GuardDecision[] = [];
  private readonly scanRules: GuardRule[];
  private readonly redactRules: GuardRule[];

  constructor(rules: readonly GuardRule[]) {
    this.scanRules = rules.filter((r) => r.action !== "redact");
    this.redactRules = rules.filter((r) => r.action === "redact");
  }

  /** Checks (and redacts) one chunk in place; returns the blocking decision, if any. */
  check(chunk: AnswerLike): GuardDecision | undefined {
    for (const choice of chunk.choices ?? []) {
      const t = choiceText(choice);
      const text = t?.get();
      if (!t || !text) continue;
      const index = choice.index ?? 0;
      const tail = this.tails.get(index) ?? "";
      const found: GuardDecision[] = [];
      const window = tail + text;
      checkText(this.scanRules, window, found);
      // Matches wholly inside the tail were counted with the chunk before.
      const before: GuardDecision[] = [];
      if (tail) checkText(this.scanRules, tail, before);
      for (const d of found) {
        const count = d.count - (before.find((b) => b.reason === d.reason && b.action === d.action)?.count ?? 0);
        if (count > 0 || d.action === "block") merge(this.decisions, { ...d, count: Math.max(count, 1) });
      }
      const blocked = blockedBy(this.decisions);
      if (blocked) return blocked;
      const redacted = checkText(this.redactRules, text, this.decisions);
      if (redacted !== text) t.set(redacted);
      this.tails.set(index, window.slice(-overlap));
    }
    return undefined;
  }
}

function merge(into: GuardDecision[], d: GuardDecision): void {
  const prior = into.find((x) => x.reason === d.reason && x.action === d.action);
  if (prior) prior.count += d.count;
  else into.push({ ...d });
}

function guardOutputUnary(rules: readonly GuardRule[], res: AnswerLike, decisions: GuardDecision[]): void {
  for (const choice of res.choices ?? []) {
    const t = choiceText(choice);
    if (!t) continue;
    const text = t.get();
    const out = checkText(rules, text, decisions);
    if (blockedBy(decisions)) return;
    if (out !== text) t.set(out);
  }
}

// ---- cache

function deterministic(params: Params): boolean {
  // Unset temperature is the provider's default (1 for most): sampled, so not deterministic.
  return params.temperature === 0 && (params.n ?? 1) <= 1;
}

interface CacheCall {
  policy: CachePolicy;
  key: string;
  /** The caller asked not to have the answer stored (`cache-control: no-store`). */
  noStore: boolean;
}

function cacheCallOf(policies: EndpointPolicies, endpoint: RuntimeEndpoint, outcome: CallOutcome, ctx: HandlerContext, params: Params, schemas: Schemas): CacheCall | undefined {
  const policy = policies.cache;
  if (!policy) return undefined;
  const cc = (ctx.requestHeader.get("cache-control") ?? "").toLowerCase();
  const noCache = /(?:^|[,\s])no-cache(?:$|[,\s=])/.test(cc);
  const noStore = /(?:^|[,\s])no-store(?:$|[,\s=])/.test(cc);
  if (noCache || (!policy.allowNondeterministic && !deterministic(params))) {
    cacheLookups.add({ endpoint: endpoint.name, result: "bypass" });
    outcome.cache = "bypass";
    return undefined;
  }
  const request = toJson(schemas.request, params as unknown as Message, { alwaysEmitImplicit: false });
  const key = cacheKey({ endpoint: endpoint.name, models: endpoint.targets.map((t) => `${t.provider}/${t.model}`), stream: schemas.stream, request });
  return { policy, key, noStore };
}

/** Marks a cache hit: exact, or semantic with the prompts' similarity (headers, and trailers for streams). */
function hitOutcome(
  policies: EndpointPolicies,
  call: PolicyCall,
  ctx: HandlerContext,
  usage: { promptTokens: number; completionTokens: number } | undefined,
  similarity?: number,
): void {
  const endpoint = call.endpoint;
  const kind = similarity === undefined ? "hit" : "semantic_hit";
  const streamed = ctx.method.methodKind === "server_streaming";
  for (const h of streamed ? [ctx.responseHeader, ctx.responseTrailer] : [ctx.responseHeader]) {
    h.set(cacheHeader, similarity === undefined ? "hit" : "semantic-hit");
    if (similarity !== undefined) h.set(similarityHeader, similarity.toFixed(4));
  }
  cacheLookups.add({ endpoint: endpoint.name, result: kind });
  // Nothing was generated for this call: the ledger records 0 tokens (cost 0), metrics the saving.
  const outcome = call.outcome;
  outcome.usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 } as NonNullable<typeof outcome.usage>;
  outcome.attempts = 0;
  outcome.cache = kind;
  const saved = usage ? policies.prices.costUsd(outcome.provider ?? endpoint.provider, outcome.model ?? endpoint.model, usage) : null;
  if (saved !== null) outcome.costSavedUsd = saved;
  if (saved) cacheSavedUsd.add({ endpoint: endpoint.name }, saved);
  logPolicy({ endpoint: endpoint.name, requestId: call.options.requestId, cache: kind, similarity, savedUsd: saved ?? undefined }, "response cache hit");
}

/** The semantic cache's lookup after an exact miss (nothing when the endpoint has none). */
async function semanticOf(cache: CacheCall, call: PolicyCall, ctx: HandlerContext, params: Params, schemas: Schemas): Promise<SemanticLookup> {
  const policy = cache.policy.semantic;
  if (!policy) return {};
  return semanticLookup(policy, call, ctx, params, { schema: schemas.request, stream: schemas.stream }, { ttlMs: cache.policy.ttlMs, noStore: cache.noStore });
}

// ---- the pipeline

async function requestSide<P extends Params>(policies: EndpointPolicies, call: PolicyCall, ctx: HandlerContext, params: P): Promise<P> {
  const endpoint = call.endpoint;
  if (policies.inputRules.length > 0) {
    const decisions: GuardDecision[] = [];
    params = guardInput(policies.inputRules, params, decisions) as P;
    record(call, "input", decisions);
    const blocked = blockedBy(decisions);
    if (blocked) throw guardrailError("input", blocked.reason);
  }
  if (policies.inputRemote.length > 0) {
    const remote = await remoteInput(policies.inputRemote, params, remoteContext(endpoint, ctx, "input"));
    record(call, "input", remote.decisions);
    const blocked = blockedBy(remote.decisions);
    if (blocked) throw guardrailError("input", blocked.reason);
    params = remote.params;
  }
  if (policies.context) {
    const fit = isChat(params) ? fitContext(() => fitChat(policies.context!, endpoint.name, params as ChatParams)) : fitContext(() => fitComplete(policies.context!, endpoint.name, params as CompleteParams));
    contextOutcomes.add({ endpoint: endpoint.name, outcome: fit.outcome });
    if (fit.outcome !== "fit") logPolicy({ endpoint: endpoint.name, requestId: call.options.requestId, context: fit.outcome, promptTokens: fit.promptTokens }, "context window policy applied");
    params = fit.params as P;
  }
  return params;

  function fitContext<R>(run: () => R): R {
    try {
      return run();
    } catch (err) {
      contextOutcomes.add({ endpoint: endpoint.name, outcome: "refused" });
      throw err;
    }
  }
}

/**
 * Embedding inputs through the endpoint's input guardrails (local rules, then remote ones): a
 * block refuses the call before any upstream request, a redaction changes what is embedded.
 * The other policies (context window, cache, output checks) do not apply to embeddings.
 */
export async function policyEmbedInput(begun: PolicyCall, ctx: HandlerContext, params: EmbedParams): Promise<EmbedParams> {
  const policies = begun.endpoint.policies;
  if (!policies) return params;
  if (policies.inputRules.length > 0) {
    const decisions: GuardDecision[] = [];
    const inputs = params.inputs.map((t) => checkText(policies.inputRules, t, decisions));
    record(begun, "input", decisions);
    const blocked = blockedBy(decisions);
    if (blocked) throw guardrailError("input", blocked.reason);
    if (inputs.some((t, i) => t !== params.inputs[i])) params = { ...params, inputs };
  }
  if (policies.inputRemote.length > 0) {
    const remote = await remoteInput(policies.inputRemote, params, remoteContext(begun.endpoint, ctx, "input"));
    record(begun, "input", remote.decisions);
    const blocked = blockedBy(remote.decisions);
    if (blocked) throw guardrailError("input", blocked.reason);
    params = remote.params;
  }
  return params;
}

/**
 * A unary chat or completion through the endpoint's policies. An endpoint without policies gets
 * `call`'s own promise (no async function around it: one resolving to a promise costs three more
 * microtask turns).
 */
export function policyUnary<P extends Params, R extends AnswerLike>(
  begun: PolicyCall,
  ctx: HandlerContext,
  params: P,
  call: (params: P) => Promise<R>,
): Promise<R> {
  const policies = begun.endpoint.policies;
  if (!policies) return call(withoutTemplate(begun.endpoint.name, params));
  return unaryWithPolicies(policies, begun, ctx, params, call);
}

async function unaryWithPolicies<P extends Params, R extends AnswerLike>(
  policies: EndpointPolicies,
  begun: PolicyCall,
  ctx: HandlerContext,
  params: P,
  call: (params: P) => Promise<R>,
): Promise<R> {
  const { endpoint, outcome } = begun;
  params = await applyTemplate(policies.template, begun, ctx.signal, params);
  params = await requestSide(policies, begun, ctx, params);
  const schemas = schemasOf(params);
  const cache = cacheCallOf(policies, endpoint, outcome, ctx, params, schemas);
  let semantic: SemanticLookup | undefined;
  if (cache) {
    const cached = await cache.policy.store.get(cache.key);
    // An exact hit, else (on a miss) the semantic cache's nearest answer with its similarity.
    let messages = cached && decodeEntry(cached);
    let similarity: number | undefined;
    if (messages?.length !== 1) {
      semantic = await semanticOf(cache, begun, ctx, params, schemas);
      messages = semantic.hit && decodeEntry(semantic.hit.entry);
      similarity = semantic.hit?.similarity;
    }
    if (messages?.length === 1) {
      const res = fromBinary(schemas.response, messages[0]!) as unknown as R;
      hitOutcome(policies, begun, ctx, usageOf(res), similarity);
      return Object.assign(res, { routing: create(RoutingSchema, { target: outcome.target ?? "", attempts: 0, cacheHit: true }) });
    }
    ctx.responseHeader.set(cacheHeader, "miss");
    cacheLookups.add({ endpoint: endpoint.name, result: "miss" });
    outcome.cache = "miss";
  }
  const res = await call(params);
  if (policies.outputRules.length > 0) {
    const decisions: GuardDecision[] = [];
    guardOutputUnary(policies.outputRules, res, decisions);
    record(begun, "output", decisions);
    const blocked = blockedBy(decisions);
    if (blocked) throw guardrailError("output", blocked.reason);
  }
  if (policies.outputRemote.length > 0) {
    const decisions = await remoteOutputUnary(policies.outputRemote, res.choices ?? [], remoteContext(endpoint, ctx, "output"));
    record(begun, "output", decisions);
    const blocked = blockedBy(decisions);
    if (blocked) throw guardrailError("output", blocked.reason);
  }
  if (cache && !cache.noStore) {
    const entry = encodeEntry([toBinary(schemas.response, create(schemas.response, res as never))]);
    if (entry.length <= cache.policy.maxEntryBytes) {
      await cache.policy.store.set(cache.key, entry, cache.policy.ttlMs);
      // Not awaited: a slow vector store never holds the answer back (its failures are logged).
      void semantic?.store?.(entry);
    }
  }
  return res;
}

/**
 * A streamed chat or completion through the endpoint's policies. An endpoint without policies gets
 * the model stream itself, not one more async generator suspended over it for the whole stream
 * (issue 11: memory per open stream). Called when the stream is first read (the services' streams
 * are lazy), so what it throws fails that read, as from a generator.
 */
export function policyStream<P extends Params, C extends AnswerLike>(
  begun: PolicyCall,
  ctx: HandlerContext,
  params: P,
  call: (params: P) => AsyncIterable<C>,
): AsyncIterable<C> {
  const policies = begun.endpoint.policies;
  if (!policies) return call(withoutTemplate(begun.endpoint.name, params));
  return withPolicies(policies, begun, ctx, params, call);
}

async function* withPolicies<P extends Params, C extends AnswerLike>(
  policies: EndpointPolicies,
  begun: PolicyCall,
  ctx: HandlerContext,
  params: P,
  call: (params: P) => AsyncIterable<C>,
): AsyncIterable<C> {
  const { endpoint, outcome } = begun;
  params = await applyTemplate(policies.template, begun, ctx.signal, params);
  params = await requestSide(policies, begun, ctx, params);
  const schemas = schemasOf(params);
  const cache = cacheCallOf(policies, endpoint, outcome, ctx, params, schemas);
  let semantic: SemanticLookup | undefined;
  if (cache) {
    const cached = await cache.policy.store.get(cache.key);
    semantic = cached ? undefined : await semanticOf(cache, begun, ctx, params, schemas);
    const similar = semantic?.hit && decodeEntry(semantic.hit.entry);
    const messages = (cached && decodeEntry(cached)) || similar;
    if (messages && messages.length > 0) {
      const chunks = messages.map((m) => fromBinary(schemas.response, m) as unknown as C);
      hitOutcome(policies, begun, ctx, usageOf(chunks.find((c) => c.usage)), messages === similar ? semantic?.hit?.similarity : undefined);
      for (const chunk of chunks) {
        if (chunk.usage) Object.assign(chunk, { routing: create(RoutingSchema, { target: outcome.target ?? "", attempts: 0, cacheHit: true }) });
        yield chunk;
      }
      return;
    }
    ctx.responseHeader.set(cacheHeader, "miss");
    ctx.responseTrailer.set(cacheHeader, "miss");
    cacheLookups.add({ endpoint: endpoint.name, result: "miss" });
    outcome.cache = "miss";
  }
  const guard = policies.outputRules.length > 0 ? new StreamOutputGuard(policies.outputRules) : undefined;
  let stored: Uint8Array[] | undefined = cache && !cache.noStore ? [] : undefined;
  let storedBytes = 0;
  const remote = policies.outputRemote.length > 0
    ? new StreamRemoteGuard<C>(policies.outputRemote, policies.streamCheckChars, (final) => remoteContext(endpoint, ctx, "output", final))
    : undefined;
  const keep = (chunk: C) => {
    if (!stored) return;
    const bytes = toBinary(schemas.response, create(schemas.response, chunk as never));
    storedBytes += bytes.length + 4;
    if (storedBytes > cache!.policy.maxEntryBytes) stored = undefined;
    else stored.push(bytes);
  };
  try {
    for await (const chunk of call(params)) {
      const blocked = guard?.check(chunk);
      if (blocked) throw guardrailError("output", blocked.reason);
      // With remote checks, chunks wait until a check passed them (see StreamRemoteGuard).
      const checked = remote ? await remote.push(chunk) : { release: [chunk] };
      if (checked.blocked) throw guardrailError("output", checked.blocked.reason);
      for (const c of checked.release) {
        keep(c);
        yield c;
      }
    }
    if (remote) {
      const checked = await remote.flush();
      if (checked.blocked) throw guardrailError("output", checked.blocked.reason);
      for (const c of checked.release) {
        keep(c);
        yield c;
      }
    }
  } finally {
    if (guard) record(begun, "output", guard.decisions);
    if (remote) record(begun, "output", remote.decisions);
  }
  // Only a stream that ended normally is replayed later.
  if (cache && stored && stored.length > 0) {
    const entry = encodeEntry(stored);
    await cache.policy.store.set(cache.key, entry, cache.policy.ttlMs);
    void semantic?.store?.(entry);
  }
}

// The semantic cache: on an exact-cache miss, the prompt (the last user turn(s) and the system
// prompt, normalized; see `policies.cache.semantic`) is embedded through one of the gateway's own
// llm/v1/embeddings endpoints, called in process through the same interceptors, router and
// provider as any call (its ledger row is the gateway's: key id "gateway:semantic-cache"). The
// nearest earlier answer whose prompt reached the cosine threshold is served, within a scope:
// the endpoint, its models, stream or not, the prompt template's name@version, every other field
// of the request (model parameters, earlier turns, tools ...) and the embedding model and size. Else
// the upstream answers and (embedding, answer) is stored with the cache's TTL.
//
// Fail-open: an embeddings call that fails or takes longer than `timeout_ms`, or a vector store
// that fails, is a miss (logged, counted), never a failed or held-up call.
import { createHash } from "node:crypto";
import type { Client, HandlerContext } from "@connectrpc/connect";
import { CallValues } from "../server/interceptor-chain";
import { toJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import type { EmbeddingsService } from "../../gen/modelgate/v1/embeddings_pb";
import type { ConfigProblem } from "../config/load";
import type { EndpointConfig } from "../config/schema";
import { internalPrincipalKey } from "../interceptors/auth";
import { getCaller } from "../interceptors/call-info";
import type { ChatParams, CompleteParams } from "../providers/types";
import type { Principal, RuntimeEndpoint } from "../runtime";
import { canonicalJson } from "./cache";
import type { SemanticCacheConfig } from "./config";
import { semanticLookups, semanticSimilarity, warnPolicy } from "./metrics";
import { ChromaVectorIndex, MemoryVectorIndex, unitVector, type VectorIndex, type VectorMatch } from "./semantic-cache-index";

/** Response header (and stream trailer) with a semantic hit's cosine similarity (4 decimals). */
export const similarityHeader = "x-modelgate-cache-similarity";

/** Who the semantic cache's embeddings calls run as (ledger, logs, metrics): the gateway itself. */
export const semanticCachePrincipal: Principal = { keyId: "gateway:semantic-cache", keyName: "semantic-cache", team: "", roles: new Set(["user"]) };

export interface EmbedInput {
  /** The llm/v1/embeddings endpoint to call. */
  endpoint: string;
  text: string;
  /** The calling request's traceparent: the embeddings call is a child span of it. */
  traceparent?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Embedding {
  /** The model that answered (part of the scope: vectors of two models never meet). */
  model: string;
  values: ArrayLike<number>;
}

/** Embeds one text through the gateway (src/server/gateway.ts gives the in-process one). */
export type Embedder = (input: EmbedInput) => Promise<Embedding>;

/** An Embedder over the gateway's in-process EmbeddingsService client, as the gateway's own principal. */
export function inProcessEmbedder(client: Client<typeof EmbeddingsService>): Embedder {
  return async ({ endpoint, text, traceparent, timeoutMs, signal }) => {
    const contextValues = new CallValues();
    contextValues.set(internalPrincipalKey, semanticCachePrincipal);
    const res = await client.embed({ endpoint, inputs: [text] }, { timeoutMs, signal, headers: traceparent ? { traceparent } : undefined, contextValues });
    const first = res.data[0];
    return { model: res.model, values: first && first.values.length > 0 ? first.values : (first?.doubleValues ?? []) };
  };
}

export interface SemanticCachePolicy {
  embeddingsEndpoint: string;
  threshold: number;
  userTurns: number;
  includeSystem: boolean;
  normalize: boolean;
  maxChars: number;
  timeoutMs: number;
  /** Whose answers a caller may be served: everyone's on the endpoint, its team's, its key's. */
  partition: "endpoint" | "team" | "key";
  index: VectorIndex;
}

export function compileSemanticCache(cfg: SemanticCacheConfig, maxBytes: number): SemanticCachePolicy {
  const store = cfg.store;
  return {
    embeddingsEndpoint: cfg.embeddings_endpoint,
    threshold: cfg.threshold,
    userTurns: cfg.user_turns,
    includeSystem: cfg.include_system,
    normalize: cfg.normalize,
    maxChars: cfg.max_chars,
    timeoutMs: cfg.timeout_ms,
    partition: cfg.partition,
    index:
      store.type === "chroma"
        ? new ChromaVectorIndex({ url: store.url, tenant: store.tenant, database: store.database, collection: store.collection, timeoutMs: store.timeout_ms })
        : new MemoryVectorIndex(cfg.max_entries, maxBytes),
  };
}

/** Config problems: a semantic cache must name an llm/v1/embeddings endpoint of the same file. */
export function semanticCacheConfigProblems(endpoints: readonly EndpointConfig[]): ConfigProblem[] {
  const types = new Map(endpoints.map((e) => [e.name, e.endpoint_type]));
  const problems: ConfigProblem[] = [];
  endpoints.forEach((ep, i) => {
    const name = ep.policies?.cache?.semantic?.embeddings_endpoint;
    if (name === undefined) return;
    const path = `endpoints[${i}].policies.cache.semantic.embeddings_endpoint`;
    const type = types.get(name);
    if (type === undefined) problems.push({ path, message: `unknown endpoint "${name}"` });
    else if (type !== "llm/v1/embeddings") problems.push({ path, message: `endpoint "${name}" is of type ${type}; the semantic cache needs an llm/v1/embeddings endpoint` });
  });
  return problems;
}

type Params = ChatParams | CompleteParams;

/** Longest vector the cache keeps (the largest common embeddings have 3,072 or 4,096). */
const maxDimensions = 16_384;

function normalized(policy: SemanticCachePolicy, text: string): string {
  return policy.normalize ? text.normalize("NFKC").toLowerCase().replace(/\s+/gu, " ").trim() : text;
}

/** A message's text: its content and its text parts. */
function messageText(m: ChatParams["messages"][number]): string {
  const texts = [m.content];
  for (const p of m.parts) if (p.part.case === "text") texts.push(p.part.value);
  return texts.filter((t) => t !== "").join("\n");
}

/**
 * What is embedded, and the request without it (the rest of the scope): for chats the system
 * prompt (when included) and the last `userTurns` user turns, for completions the prompt(s).
 */
export function semanticPrompt(policy: SemanticCachePolicy, params: Params): { text: string; rest: Params } {
  if (!("messages" in params)) {
    const text = [params.prompt, ...(params.prompts ?? [])].filter((t) => t !== "").join("\n");
    return { text: normalized(policy, text), rest: { ...params, prompt: "", prompts: [] } };
  }
  const embedded = new Set<number>();
  let users = 0;
  for (let i = params.messages.length - 1; i >= 0; i--) {
    const role = params.messages[i]!.role;
    if (role === "user" && users < policy.userTurns) {
      users++;
      embedded.add(i);
    } else if (policy.includeSystem && (role === "system" || role === "developer")) embedded.add(i);
  }
  const texts: string[] = [];
  const messages = params.messages.map((m, i) => {
    if (!embedded.has(i)) return m;
    texts.push(`${m.role}: ${messageText(m)}`);
    return { ...m, content: "", parts: m.parts.map((p) => (p.part.case === "text" ? { ...p, part: { case: "text" as const, value: "" } } : p)) };
  });
  return { text: normalized(policy, texts.join("\n")), rest: { ...params, messages } };
}

export interface SemanticLookup {
  /** The answer to serve: cached messages (protobuf binary, see encodeEntry) and their similarity. */
  hit?: { entry: Buffer; similarity: number };
  /** Stores the upstream's answer under this prompt (absent: not stored, e.g. `no-store`). */
  store?: (entry: Buffer) => Promise<void>;
}

export interface SemanticCallInfo {
  endpoint: RuntimeEndpoint;
  options: { requestId?: string; traceparent?: string };
  /** The prompt template the request was rendered from (name@version): part of the scope. */
  outcome: { template?: string };
  embed?: Embedder;
}

/** Embeds the prompt and looks the nearest answer up; every failure is a miss (fail-open). */
export async function semanticLookup(
  policy: SemanticCachePolicy,
  call: SemanticCallInfo,
  ctx: HandlerContext,
  params: Params,
  request: { schema: DescMessage; stream: boolean },
  cache: { ttlMs: number; noStore: boolean },
): Promise<SemanticLookup> {
  const endpoint = call.endpoint.name;
  const { text, rest } = semanticPrompt(policy, params);
  if (!call.embed || text === "" || text.length > policy.maxChars) {
    semanticLookups.add({ endpoint, result: "skipped" });
    return {};
  }
  const failed = (stage: string, err: unknown): SemanticLookup => {
    semanticLookups.add({ endpoint, result: "error" });
    warnPolicy({ endpoint, requestId: call.options.requestId, semanticCache: stage, err: (err as Error).message }, "semantic cache: lookup failed; the call goes upstream");
    return {};
  };
  let embedding: Embedding;
  try {
    embedding = await call.embed({ endpoint: policy.embeddingsEndpoint, text, traceparent: call.options.traceparent, timeoutMs: policy.timeoutMs, signal: ctx.signal });
  } catch (err) {
    return failed("embeddings", err);
  }
  const vector = embedding.values.length <= maxDimensions ? unitVector(embedding.values) : undefined;
  if (!vector) return failed("embeddings", new Error(`no usable vector (${embedding.values.length} values)`));
  const principal = policy.partition === "endpoint" ? undefined : getCaller(ctx.values)?.principal;
  const scope = createHash("sha256")
    .update(
      canonicalJson({
        endpoint,
        partition: policy.partition === "key" ? `key:${principal?.keyId ?? ""}` : policy.partition === "team" ? `team:${principal?.team ?? ""}` : "",
        models: call.endpoint.targets.map((t) => `${t.provider}/${t.model}`),
        stream: request.stream,
        template: call.outcome.template ?? "",
        request: toJson(request.schema, rest as unknown as Message, { alwaysEmitImplicit: false }),
        embeddings: [policy.embeddingsEndpoint, embedding.model, vector.length],
      }),
    )
    .digest("base64url");
  const store = cache.noStore
    ? undefined
    : async (entry: Buffer) => {
        try {
          await policy.index.add(scope, vector, entry, cache.ttlMs);
        } catch (err) {
          warnPolicy({ endpoint, requestId: call.options.requestId, semanticCache: "store", err: (err as Error).message }, "semantic cache: store failed; answer not cached");
        }
      };
  let match: VectorMatch | undefined;
  try {
    match = await policy.index.query(scope, vector, policy.threshold);
  } catch (err) {
    return { ...failed("index", err), store };
  }
  if (match) semanticSimilarity.observe({ endpoint }, match.similarity);
  if (match?.entry) {
    semanticLookups.add({ endpoint, result: "hit" });
    return { hit: { entry: match.entry, similarity: match.similarity }, store };
  }
  semanticLookups.add({ endpoint, result: "miss" });
  return { store };
}

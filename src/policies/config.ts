// The `policies:` block of an endpoint (src/config/schema.ts): request- and response-side policies
// run by src/policies/pipeline.ts on the chat and completions services (typed API and every REST
// surface alike). Everything is optional; an endpoint without the block runs no policy code.
import { z } from "zod";
import { templateRefSchema } from "./templates-config";
import { moderationRuleSchema, webhookRuleSchema } from "./guardrails-remote";
import { predictSchemaPolicySchema } from "./predict-schema";

export const overflowStrategies = ["refuse", "drop_oldest", "middle_out", "route"] as const;
export type OverflowStrategy = (typeof overflowStrategies)[number];

export const contextPolicySchema = z.strictObject({
  /**
   * What to do with a request that does not fit the model's window: refuse it (INVALID_ARGUMENT
   * with the counts); drop the oldest turns keeping the system prompt; drop turns from the middle
   * keeping the system prompt, the first turn and the last ones; or send it on when a later target
   * of the endpoint has the room (routing's `context_length` fallback takes it there).
   */
  on_overflow: z.enum(overflowStrategies).default("refuse"),
  /** Overrides the shipped table (src/usage/context-windows.ts) for every target of the endpoint. */
  context_window: z.number().int().positive().optional(),
  max_output_tokens: z.number().int().positive().optional(),
});

export const cachePolicySchema = z.strictObject({
  /** How long an answer is served from the cache. */
  ttl_ms: z.number().int().min(1).max(30 * 86_400_000).default(300_000),
  /** The in-memory store's bound (least recently used answers go first). */
  max_bytes: z.number().int().min(1024).default(64 * 1024 * 1024),
  /** Answers larger than this are not cached. */
  max_entry_bytes: z.number().int().min(64).default(1024 * 1024),
  /** Cache requests with temperature unset or > 0, or n > 1 (their answers vary by design). */
  allow_nondeterministic: z.boolean().default(false),
  /** redis://... shares the cache between replicas; absent: each replica keeps its own in memory. */
  redis_url: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL").optional(),
  /** Put before every cache key in Redis. */
  key_prefix: z.string().default("mg:cache:"),
  /** On an exact miss, serve the nearest earlier answer to a similar prompt (src/policies/semantic-cache.ts). */
  semantic: z.lazy(() => semanticCacheSchema).optional(),
});

const chromaName = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,480}[a-zA-Z0-9]$/, "use 3-482 letters, digits, '.', '_' or '-', starting and ending with a letter or digit");

/** Where the semantic cache keeps its vectors: in process (one replica) or a Chroma server (shared). */
export const semanticStoreSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("memory") }),
  z.strictObject({
    type: z.literal("chroma"),
    /** http(s)://host:port of a Chroma server (`chroma run`), API v2. */
    url: z.string().regex(/^https?:\/\/[^\s/]+/, "expected an http:// or https:// URL"),
    tenant: chromaName.default("default_tenant"),
    database: chromaName.default("default_database"),
    /** Collection name stem: the gateway uses `<collection>-d<dimensions>`, created on first use. */
    collection: chromaName.default("modelgate-semantic-cache"),
    /** Timeout of one request to Chroma (a slow store is a miss, never a slow call). */
    timeout_ms: z.number().int().min(1).max(60_000).default(1_000),
  }),
]);

export const semanticCacheSchema = z.strictObject({
  /** The gateway's own llm/v1/embeddings endpoint the prompts are embedded with (called in process). */
  embeddings_endpoint: z.string().min(1).max(128),
  /** Least cosine similarity between two prompts for the earlier answer to be served. */
  threshold: z.number().gt(0).max(1).default(0.95),
  /** What is embedded: the last this many user turns (chat) ... */
  user_turns: z.number().int().min(1).max(32).default(1),
  /** ... and the system prompt with them (the other turns must match exactly). */
  include_system: z.boolean().default(true),
  /** Unicode NFKC, lower case and whitespace collapsed before embedding. */
  normalize: z.boolean().default(true),
  /** Longest text embedded (characters); a longer prompt skips the semantic cache. */
  max_chars: z.number().int().min(1).max(200_000).default(8_000),
  /** How long the embeddings call may take; past it (or on its failure) the call goes upstream. */
  timeout_ms: z.number().int().min(1).max(60_000).default(2_000),
  /**
   * The in-process index's bound in entries (oldest out first; bytes are bounded by `max_bytes`).
   * A lookup scans its scope's entries on the event loop (see README figures): past 20,000, use Chroma.
   */
  max_entries: z.number().int().min(1).max(20_000).default(10_000),
  /**
   * Whose earlier answers a caller may be served: any caller's of the endpoint (default), its
   * team's, or its own key's. The embedded text (system prompt included) only has to be similar,
   * so when prompts carry per-user data, partition by key or team.
   */
  partition: z.enum(["endpoint", "team", "key"]).default("endpoint"),
  store: semanticStoreSchema.default({ type: "memory" }),
});
export type SemanticCacheConfig = z.infer<typeof semanticCacheSchema>;

export const piiKinds = ["email", "phone", "card", "iban", "secret"] as const;
export type PiiKind = (typeof piiKinds)[number];
export const guardActions = ["block", "redact", "flag"] as const;
export type GuardAction = (typeof guardActions)[number];

const reasonCode = z.string().regex(/^[a-z0-9_.-]{1,64}$/, "use lowercase letters, digits, '_', '.' or '-' (at most 64)");

const piiRule = z.strictObject({
  type: z.literal("pii"),
  /** Which kinds to look for (all by default). */
  kinds: z.array(z.enum(piiKinds)).min(1).default([...piiKinds]),
  action: z.enum(guardActions).default("redact"),
});

function compiles(pattern: string, ctx: z.core.$RefinementCtx, flags: string): void {
  try {
    new RegExp(pattern, flags);
  } catch (err) {
    ctx.addIssue({ code: "custom", input: pattern, message: `not a valid regular expression: ${(err as Error).message}` });
  }
}

const regexRule = z
  .strictObject({
    type: z.literal("regex"),
    pattern: z.string().min(1),
    /** Case-insensitive unless false. */
    ignore_case: z.boolean().default(true),
    action: z.enum(guardActions).default("block"),
    /** The reason code callers see when the rule blocks (and logs / metrics always). */
    reason: reasonCode.default("regex"),
  })
  .superRefine((r, ctx) => compiles(r.pattern, ctx, r.ignore_case ? "giu" : "gu"));

const denyRule = z.strictObject({
  type: z.literal("deny_list"),
  /** Words or phrases, matched case-insensitively on word boundaries. */
  terms: z.array(z.string().min(1)).min(1),
  action: z.enum(guardActions).default("block"),
  reason: reasonCode.default("deny_list"),
});

/** The rules checked in process. */
export const guardRuleSchema = z.discriminatedUnion("type", [piiRule, regexRule, denyRule]);
export type GuardRuleConfig = z.infer<typeof guardRuleSchema>;
/** Local rules, and remote ones (src/policies/guardrails-remote.ts: moderation, webhook). */
export const anyGuardRuleSchema = z.discriminatedUnion("type", [piiRule, regexRule, denyRule, moderationRuleSchema, webhookRuleSchema]);
export type AnyGuardRuleConfig = z.infer<typeof anyGuardRuleSchema>;

export const guardrailsPolicySchema = z.strictObject({
  /**
   * Checks on the request's text (messages, prompts, embedding inputs), before anything else:
   * the local rules in order, then the remote ones (moderation, webhook) in order.
   */
  input: z.array(anyGuardRuleSchema).default([]),
  /** Checks on the answer's text, in the same order; local rules on streams chunk by chunk. */
  output: z.array(anyGuardRuleSchema).default([]),
  /**
   * Streams with remote output checks: the answer is held back and checked each time this many
   * new characters came (and at the end), then released; 0 checks only at the end. The client
   * waits for up to this many characters plus one check's round trip.
   */
  stream_check_chars: z.number().int().min(0).max(1_000_000).default(400),
});

export const policiesSchema = z.strictObject({
  /** A prompt template of the top-level `templates:` block: NAME (its highest version) or NAME@VERSION. */
  template: templateRefSchema.optional(),
  guardrails: guardrailsPolicySchema.optional(),
  context: contextPolicySchema.optional(),
  cache: cachePolicySchema.optional(),
  /** Predict endpoints: input transformation and signature checks (src/policies/predict-schema.ts). */
  predict_schema: predictSchemaPolicySchema.optional(),
});
export type PoliciesConfig = z.infer<typeof policiesSchema>;

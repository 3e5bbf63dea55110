// State behind small interfaces, several backends, one contract test suite for all
// (DESIGN.md "State"): keys and the usage ledger in SQLite (embedded default) or PostgreSQL.
// Counters (rate limits, token quotas, budgets) are in counters.ts: memory or Redis.

export type BudgetPeriod = "day" | "month";

export interface KeyLimits {
  /** Requests per minute. */
  rpm?: number;
  /** Tokens (prompt + completion) per minute. */
  tpm?: number;
  /** Spend budget in USD per budgetPeriod. */
  budgetUsd?: number;
  budgetPeriod: BudgetPeriod;
}

/** An API key as stored: the secret itself is never stored, only its SHA-256. */
export interface KeyRecord {
  /** "key_" + random; stable across rotations. */
  id: string;
  name: string;
  team: string;
  roles: string[];
  /** Endpoints this key may call; empty = whatever its team's grants allow. */
  endpoints: string[];
  /** Lowercase hex SHA-256 of the secret. Unique. */
  hash: string;
  /** The first characters of the secret, for people to recognise it. */
  prefix: string;
  limits: KeyLimits;
  createdAt: Date;
  expiresAt?: Date;
  revokedAt?: Date;
  /** Set on every change (create, rotate, revoke): replicas poll for changes by it. */
  updatedAt: Date;
}

export interface KeyStore {
  /** Adds a key; fails if the id or hash exists. */
  insert(key: KeyRecord): Promise<void>;
  get(id: string): Promise<KeyRecord | undefined>;
  findByHash(hash: string): Promise<KeyRecord | undefined>;
  /** Newest first. */
  list(filter: { team?: string; includeRevoked: boolean }): Promise<KeyRecord[]>;
  /** Replaces the secret's hash and prefix; undefined when the key is unknown or revoked. */
  rotate(id: string, hash: string, prefix: string, at: Date): Promise<KeyRecord | undefined>;
  /** Marks the key revoked (idempotent: a second revoke keeps the first time); undefined when unknown. */
  revoke(id: string, at: Date): Promise<KeyRecord | undefined>;
  /** Keys whose updatedAt is after `since` (inclusive of equal timestamps), oldest change first. */
  changedSince(since: Date): Promise<KeyRecord[]>;
}

/** One row per call, whatever its outcome. */
export interface LedgerRow {
  time: Date;
  requestId: string;
  /** The W3C trace id (32 lowercase hex digits) of the call's trace; "" or absent when unknown. */
  traceId?: string;
  /** Key id, "config:<name>" for keys from the config file, "jwt:<subject>", or "" when auth is off. */
  keyId: string;
  team: string;
  endpoint: string;
  provider: string;
  model: string;
  /** Registry model version for Predict, else "". */
  modelVersion: string;
  /** The endpoint target that answered (its name in the config); "" or absent when none did. */
  target?: string;
  promptTokens: number;
  completionTokens: number;
  /** The part of promptTokens read from the provider's prompt cache (billed at the cached price); 0 or absent when none or not reported. */
  cachedPromptTokens?: number;
  /** The part of completionTokens spent on reasoning; 0 or absent when none or not reported. */
  reasoningTokens?: number;
  /** null when the price is unknown: never recorded as 0. */
  costUsd: number | null;
  /** "ok" or the Connect code name, e.g. "ResourceExhausted". */
  status: string;
  latencyMs: number;
  streamed: boolean;
  /** The prompt template the call used, as `name@version`; "" or absent when none. */
  template?: string;
  /** The response cache's answer; "" or absent when the endpoint has no cache policy. */
  cache?: LedgerCache;
  /**
   * For a cache hit: what the answer would have cost at the price in force when it was served
   * (its recorded usage at today's price). null or absent for any other call or an unknown price.
   */
  costSavedUsd?: number | null;
  /** Guardrail decisions as `side:reason:action`, comma-separated (never the text); "" or absent when none. */
  guardrails?: string;
}

/** What the response cache answered a call, as the ledger keeps it ("" when the endpoint has no cache). */
export const LEDGER_CACHE_VALUES = ["", "hit", "semantic_hit", "miss", "bypass"] as const;
export type LedgerCache = (typeof LEDGER_CACHE_VALUES)[number];

/** What usage totals may be grouped by; `target` is the endpoint target that answered ("" when none did). */
export type UsageGroup = "key" | "team" | "endpoint" | "target" | "model";

export interface UsageQuery {
  start?: Date;
  /** Exclusive. */
  end?: Date;
  team?: string;
  keyId?: string;
  groupBy: UsageGroup[];
}

export interface UsageTotalRow {
  /** Values of the groupBy columns, by group name. */
  group: Partial<Record<UsageGroup, string>>;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  /** The part of promptTokens read from a prompt cache. */
  cachedPromptTokens: number;
  /** The part of completionTokens spent on reasoning. */
  reasoningTokens: number;
  /** Sum over rows with a known cost. */
  costUsd: number;
  unknownCostCalls: number;
  /** Rows whose status is not "ok". */
  errorCalls: number;
  /** Calls answered from the response cache (exact or semantic hits). */
  cacheHits: number;
  /** Sum of costSavedUsd over the rows that have one. */
  costSavedUsd: number;
}

/** Bucket sizes of a usage series, in milliseconds: UTC hours and days counted from the Unix epoch. */
export const USAGE_BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;
export type UsageBucket = keyof typeof USAGE_BUCKET_MS;

export interface UsageSeriesQuery {
  /** Inclusive; the first bucket starts at start rounded down to the bucket size. */
  start: Date;
  /** Exclusive. */
  end: Date;
  bucket: UsageBucket;
  team?: string;
  keyId?: string;
  groupBy: UsageGroup[];
  /** The most points returned (by bucket, then group); the caller asks for one more to detect a cut. */
  limit: number;
}

export interface UsageSeriesRow extends UsageTotalRow {
  /** Start of the bucket (inclusive). */
  bucketStart: Date;
}

export interface LedgerStore {
  /** Appends rows in one transaction: all or none. */
  append(rows: readonly LedgerRow[]): Promise<void>;
  totals(query: UsageQuery): Promise<UsageTotalRow[]>;
  /** Totals per time bucket and group, by bucket then group; empty buckets and groups are left out. */
  series(query: UsageSeriesQuery): Promise<UsageSeriesRow[]>;
  /**
   * Rows in time order, streamed (a month of rows must not be held in memory). Once `signal`
   * aborts, a page being read is waited for no longer: the iteration throws the signal's reason.
   */
  rows(query: Omit<UsageQuery, "groupBy">, signal?: AbortSignal): AsyncIterable<LedgerRow>;
  /** Known spend in USD of a key or a team at or after `since`. */
  spend(scope: { keyId: string } | { team: string }, since: Date): Promise<number>;
  /** A page of calls, newest first (time, then insertion order), filtered; see CallQuery. */
  calls(query: CallQuery): Promise<CallPage>;
}

/** The most calls one calls() page may hold. */
export const MAX_CALLS_PAGE = 500;

/** Filters and a page of LedgerStore.calls(): every set filter must match. */
export interface CallQuery {
  start?: Date;
  /** Exclusive. */
  end?: Date;
  endpoint?: string;
  keyId?: string;
  team?: string;
  /** "ok", "error" (every status but "ok") or one exact status (a Connect code name). */
  status?: string;
  requestId?: string;
  /** Calls in the page, 1 to MAX_CALLS_PAGE. */
  limit: number;
  /** Only calls older than this one (the previous page's `next`). */
  before?: CallCursor;
}

/** Where a page of calls ended: the last call's time and row id (ties in time go by row id). */
export interface CallCursor {
  time: Date;
  /** The row's id, a non-negative integer in decimal (PostgreSQL's is a bigint). */
  id: string;
}

export interface CallPage {
  calls: LedgerRow[];
  /** Set when older calls match: pass it as `before` for the next page. */
  next?: CallCursor;
}

export interface Store {
  /** "sqlite" or "postgres". */
  kind: string;
  keys: KeyStore;
  ledger: LedgerStore;
  /** Feedback on calls, beside their ledger rows. */
  feedback: FeedbackStore;
  /** Responses API answers kept for retrieval and for chaining (previous_response_id). */
  responses: ResponseStore;
  /** Conversations API conversations and their items (the Responses API's `conversation`). */
  conversations: ConversationStore;
  /** Creates or upgrades the schema; idempotent, safe to run from several replicas at once. */
  migrate(): Promise<void>;
  /**
   * What is wrong with the store's storage now that its calls do not report (a SQLite file
   * deleted or replaced while open), or undefined. Cheap: the gateway asks every few seconds.
   */
  problem?(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** One piece of feedback on a call (FeedbackService), with the call's arm and caller. */
export interface FeedbackRow {
  /** When the feedback was posted. */
  time: Date;
  /** The call's request id (its ledger row has the same). */
  requestId: string;
  endpoint: string;
  /** The endpoint target that answered the call. */
  target: string;
  model: string;
  /** Registry model version for Predict, else "". */
  modelVersion: string;
  /** The key (and its team) that made the call. */
  keyId: string;
  team: string;
  /** The key that posted the feedback: the call's own key, or an admin's. */
  postedBy: string;
  /** What is measured ("thumbs", "accuracy", ...). */
  name: string;
  /** null when the feedback is only a label. */
  score: number | null;
  /** null when the feedback is only a score. */
  label: string | null;
}

/** What the ledger says of an answered call, for feedback that names it by request id. */
export type FeedbackCall = Pick<FeedbackRow, "endpoint" | "target" | "model" | "modelVersion" | "keyId" | "team">;

export interface FeedbackSummaryQuery {
  start?: Date;
  /** Exclusive. */
  end?: Date;
  endpoint?: string;
  name?: string;
  /** The most arms returned (in order); the caller asks for one more to detect a cut. */
  limit: number;
}

/** The feedback of one name on one arm (endpoint, target, model version). */
export interface FeedbackArmTotal {
  endpoint: string;
  target: string;
  modelVersion: string;
  name: string;
  count: number;
  /** Pieces with a score. */
  scored: number;
  /** Sum of the scores (mean: scoreSum / scored). */
  scoreSum: number;
  /** Label counts, most frequent first, then by label. */
  labels: { label: string; count: number }[];
}

export interface FeedbackStore {
  /** The latest answered ("ok") ledger row with this request id, or undefined. */
  findCall(requestId: string): Promise<FeedbackCall | undefined>;
  /** Appends rows in one transaction: all or none. */
  append(rows: readonly FeedbackRow[]): Promise<void>;
  /** Feedback already stored for a call: in all, and scores of one name. */
  priorFeedback(requestId: string, name: string): Promise<{ total: number; scoredSameName: number }>;
  /** Arms ordered by endpoint, name, target, model version. */
  summary(query: FeedbackSummaryQuery): Promise<FeedbackArmTotal[]>;
}

/**
 * One stored Responses API answer (`store: true`, OpenAI's default), with the conversation it
 * ends, so that a later request naming it in `previous_response_id` reads one row, not a chain.
 */
export interface StoredResponse {
  /** "resp_" + the call's request id; the primary key (a put with the same id replaces the row). */
  id: string;
  /** The caller that made it: who may read, chain and delete it (see responses' ownership rule). */
  keyId: string;
  team: string;
  /** The endpoint the request named (`model`). */
  endpoint: string;
  createdAt: Date;
  /** After this instant the response is gone for every reader (get answers undefined) and may be purged. */
  expiresAt: Date;
  /** The Response object as it was answered: JSON text. */
  response: string;
  /**
   * The conversation up to and including this answer: the chain's input and output items (each
   * with its id), this request's input items, then this answer's output items: a JSON array.
   */
  items: string;
  /** How many of `items` were this answer's input (the rest are its output): `input_items` lists those. */
  inputCount: number;
}

export interface ResponseStore {
  /** Stores (or replaces, by id) responses, all in one transaction. */
  put(rows: readonly StoredResponse[]): Promise<void>;
  /** The response with this id, or undefined when there is none or it expired at or before `now`. */
  get(id: string, now: Date): Promise<StoredResponse | undefined>;
  /** Removes the response with this id (no error when there is none). */
  delete(id: string): Promise<void>;
  /** Removes up to `limit` responses that expired at or before `now`; how many it removed. */
  purgeExpired(now: Date, limit: number): Promise<number>;
  /** Removes every response one key made, or one team's keys made (offboarding, erasure); how many it removed. */
  deleteOwned(owner: { keyId: string } | { team: string }): Promise<number>;
}

/** A Conversations API conversation; its items are kept apart, in order (ConversationStore). */
export interface ConversationRecord {
  /** "conv_" + random; the primary key. */
  id: string;
  /** The caller that made it: who may read, extend and delete it (the same rule as stored responses). */
  keyId: string;
  team: string;
  createdAt: Date;
  /** The conversation's metadata object as JSON text ("{}" when none). */
  metadata: string;
}

/** One item of a conversation, as the API answers it. */
export interface ConversationItemRecord {
  /** The item's id (msg_..., fc_..., fco_...): unique within its conversation. */
  itemId: string;
  /** The item as JSON text. */
  item: string;
}

/** A page of a conversation's items. */
export interface ConversationItemPage {
  items: ConversationItemRecord[];
  /** Whether more items follow the page in its order. */
  hasMore: boolean;
}

export interface ConversationStore {
  /**
   * Creates the conversation with its first items (in order), in one transaction. Fails with
   * ALREADY_EXISTS if the id exists, INVALID_ARGUMENT if two items share an id.
   */
  create(conversation: ConversationRecord, items: readonly ConversationItemRecord[]): Promise<void>;
  get(id: string): Promise<ConversationRecord | undefined>;
  /** Replaces the metadata; false when there is no such conversation. */
  setMetadata(id: string, metadata: string): Promise<boolean>;
  /** Removes the conversation and all its items; false when there was none. */
  delete(id: string): Promise<boolean>;
  /**
   * Adds items after the last one, in order, in one transaction (all or none); false when there
   * is no such conversation. An item id already in the conversation (or twice in `items`) fails
   * with ALREADY_EXISTS and adds nothing.
   */
  append(id: string, items: readonly ConversationItemRecord[]): Promise<boolean>;
  /**
   * A page of items: "asc" oldest first, "desc" newest first; after the item `after` in that
   * order (exclusive; an unknown `after` gives an empty page); at most `limit` (1 to 1000).
   * Undefined when there is no such conversation.
   */
  items(id: string, page: { order: "asc" | "desc"; after?: string; limit: number }): Promise<ConversationItemPage | undefined>;
  /**
   * Every item, oldest first (a response's context), or undefined when there is no such
   * conversation. Fails with FAILED_PRECONDITION, reading no further, once the items' text
   * passes `maxChars` characters in all.
   */
  allItems(id: string, maxChars: number): Promise<ConversationItemRecord[] | undefined>;
  getItem(id: string, itemId: string): Promise<ConversationItemRecord | undefined>;
  /** Removes one item; false when there is no such item. */
  deleteItem(id: string, itemId: string): Promise<boolean>;
  /** Removes every conversation (and its items) one key made, or one team's keys made; how many conversations. */
  deleteOwned(owner: { keyId: string } | { team: string }): Promise<number>;
}

// The SQLite schema, as numbered steps applied once each (recorded in schema_migrations).
// Add a step to change the schema; never edit one that has shipped.
//
// Encodings: times are INTEGER epoch milliseconds (exact round trip of a JS Date); roles,
// endpoints and limits are JSON text; streamed is 0/1. cost_usd is REAL, an IEEE double like
// the JS number it comes from: a row's cost round-trips exactly, and SUM() (Kahan-Babuska-
// Neumaier in SQLite >= 3.43) keeps totals within ~1e-15 relative of the exact decimal sum.
// PostgreSQL stores NUMERIC and sums exactly.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "api keys and usage ledger",
    sql: `
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        name TEXT NOT NULL,
        team TEXT NOT NULL,
        roles TEXT NOT NULL,
        endpoints TEXT NOT NULL,
        limits TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX api_keys_updated_at ON api_keys (updated_at);
      CREATE INDEX api_keys_team ON api_keys (team);

      CREATE TABLE usage_ledger (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        team TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL CHECK (prompt_tokens >= 0),
        completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
        cost_usd REAL CHECK (cost_usd >= 0),
        status TEXT NOT NULL,
        latency_ms REAL NOT NULL CHECK (latency_ms >= 0),
        streamed INTEGER NOT NULL CHECK (streamed IN (0, 1))
      ) STRICT;
      -- The rowid ends every index entry, so each of these also orders by (…, time, id).
      CREATE INDEX usage_ledger_time ON usage_ledger (time);
      CREATE INDEX usage_ledger_key_time ON usage_ledger (key_id, time);
      CREATE INDEX usage_ledger_team_time ON usage_ledger (team, time);
    `,
  },
  {
    version: 2,
    name: "usage ledger: the endpoint target that answered",
    // '' for rows written before routing, and for calls that reached no target.
    sql: `ALTER TABLE usage_ledger ADD COLUMN target TEXT NOT NULL DEFAULT '';`,
  },
  {
    version: 3,
    name: "usage ledger: cached prompt tokens and reasoning tokens",
    // 0 for rows written before, and for providers that do not report them.
    sql: `
      ALTER TABLE usage_ledger ADD COLUMN cached_prompt_tokens INTEGER NOT NULL DEFAULT 0 CHECK (cached_prompt_tokens >= 0);
      ALTER TABLE usage_ledger ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0);
    `,
  },
  {
    version: 4,
    name: "feedback on calls, and the ledger by request id",
    // Each piece of feedback keeps its call's arm (endpoint, target, model version) and caller,
    // as found when it was posted; request_id joins it to the call's ledger row.
    sql: `
      CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        target TEXT NOT NULL,
        model TEXT NOT NULL,
        model_version TEXT NOT NULL,
        key_id TEXT NOT NULL,
        team TEXT NOT NULL,
        posted_by TEXT NOT NULL,
        name TEXT NOT NULL,
        score REAL,
        label TEXT,
        CHECK (score IS NOT NULL OR label IS NOT NULL)
      ) STRICT;
      CREATE INDEX feedback_time ON feedback (time);
      CREATE INDEX feedback_endpoint_time ON feedback (endpoint, time);
      CREATE INDEX feedback_request_id ON feedback (request_id);
      CREATE INDEX usage_ledger_request_id ON usage_ledger (request_id);
    `,
  },
  {
    version: 5,
    name: "usage ledger: policy columns (prompt template, response cache, cost saved, guardrails)",
    // '' / NULL for rows written before, and for calls on endpoints without these policies.
    sql: `
      ALTER TABLE usage_ledger ADD COLUMN template TEXT NOT NULL DEFAULT '';
      ALTER TABLE usage_ledger ADD COLUMN cache TEXT NOT NULL DEFAULT '';
      ALTER TABLE usage_ledger ADD COLUMN cost_saved_usd REAL CHECK (cost_saved_usd >= 0);
      ALTER TABLE usage_ledger ADD COLUMN guardrails TEXT NOT NULL DEFAULT '';
    `,
  },
  {
    version: 6,
    name: "usage ledger: the call's trace id; indexes for listing calls",
    // '' for rows written before. ListCalls pages newest first by (time, id) under its filters
    // (the rowid ends every index entry): key and team have their (…, time) indexes already, the
    // endpoint gets one, failed calls a partial one on time; the request id index may exist
    // already (migration 4 makes it for feedback).
    sql: `
      ALTER TABLE usage_ledger ADD COLUMN trace_id TEXT NOT NULL DEFAULT '';
      CREATE INDEX usage_ledger_endpoint_time ON usage_ledger (endpoint, time);
      CREATE INDEX usage_ledger_errors_time ON usage_ledger (time) WHERE status <> 'ok';
      CREATE INDEX IF NOT EXISTS usage_ledger_request_id ON usage_ledger (request_id);
    `,
  },
  {
    version: 7,
    name: "stored responses (Responses API: store, previous_response_id)",
    // One row per stored answer, by id ("resp_" + request id); response and items are JSON text
    // (node:sqlite binds and reads text with its length, so a NUL inside round-trips). Expired
    // rows are purged in expires_at order, a bounded number at a time.
    sql: `
      CREATE TABLE responses (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        team TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        response TEXT NOT NULL,
        items TEXT NOT NULL,
        input_count INTEGER NOT NULL CHECK (input_count >= 0)
      ) STRICT;
      CREATE INDEX responses_expires_at ON responses (expires_at);
    `,
  },
  {
    version: 8,
    name: "conversations and their items (Conversations API, the Responses API's conversation)",
    // A conversation by id ("conv_" + random), its metadata JSON text; its items apart, in seq
    // order (1, 2, ... within the conversation), each item JSON text (a NUL inside round-trips,
    // as for responses) with its length in UTF-16 code units (chars, as JS counts it: allItems
    // sums it to refuse a conversation too big without reading the items). No foreign key: the
    // connections do not enable them, so deleting a conversation deletes its items explicitly,
    // in the same transaction. By key and by team: deleteOwned.
    sql: `
      CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        team TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        metadata TEXT NOT NULL
      ) STRICT;
      CREATE INDEX conversations_key_id ON conversations (key_id);
      CREATE INDEX conversations_team ON conversations (team);

      CREATE TABLE conversation_items (
        conversation_id TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq > 0),
        item_id TEXT NOT NULL,
        chars INTEGER NOT NULL CHECK (chars >= 0),
        item TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq),
        UNIQUE (conversation_id, item_id)
      ) STRICT;
    `,
  },
];

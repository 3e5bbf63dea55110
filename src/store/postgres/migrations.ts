// The PostgreSQL schema, as numbered steps applied once each (recorded in schema_migrations).
// Add a step to change the schema; never edit one that has shipped.
//
// Encodings: times are timestamptz (microsecond precision, so a JS Date's milliseconds round-trip
// exactly); roles and endpoints are text[]; limits are jsonb. cost_usd is NUMERIC without a
// fixed scale: it keeps the exact decimal a JS number prints as, and SUM() over it is exact; the
// total becomes a JS double (about 15-17 significant digits) only when read.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "api keys and usage ledger",
    sql: `
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        hash text NOT NULL UNIQUE,
        prefix text NOT NULL,
        name text NOT NULL,
        team text NOT NULL,
        roles text[] NOT NULL,
        endpoints text[] NOT NULL,
        limits jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        revoked_at timestamptz,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX api_keys_updated_at ON api_keys (updated_at);
      CREATE INDEX api_keys_team ON api_keys (team);

      CREATE TABLE usage_ledger (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time timestamptz NOT NULL,
        request_id text NOT NULL,
        key_id text NOT NULL,
        team text NOT NULL,
        endpoint text NOT NULL,
        provider text NOT NULL,
        model text NOT NULL,
        model_version text NOT NULL,
        prompt_tokens bigint NOT NULL CHECK (prompt_tokens >= 0),
        completion_tokens bigint NOT NULL CHECK (completion_tokens >= 0),
        cost_usd numeric CHECK (cost_usd >= 0),
        status text NOT NULL,
        latency_ms double precision NOT NULL CHECK (latency_ms >= 0),
        streamed boolean NOT NULL
      );
      -- (time, id): the order rows() pages through, by keyset.
      CREATE INDEX usage_ledger_time ON usage_ledger (time, id);
      CREATE INDEX usage_ledger_key_time ON usage_ledger (key_id, time);
      CREATE INDEX usage_ledger_team_time ON usage_ledger (team, time);
    `,
  },
  {
    version: 2,
    name: "usage ledger: the endpoint target that answered",
    // '' for rows written before routing, and for calls that reached no target.
    sql: `ALTER TABLE usage_ledger ADD COLUMN target text NOT NULL DEFAULT '';`,
  },
  {
    version: 3,
    name: "usage ledger: cached prompt tokens and reasoning tokens",
    // 0 for rows written before, and for providers that do not report them.
    sql: `
      ALTER TABLE usage_ledger ADD COLUMN cached_prompt_tokens bigint NOT NULL DEFAULT 0 CHECK (cached_prompt_tokens >= 0);
      ALTER TABLE usage_ledger ADD COLUMN reasoning_tokens bigint NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0);
    `,
  },
  {
    version: 4,
    name: "feedback on calls, and the ledger by request id",
    // Each piece of feedback keeps its call's arm (endpoint, target, model version) and caller,
    // as found when it was posted; request_id joins it to the call's ledger row.
    sql: `
      CREATE TABLE feedback (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        time timestamptz NOT NULL,
        request_id text NOT NULL,
        endpoint text NOT NULL,
        target text NOT NULL,
        model text NOT NULL,
        model_version text NOT NULL,
        key_id text NOT NULL,
        team text NOT NULL,
        posted_by text NOT NULL,
        name text NOT NULL,
        score double precision,
        label text,
        CHECK (score IS NOT NULL OR label IS NOT NULL)
      );
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
      ALTER TABLE usage_ledger ADD COLUMN template text NOT NULL DEFAULT '';
      ALTER TABLE usage_ledger ADD COLUMN cache text NOT NULL DEFAULT '';
      ALTER TABLE usage_ledger ADD COLUMN cost_saved_usd numeric CHECK (cost_saved_usd >= 0);
      ALTER TABLE usage_ledger ADD COLUMN guardrails text NOT NULL DEFAULT '';
    `,
  },
  {
    version: 6,
    name: "usage ledger: the call's trace id; indexes for listing calls",
    // '' for rows written before. ListCalls pages newest first by (time, id) under its filters:
    // the endpoint gets an (endpoint, time, id) index, failed calls a partial one on (time, id);
    // the request id index may exist already (migration 4 makes it for feedback).
    sql: `
      ALTER TABLE usage_ledger ADD COLUMN trace_id text NOT NULL DEFAULT '';
      CREATE INDEX usage_ledger_endpoint_time ON usage_ledger (endpoint, time, id);
      CREATE INDEX usage_ledger_errors_time ON usage_ledger (time, id) WHERE status <> 'ok';
      CREATE INDEX IF NOT EXISTS usage_ledger_request_id ON usage_ledger (request_id);
    `,
  },
  {
    version: 7,
    name: "stored responses (Responses API: store, previous_response_id)",
    // One row per stored answer, by id ("resp_" + request id). response and items are JSON text
    // kept as its UTF-8 bytes (bytea): PostgreSQL text cannot hold a NUL (SQLSTATE 22021), and
    // the store must give back exactly what it was given, NUL included; nothing queries inside
    // them. Expired rows are purged in expires_at order, a bounded number at a time.
    sql: `
      CREATE TABLE responses (
        id text PRIMARY KEY,
        key_id text NOT NULL,
        team text NOT NULL,
        endpoint text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        response bytea NOT NULL,
        items bytea NOT NULL,
        input_count integer NOT NULL CHECK (input_count >= 0)
      );
      CREATE INDEX responses_expires_at ON responses (expires_at);
    `,
  },
  {
    version: 8,
    name: "conversations and their items (Conversations API, the Responses API's conversation)",
    // A conversation by id ("conv_" + random); its items apart, in seq order (1, 2, ... within
    // the conversation), each with its length in UTF-16 code units (chars, as JS counts it:
    // allItems sums it to refuse a conversation too big without reading the items). metadata and
    // item are JSON text kept as UTF-8 bytes (bytea), as responses' are: text cannot hold a NUL.
    // Deleting a conversation deletes its items (ON DELETE CASCADE). By key and by team:
    // deleteOwned. An append locks its conversation's row to number its items.
    sql: `
      CREATE TABLE conversations (
        id text PRIMARY KEY,
        key_id text NOT NULL,
        team text NOT NULL,
        created_at timestamptz NOT NULL,
        metadata bytea NOT NULL
      );
      CREATE INDEX conversations_key_id ON conversations (key_id);
      CREATE INDEX conversations_team ON conversations (team);

      CREATE TABLE conversation_items (
        conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        seq bigint NOT NULL CHECK (seq > 0),
        item_id text NOT NULL,
        chars bigint NOT NULL CHECK (chars >= 0),
        item bytea NOT NULL,
        PRIMARY KEY (conversation_id, seq),
        UNIQUE (conversation_id, item_id)
      );
    `,
  },
];

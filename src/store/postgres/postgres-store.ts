// The scale-out backend: keys and ledger in PostgreSQL, shared by every replica, through a
// node-postgres Pool.
import pg from "pg";
import type { Store } from "../types";
import { inTransaction } from "./transaction";
import { PostgresFeedbackStore } from "./feedback-store";
import { PostgresKeyStore } from "./key-store";
import { PostgresLedgerStore } from "./ledger-store";
import { postgresMigrations, type Migration } from "./migrations";
import { PostgresResponseStore } from "./response-store";
import { PostgresConversationStore } from "./conversation-store";

const POOL_SIZE = 10;
/** A database that cannot hand out a connection within this is reported UNAVAILABLE, not waited on forever. */
const CONNECT_TIMEOUT_MS = 5_000;

export function openPostgresStore(url: string): Store {
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: "modelgate",
  });
  // An idle connection dropped by the server is removed from the pool; the next query opens a
  // new one and reports the outage if it persists. Without a listener the error would crash us.
  pool.on("error", () => undefined);
  let closed: Promise<void> | undefined;
  return {
    kind: "postgres",
    keys: new PostgresKeyStore(pool),
    ledger: new PostgresLedgerStore(pool),
    feedback: new PostgresFeedbackStore(pool),
    responses: new PostgresResponseStore(pool),
    conversations: new PostgresConversationStore(pool),
    migrate: () => migrate(pool, postgresMigrations),
    close: () => (closed ??= pool.end()),
  };
}

/**
 * Applies the steps not yet recorded, in one transaction under a transaction-level advisory
 * lock: replicas starting together queue on the lock, and each later one finds every step
 * recorded. DDL is transactional in PostgreSQL, so a failed step leaves nothing behind.
 */
async function migrate(pool: pg.Pool, migrations: readonly Migration[]): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('modelgate.schema_migrations'))");
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const applied = new Set(
      (await client.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version),
    );
    for (const step of migrations) {
      if (applied.has(step.version)) continue;
      await client.query(step.sql);
      await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [step.version, step.name]);
    }
  });
}

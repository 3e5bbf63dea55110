// A big SQLite usage ledger for tests of reads that scan it: rows of one key, written in one
// statement by a connection of the test's own (a recursive CTE, in time order so every index
// grows at its end): about a second per 300,000 rows on a busy 2-core machine.
import { DatabaseSync } from "node:sqlite";

/** The first row's time (epoch ms); row i (from 1) is at BIG_LEDGER_T0 + i, request id `big-<i>`. */
export const BIG_LEDGER_T0 = 1_750_000_000_000;

/** Appends `rows` rows of `keyId` (team "big", endpoint "chat", echo/echo-1, 3+5 tokens, 0.001 USD, ok) to a migrated file. */
export function fillLedger(path: string, rows: number, keyId = "key_big"): void {
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error("fillLedger: rows must be a positive integer");
  if (!/^[\w:.-]+$/.test(keyId)) throw new Error("fillLedger: a plain key id");
  const db = new DatabaseSync(path);
  try {
    // One throwaway transaction: no fsync, a cache that holds the indexes being grown.
    db.exec("PRAGMA synchronous = OFF");
    db.exec("PRAGMA cache_size = -262144");
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
      INSERT INTO usage_ledger (time, request_id, key_id, team, endpoint, provider, model, model_version,
                                prompt_tokens, completion_tokens, cost_usd, status, latency_ms, streamed)
      SELECT ${BIG_LEDGER_T0} + i, 'big-' || i, '${keyId}', 'big', 'chat', 'echo', 'echo-1', '', 3, 5, 0.001, 'ok', 1.5, 0 FROM n`);
  } finally {
    db.close();
  }
}

// PostgreSQL writes in one transaction (inTransaction), and a batch of rows written by multi-row
// statements of a bounded number of rows each (PostgreSQL takes at most 65535 parameters per
// statement): one chunk alone (its own implicit transaction), several in one explicit
// transaction, so the batch lands whole or not at all. Rows the server refuses for their content
// fail with INVALID_ARGUMENT, an unreachable server with UNAVAILABLE (rethrowAppendError).
import type { Pool, PoolClient } from "pg";
import { rethrowAppendError, rethrowDatabaseError } from "./errors";

/** `statement` makes one chunk's SQL and parameters; `offset` is the chunk's first row's index in `rows`. */
export async function appendInChunks<Row>(
  pool: Pool,
  rows: readonly Row[],
  chunkRows: number,
  statement: (chunk: readonly Row[], offset: number) => [sql: string, params: unknown[]],
): Promise<void> {
  if (rows.length === 0) return;
  if (rows.length <= chunkRows) {
    const [sql, params] = statement(rows, 0);
    await pool.query(sql, params).catch(rethrowAppendError);
    return;
  }
  await inTransaction(
    pool,
    async (client) => {
      for (let start = 0; start < rows.length; start += chunkRows) {
        // Made chunk by chunk, inside the transaction: a bad row rolls back the chunks before it.
        const [sql, params] = statement(rows.slice(start, start + chunkRows), start);
        await client.query(sql, params);
      }
    },
    rethrowAppendError,
  );
}

/**
 * `work` on one pooled connection between BEGIN and COMMIT; on a failure it is rolled back and
 * the error goes through `rethrow` (an unreachable server as UNAVAILABLE by default).
 */
export async function inTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, rethrow: (err: unknown) => never = rethrowDatabaseError): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    rethrowDatabaseError(err);
  }
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    rethrow(err);
  } finally {
    client.release();
  }
}

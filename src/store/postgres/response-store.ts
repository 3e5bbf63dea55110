// Stored responses (Responses API) in PostgreSQL, shared by every replica. response and items are
// kept as their UTF-8 bytes (bytea, see migration 7): PostgreSQL text cannot hold a NUL, and they
// must come back exactly as they were put; the identifiers are text (response-shared.ts refuses
// one that text could not hold).
import type { Pool } from "pg";
import { checkPurgeLimit, checkStoredResponse, isStorableIdentifier } from "../response-shared";
import { checkDate } from "../sql-shared";
import type { ResponseStore, StoredResponse } from "../types";
import { appendInChunks } from "./transaction";
import { rethrowDatabaseError } from "./errors";

/** Rows per INSERT (9 parameters each): few, as a row may be megabytes (a put is usually one row). */
const INSERT_CHUNK_ROWS = 100;
const COLUMNS = 9;

interface ResponseDbRow {
  id: string;
  key_id: string;
  team: string;
  endpoint: string;
  created_at: Date;
  expires_at: Date;
  response: Buffer;
  items: Buffer;
  input_count: number;
}

export class PostgresResponseStore implements ResponseStore {
  constructor(private readonly pool: Pool) {}

  /**
   * One transaction: a multi-row INSERT … ON CONFLICT (id) DO UPDATE per chunk. An id given twice
   * in one put is stored once, as its last row (a statement may not update one row twice).
   */
  async put(rows: readonly StoredResponse[]): Promise<void> {
    rows.forEach(checkStoredResponse);
    const unique = [...new Map(rows.map((r) => [r.id, r])).values()];
    await appendInChunks(this.pool, unique, INSERT_CHUNK_ROWS, upsertStatement);
  }

  async get(id: string, now: Date): Promise<StoredResponse | undefined> {
    checkDate(now, "responses: now");
    if (!isStorableIdentifier(id)) return undefined;
    const result = await this.pool
      .query<ResponseDbRow>(
        `SELECT id, key_id, team, endpoint, created_at, expires_at, response, items, input_count
         FROM responses WHERE id = $1 AND expires_at > $2`,
        [id, now],
      )
      .catch(rethrowDatabaseError);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return {
      id: row.id,
      keyId: row.key_id,
      team: row.team,
      endpoint: row.endpoint,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      response: row.response.toString("utf8"),
      items: row.items.toString("utf8"),
      inputCount: row.input_count,
    };
  }

  async delete(id: string): Promise<void> {
    if (!isStorableIdentifier(id)) return;
    await this.pool.query("DELETE FROM responses WHERE id = $1", [id]).catch(rethrowDatabaseError);
  }

  /**
   * The oldest expired rows first, up to `limit`; rows another replica's purge (or a put
   * replacing one) holds are skipped, not waited for: that one removes them.
   */
  async purgeExpired(now: Date, limit: number): Promise<number> {
    checkDate(now, "responses: now");
    const result = await this.pool
      .query(
        `DELETE FROM responses WHERE id IN (
           SELECT id FROM responses WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        [now, checkPurgeLimit(limit)],
      )
      .catch(rethrowDatabaseError);
    return result.rowCount ?? 0;
  }

  async deleteOwned(owner: { keyId: string } | { team: string }): Promise<number> {
    const [column, value] = "keyId" in owner ? ["key_id", owner.keyId] : ["team", owner.team];
    // An owner no row can have (see response-shared.ts) owns nothing.
    if (!isStorableIdentifier(value)) return 0;
    const result = await this.pool.query(`DELETE FROM responses WHERE ${column} = $1`, [value]).catch(rethrowDatabaseError);
    return result.rowCount ?? 0;
  }
}

function upsertStatement(rows: readonly StoredResponse[]): [string, unknown[]] {
  const params: unknown[] = [];
  const values = rows.map((r) => {
    const at = params.length;
    params.push(r.id, r.keyId, r.team, r.endpoint, r.createdAt, r.expiresAt, Buffer.from(r.response, "utf8"), Buffer.from(r.items, "utf8"), r.inputCount);
    return `(${Array.from({ length: COLUMNS }, (_, i) => `$${at + i + 1}`).join(", ")})`;
  });
  const sql = `
    INSERT INTO responses (id, key_id, team, endpoint, created_at, expires_at, response, items, input_count)
    VALUES ${values.join(", ")}
    ON CONFLICT (id) DO UPDATE SET
      key_id = excluded.key_id, team = excluded.team, endpoint = excluded.endpoint,
      created_at = excluded.created_at, expires_at = excluded.expires_at,
      response = excluded.response, items = excluded.items, input_count = excluded.input_count`;
  return [sql, params];
}

// API keys in PostgreSQL: parameterized statements; RETURNING gives back the row a rotate or
// revoke changed, so there is no read-after-write race with another replica.
import type { Pool } from "pg";
import { checkDate, checkKeyRecord, keyExists, parseKeyLimits } from "../sql-shared";
import type { KeyRecord, KeyStore } from "../types";
import { isUniqueViolation, rethrowDatabaseError } from "./errors";

interface KeyRow {
  id: string;
  hash: string;
  prefix: string;
  name: string;
  team: string;
  roles: string[];
  endpoints: string[];
  limits: unknown;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  updated_at: Date;
}

export class PostgresKeyStore implements KeyStore {
  constructor(private readonly pool: Pool) {}

  async insert(key: KeyRecord): Promise<void> {
    checkKeyRecord(key);
    try {
      await this.pool.query(
        `INSERT INTO api_keys (id, hash, prefix, name, team, roles, endpoints, limits,
                               created_at, expires_at, revoked_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          key.id,
          key.hash,
          key.prefix,
          key.name,
          key.team,
          key.roles,
          key.endpoints,
          JSON.stringify(key.limits),
          key.createdAt,
          key.expiresAt ?? null,
          key.revokedAt ?? null,
          key.updatedAt,
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw keyExists(key.id);
      rethrowDatabaseError(err);
    }
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    return this.one("SELECT * FROM api_keys WHERE id = $1", [id]);
  }

  async findByHash(hash: string): Promise<KeyRecord | undefined> {
    return this.one("SELECT * FROM api_keys WHERE hash = $1", [hash]);
  }

  async list(filter: { team?: string; includeRevoked: boolean }): Promise<KeyRecord[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.team !== undefined) {
      params.push(filter.team);
      where.push(`team = $${params.length}`);
    }
    if (!filter.includeRevoked) where.push("revoked_at IS NULL");
    const sql = `SELECT * FROM api_keys ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
                 ORDER BY created_at DESC, id COLLATE "C" DESC`;
    return (await this.query(sql, params)).map(toKey);
  }

  async rotate(id: string, hash: string, prefix: string, at: Date): Promise<KeyRecord | undefined> {
    checkDate(at, "rotate: time");
    try {
      return await this.one(
        `UPDATE api_keys SET hash = $1, prefix = $2, updated_at = $3
         WHERE id = $4 AND revoked_at IS NULL RETURNING *`,
        [hash, prefix, at, id],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw keyExists(id);
      throw err;
    }
  }

  async revoke(id: string, at: Date): Promise<KeyRecord | undefined> {
    checkDate(at, "revoke: time");
    // A second revoke changes nothing, so it keeps both the first revocation time and updated_at.
    return this.one(
      `UPDATE api_keys
       SET updated_at = CASE WHEN revoked_at IS NULL THEN $1::timestamptz ELSE updated_at END,
           revoked_at = COALESCE(revoked_at, $1::timestamptz)
       WHERE id = $2 RETURNING *`,
      [at, id],
    );
  }

  async changedSince(since: Date): Promise<KeyRecord[]> {
    checkDate(since, "changedSince: time");
    const rows = await this.query('SELECT * FROM api_keys WHERE updated_at >= $1 ORDER BY updated_at, id COLLATE "C"', [since]);
    return rows.map(toKey);
  }

  private async one(sql: string, params: unknown[]): Promise<KeyRecord | undefined> {
    const [row] = await this.query(sql, params);
    return row === undefined ? undefined : toKey(row);
  }

  /** Unique violations pass through (the caller names the key); unreachable becomes UNAVAILABLE. */
  private async query(sql: string, params: unknown[]): Promise<KeyRow[]> {
    try {
      return (await this.pool.query<KeyRow>(sql, params)).rows;
    } catch (err) {
      if (isUniqueViolation(err)) throw err;
      rethrowDatabaseError(err);
    }
  }
}

function toKey(row: KeyRow): KeyRecord {
  const key: KeyRecord = {
    id: row.id,
    name: row.name,
    team: row.team,
    roles: row.roles,
    endpoints: row.endpoints,
    hash: row.hash,
    prefix: row.prefix,
    limits: parseKeyLimits(row.limits),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.expires_at !== null) key.expiresAt = row.expires_at;
  if (row.revoked_at !== null) key.revokedAt = row.revoked_at;
  return key;
}

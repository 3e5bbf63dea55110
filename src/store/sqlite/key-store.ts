// API keys in SQLite. Each method is one prepared statement; RETURNING gives back the row a
// rotate or revoke changed, so there is no read-after-write race with another process.
import { checkDate, checkKeyRecord, keyExists, parseKeyLimits } from "../sql-shared";
import type { KeyRecord, KeyStore } from "../types";
import { num, jsonText, optionalTime, stringArray, text, type SqliteRow } from "./columns";
import { isUniqueViolation } from "./errors";
import type { Statements } from "./statements";

const insertSql = `
  INSERT INTO api_keys (id, hash, prefix, name, team, roles, endpoints, limits,
                        created_at, expires_at, revoked_at, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class SqliteKeyStore implements KeyStore {
  constructor(private readonly statements: Statements) {}

  async insert(key: KeyRecord): Promise<void> {
    checkKeyRecord(key);
    try {
      this.statements.get(insertSql).run(
        key.id,
        key.hash,
        key.prefix,
        key.name,
        key.team,
        JSON.stringify(key.roles),
        JSON.stringify(key.endpoints),
        JSON.stringify(key.limits),
        key.createdAt.getTime(),
        key.expiresAt?.getTime() ?? null,
        key.revokedAt?.getTime() ?? null,
        key.updatedAt.getTime(),
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw keyExists(key.id);
      throw err;
    }
  }

  async get(id: string): Promise<KeyRecord | undefined> {
    return this.one("SELECT * FROM api_keys WHERE id = ?", id);
  }

  async findByHash(hash: string): Promise<KeyRecord | undefined> {
    return this.one("SELECT * FROM api_keys WHERE hash = ?", hash);
  }

  async list(filter: { team?: string; includeRevoked: boolean }): Promise<KeyRecord[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.team !== undefined) {
      where.push("team = ?");
      params.push(filter.team);
    }
    if (!filter.includeRevoked) where.push("revoked_at IS NULL");
    const sql = `SELECT * FROM api_keys ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
                 ORDER BY created_at DESC, id DESC`;
    return this.statements.get(sql).all(...params).map(toKey);
  }

  async rotate(id: string, hash: string, prefix: string, at: Date): Promise<KeyRecord | undefined> {
    checkDate(at, "rotate: time");
    try {
      return this.one(
        `UPDATE api_keys SET hash = ?, prefix = ?, updated_at = ?
         WHERE id = ? AND revoked_at IS NULL RETURNING *`,
        hash,
        prefix,
        at.getTime(),
        id,
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
       SET updated_at = CASE WHEN revoked_at IS NULL THEN ?1 ELSE updated_at END,
           revoked_at = COALESCE(revoked_at, ?1)
       WHERE id = ?2 RETURNING *`,
      at.getTime(),
      id,
    );
  }

  async changedSince(since: Date): Promise<KeyRecord[]> {
    checkDate(since, "changedSince: time");
    return this.statements
      .get("SELECT * FROM api_keys WHERE updated_at >= ? ORDER BY updated_at, id")
      .all(since.getTime())
      .map(toKey);
  }

  private one(sql: string, ...params: (string | number)[]): KeyRecord | undefined {
    const row = this.statements.get(sql).get(...params);
    return row === undefined ? undefined : toKey(row);
  }
}

function toKey(row: SqliteRow): KeyRecord {
  const key: KeyRecord = {
    id: text(row, "id"),
    name: text(row, "name"),
    team: text(row, "team"),
    roles: stringArray(jsonText(row, "roles"), "roles"),
    endpoints: stringArray(jsonText(row, "endpoints"), "endpoints"),
    hash: text(row, "hash"),
    prefix: text(row, "prefix"),
    limits: parseKeyLimits(jsonText(row, "limits")),
    createdAt: new Date(num(row, "created_at")),
    updatedAt: new Date(num(row, "updated_at")),
  };
  const expiresAt = optionalTime(row, "expires_at");
  if (expiresAt !== undefined) key.expiresAt = expiresAt;
  const revokedAt = optionalTime(row, "revoked_at");
  if (revokedAt !== undefined) key.revokedAt = revokedAt;
  return key;
}

// Prepared statements, each compiled once on first use and kept: preparing up front would fail
// before migrate() has created the tables. The set of SQL texts is small and fixed (the
// dynamic usage queries vary only by which filters and groups are present), so the cache is
// bounded.
import type { DatabaseSync, StatementSync } from "node:sqlite";

export class Statements {
  private readonly cache = new Map<string, StatementSync>();

  constructor(private readonly db: DatabaseSync) {}

  get(sql: string): StatementSync {
    let statement = this.cache.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }
}

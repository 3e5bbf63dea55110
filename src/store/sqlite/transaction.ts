// One write transaction around synchronous work. BEGIN IMMEDIATE takes the write lock up front
// (waiting up to busy_timeout for another process), so a transaction never fails half-way on
// upgrading a read lock to a write lock.
import type { DatabaseSync } from "node:sqlite";
import { unavailable } from "../../errors";
import { isBusy } from "./errors";

export function inWriteTransaction<T>(db: DatabaseSync, work: () => T): T {
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (err) {
    if (isBusy(err)) throw unavailable("sqlite store: the database is locked by another process", err);
    throw err;
  }
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw err;
  }
}

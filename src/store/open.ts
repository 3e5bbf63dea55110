// Picks the store backend from its URL (config `store.database_url`, env MODELGATE_DATABASE_URL):
//   sqlite:<path>         a file, its directory created when missing (sqlite:///abs/path works too)
//   sqlite::memory:       an in-memory database (tests, throwaway runs)
//   postgres://…, postgresql://…   PostgreSQL (node-postgres connection string)
// The returned store has not migrated yet: the caller runs migrate() at start.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { invalidArgument } from "../errors";
import type { Store } from "./types";

export interface StoreOptions {
  /** store.sqlite.read_timeout_ms: a SQLite file's ledger reads' time budget (PostgreSQL: unused). */
  sqliteReadTimeoutMs?: number;
}

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  if (url.startsWith("sqlite:")) {
    const path = sqlitePath(url);
    if (path !== ":memory:") createDirectory(dirname(path));
    const { openSqliteStore } = await import("./sqlite/sqlite-store");
    return openSqliteStore(path, { readTimeoutMs: options.sqliteReadTimeoutMs });
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    // Loaded only when used: the embedded default never pulls in the PostgreSQL client.
    const { openPostgresStore } = await import("./postgres/postgres-store");
    return openPostgresStore(url);
  }
  // Only the scheme is echoed: the rest of a database URL may hold a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? "(none)";
  throw invalidArgument(
    `store.database_url: unsupported scheme ${scheme} (use sqlite:<path>, sqlite::memory: or postgres://user:pass@host/db)`,
  );
}

/** The database's directory, created when missing; a failure says which directory and why. */
function createDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new Error(
      `sqlite store: cannot create the database's directory ${resolve(dir)} (${code}): ` +
        "create it, writable by the user running modelgate, or choose another path in store.database_url",
      { cause: err },
    );
  }
}

function sqlitePath(url: string): string {
  let path = url.slice("sqlite:".length);
  // sqlite:///abs/path and sqlite://rel/path, as other tools write them.
  if (path.startsWith("//")) path = path.slice(2);
  if (path === "") throw invalidArgument("store.database_url: sqlite: needs a file path, e.g. sqlite:data/modelgate.db");
  return path;
}

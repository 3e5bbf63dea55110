// The embedded default: keys and ledger in one SQLite file through Node's built-in node:sqlite.
// WAL lets readers (other processes, the CLI) work beside the gateway's writes; synchronous=FULL
// makes a committed ledger batch survive a power cut, not only a crash of the process.
import { DatabaseSync } from "node:sqlite";
import type { Store } from "../types";
import { feedbackInsertSql, SqliteFeedbackStore } from "./feedback-store";
import { SqliteKeyStore } from "./key-store";
import { ledgerInsertSql, SqliteLedgerStore } from "./ledger-store";
import { responseWriteSql, SqliteResponseStore } from "./response-store";
import { conversationWriteSql, SqliteConversationStore } from "./conversation-store";
import { sqliteMigrations, type Migration } from "./migrations";
import { isReadonly } from "./errors";
import { Statements } from "./statements";
import { inWriteTransaction } from "./transaction";
import { InThreadReads, WorkerReads, type SqliteReads } from "./reads";
import { checkSqliteWritable } from "./writable";
import { fileProblem, identityOf } from "./file-identity";
import { InThreadWrites, WorkerWrites, type SqliteWrites } from "./writes";

/** How long a statement waits for another process's write lock before failing (ms). */
const BUSY_TIMEOUT_MS = 5_000;
/** store.sqlite.read_timeout_ms's default (the config schema holds the same). */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;

export interface SqliteStoreOptions {
  /** A ledger read's time budget, waiting and running (reads.ts); a file database only. */
  readTimeoutMs?: number;
}

/** The store, and where its ledger reads (reads.ts) and ledger, feedback, response and conversation writes (writes.ts) run. */
export interface SqliteStore extends Store {
  readonly reads: SqliteReads;
  readonly writes: SqliteWrites;
}

/**
 * `path` is a file path or ":memory:". Key reads and writes (rare: admin; keys are cached) and
 * feedback lookups by request id run on this connection; ledger reads, feedback summaries and
 * stored responses' and conversations' reads run in a read worker for a file (reads.ts), ledger,
 * feedback, stored response and conversation writes in a write worker (writes.ts), both in-thread for ":memory:". The
 * schema is created by migrate(). A file path whose database, -wal, -shm or directory this
 * process cannot write is refused at once, with the file and the fix named (see writable.ts).
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): SqliteStore {
  if (path !== ":memory:") checkSqliteWritable(path);
  const db = new DatabaseSync(path);
  // After the open: the file exists now (the open created it if it did not).
  const opened = path === ":memory:" ? undefined : identityOf(path);
  // busy_timeout first: switching to WAL itself needs a lock another process may hold.
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  const statements = new Statements(db);
  const sql = { ledger: ledgerInsertSql, feedback: feedbackInsertSql, ...responseWriteSql, ...conversationWriteSql };
  const writes: SqliteWrites = path === ":memory:" ? new InThreadWrites(db, statements, sql) : new WorkerWrites(path, BUSY_TIMEOUT_MS, sql);
  const readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const reads: SqliteReads = path === ":memory:" ? new InThreadReads(statements) : new WorkerReads(path, BUSY_TIMEOUT_MS, readTimeoutMs);
  // Stored responses' and conversations' reads: point reads a call waits on, on a worker of their
  // own (started on first use), so they never queue behind a report's scan on the other one
  // (which may run for read_timeout_ms); off the event loop, as a multi-MB row's text costs tens
  // of ms to read.
  const stateReads: SqliteReads = path === ":memory:" ? reads : new WorkerReads(path, BUSY_TIMEOUT_MS, readTimeoutMs);
  return {
    kind: "sqlite",
    reads,
    writes,
    keys: new SqliteKeyStore(statements),
    ledger: new SqliteLedgerStore(reads, writes),
    feedback: new SqliteFeedbackStore(statements, reads, writes),
    responses: new SqliteResponseStore(stateReads, writes),
    conversations: new SqliteConversationStore(stateReads, writes),
    problem: async () => {
      if (opened === undefined) return undefined;
      const problem = await fileProblem(path, opened);
      return (
        problem &&
        `sqlite store: ${problem}: keys and usage written since go to the file this process still has open ` +
          "(or wait in memory, if its write worker has to open it again), and are lost when it stops; " +
          "put the file back (or stop the gateway to start afresh)"
      );
    },
    migrate: async () => {
      try {
        migrate(db, sqliteMigrations);
      } catch (err) {
        // Writable at open (checked), read-only now: another user's -shm, a remount.
        if (!isReadonly(err)) throw err;
        throw new Error(
          `sqlite store: ${path} is read-only for this process (${(err as Error).message}): the database file, ` +
            "its -wal and -shm files and its directory must all be writable by the user running modelgate",
          { cause: err },
        );
      }
    },
    close: async () => {
      // The workers' connections first: the main one, closed last, checkpoints the WAL (as far
      // as a read still under way in an ending read worker lets it; the next open finishes it).
      await reads.close();
      if (stateReads !== reads) await stateReads.close();
      await writes.close();
      if (db.isOpen) db.close();
    },
  };
}

/**
 * Applies the steps not yet recorded, all in one IMMEDIATE transaction: a second process
 * migrating at the same time waits for the lock, then finds every step recorded.
 */
function migrate(db: DatabaseSync, migrations: readonly Migration[]): void {
  inWriteTransaction(db, () => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
    const applied = new Set(
      db
        .prepare("SELECT version FROM schema_migrations")
        .all()
        .map((row) => row.version),
    );
    const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
    for (const step of migrations) {
      if (applied.has(step.version)) continue;
      db.exec(step.sql);
      record.run(step.version, step.name, Date.now());
    }
  });
}

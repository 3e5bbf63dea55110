// Where the SQLite store's batched writes (ledger rows, feedback rows, stored responses,
// conversations) run.
//
// - A file database: in a worker_threads Worker with its own DatabaseSync connection to the same
//   file (WAL, so the other connections, the read worker's among them, see each batch once committed). The INSERTs and
//   the COMMIT (with synchronous = FULL, an fsync) then no longer stall the event loop that
//   serves calls. The Worker starts on the first write, once; one that dies fails the writes in
//   flight with UNAVAILABLE, which the ledger and feedback writers retry, and the next write
//   starts a new one. Answers the worker posted before it died are still read (its reply port is
//   drained), so a batch it reported committed is not retried. close() waits (bounded) for the
//   writes in flight, closes the worker's connection and ends the Worker.
// - No timeout per batch, on purpose: a batch the worker is committing may still commit, so
//   failing it (and ending the worker, which would take effect only after the COMMIT returns)
//   would have the writer write it twice. Waiting is bounded by SQLite itself (busy_timeout for
//   another process's lock); a disk that hangs an fsync holds the worker, not the event loop,
//   and the ledger queue's backpressure then refuses new calls; close() is bounded.
//   The one way left to write a batch twice: the worker dying on its own between its COMMIT and
//   posting the answer (out of memory in those few instructions), or close() giving up on it.
// - ":memory:": a database that lives in one connection cannot be shared with a thread, so its
//   writes run in-thread on the main connection, as before.
//
// - A write is a list of steps, each a named statement run once per row, all in one transaction
//   (one commit) in order: a conversation and its items, items then their conversation. A step
//   that fails rolls back the steps before it; each step's changes come back. write() is the
//   one-step case.
//
// Errors come back from the worker as plain data and are rebuilt with SQLite's fields (errcode,
// errstr, code), so isContentError/isLedgerContentError/isBusy classify them as before.
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { unavailable } from "../../errors";
import { isBusy } from "./errors";
import type { Statements } from "./statements";
import { inWriteTransaction } from "./transaction";
import { delay, describeErrorSource, rebuildSqliteError, type WorkerError } from "./worker-shared";

/** The named write statements (their SQL is given to the constructor, and to the worker once). */
export type WriteStatement =
  | "ledger"
  | "feedback"
  | "responsePut"
  | "responseDelete"
  | "responsePurge"
  | "responseDeleteByKey"
  | "responseDeleteByTeam"
  | "conversationInsert"
  | "conversationMetadata"
  | "conversationDelete"
  | "conversationItemsDelete"
  | "conversationItemAppend"
  | "conversationItemDelete"
  | "conversationOwnedByKeyItemsDelete"
  | "conversationOwnedByKeyDelete"
  | "conversationOwnedByTeamItemsDelete"
  | "conversationOwnedByTeamDelete";
/** One run's parameters. */
export type WriteRow = readonly SQLInputValue[];
/** One step of a write: the statement run once per row. */
export interface WriteStep {
  statement: WriteStatement;
  rows: readonly WriteRow[];
}

export interface SqliteWrites {
  /** "worker" for a file database, "in-thread" for ":memory:". */
  readonly mode: "worker" | "in-thread";
  /**
   * Runs the statement once per row, all in one write transaction (one commit), or not at all;
   * resolves with the rows the runs changed in all (SQLite's `changes`).
   */
  write(statement: WriteStatement, rows: readonly WriteRow[]): Promise<number>;
  /**
   * Runs the steps in order, each statement once per row of its own, all in one write
   * transaction (one commit), or none at all; resolves with each step's changes, in order.
   */
  writeSteps(steps: readonly WriteStep[]): Promise<number[]>;
  close(): Promise<void>;
}

/** Batches in flight at once (the ledger writer sends one at a time; feedback a few). */
const MAX_IN_FLIGHT = 64;
/** How long close() waits for the writes in flight, then for the worker to end. */
const CLOSE_TIMEOUT_MS = 5_000;

export class InThreadWrites implements SqliteWrites {
  readonly mode = "in-thread";

  constructor(
    private readonly db: DatabaseSync,
    private readonly statements: Statements,
    private readonly sql: Readonly<Record<WriteStatement, string>>,
  ) {}

  async write(statement: WriteStatement, rows: readonly WriteRow[]): Promise<number> {
    const [changes] = await this.writeSteps([{ statement, rows }]);
    return changes ?? 0;
  }

  async writeSteps(steps: readonly WriteStep[]): Promise<number[]> {
    return inWriteTransaction(this.db, () =>
      steps.map(({ statement, rows }) => {
        const run = this.statements.get(this.sql[statement]);
        let changes = 0;
        for (const row of rows) changes += Number(run.run(...row).changes);
        return changes;
      }),
    );
  }

  async close(): Promise<void> {}
}

type WorkerReply = { id: number; changes?: number[]; error?: WorkerError<"open" | "begin" | "write"> };

interface InFlight {
  resolve(changes: number[]): void;
  reject(err: unknown): void;
  done: Promise<number[]>;
}

/**
 * The worker's program: plain JavaScript run with `eval`, so it works the same from the sources
 * (tsx, vitest) and from the esbuild bundle (no second file to find). Node built-ins only.
 */
const workerSource = `
const { parentPort, workerData } = process.getBuiltinModule("node:worker_threads");
const { DatabaseSync } = process.getBuiltinModule("node:sqlite");
const { path, busyTimeoutMs, sql, replies } = workerData;
${describeErrorSource}
let db;
let openError;
try {
  // mode=rw: the file the main connection created and migrated must be there; one deleted since
  // is not created afresh (empty, without the tables) for the rows to go to.
  const url = process.getBuiltinModule("node:url").pathToFileURL(path);
  url.searchParams.set("mode", "rw");
  db = new DatabaseSync(url);
  db.exec("PRAGMA busy_timeout = " + Number(busyTimeoutMs));
  db.exec("PRAGMA synchronous = FULL");
} catch (err) {
  openError = describe(err, "open");
}
const statements = new Map();
function statement(name) {
  let s = statements.get(name);
  if (s === undefined) {
    s = db.prepare(sql[name]);
    statements.set(name, s);
  }
  return s;
}
parentPort.on("message", (msg) => {
  if (msg.op === "close") {
    try { if (db !== undefined && db.isOpen) db.close(); } catch {}
    replies.close();
    parentPort.close();
    return;
  }
  const id = msg.id;
  if (openError !== undefined) { replies.postMessage({ id, error: openError }); return; }
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (err) {
    replies.postMessage({ id, error: describe(err, "begin") });
    return;
  }
  try {
    const changes = [];
    for (const step of msg.steps) {
      const run = statement(step.statement);
      let stepChanges = 0;
      for (const row of step.rows) stepChanges += Number(run.run(...row).changes);
      changes.push(stepChanges);
    }
    db.exec("COMMIT");
    replies.postMessage({ id, changes });
  } catch (err) {
    try { if (db.isTransaction) db.exec("ROLLBACK"); } catch {}
    replies.postMessage({ id, error: describe(err, "write") });
  }
});
`;

export class WorkerWrites implements SqliteWrites {
  readonly mode = "worker";
  private worker: Worker | undefined;
  /** Where the current worker answers: drained when it dies, so an answer it sent is never lost. */
  private replies: MessagePort | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private nextId = 0;
  private closed = false;
  /** Workers started (1 unless one died and was replaced). */
  started = 0;

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
    private readonly sql: Readonly<Record<WriteStatement, string>>,
  ) {}

  async write(statement: WriteStatement, rows: readonly WriteRow[]): Promise<number> {
    const [changes] = await this.writeSteps([{ statement, rows }]);
    return changes ?? 0;
  }

  writeSteps(steps: readonly WriteStep[]): Promise<number[]> {
    if (this.closed) return Promise.reject(unavailable("sqlite store: closed"));
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      return Promise.reject(unavailable(`sqlite store: ${MAX_IN_FLIGHT} write batches already waiting for the write worker`));
    }
    const worker = this.worker ?? this.start();
    const id = ++this.nextId;
    let resolve!: (changes: number[]) => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<number[]>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    if (this.inFlight.size === 0) worker.ref();
    this.inFlight.set(id, { resolve, reject, done });
    worker.postMessage({ id, steps });
    return done;
  }

  /** Batches handed to the worker and not yet answered. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Ends the worker as a crash would (tests): the writes in flight fail with UNAVAILABLE. */
  async crashForTest(): Promise<void> {
    const worker = this.worker;
    if (worker !== undefined) await worker.terminate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const settled = Promise.allSettled([...this.inFlight.values()].map((w) => w.done));
    await Promise.race([settled, delay(CLOSE_TIMEOUT_MS)]);
    if (this.worker !== worker) return;
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    // Referenced until it has ended: a process closing the store and then nothing else must wait for it.
    worker.ref();
    worker.postMessage({ op: "close" });
    const timedOut = await Promise.race([exited.then(() => false), delay(CLOSE_TIMEOUT_MS).then(() => true)]);
    if (timedOut) await worker.terminate();
    this.drainReplies(worker);
    this.failAll(unavailable("sqlite store: closed"));
  }

  private start(): Worker {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { path: this.path, busyTimeoutMs: this.busyTimeoutMs, sql: this.sql, replies: port2 },
      transferList: [port2],
    });
    this.started += 1;
    worker.unref();
    port1.unref();
    port1.on("message", (reply: WorkerReply) => this.settle(worker, reply));
    this.replies = port1;
    worker.on("error", (err) => this.fail(worker, unavailable(`sqlite store: the write worker failed: ${err.message}`, err)));
    worker.on("exit", (code) => this.fail(worker, unavailable(`sqlite store: the write worker stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private settle(worker: Worker, reply: WorkerReply): void {
    const waiting = this.inFlight.get(reply.id);
    if (waiting === undefined) return;
    this.inFlight.delete(reply.id);
    if (this.inFlight.size === 0) worker.unref();
    if (reply.error === undefined) waiting.resolve(reply.changes ?? []);
    else waiting.reject(rebuild(reply.error));
    // A worker that could not open the file (deleted, unreadable) is let go: it would answer every
    // batch so; the writers retry, and the next write opens the file afresh.
    if (reply.error?.phase === "open") this.fail(worker, rebuild(reply.error));
  }

  /** The current worker is gone or stuck: fail its writes (the writers retry) and start afresh next time. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    void worker.terminate();
    this.drainReplies(worker);
    this.failAll(err);
  }

  /** Answers the worker posted before it went (a batch it committed must not be written twice). */
  private drainReplies(worker: Worker): void {
    const port = this.replies;
    if (port === undefined) return;
    this.replies = undefined;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) this.settle(worker, m.message as WorkerReply);
    port.close();
  }

  private failAll(err: Error): void {
    for (const waiting of this.inFlight.values()) {
        waiting.reject(err);
    }
    this.inFlight.clear();
  }
}

/** The worker's error as this side throws it: SQLite's fields kept, a lock or an open failure UNAVAILABLE. */
function rebuild(e: WorkerError): Error {
  const err = rebuildSqliteError(e);
  if (e.phase === "begin" && isBusy(err)) return unavailable("sqlite store: the database is locked by another process", err);
  if (e.phase === "open") return unavailable(`sqlite store: the write worker cannot open the database: ${e.message}`, err);
  return err;
}

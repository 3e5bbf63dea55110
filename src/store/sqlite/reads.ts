// Where the SQLite store's ledger reads (usage totals and series, the CSV export's pages,
// ListCalls, the budget seeds' spend) and feedback summaries run.
//
// - A file database: in a worker_threads Worker with its own read-only DatabaseSync connection to
//   the same file (WAL: it sees every batch the write worker committed). A read that scans
//   millions of rows (a month's totals, a ListCalls filter that matches nothing, an export page
//   over a sparse filter) then holds that thread, not the event loop that serves every call.
//   The Worker starts on the first read and is unref'd while idle, like the write worker
//   (writes.ts, the model for this file).
// - One worker, reads one at a time, in order, from a queue kept here: the machine this runs on
//   has few cores, which the event loop and the write worker need too, and a second reader would
//   only split them; one at a time also lets each read's own running time be measured (posted
//   when it starts, not when it was queued). The reads a call waits on ("urgent": a budget seed's
//   spend, a stored response or conversation) go ahead of queued reports, in their own order: a
//   model call waits on them, a report's reader does not mind.
// - A time budget (store.sqlite.read_timeout_ms) on every wait: a read not answered within it,
//   queued or running, fails with DEADLINE_EXCEEDED. A read that has itself *run* that long
//   has its worker terminated (a read is safe to abort: nothing to keep), and the reads queued
//   behind it go to a new one. node:sqlite exposes neither sqlite3_interrupt nor a progress
//   handler, so a terminated worker still ends only when the statement under way returns (V8
//   stops it at its next JavaScript instruction): until then it holds a core. So at most
//   MAX_ENDING such workers may be ending at once; beyond, reads fail fast with UNAVAILABLE
//   rather than piling runaway scans on the cores that serve calls.
// - At most MAX_READS reports queued or running, and MAX_URGENT_READS urgent reads queued (point
//   reads by key, each quick: a burst of chained Responses API calls must not be refused for the
//   reports' cap); one more fails fast with UNAVAILABLE and a retry-after (not
//   RESOURCE_EXHAUSTED: in our error table that is the caller's own quota or rate limit, while
//   this is the gateway's capacity for a moment, which clients retry on UNAVAILABLE with backoff;
//   the write worker's cap and the ledger backlog say the same).
// - A worker that dies fails its running read with UNAVAILABLE; the queued reads go to a new one.
//   close() fails the queued and running reads with UNAVAILABLE at once (a read has nothing to
//   finish), closes the worker's connection and ends it, waiting a bounded time.
// - ":memory:": a database that lives in one connection cannot be shared with a thread, so its
//   reads run in-thread on the main connection, synchronously, with no time budget (tests, dev).
import type { SQLInputValue } from "node:sqlite";
import { Worker } from "node:worker_threads";
import { deadlineExceeded, unavailable } from "../../errors";
import type { SqliteRow } from "./columns";
import { isBusy } from "./errors";
import type { Statements } from "./statements";
import { delay, describeErrorSource, rebuildSqliteError, type WorkerError } from "./worker-shared";

export interface ReadOptions {
  /** A call waits on this read (a budget seed): it goes ahead of queued reports. */
  urgent?: boolean;
}

export interface SqliteReads {
  /** "worker" for a file database, "in-thread" for ":memory:". */
  readonly mode: "worker" | "in-thread";
  /** Every row the statement returns. */
  all(sql: string, params: readonly SQLInputValue[], options?: ReadOptions): Promise<SqliteRow[]>;
  close(): Promise<void>;
}

/** Reports queued or running at once (each usage RPC, export page or feedback summary is one). */
export const MAX_READS = 32;
/** Urgent reads queued at once (budget seeds, stored responses' and conversations' point reads). */
export const MAX_URGENT_READS = 1024;
/** Workers terminated after a read ran too long that may still be finishing their statement. */
export const MAX_ENDING = 2;
/** How long close() waits for the worker to end. */
const CLOSE_TIMEOUT_MS = 5_000;
/** Prepared statements the worker keeps (least recently used dropped first). */
const MAX_STATEMENTS = 256;

export class InThreadReads implements SqliteReads {
  readonly mode = "in-thread";

  constructor(private readonly statements: Statements) {}

  async all(sql: string, params: readonly SQLInputValue[]): Promise<SqliteRow[]> {
    return this.statements.get(sql).all(...params);
  }

  async close(): Promise<void> {}
}

type WorkerReply = { id: number; rows?: SqliteRow[]; error?: WorkerError<"open" | "read"> };

interface Read {
  id: number;
  sql: string;
  params: readonly SQLInputValue[];
  resolve(rows: SqliteRow[]): void;
  reject(err: unknown): void;
  /** The caller's wait: from the call to all(), whether queued or running. */
  waitTimer: NodeJS.Timeout;
  /** Answered, failed or timed out: its caller has been told. */
  settled: boolean;
  /** A call waits on it: queued ahead of reports (ReadOptions.urgent). */
  urgent: boolean;
}

interface Running {
  read: Read;
  worker: Worker;
  /** The read's own running time: past the budget, the worker is terminated. */
  runTimer: NodeJS.Timeout;
}

/**
 * The worker's program: plain JavaScript run with `eval`, so it works the same from the sources
 * (tsx, vitest) and from the esbuild bundle (no second file to find). Node built-ins only.
 * Read-only at open: this connection cannot write even by mistake (as PRAGMA query_only would
 * say, but enforced by SQLite's open flags). Rows are posted as node:sqlite returns them: numbers
 * (not bigints: ids and times are within 2^53, and a bigger value fails here as it would in-thread),
 * strings and nulls, which structured clone keeps as they are.
 */
const workerSource = `
const { parentPort, workerData } = process.getBuiltinModule("node:worker_threads");
const { DatabaseSync } = process.getBuiltinModule("node:sqlite");
const { path, busyTimeoutMs, maxStatements } = workerData;
${describeErrorSource}
let db;
let openError;
try {
  db = new DatabaseSync(path, { readOnly: true });
  db.exec("PRAGMA busy_timeout = " + Number(busyTimeoutMs));
} catch (err) {
  openError = describe(err, "open");
}
const statements = new Map();
function statement(sql) {
  let s = statements.get(sql);
  if (s !== undefined) {
    statements.delete(sql);
  } else {
    s = db.prepare(sql);
    if (statements.size >= maxStatements) statements.delete(statements.keys().next().value);
  }
  statements.set(sql, s);
  return s;
}
parentPort.on("message", (msg) => {
  if (msg.op === "close") {
    try { if (db !== undefined && db.isOpen) db.close(); } catch {}
    parentPort.close();
    return;
  }
  const id = msg.id;
  if (openError !== undefined) { parentPort.postMessage({ id, error: openError }); return; }
  let rows;
  try {
    rows = statement(msg.sql).all(...msg.params);
  } catch (err) {
    parentPort.postMessage({ id, error: describe(err, "read") });
    return;
  }
  parentPort.postMessage({ id, rows });
});
`;

export class WorkerReads implements SqliteReads {
  readonly mode = "worker";
  private worker: Worker | undefined;
  private running: Running | undefined;
  private readonly queue: Read[] = [];
  /** Terminated after a read ran past its budget, still finishing that read's statement. */
  private readonly ending = new Set<Worker>();
  private nextId = 0;
  private closed = false;
  /** Workers started (1 unless one died or ran too long and was replaced). */
  started = 0;

  /** `timeoutMs` is store.sqlite.read_timeout_ms; it may be changed between reads (tests do). */
  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
    public timeoutMs: number,
  ) {}

  all(sql: string, params: readonly SQLInputValue[], options: ReadOptions = {}): Promise<SqliteRow[]> {
    if (this.closed) return Promise.reject(unavailable("sqlite store: closed"));
    // Urgent reads are the front of the queue, reports the rest (each in the order they came).
    let urgentQueued = 0;
    while (urgentQueued < this.queue.length && this.queue[urgentQueued]!.urgent) urgentQueued++;
    const urgent = options.urgent === true;
    if (urgent && urgentQueued >= MAX_URGENT_READS) {
      return Promise.reject(retryLater(unavailable(`sqlite store: ${MAX_URGENT_READS} reads already waiting for the read worker; retry shortly`)));
    }
    const reports = this.queue.length - urgentQueued + (this.running !== undefined && !this.running.read.urgent ? 1 : 0);
    if (!urgent && reports >= MAX_READS) {
      return Promise.reject(retryLater(unavailable(`sqlite store: ${MAX_READS} usage queries already waiting for the read worker; retry shortly`)));
    }
    return new Promise<SqliteRow[]>((resolve, reject) => {
      const read: Read = {
        id: ++this.nextId,
        sql,
        params,
        resolve,
        reject,
        waitTimer: setTimeout(() => this.waitedTooLong(read), this.timeoutMs).unref(),
        settled: false,
        urgent,
      };
      if (urgent) this.queue.splice(urgentQueued, 0, read);
      else this.queue.push(read);
      this.startNext();
    });
  }

  /** Reads queued or running. */
  get pending(): number {
    return this.queue.length + (this.running === undefined ? 0 : 1);
  }

  /** Workers terminated after an overlong read that have not ended yet. */
  get endingCount(): number {
    return this.ending.size;
  }

  /** Ends the worker as a crash would (tests): the running read fails with UNAVAILABLE. */
  async crashForTest(): Promise<void> {
    const worker = this.worker;
    if (worker !== undefined) await worker.terminate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closed = unavailable("sqlite store: closed");
    for (const read of this.queue.splice(0)) settle(read, closed);
    if (this.running !== undefined) {
      clearTimeout(this.running.runTimer);
      settle(this.running.read, closed);
      this.running = undefined;
    }
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    // Referenced until it has ended: a process closing the store and then nothing else must wait for it.
    worker.ref();
    // Handled after the statement under way returns, if one is.
    worker.postMessage({ op: "close" });
    const timedOut = await Promise.race([exited.then(() => false), delay(CLOSE_TIMEOUT_MS).then(() => true)]);
    if (timedOut) {
      // terminate() too waits for the statement; close() is bounded, so only so long.
      worker.unref();
      await Promise.race([worker.terminate(), delay(CLOSE_TIMEOUT_MS)]);
    }
  }

  /** Hands the next queued read to the worker (starting one) when none is running. */
  private startNext(): void {
    if (this.closed || this.running !== undefined) return;
    const read = this.queue.shift();
    if (read === undefined) return;
    let worker = this.worker;
    if (worker === undefined) {
      if (this.ending.size >= MAX_ENDING) {
        const err = retryLater(
          unavailable(`sqlite store: ${this.ending.size} usage queries that ran past ${this.timeoutMs} ms are still ending; retry shortly`),
        );
        settle(read, err);
        for (const queued of this.queue.splice(0)) settle(queued, err);
        return;
      }
      try {
        worker = this.start();
      } catch (err) {
        // Out of threads or memory: this read and the queued ones fail; the next read tries again.
        const failed = unavailable(`sqlite store: cannot start the read worker: ${err instanceof Error ? err.message : String(err)}`, err);
        settle(read, failed);
        for (const queued of this.queue.splice(0)) settle(queued, failed);
        return;
      }
    }
    const runTimer = setTimeout(() => this.ranTooLong(worker), this.timeoutMs).unref();
    this.running = { read, worker, runTimer };
    worker.ref();
    worker.postMessage({ id: read.id, sql: read.sql, params: read.params });
  }

  private start(): Worker {
    const worker = new Worker(workerSource, {
      eval: true,
      workerData: { path: this.path, busyTimeoutMs: this.busyTimeoutMs, maxStatements: MAX_STATEMENTS },
    });
    this.started += 1;
    worker.unref();
    worker.on("message", (reply: WorkerReply) => this.answer(worker, reply));
    worker.on("error", (err) => this.died(worker, unavailable(`sqlite store: the read worker failed: ${err.message}`, err)));
    worker.on("exit", (code) => {
      this.ending.delete(worker);
      this.died(worker, unavailable(`sqlite store: the read worker stopped (exit code ${code})`));
    });
    this.worker = worker;
    return worker;
  }

  private answer(worker: Worker, reply: WorkerReply): void {
    const running = this.running;
    if (running === undefined || running.worker !== worker || running.read.id !== reply.id) return;
    clearTimeout(running.runTimer);
    this.running = undefined;
    worker.unref();
    if (reply.error === undefined) settle(running.read, undefined, reply.rows ?? []);
    else settle(running.read, rebuild(reply.error));
    if (reply.error?.phase === "open" && this.worker === worker) {
      // A worker that could not open the file is let go: the next read opens it afresh.
      this.worker = undefined;
      void worker.terminate();
    }
    this.startNext();
  }

  /** The caller's budget is spent, queued or running: it is told now (a running read goes on, see ranTooLong). */
  private waitedTooLong(read: Read): void {
    if (read.settled) return;
    const queued = this.queue.indexOf(read);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      settle(read, deadlineExceeded(`sqlite store: the usage query waited ${this.timeoutMs} ms behind other usage queries without starting; retry shortly`));
      return;
    }
    settle(read, tookTooLong(this.timeoutMs));
  }

  /** The running read has itself run past the budget: its worker is let go, the queue moves to a new one. */
  private ranTooLong(worker: Worker): void {
    const running = this.running;
    if (running === undefined || running.worker !== worker || this.worker !== worker) return;
    this.running = undefined;
    this.worker = undefined;
    settle(running.read, tookTooLong(this.timeoutMs));
    this.ending.add(worker);
    worker.unref();
    void worker.terminate();
    this.startNext();
  }

  /** The current worker is gone: fail its running read, start afresh for the queued ones. */
  private died(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    void worker.terminate();
    const running = this.running;
    if (running !== undefined && running.worker === worker) {
      clearTimeout(running.runTimer);
      this.running = undefined;
      settle(running.read, err);
    }
    this.startNext();
  }
}

function settle(read: Read, err: unknown, rows?: SqliteRow[]): void {
  if (read.settled) return;
  read.settled = true;
  clearTimeout(read.waitTimer);
  if (err === undefined) read.resolve(rows ?? []);
  else read.reject(err);
}

function tookTooLong(timeoutMs: number): Error {
  return deadlineExceeded(
    `sqlite store: the usage query ran longer than ${timeoutMs} ms (store.sqlite.read_timeout_ms); narrow the time range or filters`,
  );
}

/** A hint for clients and the REST surfaces: the queue moves within a read's budget, usually much less. */
function retryLater<E extends { metadata: Headers }>(err: E): E {
  err.metadata.set("retry-after", "1");
  return err;
}

/** The worker's error as this side throws it: SQLite's fields kept, a lock or an open failure UNAVAILABLE. */
function rebuild(e: WorkerError): Error {
  const err = rebuildSqliteError(e);
  if (isBusy(err)) return unavailable("sqlite store: the database is locked by another process", err);
  if (e.phase === "open") return unavailable(`sqlite store: the read worker cannot open the database: ${e.message}`, err);
  return err;
}

// Writes ledger rows in the background, in batches, without ever losing one quietly.
//
// - record(row) is synchronous and O(1): it appends to an in-memory queue and returns. The call
//   being accounted for never waits for the database.
// - A single pump appends the queue's head in batches of up to maxBatch, in order. After an idle
//   spell the first row waits flushIntervalMs to gather company. Under load, the rows that arrive
//   while a batch is being written go out in the next batch, flushIntervalMs after the last one
//   started (group commit, one commit an interval whatever the call rate), or at once when
//   maxBatch rows wait, a flush() is asked for, or the batch took longer than the interval. Not
//   straight away: a commit costs about as much as tens of rows (SQLite writes each touched index
//   page to the WAL and fsyncs; PostgreSQL a round trip and a WAL flush), so a store that commits
//   in 2 ms would otherwise be sent a batch of a few rows every 2 ms, several times the CPU per row
//   (bench/ledger-batches.ts measures it).
// - A failed append leaves its rows at the head of the queue (order kept) and is retried with
//   exponential backoff, forever: rows leave memory only once the store has committed them.
//   Except when the store refuses the batch for its CONTENT (isLedgerContentError: a row check,
//   a PostgreSQL data exception or integrity violation, an SQLite constraint …): retrying that
//   would fail forever and stall every row behind it. The batch is split in halves, and halves of
//   the failing halves (bisection), until the refused rows stand alone: every other row is
//   written, in order, and each refused row goes to the error log with its content (for replay by
//   hand) and is counted in stats().poisoned. A few bad rows among n cost O(log n) appends each.
// - Backpressure: when maxQueue rows are waiting (the store is down or too slow), record() still
//   keeps every row (the call it describes already happened) but the writer reports `overloaded`
//   and checkAdmission() refuses NEW calls with UNAVAILABLE + retry-after until the queue drains
//   below 80% of maxQueue. Memory is thus bounded by maxQueue plus the calls already in flight.
// - Durability: the store is the write-ahead log. A hard crash (SIGKILL, power loss) loses the
//   rows still in memory: at most those of the last flushIntervalMs (plus any backlog while the
//   store was failing). flushIntervalMs: 0 writes through (each row is appended on the next turn
//   of the event loop), trading batching for the smallest window.
// - close() (SIGTERM) flushes everything. If the store does not come back within its timeout,
//   the rows still queued are written to the log at error level, so they can be replayed by hand.
// - Every row is made storable before it is queued (storableLedgerRow): control characters (a NUL
//   in a model name sent by a caller: PostgreSQL refuses it) and unpaired surrogates become U+FFFD,
//   and each text column is cut to its limit (marked "…"), so a caller's string can never make a
//   row unwritable or huge. Counted in stats().sanitized; clean rows cost one regex test a column.
// - A malformed row (NaN latency, negative tokens ...) is refused by record() with the store's own
//   row check and logged at error level with the row: queued, it would fail its batch forever and
//   stall every row behind it.
import { ConnectError } from "@connectrpc/connect";
import { unavailable } from "../errors";
import { checkLedgerRow, isLedgerContentError, storableLedgerRow } from "../store/sql-shared";
import type { LedgerRow, LedgerStore } from "../store/types";

/** The logging the writer needs (a pino logger fits). */
export interface LedgerLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LedgerWriterOptions {
  /** Rows per append (one transaction). Default 500. */
  maxBatch?: number;
  /**
   * How long the first row after an idle spell waits for others, and under load the least time
   * between the starts of two appends (unless maxBatch rows wait). 0 = write-through. Default 100.
   */
  flushIntervalMs?: number;
  /** Queued rows at which new calls are refused (checkAdmission). Default 100,000. */
  maxQueue?: number;
  /** First retry delay after a failed append; doubles up to retryMaxMs. Default 100. */
  retryInitialMs?: number;
  /** Default 5,000. */
  retryMaxMs?: number;
  log?: LedgerLog;
}

export interface LedgerWriterStats {
  /** Rows waiting to be written (including a batch being written). */
  queued: number;
  /** Rows the store has committed since start. */
  written: number;
  /** Appends that failed (each is retried, or split when the store refused their content). */
  failedAppends: number;
  /** Malformed rows refused by record() (logged, never queued). */
  rejected: number;
  /** Rows whose text record() had to change to make them storable (control characters, length). */
  sanitized: number;
  /** Queued rows the store refused for their content: logged at error level with the row, not written. */
  poisoned: number;
  /** True while the queue is over maxQueue (new calls are refused). */
  overloaded: boolean;
  lastError?: string;
}

const silentLog: LedgerLog = { warn() {}, error() {} };

export class LedgerWriter {
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly resumeBelow: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly log: LedgerLog;

  // The queue is `rows[head..]`; the consumed prefix is dropped now and then (amortised O(1)).
  private rows: LedgerRow[] = [];
  private head = 0;
  private recordedCount = 0;
  private writtenCount = 0;
  private failedAppends = 0;
  private rejected = 0;
  private sanitized = 0;
  private poisoned = 0;
  /** Rows that left the queue: written, or poisoned (what flush() waits for). */
  private settledCount = 0;
  /**
   * While a batch refused for its content is being bisected: the sizes of the runs of rows, from
   * the head of the queue, to append next one by one (empty otherwise: batches of maxBatch).
   */
  private segments: number[] = [];
  private lastError: string | undefined;
  private isOverloaded = false;
  private closed = false;
  /** close() timed out: the pump stops and nothing more is written. */
  private abandoned = false;

  private timer: NodeJS.Timeout | undefined;
  /** The armed timer is a 0 ms one (write-through, a full batch, a flush): no need to re-arm it. */
  private timerIsImmediate = false;
  private pumping = false;
  /** When the last append started (performance.now()): the next waits for the interval to pass. */
  private lastAppendAt = 0;
  private flushWaiters: { target: number; resolve: () => void }[] = [];
  private wakeRetry: (() => void) | undefined;

  constructor(
    private readonly ledger: LedgerStore,
    options: LedgerWriterOptions = {},
  ) {
    this.maxBatch = positiveInt(options.maxBatch ?? 500, "maxBatch");
    this.flushIntervalMs = nonNegative(options.flushIntervalMs ?? 100, "flushIntervalMs");
    this.maxQueue = positiveInt(options.maxQueue ?? 100_000, "maxQueue");
    this.resumeBelow = Math.floor(this.maxQueue * 0.8);
    this.retryInitialMs = nonNegative(options.retryInitialMs ?? 100, "retryInitialMs");
    this.retryMaxMs = Math.max(this.retryInitialMs, nonNegative(options.retryMaxMs ?? 5_000, "retryMaxMs"));
    this.log = options.log ?? silentLog;
  }

  /** Queues one row. Never throws, never waits. */
  record(row: LedgerRow): void {
    if (this.closed) {
      // A call that finished after shutdown: not silently dropped, logged for replay.
      this.log.error({ rows: [row] }, "ledger writer closed: row not written");
      return;
    }
    let stored: LedgerRow;
    try {
      stored = storableLedgerRow(row);
      checkLedgerRow(stored, 0);
    } catch (err) {
      this.rejected++;
      this.log.error({ rows: [row], err: err instanceof Error ? err.message : String(err) }, "malformed ledger row not written");
      return;
    }
    if (stored !== row) this.sanitized++;
    this.rows.push(stored);
    this.recordedCount++;
    if (!this.isOverloaded && this.queued >= this.maxQueue) {
      this.isOverloaded = true;
      this.log.error(
        { queued: this.queued, maxQueue: this.maxQueue, lastError: this.lastError },
        "usage ledger is behind: refusing new calls until it catches up",
      );
    }
    this.schedule();
  }

  /** True while too many rows wait: new calls should be refused (see checkAdmission). */
  get overloaded(): boolean {
    return this.isOverloaded;
  }

  /** Throws UNAVAILABLE (with retry-after) while the ledger is behind; call before admitting a call. */
  checkAdmission(): void {
    if (!this.isOverloaded) return;
    const err: ConnectError = unavailable("usage ledger is behind (its database is slow or unreachable); retry shortly");
    err.metadata.set("retry-after", String(Math.max(1, Math.ceil(this.retryMaxMs / 1000))));
    throw err;
  }

  stats(): LedgerWriterStats {
    const s: LedgerWriterStats = {
      queued: this.queued,
      written: this.writtenCount,
      failedAppends: this.failedAppends,
      rejected: this.rejected,
      sanitized: this.sanitized,
      poisoned: this.poisoned,
      overloaded: this.isOverloaded,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  /**
   * Resolves once every row recorded before this call is committed (waits through retries), or
   * was refused by the store for its content (then it is in the error log and stats().poisoned).
   */
  flush(): Promise<void> {
    const target = this.recordedCount;
    if (this.settledCount >= target || this.abandoned) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.flushWaiters.push({ target, resolve }));
    this.startNow();
    return done;
  }

  /**
   * Flushes everything and stops accepting rows. With `timeoutMs`, gives up waiting for a store
   * that does not come back: the unwritten rows go to the error log instead, and false is returned.
   */
  async close(timeoutMs?: number): Promise<boolean> {
    const flushed = this.flush();
    this.closed = true;
    if (timeoutMs === undefined) {
      await flushed;
      return true;
    }
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timeout = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([flushed.then(() => "flushed" as const), timedOut]);
    clearTimeout(timeout);
    if (outcome === "flushed") return true;
    this.abandon();
    return false;
  }

  private get queued(): number {
    return this.rows.length - this.head;
  }

  private schedule(): void {
    if (this.pumping) return;
    if (this.flushIntervalMs === 0 || this.queued >= this.maxBatch) {
      this.startNow();
    } else if (!this.timer) {
      this.arm(this.flushIntervalMs);
    }
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerIsImmediate = ms === 0;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startPump();
    }, ms);
  }

  /** Starts the pump on the next turn (never inside record(): a synchronous store would block the call). */
  private startNow(): void {
    if (this.pumping) {
      this.wakeRetry?.(); // a flush was asked for: retry now rather than after the backoff
      return;
    }
    if (!(this.timer && this.timerIsImmediate)) this.arm(0);
  }

  private startPump(): void {
    if (this.pumping || this.queued === 0) return;
    this.pumping = true;
    // pump() handles a failed append itself (retry or isolate); anything else it throws is a bug,
    // logged here (its rows stay queued and the next pump retries them), never an unhandled rejection.
    const pumped = this.pump().catch((err: unknown) => {
      this.failedAppends++;
      this.lastError = err instanceof Error ? err.message : String(err);
      this.log.error({ err: this.lastError, queued: this.queued }, "usage ledger writer failed unexpectedly; rows kept, retrying");
    });
    void pumped.finally(() => {
      this.pumping = false;
      if (this.queued === 0 || this.abandoned) return;
      // Rows (and perhaps a flush()) that came while the pump was finishing its last append, or
      // rows it left for the next interval (paced).
      const wait = this.paceMs();
      if (wait === 0) this.startNow();
      else this.arm(wait);
    });
  }

  private async pump(): Promise<void> {
    let delay = this.retryInitialMs;
    while (this.queued > 0 && !this.abandoned) {
      const size = this.segments[0] ?? this.maxBatch;
      const batch = this.rows.slice(this.head, this.head + size);
      this.lastAppendAt = performance.now();
      try {
        await this.ledger.append(batch);
        if (this.abandoned) return; // its rows were already logged as unwritten
      } catch (err) {
        if (this.abandoned) return;
        this.failedAppends++;
        this.lastError = err instanceof Error ? err.message : String(err);
        if (isLedgerContentError(err)) {
          this.isolate(batch, this.lastError);
          continue; // at once: the next append is a different set of rows, not a retry
        }
        this.log.warn(
          { err: this.lastError, rows: batch.length, queued: this.queued, retryInMs: delay },
          "usage ledger append failed; rows kept, retrying",
        );
        await this.sleep(delay);
        delay = Math.min(this.retryMaxMs, Math.max(1, delay * 2));
        continue;
      }
      delay = this.retryInitialMs;
      this.segments.shift();
      this.settle(batch.length, batch.length);
      // Rows that arrived during this append go in the next interval's batch (the pump ends and
      // its finally arms the timer), unless they must go now. An idle queue ends the pump; the
      // next record() arms the timer again.
      if (this.paceMs() > 0) return;
    }
  }

  /**
   * How long the rows waiting now may still wait for company: until flushIntervalMs after the
   * last append started; 0 (at once) when a full batch waits, a flush() is waiting, a bisection
   * is under way, or the writer writes through.
   */
  private paceMs(): number {
    if (this.flushIntervalMs === 0 || this.queued >= this.maxBatch || this.flushWaiters.length > 0 || this.segments.length > 0) return 0;
    return Math.max(0, Math.ceil(this.flushIntervalMs - (performance.now() - this.lastAppendAt)));
  }

  /**
   * The store refused `batch` (the head of the queue) for its content: split it in two and try
   * each half on its own; a single row refused is logged with its content and dropped from the
   * queue, so it no longer blocks the rows behind it.
   */
  private isolate(batch: readonly LedgerRow[], err: string): void {
    if (batch.length > 1) {
      if (this.segments.length === 0) {
        this.log.warn({ err, rows: batch.length, queued: this.queued }, "usage ledger refused a batch for its content; isolating the bad rows");
      }
      const first = Math.ceil(batch.length / 2);
      this.segments.splice(0, this.segments.length > 0 ? 1 : 0, first, batch.length - first);
      return;
    }
    this.segments.shift();
    this.poisoned++;
    this.log.error({ rows: batch, err }, "usage ledger refused a row for its content: row not written");
    this.settle(batch.length, 0);
  }

  /** `count` rows leave the head of the queue, `written` of them committed. */
  private settle(count: number, written: number): void {
    this.head += count;
    this.writtenCount += written;
    this.settledCount += count;
    this.compact();
    this.resolveFlushWaiters();
    if (this.isOverloaded && this.queued < this.resumeBelow) {
      this.isOverloaded = false;
      this.log.warn({ queued: this.queued }, "usage ledger caught up: admitting calls again");
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeRetry = undefined;
        resolve();
      }, ms);
      this.wakeRetry = () => {
        clearTimeout(t);
        this.wakeRetry = undefined;
        resolve();
      };
    });
  }

  private compact(): void {
    if (this.head === this.rows.length) {
      this.rows = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.rows.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }

  private resolveFlushWaiters(): void {
    if (this.flushWaiters.length === 0) return;
    const still: typeof this.flushWaiters = [];
    for (const w of this.flushWaiters) {
      if (this.settledCount >= w.target) w.resolve();
      else still.push(w);
    }
    this.flushWaiters = still;
  }

  /** close() timed out: stop retrying, and put the unwritten rows in the log rather than lose them. */
  private abandon(): void {
    this.abandoned = true;
    this.wakeRetry?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const left = this.rows.slice(this.head);
    for (let i = 0; i < left.length; i += this.maxBatch) {
      this.log.error(
        { rows: left.slice(i, i + this.maxBatch), lastError: this.lastError },
        "usage ledger unreachable at shutdown: rows not written",
      );
    }
    this.rows = [];
    this.head = 0;
    this.segments = [];
    for (const w of this.flushWaiters) w.resolve();
    this.flushWaiters = [];
  }
}

function positiveInt(n: number, name: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`LedgerWriter: ${name} must be a positive integer (got ${n})`);
  return n;
}

function nonNegative(n: number, name: string): number {
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`LedgerWriter: ${name} must be >= 0 (got ${n})`);
  return n;
}

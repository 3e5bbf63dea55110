// Feedback rows written in batches: posts that arrive within delayMs of each other share one
// transaction (on SQLite one commit, one sync to disk, which blocks the event loop ~4-5 ms here)
// instead of one each. A post still waits for its row's commit, so an answered PostFeedback is
// stored. The queue is bounded; a full one, or a store that fails, answers UNAVAILABLE.
import { Code, ConnectError } from "@connectrpc/connect";
import { unavailable } from "../errors";
import { FEEDBACK_BATCH_ROWS } from "./feedback-shared";
import type { FeedbackRow, FeedbackStore } from "./types";

interface Pending {
  row: FeedbackRow;
  resolve(): void;
  reject(err: unknown): void;
}

export interface FeedbackWriterOptions {
  /** How long the first row of a batch waits for others (ms). */
  delayMs?: number;
  /** Rows waiting at most; more are refused. */
  maxQueued?: number;
}

export class FeedbackWriter {
  private queue: Pending[] = [];
  /** The batch being committed. */
  private inFlight: readonly Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly delayMs: number;
  private readonly maxQueued: number;

  constructor(
    private readonly store: FeedbackStore,
    options: FeedbackWriterOptions = {},
  ) {
    this.delayMs = options.delayMs ?? 10;
    this.maxQueued = options.maxQueued ?? 10_000;
  }

  /** Resolves once the row is committed. */
  write(row: FeedbackRow): Promise<void> {
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(unavailable(`feedback: ${this.maxQueued} rows are waiting to be written (the store is slow or down); try again later`));
    }
    const done = new Promise<void>((resolve, reject) => this.queue.push({ row, resolve, reject }));
    this.schedule();
    return done;
  }

  /** Rows of a call not committed yet: in all, and scores of one name (beside FeedbackStore.priorFeedback). */
  pending(requestId: string, name: string): { total: number; scoredSameName: number } {
    let total = 0;
    let scoredSameName = 0;
    for (const list of [this.inFlight, this.queue]) {
      for (const { row } of list) {
        if (row.requestId !== requestId) continue;
        total++;
        if (row.name === name && row.score !== null) scoredSameName++;
      }
    }
    return { total, scoredSameName };
  }

  /** Writes every waiting row now (tests, shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.drain();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.running !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain();
    }, this.delayMs);
  }

  private drain(): Promise<void> {
    this.running ??= (async () => {
      try {
        while (this.queue.length > 0) {
          const batch = this.queue.splice(0, FEEDBACK_BATCH_ROWS);
          this.inFlight = batch;
          await this.commit(batch);
          this.inFlight = [];
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async commit(batch: readonly Pending[]): Promise<void> {
    try {
      await this.store.append(batch.map((p) => p.row));
      for (const p of batch) p.resolve();
    } catch (err) {
      // A row the store refuses for its content must not fail the others: each on its own then.
      if (batch.length > 1 && ConnectError.from(err).code === Code.InvalidArgument) {
        for (const p of batch) await this.commit([p]);
        return;
      }
      // A store's own failure (SQLite "database or disk is full", a lost connection) is
      // UNAVAILABLE for the callers, as a full queue is; a ConnectError keeps its code.
      const failure = err instanceof ConnectError ? err : unavailable(`feedback: the store could not write (${String(err instanceof Error ? err.message : err).slice(0, 200)}); try again later`);
      for (const p of batch) p.reject(failure);
    }
  }
}

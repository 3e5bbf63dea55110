// Asks the store, on the key cache's poll interval, whether its storage is still sound in a way
// its calls do not report (Store.problem: a SQLite file deleted or replaced while open), and
// says so when that changes: an error log line (once, not every poll) and the gauge
// modelgate_store_problem. Calls go on being served: the gateway still works, but what it
// records is at risk, which is for an operator to fix.
import type { Logger } from "pino";
import type { Store } from "./types";

export class StoreWatch {
  /** The problem seen at the last poll, or undefined. */
  current: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly store: Store,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.store.problem === undefined || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.poll(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check now (the timer's; tests). A poll still running is not started twice. */
  async poll(): Promise<void> {
    if (this.polling || this.store.problem === undefined) return;
    this.polling = true;
    try {
      const problem = await this.store.problem();
      if (problem === this.current) return;
      if (problem !== undefined) this.log.error({ store: this.store.kind }, problem);
      else this.log.info({ store: this.store.kind }, "store: its storage is sound again");
      this.current = problem;
    } catch (err) {
      // problem() reports what it finds rather than throwing; anything else is logged, not thrown from a timer.
      this.log.warn({ err }, "store: checking its storage failed");
    } finally {
      this.polling = false;
    }
  }
}

// Counters for rate limits, token quotas and spend budgets: in memory for one process, in Redis
// when replicas share limits. Window arithmetic lives with the caller (src/quota): a counter key
// already names its window (e.g. "tpm:key:key_1:29401234"), so backends only count.

export interface CounterCheck {
  /** The counter, window included. */
  key: string;
  /** Admit only if current + cost <= limit. */
  limit: number;
  cost: number;
  /** When the window ends (epoch ms): the counter may be dropped then, and retry-after points there. */
  resetAtMs: number;
}

export interface CounterDecision {
  allowed: boolean;
  /** Index of the first check that refused (when not allowed). */
  failed?: number;
  /** When to come back (ms from now), when not allowed. */
  retryAfterMs: number;
  /** Current value of each counter after the call (not incremented when refused). */
  values: number[];
}

export interface Counters {
  /**
   * Atomically: if every check passes, adds each cost to its counter; otherwise changes nothing.
   * So the strictest limit wins and a refused call consumes no quota anywhere.
   */
  hitAll(checks: readonly CounterCheck[]): Promise<CounterDecision>;
  /** Adds `delta` (may be negative: settling a reservation) regardless of limits. */
  add(key: string, delta: number, resetAtMs: number): Promise<void>;
  /** The current value, or undefined when the counter does not exist (expired or never set). */
  get(key: string): Promise<number | undefined>;
  close(): Promise<void>;
}

// Rate limiting behind an interface, so the in-memory limiter of one process and a shared one
// (Redis, for many replicas) are interchangeable. Costs other than 1 are for token limits.

export interface RateDecision {
  allowed: boolean;
  /** What is left in the current window after this hit (0 when refused). */
  remaining: number;
  /** When the caller may try again (0 when allowed). */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Counts `cost` against `key` for a window of `windowMs`, unless that would exceed `limit`. */
  hit(key: string, limit: number, windowMs: number, cost?: number): Promise<RateDecision>;
}

/**
 * Fixed-window counters in memory, for one process. Windows are aligned to the epoch so every
 * counter of the same period turns over together, the way shared (Redis) counters will.
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly windows = new Map<string, { end: number; used: number }>();
  private sweptAt = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async hit(key: string, limit: number, windowMs: number, cost = 1): Promise<RateDecision> {
    const now = this.now();
    const end = now - (now % windowMs) + windowMs;
    this.sweep(now);
    let w = this.windows.get(key);
    if (!w || w.end !== end) {
      w = { end, used: 0 };
      this.windows.set(key, w);
    }
    if (w.used + cost > limit) {
      return { allowed: false, remaining: Math.max(0, limit - w.used), retryAfterMs: end - now };
    }
    w.used += cost;
    return { allowed: true, remaining: limit - w.used, retryAfterMs: 0 };
  }

  /** Drops expired windows now and then so idle keys do not accumulate. */
  private sweep(now: number): void {
    if (now - this.sweptAt < 60_000) return;
    this.sweptAt = now;
    for (const [key, w] of this.windows) if (w.end <= now) this.windows.delete(key);
  }
}

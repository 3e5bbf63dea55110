// Window arithmetic for counters: a counter key names its window, so every replica (and Redis)
// agrees on which window a hit belongs to without coordination.
import type { BudgetPeriod } from "../store/types";

export interface Window {
  /** Identifies the window inside a counter key. */
  id: string;
  /** When it ends (epoch ms). */
  resetAtMs: number;
}

/** Fixed windows of `ms` aligned to the epoch. */
export function fixedWindow(now: number, ms: number): Window {
  const index = Math.floor(now / ms);
  return { id: String(index), resetAtMs: (index + 1) * ms };
}

/** Calendar windows in UTC for budgets: the day or the month. */
export function budgetWindow(now: number, period: BudgetPeriod): Window & { startMs: number } {
  const d = new Date(now);
  if (period === "day") {
    const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { id: new Date(startMs).toISOString().slice(0, 10), startMs, resetAtMs: startMs + 86_400_000 };
  }
  const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  return { id: new Date(startMs).toISOString().slice(0, 7), startMs, resetAtMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

// Counters in this process's memory: the embedded default, and the local fallback when Redis is
// unreachable. Everything happens synchronously inside each call, so a hitAll is atomic with
// respect to every other call in the process without locks.
import type { CounterCheck, CounterDecision, Counters } from "../counters";
import { validateAdd, validateChecks, validateKey } from "../counters-validate";

export interface MemoryCountersOptions {
  /** The clock (epoch ms); tests move it by hand. */
  now?: () => number;
  /**
   * How often (at most) expired counters are swept out, in ms. Sweeping piggybacks on calls: no
   * timer per key or at all, so the hot path is a few map lookups and idle counters cost nothing.
   */
  sweepIntervalMs?: number;
}

interface Entry {
  value: number;
  /** The counter exists while now < resetAtMs. */
  resetAtMs: number;
}

export class MemoryCounters implements Counters {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private nextSweepAt: number;

  constructor(options: MemoryCountersOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 5_000;
    this.nextSweepAt = this.now() + this.sweepIntervalMs;
  }

  /** Counters held, expired ones not yet swept included (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  async hitAll(checks: readonly CounterCheck[]): Promise<CounterDecision> {
    validateChecks(checks);
    const now = this.now();
    this.sweep(now);
    // What each counter would become; a counter named twice in one call counts both costs.
    // (A few checks a call: a scan back for the same key costs less than a Map per call.)
    const values = new Array<number>(checks.length);
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      const earlier = sameKeyBefore(checks, i);
      const current = earlier >= 0 ? values[earlier]! : (this.live(c.key, now)?.value ?? 0);
      if (current + c.cost > c.limit) {
        return {
          allowed: false,
          failed: i,
          retryAfterMs: Math.max(0, c.resetAtMs - now),
          values: checks.map((k) => this.live(k.key, now)?.value ?? 0),
        };
      }
      values[i] = current + c.cost;
    }
    for (const c of checks) {
      // A zero cost only looks: it does not create the counter (the same on Redis).
      if (c.cost > 0) this.increment(c.key, c.cost, c.resetAtMs, now);
    }
    // Each check reports its counter's value after the whole call (a key named twice: both costs).
    for (let i = checks.length - 1; i >= 0; i--) {
      const earlier = sameKeyBefore(checks, i);
      if (earlier >= 0) values[earlier] = values[i]!;
    }
    return { allowed: true, retryAfterMs: 0, values };
  }

  async add(key: string, delta: number, resetAtMs: number): Promise<void> {
    validateAdd(key, delta, resetAtMs);
    const now = this.now();
    this.sweep(now);
    // A window that is already over has nothing left to settle (Redis drops such a key at once).
    if (delta === 0 || resetAtMs <= now) return;
    this.increment(key, delta, resetAtMs, now);
  }

  async get(key: string): Promise<number | undefined> {
    validateKey(key);
    return this.live(key, this.now())?.value;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private increment(key: string, delta: number, resetAtMs: number, now: number): void {
    const entry = this.live(key, now);
    if (entry) {
      entry.value += delta;
      entry.resetAtMs = resetAtMs; // like PEXPIREAT on every increment
    } else {
      this.entries.set(key, { value: delta, resetAtMs });
    }
  }

  /** The entry if it has not expired; an expired one is dropped on sight. */
  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.resetAtMs <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drops every expired counter, at most once per sweep interval, so the map cannot grow without bound. */
  private sweep(now: number): void {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + this.sweepIntervalMs;
    for (const [key, entry] of this.entries) if (entry.resetAtMs <= now) this.entries.delete(key);
  }
}

/** The index of the last check before `i` with the same key, or -1. */
function sameKeyBefore(checks: readonly CounterCheck[], i: number): number {
  const key = checks[i]!.key;
  for (let j = i - 1; j >= 0; j--) if (checks[j]!.key === key) return j;
  return -1;
}

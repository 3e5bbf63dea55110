// MemoryCounters: the contract, plus what only memory promises: expired counters are swept out
// (no unbounded growth) and the hot path arms no timers.
import { describe, expect, it, vi } from "vitest";
import { MemoryCounters } from "../../src/store/memory/counters";
import { describeCountersContract } from "./counters.contract";

describeCountersContract("memory", async () => new MemoryCounters());

describe("MemoryCounters", () => {
  it("sweeps expired counters so idle windows do not pile up", async () => {
    let now = 1_000_000;
    const c = new MemoryCounters({ now: () => now, sweepIntervalMs: 1_000 });
    for (let i = 0; i < 10_000; i++) {
      await c.hitAll([{ key: `rpm:key:k${i}:1`, limit: 10, cost: 1, resetAtMs: now + 60_000 }]);
    }
    await c.add("usd:team:t:2025-01", 5, now + 10 * 60_000);
    expect(c.size).toBe(10_001);
    now += 60_000; // the minute windows are over; the budget's is not
    await c.hitAll([{ key: "rpm:key:k0:2", limit: 10, cost: 1, resetAtMs: now + 60_000 }]);
    expect(c.size).toBe(2);
    expect(await c.get("usd:team:t:2025-01")).toBe(5);
    expect(await c.get("rpm:key:k1:1")).toBeUndefined();
  });

  it("sweeps at most once per interval, on calls", async () => {
    let now = 0;
    const c = new MemoryCounters({ now: () => now, sweepIntervalMs: 1_000 });
    await c.add("a", 1, 100);
    await c.add("b", 1, 100);
    now = 500; // both expired, but the next sweep is not due yet
    await c.add("c", 1, 10_000);
    expect(c.size).toBe(3);
    now = 1_000;
    await c.add("c", 1, 10_000);
    expect(c.size).toBe(1);
  });

  it("an expired counter is dropped when read, even before the sweep", async () => {
    let now = 0;
    const c = new MemoryCounters({ now: () => now, sweepIntervalMs: 60_000 });
    await c.hitAll([{ key: "k", limit: 5, cost: 5, resetAtMs: 150 }]);
    now = 150;
    expect(await c.get("k")).toBeUndefined();
    expect(c.size).toBe(0);
    expect(await c.hitAll([{ key: "k", limit: 5, cost: 5, resetAtMs: 300 }])).toMatchObject({ allowed: true, values: [5] });
  });

  it("arms no timer, whatever the number of counters", async () => {
    vi.useFakeTimers();
    try {
      const c = new MemoryCounters();
      for (let i = 0; i < 1_000; i++) {
        await c.hitAll([{ key: `k${i}`, limit: 10, cost: 1, resetAtMs: Date.now() + 1_000 }]);
        await c.add(`k${i}`, -1, Date.now() + 1_000);
      }
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("close forgets every counter", async () => {
    const c = new MemoryCounters();
    await c.add("k", 1, Date.now() + 1_000);
    await c.close();
    expect(c.size).toBe(0);
  });
});

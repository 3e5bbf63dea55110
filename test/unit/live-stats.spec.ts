// The live figures' maths on a test clock: per-second counters over the window (calls/s, errors,
// tokens/s), percentiles of the samples in the window, old seconds and samples falling out, open
// streams, reuse of a fresh computation, and a reload dropping what is no longer configured.
import { describe, expect, it } from "vitest";
import { LiveSeries, LiveStats, type EndedCall } from "../../src/observability/live-stats";

const ok = (latencyMs: number, extra: Partial<EndedCall> = {}): EndedCall => ({
  failed: false,
  latencyMs,
  ttftMs: NaN,
  promptTokens: 3,
  completionTokens: 4,
  ...extra,
});
const failed: EndedCall = { failed: true, latencyMs: NaN, ttftMs: NaN, promptTokens: 0, completionTokens: 0 };

describe("LiveSeries", () => {
  it("counts the calls of the window and divides by its elapsed length", () => {
    const t0 = 1_000_000_000_000; // a whole second
    const s = new LiveSeries(t0 - 60_000); // existed long before: the window is its full length
    for (let i = 1; i <= 10; i++) s.record(t0 + i * 100, ok(i * 10)); // 10 calls in [t0, t0 + 1 s)
    s.record(t0 + 1_500, failed);
    const f = s.figures(t0 + 2_000, 10_000);
    // The window is the current second and the 9 before it: [t0 - 7 s, t0 + 2 s]: 9 s elapsed.
    expect(f.calls).toBe(11);
    expect(f.errors).toBe(1);
    expect(f.errorRate).toBeCloseTo(1 / 11, 9);
    expect(f.callsPerSecond).toBeCloseTo(11 / 9, 9);
    expect(f.tokensPerSecond).toBeCloseTo(70 / 9, 9);
    expect(f.completionTokensPerSecond).toBeCloseTo(40 / 9, 9);
    // Latencies 10..100 (the failed call has none): nearest-rank p50 = 50, p95 = 100.
    expect(f.p50LatencyMs).toBe(50);
    expect(f.p95LatencyMs).toBe(100);
    expect(f.p50TtftMs).toBeNaN();
    expect(f.totalCalls).toBe(11);
  });

  it("lets old seconds and samples fall out of the window, and reuses slots of the ring of seconds", () => {
    const t0 = 2_000_000_000_000;
    const s = new LiveSeries(t0 - 120_000);
    s.record(t0, ok(500));
    s.record(t0 + 5_000, ok(20, { ttftMs: 7 }));
    expect(s.figures(t0 + 5_000, 10_000)).toMatchObject({ calls: 2, p50LatencyMs: 20, p95LatencyMs: 500, p50TtftMs: 7 });
    // 12 s later only the second call is in a 10 s window.
    expect(s.figures(t0 + 12_000, 10_000)).toMatchObject({ calls: 1, p50LatencyMs: 20, p95LatencyMs: 20 });
    // 64 s later the slot of t0 holds a new second: the old count is not added to it.
    s.record(t0 + 64_000, ok(30));
    const f = s.figures(t0 + 64_500, 60_000);
    expect(f.calls).toBe(2); // t0 + 5 s and t0 + 64 s
    expect(f.totalCalls).toBe(3);
    expect(s.figures(t0 + 200_000, 60_000)).toMatchObject({ calls: 0, callsPerSecond: 0, p50LatencyMs: NaN, errorRate: NaN });
  });

  it("uses the series' age while it is younger than the window", () => {
    const t0 = 3_000_000_000_000;
    const s = new LiveSeries(t0);
    for (let i = 0; i < 4; i++) s.record(t0 + 500 + i, ok(1));
    // 2 s old: 4 calls over 2 s, not over the 10 s window.
    expect(s.figures(t0 + 2_000, 10_000).callsPerSecond).toBeCloseTo(2, 9);
    // Never over less than a second.
    expect(s.figures(t0 + 600, 10_000).callsPerSecond).toBeCloseTo(4, 9);
  });

  it("tracks open streams and never goes below zero", () => {
    const s = new LiveSeries(0);
    s.streamOpened();
    s.streamOpened();
    s.streamClosed();
    expect(s.figures(1_000, 1_000).activeStreams).toBe(1);
    s.streamClosed();
    s.streamClosed();
    expect(s.figures(1_001, 1_000).activeStreams).toBe(0);
  });

  it("reuses figures computed less than 100 ms before for the same window, with current counts of streams and calls", () => {
    const t0 = 4_000_000_000_000;
    const s = new LiveSeries(t0 - 60_000);
    s.record(t0 + 10, ok(5));
    const first = s.figures(t0 + 20, 10_000);
    s.record(t0 + 30, ok(7));
    s.streamOpened();
    const reused = s.figures(t0 + 50, 10_000);
    expect(reused.calls).toBe(first.calls);
    expect(reused.totalCalls).toBe(2);
    expect(reused.activeStreams).toBe(1);
    // Another window size, or later: computed anew.
    expect(s.figures(t0 + 50, 20_000).calls).toBe(2);
    expect(s.figures(t0 + 200, 10_000).calls).toBe(2);
  });
});

describe("LiveStats", () => {
  it("records on the endpoint and on the target that answered; a reload drops what is gone", () => {
    let now = 5_000_000_000_000;
    const live = new LiveStats(() => now);
    live.record("chat", "blue", ok(10));
    live.record("chat", "green", ok(20));
    live.record("chat", undefined, failed);
    live.record("other", "only", ok(1));
    now += 500;
    expect(live.peek("chat")?.figures(now, 10_000)).toMatchObject({ calls: 3, errors: 1 });
    expect(live.peek("chat", "blue")?.figures(now, 10_000).calls).toBe(1);
    expect(live.peek("chat", "green")?.figures(now, 10_000).calls).toBe(1);
    live.retain(new Map([["chat", { targets: [{ name: "blue" }] }]]));
    expect(live.peek("other")).toBeUndefined();
    expect(live.peek("chat", "green")).toBeUndefined();
    expect(live.peek("chat", "blue")).toBeDefined();
  });
});

// Canary guards and outlier ejection over sliding windows, on an injected clock: the window and
// its p95s, each guard against the stable arm over the same window (error rate, p95 latency,
// p95 time to first token), promotion, rollback, ejection that grows with repeats, its caps, the
// return, and the state a reload keeps. Upstreams are stand-ins that advance the clock by their
// latency; no wall-clock time is measured.
import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { canarySchema, routingSchema, type CanaryConfig } from "../../src/routing/config";
import { EndpointRouter, judgeCanary, type EjectionEvidence, type RoutedTarget } from "../../src/routing/router";
import { TargetHealthRegistry, type TargetHealth } from "../../src/routing/target-health";
import { CallWindow, emptyFeedback, emptySummary, quantile, summarize, summarizeFeedback, type WindowSummary } from "../../src/routing/window";
import type { ModelClient } from "../../src/providers/model";
import { ConfigError, parseConfig } from "../../src/config/load";
import { modelFactories } from "../../src/providers/catalog";

describe("CallWindow", () => {
  it("nearest-rank p95; NaN without samples", () => {
    expect(quantile(Array.from({ length: 100 }, (_, i) => 100 - i), 0.95)).toBe(95);
    expect(quantile([7], 0.95)).toBe(7);
    expect(quantile([], 0.95)).toBeNaN();
  });

  it("keeps the last N calls; a time window narrows them; latency and TTFT apart", () => {
    const w = new CallWindow(4);
    w.record(1_000, false, 10, NaN);
    w.record(2_000, true, NaN, NaN);
    w.record(3_000, false, NaN, 50);
    w.record(4_000, false, 30, NaN);
    w.record(5_000, false, 20, NaN); // pushes out the first call
    expect(w.summary(-Infinity)).toEqual({ calls: 4, errors: 1, errorRate: 0.25, latencySamples: 2, p95LatencyMs: 30, ttftSamples: 1, p95TtftMs: 50 });
    expect(w.summary(3_500)).toMatchObject({ calls: 2, errors: 0, latencySamples: 2, ttftSamples: 0 });
    expect(w.summary(9_000)).toEqual(emptySummary);
  });

  it("several windows together (the stable arm)", () => {
    const a = new CallWindow(10);
    const b = new CallWindow(10);
    for (let i = 0; i < 5; i++) a.record(i, false, 10, NaN);
    for (let i = 0; i < 5; i++) b.record(i, i === 0, 100, NaN);
    const s = summarize([a, b], -Infinity);
    expect([s.calls, s.errors, s.errorRate, s.p95LatencyMs]).toEqual([10, 1, 0.1, 100]);
  });

  it("a window of capacity 0 keeps nothing (endpoints without canary or ejection)", () => {
    const w = new CallWindow(0);
    w.record(1, true, 1, 1);
    expect(w.summary(-Infinity).calls).toBe(0);
  });
});

const summary = (s: Partial<WindowSummary>): WindowSummary => ({ ...emptySummary, ...s });

describe("judgeCanary", () => {
  const cfg = canarySchema.parse({ min_calls: 10, promote_after_calls: 100 });

  it("waits for min_calls on both arms for the relative guards, and says what it waits for", () => {
    const v = judgeCanary(cfg, summary({ calls: 20, errors: 0, errorRate: 0 }), summary({ calls: 5, errors: 0, errorRate: 0 }), 20);
    expect(v.decision).toBeUndefined();
    expect(v.reason).toBe("waiting: stable arm: 5 of min_calls 10 calls");
  });

  it("the absolute error rate needs only the canary's sample", () => {
    const v = judgeCanary(cfg, summary({ calls: 10, errors: 1, errorRate: 0.1 }), summary({ calls: 0 }), 10);
    expect(v).toEqual({ decision: "rolled_back", reason: "error rate 0.1 over 10 calls > max_error_rate 0.05" });
  });

  it("error rate over the stable arm's", () => {
    const v = judgeCanary(cfg, summary({ calls: 50, errors: 2, errorRate: 0.04 }), summary({ calls: 50, errors: 0, errorRate: 0 }), 50);
    expect(v).toEqual({ decision: "rolled_back", reason: "error rate 0.04 > stable 0 + max_error_rate_over_stable 0.02" });
  });

  it("p95 latency: above the ratio and the tolerance rolls back; within either does not", () => {
    const arms = (canary: number, stable: number) =>
      judgeCanary(
        cfg,
        summary({ calls: 20, errors: 0, errorRate: 0, latencySamples: 20, p95LatencyMs: canary }),
        summary({ calls: 20, errors: 0, errorRate: 0, latencySamples: 20, p95LatencyMs: stable }),
        20,
      );
    expect(arms(301, 200)).toEqual({ decision: "rolled_back", reason: "p95 latency 301 ms > 1.5 × stable 200 ms (20 and 20 samples)" });
    expect(arms(300, 200).decision).toBeUndefined(); // exactly 1.5 ×
    expect(arms(4, 1).decision).toBeUndefined(); // 4 × but only 3 ms apart (tolerance 25 ms)
    expect(judgeCanary({ ...cfg, max_p95_latency_ratio: null }, summary({ calls: 20, errorRate: 0, latencySamples: 20, p95LatencyMs: 900 }), summary({ calls: 20, errorRate: 0, latencySamples: 20, p95LatencyMs: 100 }), 20).decision).toBeUndefined();
  });

  it("p95 TTFT of streams; no streams on the canary: no TTFT guard", () => {
    const stable = summary({ calls: 20, errors: 0, errorRate: 0, ttftSamples: 20, p95TtftMs: 100 });
    expect(judgeCanary(cfg, summary({ calls: 20, errors: 0, errorRate: 0, ttftSamples: 20, p95TtftMs: 400 }), stable, 20)).toEqual({
      decision: "rolled_back",
      reason: "p95 time to first token 400 ms > 1.5 × stable 100 ms (20 and 20 samples)",
    });
    expect(judgeCanary(cfg, summary({ calls: 20, errors: 0, errorRate: 0, ttftSamples: 5, p95TtftMs: 400 }), stable, 200).reason).toBe(
      "waiting: p95 time to first token: 5 and stable 20 of min_calls 10 samples",
    );
    expect(judgeCanary(cfg, summary({ calls: 20, errors: 0, errorRate: 0 }), stable, 200).decision).toBe("promoted");
  });

  it("promotes after promote_after_calls with every guard passing", () => {
    const arm = summary({ calls: 20, errors: 0, errorRate: 0, latencySamples: 20, p95LatencyMs: 100 });
    expect(judgeCanary(cfg, arm, arm, 99)).toEqual({ reason: "guards pass; 99 of promote_after_calls 100 calls" });
    expect(judgeCanary(cfg, arm, arm, 100)).toEqual({ decision: "promoted", reason: "every guard passed over 20 calls in the window; 100 calls in all" });
  });
});

describe("feedback guards", () => {
  const fb = (samples: number, mean: number) => ({ samples, mean });
  const arm = summary({ calls: 20, errors: 0, errorRate: 0 });

  it("the window keeps the last N feedback scores within the time window, apart from the calls", () => {
    const w = new CallWindow(3);
    expect(w.feedbackSummary(-Infinity)).toEqual(emptyFeedback);
    for (const [t, score] of [[1, 10], [2, 0], [3, 1], [4, 0]] as const) w.recordFeedback(t, score);
    w.recordFeedback(5, Number.NaN); // not a score
    expect(w.feedbackSummary(-Infinity)).toEqual({ samples: 3, mean: 1 / 3 });
    expect(w.feedbackSummary(3)).toEqual({ samples: 2, mean: 0.5 });
    expect(w.summary(-Infinity).calls).toBe(0);
    const other = new CallWindow(3);
    other.recordFeedback(4, 1);
    expect(summarizeFeedback([w, other], 3)).toEqual({ samples: 3, mean: 2 / 3 });
    const none = new CallWindow(0);
    none.recordFeedback(1, 1);
    expect(none.feedbackSummary(-Infinity)).toEqual(emptyFeedback);
  });

  it("off by default: feedback does not hold back a promotion", () => {
    const cfg = canarySchema.parse({ min_calls: 10, promote_after_calls: 20 });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(0, NaN), stable: fb(0, NaN) }).decision).toBe("promoted");
  });

  it("absolute: waits for min_feedback scores, then rolls back a mean below min_feedback_score", () => {
    const cfg = canarySchema.parse({ min_calls: 10, promote_after_calls: 20, min_feedback: 5, min_feedback_score: 0.5 });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(4, 0), stable: fb(0, NaN) })).toEqual({ reason: 'waiting: feedback "thumbs": 4 of min_feedback 5 scores' });
    expect(judgeCanary(cfg, arm, arm, 20)).toEqual({ reason: 'waiting: feedback "thumbs": 0 of min_feedback 5 scores' });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(5, 0.2), stable: fb(0, NaN) })).toEqual({
      decision: "rolled_back",
      reason: 'feedback "thumbs" mean score 0.2 over 5 scores < min_feedback_score 0.5',
    });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(5, 0.8), stable: fb(0, NaN) }).decision).toBe("promoted");
  });

  it("relative: the canary's mean below the stable arm's by more than max_feedback_score_below_stable, once both have min_feedback", () => {
    const cfg = canarySchema.parse({ min_calls: 10, promote_after_calls: 20, min_feedback: 5, max_feedback_score_below_stable: 0.1, feedback_name: "accuracy" });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(5, 0.5), stable: fb(2, 0.9) })).toEqual({
      reason: 'waiting: feedback "accuracy": stable arm 2 of min_feedback 5 scores',
    });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(5, 0.5), stable: fb(6, 0.9) })).toEqual({
      decision: "rolled_back",
      reason: 'feedback "accuracy" mean score 0.5 < stable 0.9 - max_feedback_score_below_stable 0.1 (5 and 6 scores)',
    });
    expect(judgeCanary(cfg, arm, arm, 20, { canary: fb(5, 0.85), stable: fb(6, 0.9) }).decision).toBe("promoted");
  });

  it("through the router: scores of the configured name on the canary's answers roll it back; other names and targets' scores do not judge it", async () => {
    const s = setup(canaryPair({ min_calls: 5, promote_after_calls: 10_000, min_feedback: 4, min_feedback_score: 0.5 }), { strategy: "weighted" });
    await callsOn(s, "next", 5);
    expect(s.health("next").judgement?.reason).toContain('feedback "thumbs": 0 of min_feedback 4 scores');
    for (let i = 0; i < 4; i++) s.router.recordFeedback("next", "accuracy", 0);
    for (let i = 0; i < 4; i++) s.router.recordFeedback("stable", "thumbs", 0);
    s.router.recordFeedback("no-such-target", "thumbs", 0);
    expect(s.health("next").canary).toBe("running");
    for (let i = 0; i < 3; i++) s.router.recordFeedback("next", "thumbs", 0);
    expect(s.health("next").canary).toBe("running");
    s.router.recordFeedback("next", "thumbs", 1);
    expect(s.health("next").canary).toBe("rolled_back");
    expect(s.decisions).toEqual([{ target: "next", decision: "rolled_back", reason: 'feedback "thumbs" mean score 0.25 over 4 scores < min_feedback_score 0.5' }]);
    for (let i = 0; i < 20; i++) expect(await s.unary()).toBe("stable");
  });
});

/** How a stand-in target answers: after `ms` on the clock (streams: the first chunk), or failing. */
interface Behaviour {
  ms: number;
  fail?: boolean;
  /** Streams: break (an unreadable event) after the first message. */
  breakMidStream?: boolean;
}

function setup(
  specs: { name: string; weight?: number; canary?: Partial<CanaryConfig> }[],
  routing: Record<string, unknown>,
  carried?: { registry: TargetHealthRegistry },
) {
  const clock = { now: 1_000_000 };
  const behaviour = new Map<string, Behaviour>(specs.map((s) => [s.name, { ms: 100 }]));
  const registry = carried?.registry ?? new TargetHealthRegistry();
  const keep = new Map<string, TargetHealth>();
  const policy = routingSchema.parse(routing);
  const canaries = specs.map((s) => s.canary && canarySchema.parse(s.canary));
  // As src/runtime.ts sizes them: what the canary or the outlier ejection judges.
  const windowCalls = Math.max(0, policy.outlier_ejection?.window_calls ?? 0, ...canaries.map((c) => c?.window_calls ?? 0));
  const targets: RoutedTarget[] = specs.map((s, i) => {
    const canary = canaries[i];
    return {
      name: s.name,
      provider: "stand-in",
      model: s.name,
      client: { name: s.name } as unknown as ModelClient,
      health: registry.get("ep", s.name, [s.name, canary ?? null], { breaker: policy.breaker, windowCalls }, keep),
      canary,
    };
  });
  registry.retain(keep);
  const decisions: { target: string; decision: string; reason: string }[] = [];
  const ejections: (EjectionEvidence & { target: string })[] = [];
  const returns: string[] = [];
  const router = new EndpointRouter(
    "ep",
    targets,
    specs.map((s) => s.weight ?? 1),
    policy,
    {
      onCanaryDecision: (_e, target, decision, evidence) => decisions.push({ target, decision, reason: evidence.reason }),
      onEjection: (_e, target, evidence) => ejections.push({ target, ...evidence }),
      onReturn: (_e, target) => returns.push(target),
    },
    () => clock.now,
  );
  const nameOf = (client: ModelClient) => (client as unknown as { name: string }).name;
  const unary = async () => {
    const served = await router.unary(
      async (client) => {
        const b = behaviour.get(nameOf(client))!;
        clock.now += b.ms;
        if (b.fail) throw new ConnectError("unreadable answer", Code.Unavailable);
        return nameOf(client);
      },
      { signal: new AbortController().signal },
      {},
    );
    return served.target.name;
  };
  const stream = async () => {
    let served = "";
    const chunks: string[] = [];
    const it = router.stream(
      (client) =>
        (async function* () {
          const b = behaviour.get(nameOf(client))!;
          clock.now += b.ms;
          if (b.fail) throw new ConnectError("unreadable answer", Code.Unavailable);
          yield "first";
          clock.now += 5_000; // the rest of the stream: no part of the TTFT
          if (b.breakMidStream) throw new ConnectError("unreadable event", Code.Unavailable);
          yield "last";
        })(),
      { signal: new AbortController().signal },
      {},
      (s) => (served = s.target.name),
    );
    for await (const c of it) chunks.push(c);
    expect(chunks).toEqual(["first", "last"]);
    return served;
  };
  const health = (name: string) => targets.find((t) => t.name === name)!.health;
  return { clock, behaviour, router, targets, health, unary, stream, decisions, ejections, returns, registry };
}

/** Calls until `target` has made `n` more calls (the split is random); a bound on the loop. */
async function callsOn(s: ReturnType<typeof setup>, target: string, n: number, call: () => Promise<string> = s.unary) {
  const until = s.health(target).outcomes.calls + n;
  for (let i = 0; i < 100 * n && s.health(target).outcomes.calls < until; i++) await call();
  expect(s.health(target).outcomes.calls).toBeGreaterThanOrEqual(until);
}

const canaryPair = (canary: Partial<CanaryConfig>) => [
  { name: "stable", weight: 50 },
  { name: "next", weight: 50, canary: { judge_every_calls: 1, ...canary } },
];

describe("canary over a sliding window", () => {
  it("a canary that turns slow is rolled back once its window's p95 passes 1.5 × the stable arm's; the stable arm then serves all", async () => {
    const s = setup(canaryPair({ min_calls: 10, window_calls: 20, promote_after_calls: 10_000 }), { strategy: "weighted" });
    await callsOn(s, "next", 30); // healthy: 100 ms like the stable arm
    expect(s.health("next").canary).toBe("running");
    expect(s.health("next").judgement?.reason).toBe("guards pass; 30 of promote_after_calls 10000 calls");
    s.behaviour.get("next")!.ms = 400;
    // The window holds the last 20 calls: the slow ones must be over 5 % of them (nearest rank).
    for (let i = 0; i < 200 && s.health("next").canary === "running"; i++) await s.unary();
    expect(s.health("next").canary).toBe("rolled_back");
    expect(s.decisions).toEqual([{ target: "next", decision: "rolled_back", reason: expect.stringMatching(/^p95 latency 400 ms > 1\.5 × stable 100 ms \(20 and \d+ samples\)$/) }]);
    const j = s.health("next").judgement!;
    expect([j.windowCalls, j.p95LatencyMs, j.stableP95LatencyMs, j.errorRate]).toEqual([20, 400, 100, 0]);
    for (let i = 0; i < 50; i++) expect(await s.unary()).toBe("stable");
  });

  it("a canary whose streams' first token slows down is rolled back (TTFT guard); the rest of the stream does not count", async () => {
    const s = setup(canaryPair({ min_calls: 10, window_calls: 20, promote_after_calls: 10_000 }), { strategy: "weighted" });
    await callsOn(s, "next", 20, s.stream);
    expect(s.health("next").canary).toBe("running");
    expect(s.health("next").judgement?.p95TtftMs).toBe(100);
    s.behaviour.get("next")!.ms = 1_000;
    for (let i = 0; i < 200 && s.health("next").canary === "running"; i++) await s.stream();
    expect(s.health("next").canary).toBe("rolled_back");
    expect(s.decisions[0]!.reason).toMatch(/^p95 time to first token 1000 ms > 1\.5 × stable 100 ms/);
    for (let i = 0; i < 20; i++) expect(await s.stream()).toBe("stable");
  });

  it("a stream that breaks after its first message counts as the target's failure; a caller who stops reading does not", async () => {
    const s = setup(canaryPair({ min_calls: 5, max_error_rate: 0.5, promote_after_calls: 10_000 }), { strategy: "weighted" });
    s.behaviour.get("next")!.breakMidStream = true;
    for (let i = 0; i < 400 && s.health("next").canary === "running"; i++) await s.stream().catch(() => undefined);
    expect(s.health("next").canary).toBe("rolled_back");
    expect(s.decisions[0]!.reason).toBe("error rate 1 over 5 calls > max_error_rate 0.5");
    expect(s.health("next").judgement?.p95TtftMs).toBe(100); // the first message came in time

    const t = setup(canaryPair({ min_calls: 5, promote_after_calls: 10_000 }), { strategy: "weighted" });
    for (let i = 0; i < 400 && t.health("next").outcomes.calls < 5; i++) {
      const it = t.router.stream((client) => (async function* () {
        yield (client as unknown as { name: string }).name;
        yield "more";
      })(), { signal: new AbortController().signal }, {}, () => undefined);
      await it.next();
      await it.return(undefined); // the caller stops after the first message
    }
    expect(t.health("next").outcomes).toEqual({ calls: 5, errors: 0 });
  });

  it("failures older than window_ms no longer count: a canary that recovered is judged on its recent calls", async () => {
    const s = setup(canaryPair({ min_calls: 10, max_error_rate: 0.5, max_error_rate_over_stable: 1, window_ms: 60_000, promote_after_calls: 10_000 }), {
      strategy: "weighted",
      breaker: { consecutive_failures: 1_000 },
    });
    s.behaviour.get("next")!.fail = true;
    await callsOn(s, "next", 4); // 4 failures: fewer than min_calls, no judgement yet
    expect(s.health("next").judgement?.reason).toBe("waiting: 4 of min_calls 10 calls");
    s.behaviour.get("next")!.fail = false;
    s.clock.now += 61_000;
    await callsOn(s, "next", 10);
    expect(s.health("next").canary).toBe("running");
    expect(s.health("next").judgement).toMatchObject({ errorRate: 0, windowCalls: 10 });
  });

  it("a healthy canary is promoted after promote_after_calls: it then takes all the calls", async () => {
    const s = setup(canaryPair({ min_calls: 5, promote_after_calls: 20 }), { strategy: "weighted" });
    await callsOn(s, "next", 20);
    expect(s.health("next").canary).toBe("promoted");
    expect(s.decisions).toEqual([{ target: "next", decision: "promoted", reason: expect.stringMatching(/^every guard passed over 20 calls in the window; 20 calls in all$/) }]);
    for (let i = 0; i < 30; i++) expect(await s.unary()).toBe("next");
  });

  it("judged every judge_every_calls calls of the canary, not per call", async () => {
    const s = setup(canaryPair({ min_calls: 1, promote_after_calls: 10_000, judge_every_calls: 10 }), { strategy: "weighted" });
    await callsOn(s, "next", 9);
    expect(s.health("next").judgement).toBeUndefined();
    await callsOn(s, "next", 1);
    expect(s.health("next").judgement?.calls).toBe(10);
  });

  it("the standing and the judgement survive a reload for an unchanged target", async () => {
    const s = setup(canaryPair({ min_calls: 5, promote_after_calls: 20 }), { strategy: "weighted" });
    await callsOn(s, "next", 20);
    const again = setup(canaryPair({ min_calls: 5, promote_after_calls: 20 }), { strategy: "weighted" }, { registry: s.registry });
    expect(again.health("next")).toBe(s.health("next"));
    for (let i = 0; i < 10; i++) expect(await again.unary()).toBe("next");
  });
});

const ejecting = (o: Record<string, unknown> = {}) => ({
  strategy: "weighted",
  breaker: { consecutive_failures: 1_000 },
  outlier_ejection: { max_error_rate: 0.5, min_calls: 10, window_calls: 20, interval_ms: 1, base_ejection_ms: 30_000, max_ejection_ms: 300_000, ...o },
});
const three = [{ name: "a" }, { name: "b" }, { name: "c" }];

describe("outlier ejection by error rate", () => {
  it("a target failing over max_error_rate is ejected, gets no calls, and comes back after base_ejection_ms", async () => {
    const s = setup(three, ejecting());
    s.behaviour.get("a")!.fail = true;
    await callsOn(s, "a", 10);
    expect(s.ejections).toMatchObject([{ target: "a", windowCalls: 10, errorRate: 1, ejectionMs: 30_000, consecutive: 1, reason: "error rate 1 over 10 calls > max_error_rate 0.5" }]);
    const before = s.health("a").outcomes.calls;
    for (let i = 0; i < 50; i++) expect(await s.unary()).not.toBe("a");
    expect(s.health("a").outcomes.calls).toBe(before);
    s.behaviour.get("a")!.fail = false;
    s.clock.now = s.health("a").outlier.ejectedUntil;
    await s.unary();
    expect(s.returns).toEqual(["a"]);
    // Judged afresh: its failures before the ejection do not count any more.
    await callsOn(s, "a", 10);
    expect(s.health("a").outlier).toMatchObject({ ejectedUntil: 0, windowCalls: expect.any(Number), errorRate: 0 });
    expect(s.ejections).toHaveLength(1);
  });

  it("each ejection in a row lasts longer (base × n, up to max_ejection_ms); healthy judgements wind the count down", async () => {
    const s = setup(three, ejecting({ max_ejection_ms: 70_000 }));
    s.behaviour.get("a")!.fail = true;
    for (const expected of [30_000, 60_000, 70_000]) {
      await callsOn(s, "a", 10);
      expect(s.ejections.at(-1)!.ejectionMs).toBe(expected);
      s.clock.now = s.health("a").outlier.ejectedUntil;
    }
    expect(s.health("a").outlier).toMatchObject({ consecutive: 3, total: 3 });
    s.behaviour.get("a")!.fail = false;
    await callsOn(s, "a", 15);
    expect(s.health("a").outlier.consecutive).toBe(0);
    expect(s.health("a").outlier.total).toBe(3);
  });

  it("above the other targets' mean by max_error_rate_over_mean", async () => {
    const s = setup(three, ejecting({ max_error_rate: null, max_error_rate_over_mean: 0.2 }));
    s.behaviour.get("a")!.fail = true;
    await callsOn(s, "a", 10);
    for (let i = 0; i < 200 && s.ejections.length === 0; i++) await s.unary();
    expect(s.ejections[0]).toMatchObject({ target: "a", errorRate: 1, othersErrorRate: 0 });
    expect(s.ejections[0]!.reason).toBe("error rate 1 over 10 calls > the other targets' mean 0 + max_error_rate_over_mean 0.2");
  });

  it("max_ejection_percent caps the ejected targets (at least one may be)", async () => {
    const s = setup([...three, { name: "d" }], ejecting({ max_ejection_percent: 25 }));
    for (const t of ["a", "b", "c"]) s.behaviour.get(t)!.fail = true;
    let most = 0;
    for (let i = 0; i < 300; i++) {
      await s.unary().catch(() => undefined);
      most = Math.max(most, s.targets.filter((t) => t.health.outlier.ejectedUntil > s.clock.now).length);
    }
    expect(s.ejections.length).toBeGreaterThan(0);
    expect(most).toBe(1);
  });

  it("never ejects the last target that can serve", async () => {
    const s = setup([{ name: "a" }, { name: "b" }], ejecting({ max_ejection_percent: 100 }));
    s.behaviour.get("a")!.fail = true;
    s.behaviour.get("b")!.fail = true;
    for (let i = 0; i < 100; i++) {
      const err = await s.unary().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(err?.code).toBe(Code.Unavailable);
    }
    expect(s.ejections).toHaveLength(1);
    // The one left keeps being tried.
    const left = s.ejections[0]!.target === "a" ? "b" : "a";
    const calls = s.health(left).outcomes.calls;
    await s.unary().catch(() => undefined);
    expect(s.health(left).outcomes.calls).toBe(calls + 1);
  });

  it("an ejection outlives a reload for an unchanged target", async () => {
    const s = setup(three, ejecting());
    s.behaviour.get("a")!.fail = true;
    await callsOn(s, "a", 10);
    const again = setup(three, ejecting(), { registry: s.registry });
    again.clock.now = s.clock.now;
    expect(again.health("a").outlier.ejectedUntil).toBeGreaterThan(again.clock.now);
    for (let i = 0; i < 30; i++) expect(await again.unary()).not.toBe("a");
  });
});

describe("config of the guards and of outlier ejection", () => {
  const openai = `{ openai_api_key: sk-test-key-0001 }`;
  function problems(yaml: string): string[] {
    try {
      parseConfig(yaml, "t.yaml", modelFactories, {});
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
      throw err;
    }
    return [];
  }
  const endpoint = (canary: string, routing: string) => `
endpoints:
  - name: chat
    endpoint_type: llm/v1/chat
    targets:
      - { name: a, weight: 90, model: { provider: openai, name: gpt-4o, config: ${openai} } }
      - { name: b, weight: 10, model: { provider: openai, name: gpt-4o-mini, config: ${openai} }, canary: ${canary} }
    routing: { strategy: weighted, ${routing} }
`;

  it("defaults: guards on, ejection off; a guard can be turned off with null", () => {
    expect(problems(endpoint("{}", ""))).toEqual([]);
    expect(problems(endpoint("{ max_p95_latency_ratio: null, max_ttft_p95_ratio: null }", "outlier_ejection: {}"))).toEqual([]);
  });

  it("names each wrong field with its path", () => {
    expect(problems(endpoint("{ max_p95_latency_ratio: 0.5, window_calls: 0 }", "outlier_ejection: { max_error_rate: null, max_ejection_percent: 150 }"))).toEqual([
      "endpoints[0].targets[1].canary.max_p95_latency_ratio: Too small: expected number to be >=1",
      "endpoints[0].targets[1].canary.window_calls: Too small: expected number to be >0",
      "endpoints[0].routing.outlier_ejection.max_ejection_percent: Too big: expected number to be <=100",
      "endpoints[0].routing.outlier_ejection: give max_error_rate or max_error_rate_over_mean (or both)",
    ]);
    expect(problems(endpoint("{}", "outlier_ejection: { max_error_rate: null }"))).toEqual([
      "endpoints[0].routing.outlier_ejection: give max_error_rate or max_error_rate_over_mean (or both)",
    ]);
  });
});

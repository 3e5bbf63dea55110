// Routes one call over an endpoint's targets: picks the order (split, sticky or fallback), makes
// attempts through each target's circuit breaker with a per-attempt timeout, retries retryable
// failures on the same target with jittered exponential backoff (honouring Retry-After, within
// the endpoint's retry budget), and moves on to the next target on the configured failure
// classes, all within the caller's deadline and the endpoint's overall timeout. A stream is
// committed to its target at its first message: nothing is retried after that.
//
// Canaries and outlier ejection judge each target's recent calls (a CallWindow in its health):
// per call, the router writes one entry into the target's ring (plus a counter and a clock
// read); the judgements (one pass over the windows, a sort for the p95s) run every
// judge_every_calls calls of a canary and at most once per outlier interval_ms.
import { BrokenCircuitError } from "cockatiel";
import { ConnectError } from "@connectrpc/connect";
import { deadlineExceeded, unavailable } from "../errors";
import type { CallOptions, ModelClient } from "../providers/model";
import type { CanaryConfig, FailureClass, OutlierEjectionConfig, RoutingConfig } from "./config";
import { attemptTimeout, classifyFailure, isRetryable } from "./failure";
import { mayRepeat, notRepeated } from "./idempotency";
import { TargetPicker, stickyPoint } from "./picker";
import { RetryBudget } from "./retry-budget";
import { CircuitState, type CanaryJudgement, type TargetHealth } from "./target-health";
import { emptyFeedback, summarize, summarizeFeedback, type FeedbackSummary, type WindowSummary } from "./window";

export interface RoutedTarget {
  name: string;
  provider: string;
  model: string;
  client: ModelClient;
  health: TargetHealth;
  /** Set for a canary target: how the gateway judges it. */
  canary?: CanaryConfig;
}

/** What a canary judgement was based on (logged and reported with it). */
export type CanaryEvidence = CanaryJudgement;

/** What an outlier ejection (or return) was based on. */
export interface EjectionEvidence {
  windowCalls: number;
  errorRate: number;
  /** The mean error rate of the other targets with enough calls (NaN without any). */
  othersErrorRate: number;
  /** How long this ejection lasts (ms), and the how-manieth in a row it is. */
  ejectionMs: number;
  consecutive: number;
  reason: string;
}

/** Which target answered, after how many upstream requests. */
export interface Served {
  target: RoutedTarget;
  attempts: number;
}

export interface RouteRequest {
  /** The caller's sticky key (API key, team or header value), when the endpoint is sticky. */
  stickyKey?: string;
  /** The caller's deadline on performance.now()'s clock, if it set one. */
  deadline?: number;
}

/** How an attempt ended, for metrics: "ok", a failure class, "breaker_open" or "other". */
export type AttemptOutcome = "ok" | FailureClass | "breaker_open" | "other";

/** An attempt's place in its call: the first, a retry on the same target, or one on another target. */
export type AttemptKind = "first" | "retry" | "fallback";

export interface RouterHooks {
  onAttempt?(endpoint: string, target: string, outcome: AttemptOutcome, kind: AttemptKind): void;
  /** A canary was promoted or rolled back by the gateway. */
  onCanaryDecision?(endpoint: string, target: string, decision: "promoted" | "rolled_back", evidence: CanaryEvidence): void;
  /** A target was ejected for its error rate. */
  onEjection?(endpoint: string, target: string, evidence: EjectionEvidence): void;
  /** An ejected target's time is up: it gets calls again. */
  onReturn?(endpoint: string, target: string): void;
}

/** Unix time in ms, monotonic (performance's clock from its origin). */
export const unixNow = () => performance.timeOrigin + performance.now();

interface Committed<T> extends Served {
  value: T;
  /** How long the attempt took to answer (a stream: its first message), in ms. */
  firstMs: number;
  /** Stops following the caller's cancellation (streams call it when they end). */
  release(): void;
}

export class EndpointRouter {
  private picker: TargetPicker<RoutedTarget>;
  /** The targets that get calls: not rolled back, not ejected (least_latency orders these). */
  private active: readonly RoutedTarget[];
  private readonly hasCanary: boolean;
  /** Calls are written into the targets' windows (a canary or outlier ejection reads them). */
  private readonly windowed: boolean;
  private readonly ejection: OutlierEjectionConfig | undefined;
  /** Outlier ejection is configured (GetEndpoint reports the targets' standing in it). */
  get ejects(): boolean {
    return this.ejection !== undefined;
  }
  /** Targets ejected now, and the earliest time one of them returns. */
  private ejected = 0;
  private nextReturn = Infinity;
  private lastOutlierJudgement = -Infinity;
  /** least_latency: calls ordered so far (every 20th explores). */
  private latencyCalls = 0;
  /** Canary calls since its last judgement, by target. */
  private readonly sinceJudged = new Map<RoutedTarget, number>();
  private readonly budget: RetryBudget;
  private readonly fallbackOn: ReadonlySet<FailureClass>;
  /** How the endpoint's calls are kept on one target, when they are. */
  readonly sticky: { by: "key" | "team" } | { by: "header"; name: string } | undefined;

  constructor(
    readonly endpoint: string,
    readonly targets: readonly RoutedTarget[],
    private readonly weights: readonly number[],
    private readonly policy: RoutingConfig,
    private readonly hooks: RouterHooks = {},
    /** Unix ms (injected by tests): the windows' and ejections' clock, and calls' latency. */
    private readonly now: () => number = unixNow,
  ) {
    this.hasCanary = targets.some((t) => t.canary);
    this.ejection = policy.outlier_ejection;
    this.windowed = this.hasCanary || this.ejection !== undefined;
    // Ejections that outlived a reload still hold.
    const at = now();
    for (const t of targets) {
      if (t.health.outlier.ejectedUntil > at) {
        this.ejected++;
        this.nextReturn = Math.min(this.nextReturn, t.health.outlier.ejectedUntil);
      }
    }
    this.active = [];
    this.picker = this.buildPicker();
    this.budget = new RetryBudget(policy.retries.budget_percent, policy.retries.min_per_second);
    this.fallbackOn = new Set(policy.fallback_on);
    const s = policy.sticky;
    this.sticky = s === undefined ? undefined : s === "key" || s === "team" ? { by: s } : { by: "header", name: s.slice("header:".length) };
  }

  /** The order this request tries the targets in. */
  order(req: RouteRequest): readonly RoutedTarget[] {
    if (this.ejected > 0 && this.now() >= this.nextReturn) this.returnEjected();
    if (this.policy.strategy === "least_latency") return byLatency(this.active, this.latencyCalls++);
    return this.picker.order(req.stickyKey ? stickyPoint(req.stickyKey) : Math.random());
  }

  async unary<R>(open: (client: ModelClient, call: CallOptions) => Promise<R>, call: CallOptions, req: RouteRequest): Promise<Served & { value: R }> {
    const done = await this.run((t, c) => open(t.client, c), call, req, false);
    done.release();
    return done;
  }

  /** The chunks of the first target that starts answering; `onServed` runs before the first one is yielded. */
  async *stream<C>(
    open: (client: ModelClient, call: CallOptions) => AsyncIterable<C>,
    call: CallOptions,
    req: RouteRequest,
    onServed: (served: Served) => void,
  ): AsyncGenerator<C> {
    const done = await this.run(async (t, c) => {
      const it = open(t.client, c)[Symbol.asyncIterator]();
      return { it, first: await it.next() };
    }, call, req, true);
    const { it, first } = done.value;
    // A stream counts in the target's window when it ends: failed if it broke by the target's
    // fault after its first message (a reset, an unreadable event, an in-stream error), with its
    // time to first message either way. The caller going away is not the target's fault.
    let failed = false;
    try {
      onServed(done);
      if (first.done) return;
      yield first.value;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    } catch (err) {
      const kind = call.signal.aborted ? undefined : classifyFailure(err).kind;
      failed = kind !== undefined && kind !== "context_length";
      throw err;
    } finally {
      try {
        await it.return?.();
      } finally {
        done.release();
        this.recordOutcome(done.target, !failed, NaN, done.firstMs);
      }
    }
  }

  /** `stream`: `start` resolves at the stream's first message (its time is the TTFT). */
  private async run<T>(
    start: (target: RoutedTarget, call: CallOptions) => Promise<T>,
    call: CallOptions,
    req: RouteRequest,
    stream: boolean,
  ): Promise<Committed<T>> {
    const { policy, hooks } = this;
    const began = performance.now();
    const deadline = Math.min(req.deadline ?? Infinity, policy.timeout_ms === undefined ? Infinity : began + policy.timeout_ms);
    this.budget.deposit();
    let attempts = 0;
    let lastError: unknown;
    let targetIndex = -1;
    for (const target of this.order(req)) {
      const breaker = target.health.breaker;
      targetIndex++;
      for (let retry = 0; ; retry++) {
        const kind: AttemptKind = retry > 0 ? "retry" : targetIndex > 0 ? "fallback" : "first";
        if (call.signal.aborted) throw ConnectError.from(call.signal.reason);
        // Half-open: one call probes the target; the others go elsewhere instead of waiting for it.
        if (breaker.state === CircuitState.HalfOpen || breaker.state === CircuitState.Isolated) {
          hooks.onAttempt?.(this.endpoint, target.name, "breaker_open", kind);
          break;
        }
        const left = deadline - performance.now();
        if (left < 1) throw this.outOfTime(attempts, lastError);
        const attemptLimit = policy.attempt_timeout_ms ?? Infinity;
        const limit = Math.min(attemptLimit, left);
        // Cut by the overall deadline rather than its own timeout: nothing comes after it.
        const lastChance = left < attemptLimit;
        const attempt = new AbortController();
        const follow = () => attempt.abort(call.signal.reason);
        call.signal.addEventListener("abort", follow, { once: true });
        let cutOff = false;
        const timer = Number.isFinite(limit)
          ? setTimeout(() => {
              cutOff = lastChance;
              attempt.abort(attemptTimeout(target.name, limit));
            }, limit)
          : undefined;
        attempts++;
        try {
          const attemptStarted = this.now();
          const value = await breaker.execute(() => start(target, { ...call, signal: attempt.signal }));
          const ms = this.now() - attemptStarted;
          target.health.latency.observe(ms);
          // A stream's outcome is recorded when it ends (see stream()).
          if (!stream) this.recordOutcome(target, true, ms, NaN);
          clearTimeout(timer);
          hooks.onAttempt?.(this.endpoint, target.name, "ok", kind);
          return { value, target, attempts, firstMs: ms, release: () => call.signal.removeEventListener("abort", follow) };
        } catch (err) {
          clearTimeout(timer);
          call.signal.removeEventListener("abort", follow);
          if (err instanceof BrokenCircuitError) {
            attempts--; // no request was made
            hooks.onAttempt?.(this.endpoint, target.name, "breaker_open", kind);
            break;
          }
          if (call.signal.aborted) throw ConnectError.from(call.signal.reason);
          const failure = classifyFailure(err);
          hooks.onAttempt?.(this.endpoint, target.name, failure.kind ?? "other", kind);
          if (failure.kind !== undefined && failure.kind !== "context_length") this.recordOutcome(target, false, NaN, NaN);
          // Not the target's fault (the caller's request): no other target will do better.
          if (failure.kind === undefined || !this.fallbackOn.has(failure.kind)) throw err;
          if (!mayRepeat(err, failure.kind, { retryUnsafe: policy.retries.retry_unsafe }, call.idempotencyKey)) throw notRepeated(err);
          lastError = err;
          // (Timers may fire a little before the clock reaches the deadline.)
          if (cutOff || performance.now() >= deadline) throw this.outOfTime(attempts, lastError);
          if (retry >= policy.retries.max || !isRetryable(failure.kind)) break;
          const r = policy.retries;
          // A Retry-After longer than we would wait sends the call to the next target instead.
          if (failure.retryAfterMs !== undefined && failure.retryAfterMs > r.max_delay_ms) break;
          const backoff = Math.random() * Math.min(r.max_delay_ms, r.base_delay_ms * 2 ** retry);
          const delay = Math.max(backoff, failure.retryAfterMs ?? 0);
          if (performance.now() + delay >= deadline) break;
          if (!this.budget.tryWithdraw()) break;
          await sleep(delay, call.signal);
        }
      }
    }
    if (lastError !== undefined) throw withAttempts(lastError, attempts);
    throw unavailable(`endpoint "${this.endpoint}": no target available (every circuit breaker is open)`);
  }

  /**
   * The picker for the targets' standing: a promoted canary takes all the traffic (the others are
   * its fallbacks); a rolled-back one takes none and is no fallback either, nor is an ejected one.
   */
  private buildPicker(): TargetPicker<RoutedTarget> {
    const at = this.ejected > 0 ? this.now() : 0;
    const serving = this.targets.filter((t) => t.health.canary !== "rolled_back");
    const notEjected = serving.filter((t) => !(t.health.outlier.ejectedUntil > at));
    // Ejection never takes the last target, but breakers may have opened since: none left
    // means the ejected ones are tried rather than none.
    const active = notEjected.length > 0 ? notEjected : serving;
    this.active = active;
    const promoted = active.find((t) => t.canary && t.health.canary === "promoted");
    const weights = active.map((t) => (promoted ? (t === promoted ? 1 : 0) : this.weights[this.targets.indexOf(t)]!));
    // Ejections can leave only weight-0 fallbacks: they share the calls then.
    const anyWeight = weights.some((w) => w > 0);
    return new TargetPicker(active, anyWeight ? weights : weights.map(() => 1), this.policy.strategy);
  }

  /** One attempt's outcome: latency for a unary answer, TTFT for a stream (NaN otherwise). */
  private recordOutcome(target: RoutedTarget, ok: boolean, latencyMs: number, ttftMs: number): void {
    const o = target.health.outcomes;
    o.calls++;
    if (!ok) o.errors++;
    if (!this.windowed) return;
    const now = this.now();
    target.health.window.record(now, !ok, latencyMs, ttftMs);
    const canary = target.canary;
    if (canary && target.health.canary === "running") this.countTowardJudgement(target, canary, now);
    const ejection = this.ejection;
    if (ejection && now - this.lastOutlierJudgement >= ejection.interval_ms) {
      this.lastOutlierJudgement = now;
      this.judgeOutliers(ejection, now);
    }
  }

  /**
   * A feedback score posted on an answer of `targetName` (FeedbackService, after the call): into
   * the target's window when a canary of this endpoint judges feedback of that name; a running
   * canary is judged every judge_every_calls of its calls and scores together.
   */
  recordFeedback(targetName: string, name: string, score: number): void {
    if (!this.windowed || !Number.isFinite(score)) return;
    if (!this.targets.some((t) => t.canary && hasFeedbackGuard(t.canary) && t.canary.feedback_name === name)) return;
    const target = this.targets.find((t) => t.name === targetName);
    if (!target) return;
    const now = this.now();
    target.health.window.recordFeedback(now, score);
    const canary = target.canary;
    if (!canary || target.health.canary !== "running" || !hasFeedbackGuard(canary) || canary.feedback_name !== name) return;
    this.countTowardJudgement(target, canary, now);
  }

  /** One more call or score of a running canary: judged every judge_every_calls of them. */
  private countTowardJudgement(target: RoutedTarget, canary: CanaryConfig, now: number): void {
    const n = (this.sinceJudged.get(target) ?? 0) + 1;
    if (n >= canary.judge_every_calls) {
      this.sinceJudged.set(target, 0);
      this.judgeCanary(target, canary, now);
    } else {
      this.sinceJudged.set(target, n);
    }
  }

  private judgeCanary(target: RoutedTarget, canary: CanaryConfig, now: number): void {
    const since = now - canary.window_ms;
    const mine = target.health.window.summary(since);
    const stableWindows = this.targets.filter((t) => !t.canary).map((t) => t.health.window);
    const stable = summarize(stableWindows, since);
    const feedback = hasFeedbackGuard(canary)
      ? { canary: target.health.window.feedbackSummary(since), stable: summarizeFeedback(stableWindows, since) }
      : undefined;
    const verdict = judgeCanary(canary, mine, stable, target.health.outcomes.calls, feedback);
    const judgement: CanaryJudgement = {
      calls: target.health.outcomes.calls,
      windowCalls: mine.calls,
      stableWindowCalls: stable.calls,
      errorRate: mine.errorRate,
      stableErrorRate: stable.errorRate,
      p95LatencyMs: mine.p95LatencyMs,
      stableP95LatencyMs: stable.p95LatencyMs,
      p95TtftMs: mine.p95TtftMs,
      stableP95TtftMs: stable.p95TtftMs,
      reason: verdict.reason,
      at: now,
    };
    target.health.judgement = judgement;
    if (!verdict.decision) return;
    target.health.canary = verdict.decision;
    this.picker = this.buildPicker();
    this.hooks.onCanaryDecision?.(this.endpoint, target.name, verdict.decision, judgement);
  }

  private judgeOutliers(cfg: OutlierEjectionConfig, now: number): void {
    if (this.ejected > 0 && now >= this.nextReturn) this.returnEjected();
    const since = now - cfg.window_ms;
    const candidates = this.targets.filter((t) => t.health.canary !== "rolled_back");
    const figures = candidates.map((t) => {
      const w = t.health.window.summary(Math.max(since, t.health.outlier.since));
      t.health.outlier.windowCalls = w.calls;
      t.health.outlier.errorRate = w.errorRate;
      return { t, w };
    });
    // Never more than the cap, and never the last target that can serve.
    const cap = Math.max(1, Math.floor((this.targets.length * cfg.max_ejection_percent) / 100));
    let serving = candidates.filter((t) => !(t.health.outlier.ejectedUntil > now) && t.health.breaker.state !== CircuitState.Open).length;
    let changed = false;
    for (const { t, w } of figures) {
      const o = t.health.outlier;
      if (o.ejectedUntil > now) continue;
      if (w.calls < cfg.min_calls) continue;
      let others = 0;
      let n = 0;
      for (const f of figures) {
        if (f.t === t || f.w.calls < cfg.min_calls) continue;
        others += f.w.errorRate;
        n++;
      }
      const othersRate = n === 0 ? NaN : others / n;
      const reason =
        cfg.max_error_rate !== null && w.errorRate > cfg.max_error_rate
          ? `error rate ${fmt(w.errorRate)} over ${w.calls} calls > max_error_rate ${cfg.max_error_rate}`
          : cfg.max_error_rate_over_mean !== undefined && n > 0 && w.errorRate > othersRate + cfg.max_error_rate_over_mean
            ? `error rate ${fmt(w.errorRate)} over ${w.calls} calls > the other targets' mean ${fmt(othersRate)} + max_error_rate_over_mean ${cfg.max_error_rate_over_mean}`
            : undefined;
      if (reason === undefined) {
        // A healthy judgement of a target back from an ejection takes one off its count.
        if (o.consecutive > 0) o.consecutive--;
        continue;
      }
      const servingAfter = t.health.breaker.state === CircuitState.Open ? serving : serving - 1;
      if (this.ejected >= cap || servingAfter < 1) continue;
      o.consecutive++;
      o.total++;
      const ejectionMs = Math.min(cfg.max_ejection_ms, cfg.base_ejection_ms * o.consecutive);
      o.ejectedUntil = now + ejectionMs;
      this.ejected++;
      this.nextReturn = Math.min(this.nextReturn, o.ejectedUntil);
      serving = servingAfter;
      changed = true;
      this.hooks.onEjection?.(this.endpoint, t.name, {
        windowCalls: w.calls,
        errorRate: w.errorRate,
        othersErrorRate: othersRate,
        ejectionMs,
        consecutive: o.consecutive,
        reason,
      });
    }
    if (changed) this.picker = this.buildPicker();
  }

  /** Targets whose ejection time is up get calls again, judged on their calls from now on. */
  private returnEjected(): void {
    const now = this.now();
    this.ejected = 0;
    this.nextReturn = Infinity;
    for (const t of this.targets) {
      const o = t.health.outlier;
      if (o.ejectedUntil === 0) continue;
      if (o.ejectedUntil > now) {
        this.ejected++;
        this.nextReturn = Math.min(this.nextReturn, o.ejectedUntil);
        continue;
      }
      o.ejectedUntil = 0;
      o.since = now;
      this.hooks.onReturn?.(this.endpoint, t.name);
    }
    this.picker = this.buildPicker();
  }

  private outOfTime(attempts: number, lastError: unknown): ConnectError {
    const why = lastError === undefined ? "" : `; last failure: ${ConnectError.from(lastError).rawMessage}`;
    return withAttempts(deadlineExceeded(`endpoint "${this.endpoint}": no answer in time after ${attempts} attempt(s)${why}`), attempts);
  }
}

/** A failed call says how many upstream requests it made too (error metadata: a header or trailer). */
function withAttempts(err: unknown, attempts: number): ConnectError {
  const e = ConnectError.from(err);
  e.metadata.set("x-modelgate-attempts", String(attempts));
  return e;
}

/**
 * Fastest recent latency first (unmeasured targets count as 0). Every 20th call explores: a slower
 * target goes first, each in turn, so a target that recovered is measured again. Counted, not
 * random, so the first calls of a fresh endpoint never explore and the share is exactly 1 in 20.
 */
export function byLatency(targets: readonly RoutedTarget[], callNo: number): RoutedTarget[] {
  const sorted = [...targets].sort((a, b) => a.health.latency.ms - b.health.latency.ms);
  if (sorted.length > 1 && callNo % 20 === 19) {
    const i = 1 + (Math.floor(callNo / 20) % (sorted.length - 1));
    sorted.unshift(...sorted.splice(i, 1));
  }
  return sorted;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal.reason));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A canary's verdict from its window and the stable arm's over the same window. */
export function judgeCanary(
  cfg: CanaryConfig,
  canary: WindowSummary,
  stable: WindowSummary,
  totalCalls: number,
  /** The arms' feedback scores over the same window (the feedback guards read them). */
  feedback?: { canary: FeedbackSummary; stable: FeedbackSummary },
): { decision?: "promoted" | "rolled_back"; reason: string } {
  const waiting: string[] = [];
  // Absolute error rate: the canary's own sample is enough.
  if (canary.calls >= cfg.min_calls) {
    if (canary.errorRate > cfg.max_error_rate) {
      return { decision: "rolled_back", reason: `error rate ${fmt(canary.errorRate)} over ${canary.calls} calls > max_error_rate ${cfg.max_error_rate}` };
    }
  } else {
    waiting.push(`${canary.calls} of min_calls ${cfg.min_calls} calls`);
  }
  // Relative to the stable arm: once both arms have min_calls.
  if (canary.calls >= cfg.min_calls && stable.calls >= cfg.min_calls) {
    if (canary.errorRate > stable.errorRate + cfg.max_error_rate_over_stable) {
      return {
        decision: "rolled_back",
        reason: `error rate ${fmt(canary.errorRate)} > stable ${fmt(stable.errorRate)} + max_error_rate_over_stable ${cfg.max_error_rate_over_stable}`,
      };
    }
  } else if (canary.calls >= cfg.min_calls) {
    waiting.push(`stable arm: ${stable.calls} of min_calls ${cfg.min_calls} calls`);
  }
  if (hasFeedbackGuard(cfg)) {
    const mine = feedback?.canary ?? emptyFeedback;
    const theirs = feedback?.stable ?? emptyFeedback;
    const what = `feedback "${cfg.feedback_name}" mean score`;
    if (mine.samples < cfg.min_feedback) {
      waiting.push(`feedback "${cfg.feedback_name}": ${mine.samples} of min_feedback ${cfg.min_feedback} scores`);
    } else {
      if (cfg.min_feedback_score !== null && mine.mean < cfg.min_feedback_score) {
        return { decision: "rolled_back", reason: `${what} ${fmt(mine.mean)} over ${mine.samples} scores < min_feedback_score ${cfg.min_feedback_score}` };
      }
      if (cfg.max_feedback_score_below_stable !== null) {
        if (theirs.samples < cfg.min_feedback) {
          waiting.push(`feedback "${cfg.feedback_name}": stable arm ${theirs.samples} of min_feedback ${cfg.min_feedback} scores`);
        } else if (mine.mean < theirs.mean - cfg.max_feedback_score_below_stable) {
          return {
            decision: "rolled_back",
            reason: `${what} ${fmt(mine.mean)} < stable ${fmt(theirs.mean)} - max_feedback_score_below_stable ${cfg.max_feedback_score_below_stable} (${mine.samples} and ${theirs.samples} scores)`,
          };
        }
      }
    }
  }
  const latencyGuards: [string, number | null, number, number, number, number][] = [
    ["p95 latency", cfg.max_p95_latency_ratio, canary.latencySamples, canary.p95LatencyMs, stable.latencySamples, stable.p95LatencyMs],
    ["p95 time to first token", cfg.max_ttft_p95_ratio, canary.ttftSamples, canary.p95TtftMs, stable.ttftSamples, stable.p95TtftMs],
  ];
  for (const [what, ratio, n, p95, stableN, stableP95] of latencyGuards) {
    // Off, or no such calls on the canary (no streams: no TTFT guard).
    if (ratio === null || n === 0) continue;
    if (n < cfg.min_calls || stableN < cfg.min_calls) {
      waiting.push(`${what}: ${n} and stable ${stableN} of min_calls ${cfg.min_calls} samples`);
      continue;
    }
    if (p95 > ratio * stableP95 && p95 - stableP95 > cfg.latency_tolerance_ms) {
      return {
        decision: "rolled_back",
        reason: `${what} ${fmt(p95)} ms > ${ratio} × stable ${fmt(stableP95)} ms (${n} and ${stableN} samples)`,
      };
    }
  }
  if (waiting.length > 0) return { reason: `waiting: ${waiting.join("; ")}` };
  if (totalCalls < cfg.promote_after_calls) return { reason: `guards pass; ${totalCalls} of promote_after_calls ${cfg.promote_after_calls} calls` };
  return { decision: "promoted", reason: `every guard passed over ${canary.calls} calls in the window; ${totalCalls} calls in all` };
}

/** Whether a canary is judged on feedback scores too. */
function hasFeedbackGuard(cfg: CanaryConfig): boolean {
  return cfg.min_feedback_score !== null || cfg.max_feedback_score_below_stable !== null;
}

/** A figure for a reason text: at most 4 decimals. */
function fmt(x: number): string {
  return String(Math.round(x * 10_000) / 10_000);
}

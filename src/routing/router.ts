// Routes one call over an endpoint's targets: picks the order (split, sticky or fallback), makes
// attempts through each target's circuit breaker with a per-attempt timeout, retries retryable
// failures on the same target with jittered exponential backoff (honouring Retry-After, within
// the endpoint's retry budget), and moves on to the next target on the configured failure
// classes, all within the caller's deadline and the endpoint's overall timeout. A stream is
// committed to its target at its first message: nothing is retried after that.
import { BrokenCircuitError } from "cockatiel";
import { ConnectError } from "@connectrpc/connect";
import { deadlineExceeded, unavailable } from "../errors";
import type { CallOptions, ModelClient } from "../providers/model";
import type { CanaryConfig, FailureClass, RoutingConfig } from "./config";
import { attemptTimeout, classifyFailure, isRetryable } from "./failure";
import { mayRepeat, notRepeated } from "./idempotency";
import { TargetPicker, stickyPoint } from "./picker";
import { RetryBudget } from "./retry-budget";
import { CircuitState, type TargetHealth } from "./target-health";

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
export interface CanaryEvidence {
  calls: number;
  errorRate: number;
  stableErrorRate: number;
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
}

interface Committed<T> extends Served {
  value: T;
  /** Stops following the caller's cancellation (streams call it when they end). */
  release(): void;
}

export class EndpointRouter {
  private picker: TargetPicker<RoutedTarget>;
  private readonly hasCanary: boolean;
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
  ) {
    this.hasCanary = targets.some((t) => t.canary);
    this.picker = this.buildPicker();
    this.budget = new RetryBudget(policy.retries.budget_percent, policy.retries.min_per_second);
    this.fallbackOn = new Set(policy.fallback_on);
    const s = policy.sticky;
    this.sticky = s === undefined ? undefined : s === "key" || s === "team" ? { by: s } : { by: "header", name: s.slice("header:".length) };
  }

  /** The order this request tries the targets in. */
  order(req: RouteRequest): readonly RoutedTarget[] {
    if (this.policy.strategy === "least_latency") return byLatency(this.targets);
    return this.picker.order(req.stickyKey ? stickyPoint(req.stickyKey) : Math.random());
  }

  async unary<R>(open: (client: ModelClient, call: CallOptions) => Promise<R>, call: CallOptions, req: RouteRequest): Promise<Served & { value: R }> {
    const done = await this.run((t, c) => open(t.client, c), call, req);
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
    }, call, req);
    const { it, first } = done.value;
    try {
      onServed(done);
      if (first.done) return;
      yield first.value;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    } finally {
      await it.return?.();
      done.release();
    }
  }

  private async run<T>(start: (target: RoutedTarget, call: CallOptions) => Promise<T>, call: CallOptions, req: RouteRequest): Promise<Committed<T>> {
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
          const attemptStarted = performance.now();
          const value = await breaker.execute(() => start(target, { ...call, signal: attempt.signal }));
          target.health.latency.observe(performance.now() - attemptStarted);
          this.recordOutcome(target, true);
          clearTimeout(timer);
          hooks.onAttempt?.(this.endpoint, target.name, "ok", kind);
          return { value, target, attempts, release: () => call.signal.removeEventListener("abort", follow) };
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
          if (failure.kind !== undefined && failure.kind !== "context_length") this.recordOutcome(target, false);
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
   * its fallbacks); a rolled-back one takes none and is no fallback either.
   */
  private buildPicker(): TargetPicker<RoutedTarget> {
    const active = this.targets.filter((t) => t.health.canary !== "rolled_back");
    const promoted = active.find((t) => t.canary && t.health.canary === "promoted");
    const weights = active.map((t) => (promoted ? (t === promoted ? 1 : 0) : this.weights[this.targets.indexOf(t)]!));
    return new TargetPicker(active, weights, this.policy.strategy);
  }

  private recordOutcome(target: RoutedTarget, ok: boolean): void {
    const o = target.health.outcomes;
    o.calls++;
    if (!ok) o.errors++;
    if (!this.hasCanary) return;
    const canary = target.canary;
    if (!canary || target.health.canary !== "running" || o.calls < canary.min_calls) return;
    let stableCalls = 0;
    let stableErrors = 0;
    for (const t of this.targets) {
      if (t.canary) continue;
      stableCalls += t.health.outcomes.calls;
      stableErrors += t.health.outcomes.errors;
    }
    const evidence = { calls: o.calls, errorRate: o.errors / o.calls, stableErrorRate: stableCalls === 0 ? 0 : stableErrors / stableCalls };
    let decision: "promoted" | "rolled_back" | undefined;
    if (evidence.errorRate > canary.max_error_rate || evidence.errorRate > evidence.stableErrorRate + canary.max_error_rate_over_stable) {
      decision = "rolled_back";
    } else if (o.calls >= canary.promote_after_calls) {
      decision = "promoted";
    }
    if (!decision) return;
    target.health.canary = decision;
    this.picker = this.buildPicker();
    this.hooks.onCanaryDecision?.(this.endpoint, target.name, decision, evidence);
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

/** Fastest recent latency first (unmeasured targets count as 0); one call in 20 explores a random first. */
function byLatency(targets: readonly RoutedTarget[]): RoutedTarget[] {
  const sorted = [...targets].sort((a, b) => a.health.latency.ms - b.health.latency.ms);
  if (sorted.length > 1 && Math.random() < 0.05) {
    const i = Math.floor(Math.random() * sorted.length);
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

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
import type { FailureClass, RoutingConfig } from "./config";
import { attemptTimeout, classifyFailure, isRetryable } from "./failure";
import { TargetPicker, stickyPoint } from "./picker";
import { RetryBudget } from "./retry-budget";
import { CircuitState, type TargetHealth } from "./target-health";

export interface RoutedTarget {
  name: string;
  provider: string;
  model: string;
  client: ModelClient;
  health: TargetHealth;
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

export interface RouterHooks {
  onAttempt?(endpoint: string, target: string, outcome: AttemptOutcome): void;
}

interface Committed<T> extends Served {
  value: T;
  /** Stops following the caller's cancellation (streams call it when they end). */
  release(): void;
}

export class EndpointRouter {
  private readonly picker: TargetPicker<RoutedTarget>;
  private readonly budget: RetryBudget;
  private readonly fallbackOn: ReadonlySet<FailureClass>;
  /** How the endpoint's calls are kept on one target, when they are. */
  readonly sticky: { by: "key" | "team" } | { by: "header"; name: string } | undefined;

  constructor(
    readonly endpoint: string,
    readonly targets: readonly RoutedTarget[],
    weights: readonly number[],
    private readonly policy: RoutingConfig,
    private readonly hooks: RouterHooks = {},
  ) {
    this.picker = new TargetPicker(targets, weights, policy.strategy);
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
    for (const target of this.order(req)) {
      const breaker = target.health.breaker;
      for (let retry = 0; ; retry++) {
        if (call.signal.aborted) throw ConnectError.from(call.signal.reason);
        // Half-open: one call probes the target; the others go elsewhere instead of waiting for it.
        if (breaker.state === CircuitState.HalfOpen || breaker.state === CircuitState.Isolated) {
          hooks.onAttempt?.(this.endpoint, target.name, "breaker_open");
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
          clearTimeout(timer);
          hooks.onAttempt?.(this.endpoint, target.name, "ok");
          return { value, target, attempts, release: () => call.signal.removeEventListener("abort", follow) };
        } catch (err) {
          clearTimeout(timer);
          call.signal.removeEventListener("abort", follow);
          if (err instanceof BrokenCircuitError) {
            attempts--; // no request was made
            hooks.onAttempt?.(this.endpoint, target.name, "breaker_open");
            break;
          }
          if (call.signal.aborted) throw ConnectError.from(call.signal.reason);
          const failure = classifyFailure(err);
          hooks.onAttempt?.(this.endpoint, target.name, failure.kind ?? "other");
          // Not the target's fault (the caller's request): no other target will do better.
          if (failure.kind === undefined || !this.fallbackOn.has(failure.kind)) throw err;
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

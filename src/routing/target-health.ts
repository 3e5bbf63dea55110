// Per-target health that outlives a config reload: the circuit breaker (cockatiel), the latency
// average, the window of recent calls, the canary's standing and judgement, and the outlier
// ejection state. A target keeps them across reloads while its identity (endpoint, name,
// provider, model, config, canary settings), breaker settings and window size stay the same.
import { createHash } from "node:crypto";
import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen, type CircuitBreakerPolicy } from "cockatiel";
import { classifyFailure, isBreakerFailure } from "./failure";
import { CallWindow } from "./window";

export { CircuitState };

export interface BreakerSettings {
  consecutive_failures: number;
  half_open_after_ms: number;
}

/** What a target's health is built with: its breaker and how many calls its window keeps (0: none). */
export interface HealthSettings {
  breaker: BreakerSettings;
  windowCalls: number;
}

/** The figures a canary was judged on (over the sliding window), with the reason of its standing. */
export interface CanaryJudgement {
  /** The canary's calls since it was configured as it is (promotion counts these). */
  calls: number;
  windowCalls: number;
  stableWindowCalls: number;
  /** NaN where there were no samples. */
  errorRate: number;
  stableErrorRate: number;
  p95LatencyMs: number;
  stableP95LatencyMs: number;
  p95TtftMs: number;
  stableP95TtftMs: number;
  reason: string;
  /** When (Unix ms). */
  at: number;
}

/** A target's standing in outlier ejection. */
export interface OutlierState {
  /** Unix ms the current ejection ends; 0 when not ejected. */
  ejectedUntil: number;
  consecutive: number;
  total: number;
  /** Judgements only count calls from here (Unix ms): the return from the last ejection. */
  since: number;
  /** The latest judgement's figures. */
  windowCalls: number;
  errorRate: number;
}

export interface TargetHealth {
  readonly endpoint: string;
  readonly target: string;
  readonly breaker: CircuitBreakerPolicy;
  /** Recent latency (unary answer, or a stream's first message), for least-latency routing. */
  readonly latency: LatencyEwma;
  /** Attempts answered and failed by the target's fault, since the target was configured as it is. */
  readonly outcomes: { calls: number; errors: number };
  /** A canary target's standing (the gateway's own judgement); "running" for every other target. */
  canary: CanaryStanding;
  /** The target's recent calls, when a canary or outlier ejection judges them (capacity 0 otherwise). */
  readonly window: CallWindow;
  /** A canary's latest judgement. */
  judgement?: CanaryJudgement;
  readonly outlier: OutlierState;
}

export type CanaryStanding = "running" | "promoted" | "rolled_back";

/** An exponentially weighted moving average of a target's latency (the last ~10 answers count most). */
export class LatencyEwma {
  private value = 0;
  samples = 0;

  constructor(private readonly alpha = 0.2) {}

  observe(ms: number): void {
    this.value = this.samples === 0 ? ms : this.value + this.alpha * (ms - this.value);
    this.samples++;
  }

  /** The average in ms; 0 before any answer (so a new target is tried first and measured). */
  get ms(): number {
    return this.value;
  }
}

/** Breakers by target identity; the gateway keeps one registry for its lifetime. */
export class TargetHealthRegistry {
  private byKey = new Map<string, TargetHealth>();

  /** The health of a target: the one it had before a reload when nothing about it changed. */
  get(endpoint: string, target: string, identity: unknown, settings: HealthSettings, keep: Map<string, TargetHealth>): TargetHealth {
    const key = createHash("sha256").update(JSON.stringify([endpoint, target, identity, settings])).digest("hex");
    let health = keep.get(key) ?? this.byKey.get(key);
    if (!health) {
      health = {
        endpoint,
        target,
        breaker: circuitBreaker(
          handleWhen((err) => isBreakerFailure(classifyFailure(err).kind)),
          { halfOpenAfter: settings.breaker.half_open_after_ms, breaker: new ConsecutiveBreaker(settings.breaker.consecutive_failures) },
        ),
        latency: new LatencyEwma(),
        outcomes: { calls: 0, errors: 0 },
        canary: "running",
        window: new CallWindow(settings.windowCalls),
        outlier: { ejectedUntil: 0, consecutive: 0, total: 0, since: -Infinity, windowCalls: 0, errorRate: NaN },
      };
    }
    keep.set(key, health);
    return health;
  }

  /** Keeps only the targets of the state now in force (those of removed or changed targets go). */
  retain(keep: Map<string, TargetHealth>): void {
    this.byKey = keep;
  }

  all(): Iterable<TargetHealth> {
    return this.byKey.values();
  }
}

/** 0 closed (serving), 1 half-open (probing), 2 open (skipped), as the breaker metric reports it. */
export function breakerLevel(state: CircuitState): number {
  return state === CircuitState.Closed ? 0 : state === CircuitState.HalfOpen ? 1 : 2;
}

/** closed, half-open or open, as GetEndpoint reports it. */
export function breakerStateName(state: CircuitState): "closed" | "half-open" | "open" {
  return state === CircuitState.Closed ? "closed" : state === CircuitState.HalfOpen ? "half-open" : "open";
}

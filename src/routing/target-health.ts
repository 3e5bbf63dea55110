// Per-target health that outlives a config reload: the circuit breaker (cockatiel). A target
// keeps its breaker across reloads while its identity (endpoint, name, provider, model, config)
// and breaker settings stay the same.
import { createHash } from "node:crypto";
import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen, type CircuitBreakerPolicy } from "cockatiel";
import { classifyFailure, isBreakerFailure } from "./failure";

export { CircuitState };

export interface BreakerSettings {
  consecutive_failures: number;
  half_open_after_ms: number;
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
  get(endpoint: string, target: string, identity: unknown, settings: BreakerSettings, keep: Map<string, TargetHealth>): TargetHealth {
    const key = createHash("sha256").update(JSON.stringify([endpoint, target, identity, settings])).digest("hex");
    let health = keep.get(key) ?? this.byKey.get(key);
    if (!health) {
      health = {
        endpoint,
        target,
        breaker: circuitBreaker(
          handleWhen((err) => isBreakerFailure(classifyFailure(err).kind)),
          { halfOpenAfter: settings.half_open_after_ms, breaker: new ConsecutiveBreaker(settings.consecutive_failures) },
        ),
        latency: new LatencyEwma(),
        outcomes: { calls: 0, errors: 0 },
        canary: "running",
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

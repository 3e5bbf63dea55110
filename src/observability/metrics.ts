// Prometheus metrics (prom-client), served at GET /metrics on the gateway's port. Per-call work
// is a few counter increments on pre-resolved label children; state gauges (quota backend, ledger
// queue) are read only when Prometheus scrapes.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ResilientCountersStats } from "../store/resilient-counters";
import type { LedgerWriterStats } from "../usage/ledger-writer";

export interface MetricsSources {
  quotaBackend?: () => ResilientCountersStats;
  ledger: () => LedgerWriterStats;
  /** Open client connections and those refused over the caps (src/server/one-port.ts). */
  connections?: () => { connections: number; refusedGlobal: number; refusedPerAddress: number };
  /** Each target's circuit breaker level (0 closed, 1 half-open, 2 open), read at scrape time. */
  breakers?: () => Iterable<{ endpoint: string; target: string; level: number }>;
  /** Each canary target's standing: 0 running, 1 promoted, -1 rolled back. */
  canaries?: () => Iterable<{ endpoint: string; target: string; level: number }>;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<"endpoint" | "code">;
  private readonly duration: Histogram<"endpoint">;
  private readonly tokens: Counter<"endpoint" | "kind">;
  private readonly cost: Counter<"endpoint">;
  private readonly attempts: Counter<"endpoint" | "target" | "outcome">;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "modelgate_process_" });
    this.calls = new Counter({ name: "modelgate_calls_total", help: "Model calls by endpoint and result code", labelNames: ["endpoint", "code"], registers });
    this.duration = new Histogram({
      name: "modelgate_call_duration_seconds",
      help: "Call latency (streams: until the last message)",
      labelNames: ["endpoint"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.tokens = new Counter({ name: "modelgate_tokens_total", help: "Tokens by endpoint, prompt or completion", labelNames: ["endpoint", "kind"], registers });
    this.cost = new Counter({ name: "modelgate_cost_usd_total", help: "Known cost in USD by endpoint", labelNames: ["endpoint"], registers });
    this.attempts = new Counter({
      name: "modelgate_upstream_attempts_total",
      help: "Upstream attempts of routed endpoints by target and outcome (ok, a failure class, breaker_open)",
      labelNames: ["endpoint", "target", "outcome"],
      registers,
    });
    const canaries = sources.canaries;
    if (canaries) {
      new Gauge({
        name: "modelgate_canary_standing",
        help: "Canary targets as the gateway judged them: 0 running, 1 promoted, -1 rolled back",
        labelNames: ["endpoint", "target"],
        registers,
        collect() {
          this.reset();
          for (const c of canaries()) this.labels(c.endpoint, c.target).set(c.level);
        },
      });
    }
    const breakers = sources.breakers;
    if (breakers) {
      new Gauge({
        name: "modelgate_target_breaker_state",
        help: "Circuit breaker of each endpoint target: 0 closed (serving), 1 half-open (probing), 2 open (skipped)",
        labelNames: ["endpoint", "target"],
        registers,
        collect() {
          this.reset();
          for (const b of breakers()) this.labels(b.endpoint, b.target).set(b.level);
        },
      });
    }
    const quota = sources.quotaBackend;
    if (quota) {
      new Gauge({
        name: "modelgate_quota_backend_up",
        help: "1 while the shared quota backend (Redis) answers; 0 while calls fall back (open) or are refused (closed)",
        registers,
        collect() {
          this.set(quota().primary === "up" ? 1 : 0);
        },
      });
      new Gauge({
        name: "modelgate_quota_fallback_answers",
        help: "Quota decisions answered by the local fallback since start (per-replica limits!)",
        registers,
        collect() {
          this.set(quota().fallbackAnswers);
        },
      });
    }
    new Gauge({
      name: "modelgate_ledger_queued_rows",
      help: "Usage rows waiting to be written",
      registers,
      collect() {
        this.set(sources.ledger().queued);
      },
    });
    const ledgerGauges: [string, string, (s: LedgerWriterStats) => number][] = [
      ["modelgate_ledger_failed_appends", "Ledger appends that failed (and were retried) since start", (s) => s.failedAppends],
      ["modelgate_ledger_poisoned_rows", "Usage rows the store refused for their content (logged at error level, not written) since start", (s) => s.poisoned],
      ["modelgate_ledger_sanitized_rows", "Usage rows whose text was cleaned (control characters, over-long values) before writing, since start", (s) => s.sanitized],
    ];
    const connections = sources.connections;
    if (connections) {
      new Gauge({
        name: "modelgate_connections_open",
        help: "Client connections open now",
        registers,
        collect() {
          this.set(connections().connections);
        },
      });
      new Gauge({
        name: "modelgate_connections_refused",
        help: "Client connections refused since start: over server.max_connections (cap=global) or server.max_connections_per_ip (cap=per_ip)",
        labelNames: ["cap"],
        registers,
        collect() {
          const s = connections();
          this.labels("global").set(s.refusedGlobal);
          this.labels("per_ip").set(s.refusedPerAddress);
        },
      });
    }
    for (const [name, help, read] of ledgerGauges) {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(sources.ledger()));
        },
      });
    }
  }

  /** One upstream attempt of a routed call and how it ended (ok, a failure class, breaker_open). */
  recordAttempt(endpoint: string, target: string, outcome: string): void {
    this.attempts.labels(endpoint, target, outcome).inc();
  }

  recordCall(endpoint: string, code: string, seconds: number): void {
    this.calls.labels(endpoint, code).inc();
    this.duration.labels(endpoint).observe(seconds);
  }

  recordUsage(endpoint: string, promptTokens: number, completionTokens: number, costUsd: number | null): void {
    if (promptTokens > 0) this.tokens.labels(endpoint, "prompt").inc(promptTokens);
    if (completionTokens > 0) this.tokens.labels(endpoint, "completion").inc(completionTokens);
    if (costUsd !== null && costUsd > 0) this.cost.labels(endpoint).inc(costUsd);
  }
}

// The routing layer's own metrics, beside GatewayMetrics in the same registry: canary decisions
// and outlier ejections (counters, counted when they happen, never per call), and which targets
// are ejected now (a gauge read when Prometheus scrapes). The canary standing and breaker gauges
// are in metrics.ts.
import { Counter, Gauge, type OpenMetricsContentType, type PrometheusContentType, type Registry } from "prom-client";
import type { RuntimeState } from "../runtime";
import { unixNow } from "../routing/router";

export class RoutingMetrics {
  private readonly decisions: Counter<"endpoint" | "target" | "decision">;
  private readonly ejections: Counter<"endpoint" | "target">;

  constructor(registry: Registry<PrometheusContentType> | Registry<OpenMetricsContentType>, state: () => RuntimeState) {
    const registers = [registry];
    this.decisions = new Counter({
      name: "modelgate_canary_decisions_total",
      help: "Canary decisions the gateway took by its own measurements: promoted or rolled_back",
      labelNames: ["endpoint", "target", "decision"],
      registers,
    });
    this.ejections = new Counter({
      name: "modelgate_outlier_ejections_total",
      help: "Targets ejected for their error rate (routing.outlier_ejection)",
      labelNames: ["endpoint", "target"],
      registers,
    });
    new Gauge({
      name: "modelgate_target_ejected",
      help: "1 while a target is ejected for its error rate, 0 otherwise (endpoints with routing.outlier_ejection)",
      labelNames: ["endpoint", "target"],
      registers,
      collect() {
        this.reset();
        const now = unixNow();
        for (const ep of state().endpoints.values()) {
          if (!ep.router?.ejects) continue;
          for (const t of ep.targets) this.labels(ep.name, t.name).set(t.health.outlier.ejectedUntil > now ? 1 : 0);
        }
      },
    });
  }

  canaryDecision(endpoint: string, target: string, decision: "promoted" | "rolled_back"): void {
    this.decisions.labels(endpoint, target, decision).inc();
  }

  ejection(endpoint: string, target: string): void {
    this.ejections.labels(endpoint, target).inc();
  }
}

// Prometheus metrics (prom-client), served at GET /metrics on the gateway's port. Per call, the
// counters are plain number additions on tallies found once per endpoint (and target, team) and
// cached; prom-client sees them only when Prometheus scrapes (its label children hash and validate
// their labels on every increment: measured ~1 µs each). Histograms are prom-client children.
// State gauges (quota backend, ledger queue, breakers, budgets) are read at scrape time too.
// Label values come from the config (endpoints, targets, teams) or are capped (key teams), so a
// caller cannot grow the series. Latency histograms carry the call's trace id as an OpenMetrics
// exemplar when the scraper asks for OpenMetrics (at most one new exemplar per series a second).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type RegistryContentType } from "prom-client";
import type { AttemptKind, AttemptOutcome } from "../routing/router";
import type { ResilientCountersStats } from "../store/resilient-counters";
import type { LedgerRow } from "../store/types";
import type { LedgerWriterStats } from "../usage/ledger-writer";

export interface MetricsSources {
  quotaBackend?: () => ResilientCountersStats;
  ledger: () => LedgerWriterStats;
  /** Whether the store's storage has a problem its calls do not report (src/store/store-watch.ts). */
  storeProblem?: () => boolean;
  /** Open client connections and those refused over the caps (src/server/one-port.ts). */
  connections?: () => { connections: number; refusedGlobal: number; refusedPerAddress: number; keepaliveTimeouts?: number };
  /** Bytes of upstream answers held now, and the bound (src/upstream/limits.ts HeldAnswers). */
  upstreamHeld?: () => { bytes: number; maxBytes: number };
  /** Each target's circuit breaker level (0 closed, 1 half-open, 2 open), read at scrape time. */
  breakers?: () => Iterable<{ endpoint: string; target: string; level: number }>;
  /** Each canary target's standing: 0 running, 1 promoted, -1 rolled back. */
  canaries?: () => Iterable<{ endpoint: string; target: string; level: number }>;
  /** The config's endpoint names (label values outside it become "(unknown)") and team budgets. */
  config?: () => { endpoints: ReadonlyMap<string, unknown>; teams: ReadonlyMap<string, { budgetUsd?: number; budgetPeriod?: string }> };
}

/** The label value of an endpoint name the config does not have (callers' made-up names). */
export const unknownEndpoint = "(unknown)";
/** Team label values: a call without a team, and the teams past the cap. */
export const noTeam = "(none)";
export const otherTeam = "other";
/** Distinct team names outside the config's `teams:` (keys' teams) that get their own series. */
const maxExtraTeams = 50;
const exemplarEveryMs = 1_000;
const openMetricsType = Registry.OPENMETRICS_CONTENT_TYPE;

/** One counter's value, added to per call and read at scrape time. */
interface Tally {
  n: number;
}

/** What one endpoint counted, and its histogram children, found once. */
interface EndpointSeries {
  duration: ExemplarSeries;
  codes: Map<string, Tally>;
  prompt: number;
  completion: number;
  cost: number;
  activeStreams: number;
  targets: Map<string, TargetSeries>;
}

/** What one endpoint target counted. */
interface TargetSeries {
  ttft: ExemplarSeries;
  tpot: Histogram.Internal<"endpoint" | "target">;
  retries: number;
  fallbacks: number;
  attempts: Map<string, Tally>;
}

interface TeamSeries {
  prompt: number;
  completion: number;
  cost: number;
}

/** A histogram child that also keeps, now and then, the trace id of an observation as exemplar. */
class ExemplarSeries {
  private readonly child: Histogram.Internal<string>;
  private lastExemplarAt = -Infinity;
  constructor(
    private readonly histogram: Histogram<string>,
    private readonly labels: Record<string, string>,
  ) {
    this.child = histogram.labels(labels);
  }

  observe(seconds: number, traceId: string | undefined): void {
    const now = performance.now();
    if (traceId === undefined || now - this.lastExemplarAt < exemplarEveryMs) {
      this.child.observe(seconds);
      return;
    }
    this.lastExemplarAt = now;
    this.histogram.observe({ labels: this.labels, value: seconds, exemplarLabels: { trace_id: traceId } });
  }
}

/** What a finished streamed answer measured (see src/interceptors/call-metrics.ts). */
export interface StreamTiming {
  /** Seconds from the call's start to its first streamed message. */
  firstMessageSeconds: number;
  /** Seconds from the first message to the end of the stream. */
  restSeconds: number;
  outputTokens: number;
}

/** What happened to a Responses API answer with `store: true` (modelgate_stored_responses_total). */
export type StoredResponseEvent = "stored" | "failed" | "too_large" | "deleted";

export class GatewayMetrics {
  /** Prometheus text between scrapes (the type other code registers its metrics under). */
  readonly registry = new Registry();
  /**
   * The same registry, switched to OpenMetrics while the exemplar histograms are made (prom-client
   * allows exemplars only then) and while an OpenMetrics scrape renders.
   */
  private readonly switchable = this.registry as Registry<RegistryContentType>;
  private readonly duration: Histogram<"endpoint">;
  private readonly ttft: Histogram<"endpoint" | "target">;
  private readonly tpot: Histogram<"endpoint" | "target">;
  private readonly endpoints = new Map<string, EndpointSeries>();
  /** By the caller's team name (capped ones: under otherKey); several names may share one series. */
  private readonly teams = new Map<string, TeamSeries>();
  /** The series by label value, for the scrape. */
  private readonly teamLabels = new Map<string, TeamSeries>();
  private extraTeams = 0;
  /** SSE backpressure by surface: streams that waited for a slow reader, and those dropped for a stalled one. */
  private readonly sse = new Map<string, { waited: number; dropped: number }>();
  /** Stored responses (the Responses API's store) by event. */
  private readonly storedResponses: Record<StoredResponseEvent, number> = { stored: 0, failed: 0, too_large: 0, deleted: 0 };
  /** Renders one scrape at a time: an OpenMetrics render renames counters while it runs. */
  private rendering: Promise<unknown> = Promise.resolve();

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    const endpoints = this.endpoints;
    const teams = this.teamLabels;
    this.switchable.setContentType(openMetricsType);
    collectDefaultMetrics({ register: this.registry, prefix: "modelgate_process_" });
    new Counter({
      name: "modelgate_calls_total",
      help: "Model calls by endpoint and result code",
      labelNames: ["endpoint", "code"],
      registers,
      collect() {
        this.reset();
        for (const [e, s] of endpoints) for (const [code, t] of s.codes) this.labels(e, code).inc(t.n);
      },
    });
    this.duration = new Histogram({
      name: "modelgate_call_duration_seconds",
      help: "Call latency (streams: until the last message)",
      labelNames: ["endpoint"],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      enableExemplars: true,
      registers,
    });
    this.ttft = new Histogram({
      name: "modelgate_time_to_first_token_seconds",
      help: "Streamed answers: from the call's start to its first streamed message, by endpoint and the target that answered",
      labelNames: ["endpoint", "target"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30],
      enableExemplars: true,
      registers,
    });
    this.tpot = new Histogram({
      name: "modelgate_time_per_output_token_seconds",
      help: "Streamed answers of 2+ output tokens: (end - first message) / (output tokens - 1), by endpoint and target",
      labelNames: ["endpoint", "target"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1],
      registers,
    });
    new Gauge({
      name: "modelgate_active_streams",
      help: "Streamed answers being sent now, by endpoint",
      labelNames: ["endpoint"],
      registers,
      collect() {
        this.reset();
        for (const [e, s] of endpoints) this.labels(e).set(s.activeStreams);
      },
    });
    new Counter({
      name: "modelgate_tokens_total",
      help: "Tokens by endpoint, prompt or completion",
      labelNames: ["endpoint", "kind"],
      registers,
      collect() {
        this.reset();
        for (const [e, s] of endpoints) {
          if (s.prompt > 0) this.labels(e, "prompt").inc(s.prompt);
          if (s.completion > 0) this.labels(e, "completion").inc(s.completion);
        }
      },
    });
    new Counter({
      name: "modelgate_cost_usd_total",
      help: "Known cost in USD by endpoint",
      labelNames: ["endpoint"],
      registers,
      collect() {
        this.reset();
        for (const [e, s] of endpoints) if (s.cost > 0) this.labels(e).inc(s.cost);
      },
    });
    new Counter({
      name: "modelgate_team_tokens_total",
      help: `Tokens by caller team (config teams and up to ${maxExtraTeams} others by name, then "${otherTeam}"; "${noTeam}" without a team), prompt or completion`,
      labelNames: ["team", "kind"],
      registers,
      collect() {
        this.reset();
        for (const [team, s] of teams) {
          if (s.prompt > 0) this.labels(team, "prompt").inc(s.prompt);
          if (s.completion > 0) this.labels(team, "completion").inc(s.completion);
        }
      },
    });
    new Counter({
      name: "modelgate_team_cost_usd_total",
      help: "Known cost in USD by caller team (labels as modelgate_team_tokens_total)",
      labelNames: ["team"],
      registers,
      collect() {
        this.reset();
        for (const [team, s] of teams) if (s.cost > 0) this.labels(team).inc(s.cost);
      },
    });
    const eachTarget = function* () {
      for (const [e, s] of endpoints) for (const [t, ts] of s.targets) yield [e, t, ts] as const;
    };
    new Counter({
      name: "modelgate_upstream_attempts_total",
      help: "Upstream attempts of routed endpoints by target and outcome (ok, a failure class, breaker_open)",
      labelNames: ["endpoint", "target", "outcome"],
      registers,
      collect() {
        this.reset();
        for (const [e, t, s] of eachTarget()) for (const [outcome, n] of s.attempts) this.labels(e, t, outcome).inc(n.n);
      },
    });
    new Counter({
      name: "modelgate_upstream_retries_total",
      help: "Upstream requests of routed endpoints that repeated a failed one on the same target",
      labelNames: ["endpoint", "target"],
      registers,
      collect() {
        this.reset();
        for (const [e, t, s] of eachTarget()) if (s.retries > 0) this.labels(e, t).inc(s.retries);
      },
    });
    new Counter({
      name: "modelgate_upstream_fallbacks_total",
      help: "Upstream requests of routed endpoints sent to a target other than the call's first choice (the target label: the one fallen back to)",
      labelNames: ["endpoint", "target"],
      registers,
      collect() {
        this.reset();
        for (const [e, t, s] of eachTarget()) if (s.fallbacks > 0) this.labels(e, t).inc(s.fallbacks);
      },
    });
    const sse = this.sse;
    new Counter({
      name: "modelgate_sse_backpressure_total",
      help: "REST streams (SSE) held back by their reader, by surface: event=waited (the client read slower than the answer came; the stream waited for it), event=dropped (it stopped reading for server.idle_timeout_ms; the call was cancelled)",
      labelNames: ["surface", "event"],
      registers,
      collect() {
        this.reset();
        for (const [surface, s] of sse) {
          this.labels(surface, "waited").inc(s.waited);
          this.labels(surface, "dropped").inc(s.dropped);
        }
      },
    });
    const storedResponses = this.storedResponses;
    new Counter({
      name: "modelgate_stored_responses_total",
      help: "Responses API answers kept (store: true), by event: stored, failed (the store refused or failed: the call failed), too_large (over store.responses.max_bytes: the call failed), deleted",
      labelNames: ["event"],
      registers,
      collect() {
        this.reset();
        for (const [event, n] of Object.entries(storedResponses)) this.labels(event).inc(n);
      },
    });
    const config = sources.config;
    if (config) {
      new Gauge({
        name: "modelgate_team_budget_usd",
        help: "Each config team's spending budget in USD per period (day or month)",
        labelNames: ["team", "period"],
        registers,
        collect() {
          this.reset();
          for (const [team, limits] of config().teams) {
            if (limits.budgetUsd !== undefined) this.labels(team, limits.budgetPeriod ?? "month").set(limits.budgetUsd);
          }
        },
      });
    }
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
    const storeProblem = sources.storeProblem;
    if (storeProblem) {
      new Gauge({
        name: "modelgate_store_problem",
        help: "1 while the store's storage is unsound under it (a SQLite file deleted or replaced while open: keys and usage written are lost at stop); the log says which",
        registers,
        collect() {
          this.set(storeProblem() ? 1 : 0);
        },
      });
    }
    const upstreamHeld = sources.upstreamHeld;
    if (upstreamHeld) {
      new Gauge({
        name: "modelgate_upstream_held_bytes",
        help: "Bytes of upstream answers held now: unary bodies being read and streamed events not ended (bound: server.max_upstream_held_bytes)",
        registers,
        collect() {
          this.set(upstreamHeld().bytes);
        },
      });
    }
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
      new Gauge({
        name: "modelgate_http2_keepalive_timeouts",
        help: "HTTP/2 client connections closed since start because a keep-alive PING went unanswered (server.http2_keepalive_timeout_ms)",
        registers,
        collect() {
          this.set(connections().keepaliveTimeouts ?? 0);
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
    this.switchable.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
  }

  /**
   * The exposition for a scrape: OpenMetrics (with exemplars) when the Accept header asks for it,
   * as Prometheus does, else Prometheus text.
   */
  async render(accept: string | undefined): Promise<{ body: string; contentType: string }> {
    const openMetrics = accept !== undefined && accept.includes("application/openmetrics-text");
    const run = this.rendering.then(() => (openMetrics ? this.renderOpenMetrics() : this.registry.metrics()));
    this.rendering = run.catch(() => undefined);
    return { body: await run, contentType: openMetrics ? openMetricsType : this.registry.contentType };
  }

  /**
   * Every metric's values (the OTLP metrics export reads them), in turn with the scrapes: an
   * OpenMetrics render renames counters while it runs.
   */
  snapshot(): Promise<Awaited<ReturnType<Registry["getMetricsAsJSON"]>>> {
    const run = this.rendering.then(() => this.registry.getMetricsAsJSON());
    this.rendering = run.catch(() => undefined);
    return run;
  }

  /** prom-client strips counters' `_total` from their names for OpenMetrics: put them back after. */
  private async renderOpenMetrics(): Promise<string> {
    const names = this.registry.getMetricsAsArray().map((m) => [m, m.name] as const);
    this.switchable.setContentType(openMetricsType);
    try {
      return await this.registry.metrics();
    } finally {
      this.switchable.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
      for (const [metric, name] of names) (metric as { name: string }).name = name;
    }
  }

  /** The label value for an endpoint name: itself when the config has it. */
  endpointLabel(name: string | undefined): string {
    if (name === undefined) return unknownEndpoint;
    const known = this.sources.config?.().endpoints;
    return known === undefined || known.has(name) ? name : unknownEndpoint;
  }

  private endpointSeries(endpoint: string): EndpointSeries {
    let s = this.endpoints.get(endpoint);
    if (!s) {
      s = {
        duration: new ExemplarSeries(this.duration, { endpoint }),
        codes: new Map(),
        prompt: 0,
        completion: 0,
        cost: 0,
        activeStreams: 0,
        targets: new Map(),
      };
      this.endpoints.set(endpoint, s);
    }
    return s;
  }

  private targetSeries(endpoint: string, target: string): TargetSeries {
    const e = this.endpointSeries(endpoint);
    let s = e.targets.get(target);
    if (!s) {
      s = {
        ttft: new ExemplarSeries(this.ttft, { endpoint, target }),
        tpot: this.tpot.labels(endpoint, target),
        retries: 0,
        fallbacks: 0,
        attempts: new Map(),
      };
      e.targets.set(target, s);
    }
    return s;
  }

  /** One upstream attempt of a routed call, how it ended, and whether it was a retry or a fallback. */
  recordAttempt(endpoint: string, target: string, outcome: AttemptOutcome, kind: AttemptKind = "first"): void {
    const s = this.targetSeries(endpoint, target);
    let tally = s.attempts.get(outcome);
    if (!tally) s.attempts.set(outcome, (tally = { n: 0 }));
    tally.n++;
    if (outcome === "breaker_open") return; // no request was sent
    if (kind === "retry") s.retries++;
    else if (kind === "fallback") s.fallbacks++;
  }

  /** A finished call: its endpoint label (see endpointLabel), result code, latency and trace id. */
  recordCall(endpoint: string, code: string, seconds: number, traceId?: string): void {
    const s = this.endpointSeries(endpoint);
    let tally = s.codes.get(code);
    if (!tally) s.codes.set(code, (tally = { n: 0 }));
    tally.n++;
    s.duration.observe(seconds, traceId);
  }

  /** A REST stream waited for a slow reader, or dropped a stalled one (surface: "openai", "mlflow"). */
  recordSseBackpressure(surface: string, event: "waited" | "dropped"): void {
    let s = this.sse.get(surface);
    if (!s) this.sse.set(surface, (s = { waited: 0, dropped: 0 }));
    s[event]++;
  }

  /** A stored response was kept, could not be, or was deleted. */
  recordStoredResponse(event: StoredResponseEvent): void {
    this.storedResponses[event]++;
  }

  /** A stream started (+1) or ended (-1). */
  streamActive(endpoint: string, delta: 1 | -1): void {
    this.endpointSeries(endpoint).activeStreams += delta;
  }

  /** The first message of a streamed answer went out. */
  recordFirstToken(endpoint: string, target: string, seconds: number, traceId?: string): void {
    this.targetSeries(endpoint, target).ttft.observe(seconds, traceId);
  }

  /** A streamed answer ended whole: the time per output token after the first. */
  recordStreamEnd(endpoint: string, target: string, timing: StreamTiming): void {
    if (timing.outputTokens < 2) return;
    this.targetSeries(endpoint, target).tpot.observe(timing.restSeconds / (timing.outputTokens - 1));
  }

  /** One usage ledger row: tokens and cost by endpoint and by team. */
  recordUsage(row: Pick<LedgerRow, "endpoint" | "team" | "promptTokens" | "completionTokens" | "costUsd">): void {
    const e = this.endpointSeries(this.endpointLabel(row.endpoint));
    const t = this.teamSeries(row.team);
    if (row.promptTokens > 0) {
      e.prompt += row.promptTokens;
      t.prompt += row.promptTokens;
    }
    if (row.completionTokens > 0) {
      e.completion += row.completionTokens;
      t.completion += row.completionTokens;
    }
    if (row.costUsd !== null && row.costUsd > 0) {
      e.cost += row.costUsd;
      t.cost += row.costUsd;
    }
  }

  private teamSeries(team: string): TeamSeries {
    const known = this.teams.get(team);
    if (known) return known;
    let label = team === "" ? noTeam : team;
    if (team !== "" && !this.sources.config?.().teams.has(team)) {
      if (this.extraTeams >= maxExtraTeams) label = otherTeam;
      else this.extraTeams++;
    }
    let s = this.teamLabels.get(label);
    if (!s) this.teamLabels.set(label, (s = { prompt: 0, completion: 0, cost: 0 }));
    // Past the cap, unseen names are not kept (the map stays bounded): they find "other" again.
    if (label !== otherTeam) this.teams.set(team, s);
    return s;
  }
}

// The policies' counters and decision log. Counted as plain tallies per call (read by prom-client
// at scrape time, like src/observability/metrics.ts), logged without the request's text.
import { Counter, Histogram, type Registry } from "prom-client";
import type { Logger } from "pino";

type Labels = Record<string, string>;

class Tallies {
  readonly values = new Map<string, { labels: Labels; n: number }>();
  add(labels: Labels, n = 1): void {
    const key = JSON.stringify(labels);
    const t = this.values.get(key);
    if (t) t.n += n;
    else this.values.set(key, { labels, n });
  }
  get(labels: Labels): number {
    return this.values.get(JSON.stringify(labels))?.n ?? 0;
  }
}

/** Cache lookups by endpoint and result (hit, miss, bypass: not cacheable or opted out). */
export const cacheLookups = new Tallies();
/** USD the cache hits saved (the price of the answer they replayed), by endpoint. */
export const cacheSavedUsd = new Tallies();
/** Guardrail decisions by endpoint, side (input, output), reason and action. */
export const guardrailDecisions = new Tallies();
/** Remote guardrail checks by endpoint, check (moderation, webhook), side and outcome (allow, block, redact, flag, error). */
export const remoteChecks = new Tallies();
/** Context-window outcomes by endpoint: fit, trimmed, refused, routed. */
export const contextOutcomes = new Tallies();
/** Semantic cache lookups by endpoint and result (hit, miss, error: failed open, skipped: nothing to embed). */
export const semanticLookups = new Tallies();
/** Prompt template renders by endpoint, template (name@version once known, else the configured reference) and result (ok, invalid, unavailable). */
export const templateRenders = new Tallies();
/** The best cosine similarity each semantic lookup found (hit or miss), by endpoint; process-wide. */
export const semanticSimilarity = new Histogram({
  name: "modelgate_semantic_cache_similarity",
  help: "Best cosine similarity found by each semantic cache lookup that had a candidate (hit or miss).",
  labelNames: ["endpoint"],
  buckets: [0.5, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99, 1],
  registers: [],
});

const registered = new WeakSet<Registry>();

/** Adds the policy counters to a registry (GET /metrics); once per registry. */
export function registerPolicyMetrics(registry: Registry): void {
  if (registered.has(registry)) return;
  registered.add(registry);
  const counter = (name: string, help: string, labelNames: string[], tallies: Tallies) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, n } of tallies.values.values()) this.inc(labels, n);
      },
    });
  counter("modelgate_cache_lookups_total", "Response cache lookups by result (hit, semantic_hit, miss, bypass).", ["endpoint", "result"], cacheLookups);
  counter("modelgate_cache_saved_usd_total", "USD the response cache saved (the price of the replayed answers).", ["endpoint"], cacheSavedUsd);
  counter("modelgate_guardrail_decisions_total", "Guardrail decisions by side, reason and action.", ["endpoint", "side", "reason", "action"], guardrailDecisions);
  counter("modelgate_guardrail_remote_checks_total", "Moderation and webhook guardrail checks by side and outcome (allow, block, redact, flag, error).", ["endpoint", "check", "side", "outcome"], remoteChecks);
  counter("modelgate_context_outcomes_total", "Context-window checks by outcome (fit, trimmed, refused, routed).", ["endpoint", "outcome"], contextOutcomes);
  counter("modelgate_template_renders_total", "Prompt template renders by template (name@version) and result (ok, invalid: bad variables, unavailable: MLflow lookup failed).", ["endpoint", "template", "result"], templateRenders);
  counter("modelgate_semantic_cache_lookups_total", "Semantic cache lookups by result (hit, miss, error: failed open, skipped).", ["endpoint", "result"], semanticLookups);
  registry.registerMetric(semanticSimilarity);
}

let logger: Pick<Logger, "info" | "warn"> | undefined;

/** Where policy decisions are logged (the gateway's logger). */
export function setPolicyLogger(l: Pick<Logger, "info" | "warn"> | undefined): void {
  logger = l;
}

/** Logs a policy decision: names, counts and reason codes only, never the text. */
export function logPolicy(fields: Record<string, unknown>, message: string): void {
  logger?.info({ policy: fields }, message);
}

export function warnPolicy(fields: Record<string, unknown>, message: string): void {
  logger?.warn({ policy: fields }, message);
}

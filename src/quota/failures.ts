// Counter operations that fail after the call was decided: settling a reservation to the real
// usage (the counter then keeps the reservation, so the caller is over-charged until the window
// ends) or seeding a budget counter from the ledger (the budget counts from zero until a later
// seed works). The call is not failed for them (it already ran, or the limit still applies from
// zero), so each one is logged and counted, never dropped in silence.
import type { Logger } from "pino";
import { Counter, type OpenMetricsContentType, type PrometheusContentType, type Registry } from "prom-client";

export type QuotaFailureReason = "settle" | "seed";

export interface QuotaFailure {
  reason: QuotaFailureReason;
  /** The counter's key (scope, key id or team, window): no secret in it. */
  counter: string;
  /** The endpoint named by the call ("" when it named none). */
  endpoint: string;
  /** The caller's key id and team ("" when unknown). */
  keyId: string;
  team: string;
  err: unknown;
}

export type QuotaFailureSink = (failure: QuotaFailure) => void;

/**
 * Logs each failure at error level (endpoint, key id, team, counter and the error's message; never
 * the request or its credentials) and counts it in `modelgate_quota_settle_failures_total{reason}`.
 */
export function quotaFailureSink(
  log: Pick<Logger, "error">,
  registry: Registry<PrometheusContentType> | Registry<OpenMetricsContentType>,
): QuotaFailureSink {
  const failures = new Counter({
    name: "modelgate_quota_settle_failures_total",
    help: 'Quota counter updates that failed after a call was decided: reason "settle" (a reservation not corrected to the real usage) or "seed" (a budget counter not seeded from the ledger)',
    labelNames: ["reason"],
    registers: [registry],
  });
  for (const reason of ["settle", "seed"] satisfies QuotaFailureReason[]) failures.labels(reason).inc(0);
  return ({ reason, counter, endpoint, keyId, team, err }) => {
    failures.labels(reason).inc();
    log.error(
      { reason, counter, endpoint, keyId, team, err: err instanceof Error ? err.message : String(err) },
      reason === "settle"
        ? "quota counter not settled: it keeps the call's reservation instead of its real usage until the window ends"
        : "budget counter not seeded from the ledger: the budget counts from zero on this replica until a later call seeds it",
    );
  };
}

// The limits that apply to one call, as counter checks: the endpoint's, the key's and the team's
// requests, tokens and spend. All are checked in one atomic hitAll, so the strictest wins and a
// refused call consumes nothing.
import type { CounterCheck } from "../store/counters";
import type { KeyLimits } from "../store/types";
import type { Principal, RuntimeEndpoint } from "../runtime";
import { budgetWindow, fixedWindow } from "./windows";

export type CheckKind = "requests" | "tokens" | "spend";

export interface PlannedCheck extends CounterCheck {
  kind: CheckKind;
  /** What the limit is, for errors and headers: `token limit of 1000 per minute for key "ci"`. */
  describe: string;
  /** The configured limit in its own unit (calls, tokens, USD). */
  limitValue: number;
  /** For spend checks: whose spend, since when; a counter that does not exist yet starts from the ledger. */
  spendOf?: { scope: { keyId: string } | { team: string }; since: Date };
}

export interface Reservation {
  tokens: number;
  /** Estimated cost in micro-USD (0 when the price is unknown). */
  microUsd: number;
}

const minute = 60_000;

export function planChecks(now: number, endpoint: RuntimeEndpoint | undefined, principal: Principal | undefined, teamLimits: KeyLimits | undefined, r: Reservation): PlannedCheck[] {
  const checks: PlannedCheck[] = [];
  if (endpoint?.limit) {
    const w = fixedWindow(now, endpoint.limit.windowMs);
    const per = endpoint.limit.renewalPeriod;
    checks.push({
      kind: "requests",
      key: `calls:ep:${endpoint.name}:${w.id}`,
      limit: endpoint.limit.calls,
      limitValue: endpoint.limit.calls,
      cost: 1,
      resetAtMs: w.resetAtMs,
      describe: `rate limit of ${endpoint.limit.calls} calls per ${per} for endpoint "${endpoint.name}"`,
    });
    if (endpoint.limit.tokens !== undefined) {
      checks.push({
        kind: "tokens",
        key: `tokens:ep:${endpoint.name}:${w.id}`,
        limit: endpoint.limit.tokens,
        limitValue: endpoint.limit.tokens,
        cost: r.tokens,
        resetAtMs: w.resetAtMs,
        describe: `token limit of ${endpoint.limit.tokens} per ${per} for endpoint "${endpoint.name}"`,
      });
    }
  }
  if (principal?.limits && principal.keyId) addOwn(checks, now, "key", principal.keyId, `key "${principal.keyName}"`, principal.limits, r);
  if (principal?.team && teamLimits) addOwn(checks, now, "team", principal.team, `team "${principal.team}"`, teamLimits, r);
  return checks;
}

function addOwn(checks: PlannedCheck[], now: number, scope: string, id: string, who: string, l: KeyLimits, r: Reservation): void {
  const m = fixedWindow(now, minute);
  if (l.rpm !== undefined) {
    checks.push({ kind: "requests", key: `rpm:${scope}:${id}:${m.id}`, limit: l.rpm, limitValue: l.rpm, cost: 1, resetAtMs: m.resetAtMs, describe: `rate limit of ${l.rpm} requests per minute for ${who}` });
  }
  if (l.tpm !== undefined) {
    checks.push({ kind: "tokens", key: `tpm:${scope}:${id}:${m.id}`, limit: l.tpm, limitValue: l.tpm, cost: r.tokens, resetAtMs: m.resetAtMs, describe: `token limit of ${l.tpm} per minute for ${who}` });
  }
  if (l.budgetUsd !== undefined) {
    const b = budgetWindow(now, l.budgetPeriod);
    checks.push({
      kind: "spend",
      spendOf: { scope: scope === "key" ? { keyId: id } : { team: id }, since: new Date(b.startMs) },
      key: `usd:${scope}:${id}:${b.id}`,
      limit: Math.round(l.budgetUsd * 1e6),
      limitValue: l.budgetUsd,
      cost: r.microUsd,
      resetAtMs: b.resetAtMs,
      describe: `budget of $${l.budgetUsd} per ${l.budgetPeriod} for ${who}`,
    });
  }
}

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
  /** The configured limit in its own unit (calls, tokens, USD). */
  limitValue: number;
  /** Whose limit: an endpoint's, a key's (by its name) or a team's. */
  ownerKind: "endpoint" | "key" | "team";
  owner: string;
  /** The window's name: "minute", the endpoint's renewal period, the budget's period. */
  per: string;
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
    const owner = endpoint.name;
    checks.push({
      kind: "requests",
      key: `calls:ep:${endpoint.name}:${w.id}`,
      limit: endpoint.limit.calls,
      limitValue: endpoint.limit.calls,
      cost: 1,
      resetAtMs: w.resetAtMs,
      ownerKind: "endpoint",
      owner,
      per,
    });
    if (endpoint.limit.tokens !== undefined) {
      checks.push({
        kind: "tokens",
        key: `tokens:ep:${endpoint.name}:${w.id}`,
        limit: endpoint.limit.tokens,
        limitValue: endpoint.limit.tokens,
        cost: r.tokens,
        resetAtMs: w.resetAtMs,
        ownerKind: "endpoint",
        owner,
        per,
      });
    }
  }
  if (principal?.limits && principal.keyId) addOwn(checks, now, "key", principal.keyId, principal.keyName, principal.limits, r);
  if (principal?.team && teamLimits) addOwn(checks, now, "team", principal.team, principal.team, teamLimits, r);
  return checks;
}

/**
 * What a check's limit is, for the error when it is reached: `token limit of 1000 per minute for
 * key "ci"`. Built only then: the checks of a call that passes (nearly all) hold no text.
 */
export function describeCheck(c: PlannedCheck): string {
  const whose = `${c.ownerKind} "${c.owner}"`;
  if (c.kind === "spend") return `budget of $${c.limitValue} per ${c.per} for ${whose}`;
  if (c.kind === "tokens") return `token limit of ${c.limitValue} per ${c.per} for ${whose}`;
  return `rate limit of ${c.limitValue} ${c.ownerKind === "endpoint" ? "calls" : "requests"} per ${c.per} for ${whose}`;
}

function addOwn(checks: PlannedCheck[], now: number, ownerKind: "key" | "team", id: string, owner: string, l: KeyLimits, r: Reservation): void {
  const m = fixedWindow(now, minute);
  if (l.rpm !== undefined) {
    checks.push({ kind: "requests", key: `rpm:${ownerKind}:${id}:${m.id}`, limit: l.rpm, limitValue: l.rpm, cost: 1, resetAtMs: m.resetAtMs, ownerKind, owner, per: "minute" });
  }
  if (l.tpm !== undefined) {
    checks.push({ kind: "tokens", key: `tpm:${ownerKind}:${id}:${m.id}`, limit: l.tpm, limitValue: l.tpm, cost: r.tokens, resetAtMs: m.resetAtMs, ownerKind, owner, per: "minute" });
  }
  if (l.budgetUsd !== undefined) {
    const b = budgetWindow(now, l.budgetPeriod);
    checks.push({
      kind: "spend",
      key: `usd:${ownerKind}:${id}:${b.id}`,
      limit: Math.round(l.budgetUsd * 1e6),
      limitValue: l.budgetUsd,
      cost: r.microUsd,
      resetAtMs: b.resetAtMs,
      ownerKind,
      owner,
      per: l.budgetPeriod,
      spendOf: { scope: ownerKind === "key" ? { keyId: id } : { team: id }, since: new Date(b.startMs) },
    });
  }
}

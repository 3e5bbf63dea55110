import { Code, ConnectError, type Interceptor, type StreamResponse, type UnaryResponse } from "@connectrpc/connect";
import { resourceExhausted } from "../errors";
import { describeCheck, planChecks, type PlannedCheck } from "../quota/checks";
import type { Counters } from "../store/counters";
import { ledgerGuardrails } from "../store/sql-shared";
import type { KeyLimits, LedgerRow } from "../store/types";
import type { QuotaFailureSink } from "../quota/failures";
import { getCallEndpoint, getCallIds, getCallScope, getCaller, type CallScope } from "./call-info";
import { callNext, onCallEnd } from "./call-end";

/** What quota needs from usage accounting (src/usage), so this file stays about counting. */
export interface Accounting {
  /** Refuses new calls (UNAVAILABLE) while usage rows cannot be written: none may be lost. */
  admit?(): void;
  /** Tokens to reserve before the call: the prompt's estimate and the completion's ceiling. */
  reservation(scope: CallScope): { promptTokens: number; maxCompletionTokens: number };
  /** USD for this usage, or null when the model's price is unknown. */
  cost(provider: string, model: string, usage: { promptTokens: number; completionTokens: number; cachedPromptTokens?: number }): number | null;
  /** Queues one ledger row (never blocks the call). */
  record(row: LedgerRow): void;
  /** What the ledger says a key or team spent since a time (USD). */
  spend(scope: { keyId: string } | { team: string }, since: Date): Promise<number>;
}

export interface QuotaDeps {
  counters: Counters;
  accounting: Accounting;
  /** Told of every counter settlement or seed that failed (src/quota/failures.ts: logged and counted). */
  onFailure: QuotaFailureSink;
  now?: () => number;
}

/**
 * Reserves before the call, settles after: requests, tokens (prompt estimate + max_tokens) and
 * spend for the endpoint, the key and the team, in one atomic check, so the strictest limit wins.
 * After the call (answered, failed, cancelled or broken mid-stream) the reservation is corrected
 * to the real usage and one ledger row is written.
 */
export function quotaInterceptor(deps: QuotaDeps): Interceptor {
  const now = deps.now ?? Date.now;
  const { counters, accounting, onFailure } = deps;
  // A budget counter that does not exist (a new period, a restarted process without Redis, a
  // flushed Redis) starts from what the ledger already recorded, once per counter per process.
  // That ledger SUM may scan a period's rows (on a SQLite file it runs on the read worker, within
  // store.sqlite.read_timeout_ms): only the calls that find the seed unsettled wait for it.
  const seeding = new Map<string, Promise<void>>();
  /** Waits for the spend counters' seeds; undefined when the call has no spend limit (no promise per call then). */
  const seedSpendCounters = (checks: PlannedCheck[], who: CallParty): Promise<unknown> | undefined => {
    const pending: Promise<void>[] = [];
    for (const c of checks) {
      if (!c.spendOf) continue;
      let seed = seeding.get(c.key);
      if (!seed) {
        const { scope, since } = c.spendOf;
        seed = (async () => {
          if ((await counters.get(c.key)) !== undefined) return;
          const spent = Math.round((await accounting.spend(scope, since)) * 1e6);
          if (spent > 0) await counters.add(c.key, spent, c.resetAtMs);
        })().catch((err: unknown) => {
          seeding.delete(c.key); // try again on the next call; the limit still applies from zero
          onFailure({ reason: "seed", counter: c.key, ...who, err });
        });
        seeding.set(c.key, seed);
        if (seeding.size > 10_000) seeding.delete(seeding.keys().next().value!);
      }
      pending.push(seed);
    }
    return pending.length === 0 ? undefined : Promise.all(pending);
  };
  // Promise chains, not an async function: no frame suspended per call in flight, and no turn of
  // the microtask queue for a seed the call does not wait for. Before the counters are hit, what
  // fails throws or rejects without a ledger row, as before; from then on each failure settles.
  return (next) => (req) => {
    const context = req.contextValues;
    const scope = getCallScope(context);
    if (!scope || !modelServices.has(req.service.typeName)) return next(req);
    accounting.admit?.();
    const called = getCallEndpoint(context);
    const name = called?.name;
    const endpoint = called?.endpoint;
    const principal = getCaller(context)?.principal;
    const teamLimits = principal?.team ? scope.state.teams.get(principal.team) : undefined;
    // Counting the prompt costs tens of µs: only when a token or spend limit needs it (or, at
    // settlement, a stream that ended without usage).
    let estimated: ReturnType<Accounting["reservation"]> | undefined;
    const estimate = () => (estimated ??= accounting.reservation(scope));
    let reservation = { tokens: 0, microUsd: 0 };
    if (needsEstimate(endpoint?.limit?.tokens, principal?.limits, teamLimits)) {
      const e = estimate();
      const usd = endpoint ? (accounting.cost(endpoint.provider, endpoint.model, { promptTokens: e.promptTokens, completionTokens: e.maxCompletionTokens }) ?? 0) : 0;
      // Capped to what a counter holds exactly: an absurd max_tokens × n is refused by the limit, not by an overflow.
      reservation = {
        tokens: Math.min(Number.MAX_SAFE_INTEGER, e.promptTokens + e.maxCompletionTokens),
        microUsd: Math.min(Number.MAX_SAFE_INTEGER, Math.round(usd * 1e6)),
      };
    }
    const checks = planChecks(now(), endpoint, principal, teamLimits, reservation);
    const who: CallParty = { endpoint: name ?? "", keyId: principal?.keyId ?? "", team: principal?.team ?? "" };

    const settle = (err: unknown) => {
      const status = err === undefined ? "ok" : Code[ConnectError.from(err).code];
      const outcome = scope.outcome;
      const usage = outcome.usage;
      let promptTokens = usage?.promptTokens ?? 0;
      let completionTokens = usage?.completionTokens ?? 0;
      const streamed = outcome.streamedOutput;
      if (!usage && (streamed?.hasOutput || (err !== undefined && outcome.upstreamReached))) {
        // No usage from the provider, but it had the request: a stream that ended without usage
        // (cancelled, broken, timed out), or a call that failed once the upstream had accepted it.
        // The provider bills the prompt and what it generated: what was asked and what was sent.
        promptTokens = estimate().promptTokens;
        completionTokens = streamed?.tokens() ?? 0;
      }
      // Prompt tokens read from the provider's cache are billed at the cached-input price.
      const cachedPromptTokens = usage?.cachedPromptTokens;
      const cost =
        outcome.provider && outcome.model
          ? accounting.cost(outcome.provider, outcome.model, { promptTokens, completionTokens, ...(cachedPromptTokens === undefined ? {} : { cachedPromptTokens }) })
          : null;
      for (const c of checks) {
        const actual = c.kind === "tokens" ? promptTokens + completionTokens : c.kind === "spend" ? Math.round((cost ?? 0) * 1e6) : c.cost;
        if (actual !== c.cost) {
          counters.add(c.key, actual - c.cost, c.resetAtMs).catch((err: unknown) => onFailure({ reason: "settle", counter: c.key, ...who, err }));
        }
      }
      const ids = getCallIds(context);
      accounting.record({
        time: new Date(),
        requestId: ids?.requestId ?? "",
        traceId: traceIdOf(ids?.traceparent),
        keyId: principal?.keyId ?? "",
        team: principal?.team ?? "",
        endpoint: name ?? "",
        provider: outcome.provider ?? endpoint?.provider ?? "",
        model: outcome.model ?? endpoint?.model ?? "",
        modelVersion: outcome.modelVersion ?? "",
        target: outcome.target ?? "",
        promptTokens,
        completionTokens,
        cachedPromptTokens: cachedPromptTokens ?? 0,
        reasoningTokens: usage?.reasoningTokens ?? 0,
        costUsd: cost,
        status,
        latencyMs: Math.round((performance.now() - scope.startedAt) * 100) / 100,
        streamed: req.stream,
        template: outcome.template ?? "",
        cache: outcome.cache ?? "",
        costSavedUsd: outcome.costSavedUsd ?? null,
        guardrails: ledgerGuardrails(outcome.guardrails),
      });
    };

    const failed = (err: unknown) => {
      settle(err);
      return Promise.reject(err);
    };
    const proceed = (values: number[]): Promise<UnaryResponse | StreamResponse> =>
      callNext(next, req).then((res) => {
        if (checks.length > 0) rateLimitHeaders(res.header, checks, values, now(), true);
        return onCallEnd(res, req.signal, settle);
      }, failed);
    const hit = (): Promise<UnaryResponse | StreamResponse> => {
      if (checks.length === 0) return proceed([]);
      return counters.hitAll(checks).then((decision) => {
        if (!decision.allowed) {
          const exceeded = checks[decision.failed ?? 0]!;
          const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
          const err = resourceExhausted(`${describeCheck(exceeded)} reached; retry in ${seconds}s`, decision.retryAfterMs);
          rateLimitHeaders(err.metadata, checks, decision.values, now(), false);
          checks.length = 0; // nothing was counted: nothing to settle
          return failed(err);
        }
        return proceed(decision.values);
      });
    };
    const seeded = seedSpendCounters(checks, who);
    return seeded === undefined ? hit() : seeded.then(hit);
  };
}

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`), "" when there is none. */
function traceIdOf(traceparent: string | undefined): string {
  return traceparent === undefined ? "" : (/^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(traceparent)?.[1] ?? "");
}

/** Who a counter failure concerns, for its log line. */
type CallParty = { endpoint: string; keyId: string; team: string };

function needsEstimate(endpointTokens: number | undefined, ...limits: (KeyLimits | undefined)[]): boolean {
  return endpointTokens !== undefined || limits.some((l) => l !== undefined && (l.tpm !== undefined || l.budgetUsd !== undefined));
}

const modelServices = new Set([
  "modelgate.v1.ChatService",
  "modelgate.v1.CompletionsService",
  "modelgate.v1.EmbeddingsService",
  "modelgate.v1.PredictService",
]);

/** The header names per kind of limit, made once (a name built per call is hashed per call). */
const rateLimitNames = {
  requests: { limit: "x-ratelimit-limit-requests", remaining: "x-ratelimit-remaining-requests", reset: "x-ratelimit-reset-requests" },
  tokens: { limit: "x-ratelimit-limit-tokens", remaining: "x-ratelimit-remaining-tokens", reset: "x-ratelimit-reset-tokens" },
} as const;

/**
 * x-ratelimit-* (OpenAI's names) and RateLimit / RateLimit-Policy (IETF draft) for the strictest
 * request and token limits, so REST clients know when to come back.
 */
function rateLimitHeaders(h: Headers, checks: PlannedCheck[], values: number[], now: number, counted: boolean): void {
  for (const kind of ["requests", "tokens"] as const) {
    let best: PlannedCheck | undefined;
    let bestRemaining = 0;
    for (let i = 0; i < checks.length; i++) {
      const c = checks[i]!;
      if (c.kind !== kind) continue;
      const used = values[i] ?? (counted ? c.cost : 0);
      const remaining = Math.max(0, c.limit - used);
      if (best === undefined || remaining < bestRemaining) {
        best = c;
        bestRemaining = remaining;
      }
    }
    if (best === undefined) continue;
    const reset = Math.max(0, Math.ceil((best.resetAtMs - now) / 1000));
    const names = rateLimitNames[kind];
    h.set(names.limit, String(best.limit));
    h.set(names.remaining, String(bestRemaining));
    h.set(names.reset, `${reset}s`);
    if (kind === "requests") {
      h.set("ratelimit-policy", `${best.limit};w=${Math.max(1, Math.round((best.resetAtMs - now) / 1000))}`);
      h.set("ratelimit", `limit=${best.limit}, remaining=${bestRemaining}, reset=${reset}`);
    }
  }
}

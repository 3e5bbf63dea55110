// StatsService.WatchStats: live figures of the endpoints (src/observability/live-stats.ts), one
// snapshot at once and then one per interval, until the client cancels or the gateway stops.
// Who sees what: any signed-in caller, the endpoints it may call (the access rules of a call:
// src/auth/access.ts); the "admin" role, every endpoint. Both are decided again at each snapshot
// on the state then in force, so a reload that removes an endpoint or a grant shows at once.
// The caller's credentials are checked again at each snapshot too (through the key cache and the
// state, no database query): a key revoked, expired or removed from the config, or a token past
// its exp, ends the watch with UNAUTHENTICATED; a caller left with no endpoint it may watch, with
// PERMISSION_DENIED. A revocation shows within the key cache's poll (store.key_refresh_ms) plus
// one interval.
// Watchers are bounded per gateway and per caller (RESOURCE_EXHAUSTED past either).
import { setTimeout as sleep } from "node:timers/promises";
import { Counts } from "../counts";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { LiveStatsSchema, StatsService, WatchStatsRequest, WatchStatsResponseSchema } from "../../gen/modelgate/v1/stats_pb";
import { checkAccess, hasRole, sourceOfKeyId } from "../auth/access";
import { invalidArgument, notFound, permissionDenied, resourceExhausted, unauthenticated } from "../errors";
import { getCallScope, getCaller } from "../interceptors/call-info";
import { idleFigures, MAX_WINDOW_SECONDS, type LiveFigures, type LiveStats } from "../observability/live-stats";
import { anonymous, type Principal, type RuntimeState } from "../runtime";

export const MIN_INTERVAL_MS = 250;
export const MAX_INTERVAL_MS = 60_000;
export const DEFAULT_INTERVAL_MS = 1_000;
export const DEFAULT_WINDOW_SECONDS = 10;
/** Most endpoints one watch may name. */
export const MAX_WATCHED_ENDPOINTS = 100;
/** How often a watch sleeping a long interval checks that its caller's credentials still hold. */
const RECHECK_MS = 1_000;

export interface StatsServiceDeps {
  getState: () => RuntimeState;
  live: LiveStats;
  /** Aborted when the gateway starts shutting down: every watch ends (OK) instead of holding the shutdown's grace period. */
  stopping?: AbortSignal;
  /** Watchers at once on this gateway (default 64). */
  maxWatchers?: number;
  /** Watchers at once per key (default 8). */
  maxWatchersPerCaller?: number;
  /** Watchers at once per team, for callers without the admin role (default 16; keys without a team: per key only). */
  maxWatchersPerTeam?: number;
  /** Places only callers with the admin role may take (default a quarter of maxWatchers). */
  adminReserve?: number;
}

interface WatchPlan {
  /** Endpoint names asked for; undefined = every endpoint the caller may call. */
  named: readonly string[] | undefined;
  intervalMs: number;
  windowSeconds: number;
  /** Snapshots before the stream ends; Infinity = until cancelled. */
  maxSnapshots: number;
}

function parseWatch(req: WatchStatsRequest): WatchPlan {
  const intervalMs = req.intervalMs === 0 ? DEFAULT_INTERVAL_MS : req.intervalMs;
  if (intervalMs < MIN_INTERVAL_MS || intervalMs > MAX_INTERVAL_MS) {
    throw invalidArgument(`interval_ms: ${MIN_INTERVAL_MS} to ${MAX_INTERVAL_MS} (0 = ${DEFAULT_INTERVAL_MS}), got ${req.intervalMs}`);
  }
  const windowSeconds = req.windowSeconds === 0 ? DEFAULT_WINDOW_SECONDS : req.windowSeconds;
  if (windowSeconds > MAX_WINDOW_SECONDS) {
    throw invalidArgument(`window_seconds: 1 to ${MAX_WINDOW_SECONDS} (0 = ${DEFAULT_WINDOW_SECONDS}), got ${req.windowSeconds}`);
  }
  if (req.endpoints.length > MAX_WATCHED_ENDPOINTS) {
    throw invalidArgument(`endpoints: at most ${MAX_WATCHED_ENDPOINTS} (leave it empty to watch every endpoint you may call)`);
  }
  const maxSnapshots = req.maxSnapshots === 0 ? Infinity : req.maxSnapshots;
  return { named: req.endpoints.length === 0 ? undefined : [...new Set(req.endpoints)], intervalMs, windowSeconds, maxSnapshots };
}

/** May this caller watch this endpoint: the admin role, or access to call it. */
function mayWatch(principal: Principal, isAdmin: boolean, name: string, state: RuntimeState): boolean {
  return isAdmin || checkAccess({ ...principal, source: sourceOfKeyId(principal.keyId) }, name, state.auth.grants).allowed;
}

/** The endpoints a snapshot shows, on the state in force now (config order). */
function watchedEndpoints(plan: WatchPlan, principal: Principal, isAdmin: boolean, state: RuntimeState): string[] {
  const named = plan.named && new Set(plan.named);
  return [...state.endpoints.keys()].filter((name) => (!named || named.has(name)) && mayWatch(principal, isAdmin, name, state));
}

/**
 * Refuses a running watch whose caller may no longer call any of the endpoints it shows (its
 * roles or grants changed). Endpoints that left the config are not counted: their watch runs on,
 * as one whose endpoints were removed does.
 */
function checkStillWatching(plan: WatchPlan, principal: Principal, isAdmin: boolean, state: RuntimeState): void {
  if (isAdmin) return;
  const shown = plan.named ?? [...state.endpoints.keys()];
  const existing = shown.filter((name) => state.endpoints.has(name));
  if (existing.length > 0 && !existing.some((name) => mayWatch(principal, false, name, state))) {
    throw permissionDenied("this key may no longer call any of the endpoints this watch shows");
  }
}

/** A figure without samples (NaN) is left unset. */
const figure = (x: number) => (Number.isFinite(x) ? x : undefined);

function liveStatsMessage(f: LiveFigures): MessageInitShape<typeof LiveStatsSchema> {
  return {
    calls: BigInt(f.calls),
    errors: BigInt(f.errors),
    callsPerSecond: f.callsPerSecond,
    errorRate: figure(f.errorRate),
    p50LatencyMs: figure(f.p50LatencyMs),
    p95LatencyMs: figure(f.p95LatencyMs),
    p50TtftMs: figure(f.p50TtftMs),
    tokensPerSecond: f.tokensPerSecond,
    completionTokensPerSecond: f.completionTokensPerSecond,
    activeStreams: f.activeStreams,
    totalCalls: BigInt(f.totalCalls),
  };
}

export function snapshot(live: LiveStats, state: RuntimeState, names: readonly string[], windowSeconds: number): MessageInitShape<typeof WatchStatsResponseSchema> {
  const now = live.clock();
  const windowMs = windowSeconds * 1000;
  const figuresOf = (endpoint: string, target?: string) => live.peek(endpoint, target)?.figures(now, windowMs) ?? idleFigures;
  return {
    time: timestampFromDate(new Date(now)),
    windowSeconds,
    endpoints: names.flatMap((name) => {
      const ep = state.endpoints.get(name);
      if (!ep) return [];
      return [
        {
          endpoint: name,
          stats: liveStatsMessage(figuresOf(name)),
          targets: ep.targets.map((t) => ({ target: t.name, stats: liveStatsMessage(figuresOf(name, t.name)) })),
        },
      ];
    }),
  };
}

export function statsService(deps: StatsServiceDeps): ServiceImpl<typeof StatsService> {
  const maxWatchers = deps.maxWatchers ?? 64;
  const maxPerCaller = deps.maxWatchersPerCaller ?? 8;
  const maxPerTeam = deps.maxWatchersPerTeam ?? 16;
  const adminReserve = deps.adminReserve ?? Math.floor(maxWatchers / 4);
  let watchers = 0;
  const perCaller = new Counts();
  // Without these two, a few keys (8 keys × 8 watchers) took every place: the operators' own
  // console could not watch its gateway. Now one team fills at most maxPerTeam places, and
  // non-admin callers together leave adminReserve places free.
  let nonAdmin = 0;
  const perTeam = new Counts();

  /** Takes a watcher's place, or refuses; returns how to give it back. */
  const admit = (principal: Principal, isAdmin: boolean): (() => void) => {
    const { keyId, team } = principal;
    const teamCapped = !isAdmin && team !== "";
    if (watchers >= maxWatchers) throw resourceExhausted(`this gateway serves at most ${maxWatchers} stats watchers at once; try again later`, 5_000);
    if (!isAdmin && nonAdmin >= maxWatchers - adminReserve) {
      throw resourceExhausted(`this gateway keeps its last ${adminReserve} stats watchers for admins; try again later`, 5_000);
    }
    if (perCaller.get(keyId) >= maxPerCaller) throw resourceExhausted(`at most ${maxPerCaller} stats watchers at once per key: close another one first`, 5_000);
    if (teamCapped && perTeam.get(team) >= maxPerTeam) {
      throw resourceExhausted(`at most ${maxPerTeam} stats watchers at once per team: close another one first`, 5_000);
    }
    watchers++;
    perCaller.add(keyId, 1);
    if (!isAdmin) nonAdmin++;
    if (teamCapped) perTeam.add(team, 1);
    return () => {
      watchers--;
      perCaller.add(keyId, -1);
      if (!isAdmin) nonAdmin--;
      if (teamCapped) perTeam.add(team, -1);
    };
  };

  return {
    async *watchStats(req, ctx: HandlerContext) {
      const plan = parseWatch(req);
      const startState = getCallScope(ctx.values)?.state ?? deps.getState();
      // Through the chain the auth interceptor has set the caller; without it (in-process use) only a gateway with auth off.
      const caller = getCaller(ctx.values);
      let principal = caller?.principal ?? (startState.auth.enabled ? undefined : anonymous);
      if (!principal) throw unauthenticated("missing API key");
      let isAdmin = hasRole(principal, "admin");
      // Named endpoints: one the caller may not call is refused before whether it exists is told.
      for (const name of plan.named ?? []) {
        if (!isAdmin) {
          const decision = checkAccess({ ...principal, source: sourceOfKeyId(principal.keyId) }, name, startState.auth.grants);
          if (!decision.allowed) throw permissionDenied(decision.missing);
        }
        if (!startState.endpoints.has(name)) throw notFound(`unknown endpoint "${name}"`);
      }
      if (plan.named === undefined && watchedEndpoints(plan, principal, isAdmin, startState).length === 0) {
        throw permissionDenied("this key may call none of this gateway's endpoints: there is nothing to watch");
      }
      const release = admit(principal, isAdmin);
      const stop = deps.stopping ? AbortSignal.any([ctx.signal, deps.stopping]) : ctx.signal;
      try {
        for (let sent = 1; ; sent++) {
          const state = deps.getState();
          if (sent > 1 && caller?.recheck) {
            principal = caller.recheck(state);
            isAdmin = hasRole(principal, "admin");
            checkStillWatching(plan, principal, isAdmin, state);
          }
          yield snapshot(deps.live, state, watchedEndpoints(plan, principal, isAdmin, state), plan.windowSeconds);
          if (sent >= plan.maxSnapshots) return;
          // A long interval is slept in steps with the caller checked between them: a key revoked
          // meanwhile ends the watch (and frees its place) within a second or so, not an interval later.
          try {
            for (let left = plan.intervalMs; left > 0; left -= RECHECK_MS) {
              await sleep(Math.min(left, RECHECK_MS), undefined, { signal: stop });
              if (left > RECHECK_MS && caller?.recheck) caller.recheck(deps.getState());
            }
          } catch (err) {
            if (stop.aborted) return; // cancelled by the client, its deadline, or the gateway stopping
            throw err;
          }
        }
      } finally {
        release();
      }
    },
  };
}

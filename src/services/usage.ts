// UsageService: totals over the ledger, the same per hour or day bucket, CSV export for chargeback, and the calls themselves
// a page at a time (ListCalls). The admin role is checked by the auth interceptor before a call gets here, except for
// ListCalls, which any signed-in caller may use: there a caller without the admin role sees only its own key's calls.
import { createHash } from "node:crypto";
import type { ServiceImpl } from "@connectrpc/connect";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { CallRecord, ListCallsRequest, UsageService, UsageTotal } from "../../gen/modelgate/v1/usage_pb";
import { Code, invalidArgument, permissionDenied } from "../errors";
import { getCaller } from "../interceptors/call-info";
import type { RuntimeState } from "../runtime";
import { untilAborted } from "../timers";
import { checkFilterText } from "../store/sql-shared";
import { MAX_CALLS_PAGE, USAGE_BUCKET_MS, type CallCursor, type CallQuery, type LedgerRow, type LedgerStore, type UsageBucket, type UsageGroup, type UsageSeriesRow, type UsageTotalRow } from "../store/types";
import { ledgerCsvHeader, ledgerCsvLine } from "../usage/csv";
import { sortTotals } from "../usage/totals";

export const usageGroups: readonly UsageGroup[] = ["key", "team", "endpoint", "target", "model"];

export interface UsageServiceDeps {
  ledger: LedgerStore;
  /** The state in force now: an export re-checks its caller against it at each chunk. */
  getState?: () => RuntimeState;
  /** The end of a range whose end_time is unset. */
  now?: () => Date;
  /** Size at which an ExportUsage message is sent (characters; default 64 KiB). */
  exportChunkChars?: number;
}

export function usageService(deps: UsageServiceDeps): ServiceImpl<typeof UsageService> {
  const now = deps.now ?? (() => new Date());
  const chunkChars = deps.exportChunkChars ?? 64 * 1024;
  return {
    async getUsage(req, ctx) {
      const groupBy = parseGroupBy(req.groupBy);
      const { start, end } = parseRange(req.startTime, req.endTime, now());
      // The read may be waiting on the store (a worker, the network): the call answers when it is
      // cancelled, past its deadline or cut by the shutdown, with that code, not a reset.
      const totals = await untilAborted(
        deps.ledger.totals({
          ...(start && { start }),
          end,
          ...(req.team && { team: checkFilterText(req.team, "team") }),
          ...(req.keyId && { keyId: checkFilterText(req.keyId, "key_id") }),
          groupBy,
        }),
        ctx.signal,
      );
      return { totals: sortTotals(groupBy, totals).map((t) => toUsageTotal(t, groupBy)) };
    },

    async getUsageSeries(req, ctx) {
      if (!req.startTime) throw invalidArgument("start_time: required (a series needs a start; its range spans at most 366 days)");
      const bucket = parseBucket(req.bucket);
      const groupBy = parseGroupBy(req.groupBy);
      const { start, end } = parseRange(req.startTime, req.endTime, now());
      if (!start) throw invalidArgument("start_time: required");
      const span = end.getTime() - start.getTime();
      if (span > MAX_SERIES_DAYS * USAGE_BUCKET_MS.day) {
        throw invalidArgument(
          `range: ${start.toISOString()} to ${end.toISOString()} is over the limit of ${MAX_SERIES_DAYS} days`,
        );
      }
      const points = await untilAborted(
        deps.ledger.series({
          start,
          end,
          bucket,
          ...(req.team && { team: checkFilterText(req.team, "team") }),
          ...(req.keyId && { keyId: checkFilterText(req.keyId, "key_id") }),
          groupBy,
          limit: MAX_SERIES_POINTS + 1,
        }),
        ctx.signal,
      );
      if (points.length > MAX_SERIES_POINTS) {
        throw invalidArgument(
          `the series has more than ${MAX_SERIES_POINTS} points (the limit): narrow the range, use bucket "day" or fewer group_by`,
        );
      }
      return {
        points: sortSeries(groupBy, points).map((p) => ({ bucketStart: timestampFromDate(p.bucketStart), total: toUsageTotal(p, groupBy) })),
      };
    },

    async *exportUsage(req, ctx) {
      const { start, end } = parseRange(req.startTime, req.endTime, now());
      // Pages are reads the store cannot interrupt: with the call's signal, the export ends at the
      // call's own end (client gone, deadline, shutdown) with that code, not after the page.
      const rows = deps.ledger.rows({ ...(start && { start }), end, ...(req.team && { team: checkFilterText(req.team, "team") }) }, ctx.signal);
      let csv = ledgerCsvHeader;
      // An export of a big ledger runs for minutes: its caller is checked again before each chunk
      // (the credentials through the key cache, the role on the state in force), so a key revoked
      // or stripped of "admin" meanwhile gets no more of the ledger.
      const caller = getCaller(ctx.values);
      const stillAdmin = () => {
        if (caller?.recheck === undefined || deps.getState === undefined) return;
        if (!caller.recheck(deps.getState()).roles.has("admin")) throw permissionDenied('ExportUsage: this key no longer has role "admin"');
      };
      // Stopping the loop (client gone) returns the store's iterator, which releases its cursor.
      for await (const row of rows) {
        // Thrown, not returned: a deadline or the shutdown must not end a short CSV with OK.
        if (ctx.signal.aborted) throw ctx.signal.reason;
        csv += ledgerCsvLine(row);
        if (csv.length >= chunkChars) {
          stillAdmin();
          yield { csv };
          csv = "";
        }
      }
      if (csv) yield { csv };
    },

    async listCalls(req, ctx) {
      const principal = getCaller(ctx.values)?.principal;
      // Set by the auth interceptor for every call (auth off: an anonymous admin); never guessed.
      if (!principal) throw permissionDenied("ListCalls: no authenticated caller");
      const admin = principal.roles.has("admin");
      if (!admin && req.keyId !== "" && req.keyId !== principal.keyId) {
        throw permissionDenied(`ListCalls: without role "admin" a key sees only its own calls (key_id "" or its own)`);
      }
      const query = parseCallsRequest(req, now());
      if (!admin) query.keyId = principal.keyId;
      const filters = callsFilterHash(query, req.endTime !== undefined);
      if (req.pageToken !== "") query.before = parsePageToken(req.pageToken, filters);
      const page = await untilAborted(deps.ledger.calls(query), ctx.signal);
      return {
        calls: page.calls.map(toCallRecord),
        nextPageToken: page.next ? pageToken(page.next, filters) : "",
      };
    },
  };
}

/** Calls per ListCalls page when page_size is 0. */
export const DEFAULT_CALLS_PAGE = 50;
/** What a status filter may be besides a Connect code name. */
const callStatuses = new Set(["ok", "error"]);
const codeNames = new Set(Object.values(Code).filter((v): v is string => typeof v === "string"));

function parseCallsRequest(req: ListCallsRequest, now: Date): CallQuery {
  if (req.pageSize > MAX_CALLS_PAGE) throw invalidArgument(`page_size: ${req.pageSize} is over the limit of ${MAX_CALLS_PAGE}`);
  const { start, end } = parseRange(req.startTime, req.endTime, now);
  if (req.status !== "" && !callStatuses.has(req.status) && !codeNames.has(req.status)) {
    throw invalidArgument(`status: unknown status "${req.status.slice(0, 64)}" (expected ok, error or a code name such as ResourceExhausted)`);
  }
  return {
    ...(start && { start }),
    end,
    ...(req.endpoint && { endpoint: checkFilterText(req.endpoint, "endpoint") }),
    ...(req.keyId && { keyId: checkFilterText(req.keyId, "key_id") }),
    ...(req.team && { team: checkFilterText(req.team, "team") }),
    ...(req.status && { status: req.status }),
    ...(req.requestId && { requestId: checkFilterText(req.requestId, "request_id") }),
    limit: req.pageSize === 0 ? DEFAULT_CALLS_PAGE : req.pageSize,
  };
}

/**
 * The filters a page token belongs to (a short hash): a token used with other filters is refused
 * rather than silently continuing another listing. The end of the range is left out when the
 * caller left it open (it is "now", which moves between pages).
 */
function callsFilterHash(query: CallQuery, endGiven: boolean): string {
  const { limit: _limit, end, ...filters } = query;
  return createHash("sha256")
    .update(JSON.stringify({ ...filters, start: filters.start?.getTime(), end: endGiven ? end?.getTime() : undefined }))
    .digest("base64url")
    .slice(0, 12);
}

/** An opaque cursor: base64url of "<time ms>.<row id>.<filter hash>". */
function pageToken(cursor: CallCursor, filters: string): string {
  return Buffer.from(`${cursor.time.getTime()}.${cursor.id}.${filters}`).toString("base64url");
}

function parsePageToken(token: string, filters: string): CallCursor {
  const bad = () => invalidArgument("page_token: not a token ListCalls returned");
  if (token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  const match = /^(\d{1,16})\.(\d{1,15})\.([A-Za-z0-9_-]{12})$/.exec(Buffer.from(token, "base64url").toString("latin1"));
  if (!match) throw bad();
  if (match[3] !== filters) throw invalidArgument("page_token: it belongs to a listing with other filters (keep them as they were, or start over without a token)");
  const time = new Date(Number(match[1]));
  if (Number.isNaN(time.getTime())) throw bad();
  return { time, id: match[2]! };
}

function toCallRecord(row: LedgerRow): Omit<CallRecord, "$typeName" | "$unknown"> {
  return {
    time: timestampFromDate(row.time),
    requestId: row.requestId,
    traceId: row.traceId ?? "",
    keyId: row.keyId,
    team: row.team,
    endpoint: row.endpoint,
    provider: row.provider,
    model: row.model,
    modelVersion: row.modelVersion,
    target: row.target ?? "",
    promptTokens: count(row.promptTokens),
    completionTokens: count(row.completionTokens),
    cachedPromptTokens: count(row.cachedPromptTokens ?? 0),
    reasoningTokens: count(row.reasoningTokens ?? 0),
    ...(row.costUsd !== null && { costUsd: row.costUsd }),
    status: row.status,
    latencyMs: row.latencyMs,
    streamed: row.streamed,
    template: row.template ?? "",
    cache: row.cache ?? "",
    ...(row.costSavedUsd !== undefined && row.costSavedUsd !== null && { costSavedUsd: row.costSavedUsd }),
    guardrails: row.guardrails ?? "",
  };
}

/** The longest range a series may span, in days. */
export const MAX_SERIES_DAYS = 366;
/** The most points (bucket × group) a series may hold. */
export const MAX_SERIES_POINTS = 10_000;

function parseBucket(name: string): UsageBucket {
  if (!Object.hasOwn(USAGE_BUCKET_MS, name)) {
    throw invalidArgument(`bucket: ${name === "" ? "required" : `unknown bucket "${name}"`} (expected ${Object.keys(USAGE_BUCKET_MS).join(", ")})`);
  }
  return name as UsageBucket;
}

/** By bucket, then by the group columns as the caller listed them (as GetUsage sorts its totals). */
function sortSeries(groupBy: readonly UsageGroup[], points: readonly UsageSeriesRow[]): UsageSeriesRow[] {
  const out: UsageSeriesRow[] = [];
  let i = 0;
  while (i < points.length) {
    let j = i;
    const t = points[i]!.bucketStart.getTime();
    while (j < points.length && points[j]!.bucketStart.getTime() === t) j++;
    out.push(...(sortTotals(groupBy, points.slice(i, j)) as UsageSeriesRow[]));
    i = j;
  }
  return out;
}

/** group_by names, validated: INVALID_ARGUMENT names the bad or repeated one. */
export function parseGroupBy(names: readonly string[]): UsageGroup[] {
  const out: UsageGroup[] = [];
  for (const name of names) {
    const group = usageGroups.find((g) => g === name);
    if (!group) throw invalidArgument(`group_by: unknown group "${name}" (expected ${usageGroups.join(", ")})`);
    if (out.includes(group)) throw invalidArgument(`group_by: "${name}" is repeated`);
    out.push(group);
  }
  return out;
}

function parseRange(startTime: Timestamp | undefined, endTime: Timestamp | undefined, now: Date) {
  const start = startTime ? toDate(startTime, "start_time") : undefined;
  const end = endTime ? toDate(endTime, "end_time") : now;
  if (start && start.getTime() >= end.getTime()) {
    throw invalidArgument(
      `start_time (${start.toISOString()}) must be before end_time (${end.toISOString()}${endTime ? "" : ", now"})`,
    );
  }
  return { start, end };
}

// Dates outside ±8.64e15 ms are invalid in JS: refuse them rather than query with NaN.
function toDate(ts: Timestamp, field: string): Date {
  const d = timestampDate(ts);
  if (Number.isNaN(d.getTime()) || ts.nanos < 0 || ts.nanos > 999_999_999) {
    throw invalidArgument(`${field}: not a valid timestamp`);
  }
  return d;
}

function toUsageTotal(t: UsageTotalRow, groupBy: readonly UsageGroup[]): Omit<UsageTotal, "$typeName" | "$unknown"> {
  const group: Record<string, string> = {};
  for (const g of groupBy) group[g] = t.group[g] ?? "";
  return {
    group,
    calls: count(t.calls),
    promptTokens: count(t.promptTokens),
    completionTokens: count(t.completionTokens),
    cachedPromptTokens: count(t.cachedPromptTokens),
    reasoningTokens: count(t.reasoningTokens),
    costUsd: t.costUsd,
    unknownCostCalls: count(t.unknownCostCalls),
    errorCalls: count(t.errorCalls),
    cacheHits: count(t.cacheHits),
    costSavedUsd: t.costSavedUsd,
  };
}

/** Sums come back as numbers (PostgreSQL's may be strings parsed upstream); uint64 wants a bigint. */
function count(n: number): bigint {
  return BigInt(Math.max(0, Math.round(n)));
}

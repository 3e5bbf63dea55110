// UsageService: totals over the ledger and CSV export for chargeback. The admin role is checked
// by the auth interceptor before a call gets here.
import type { ServiceImpl } from "@connectrpc/connect";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { UsageService, UsageTotal } from "../../gen/modelgate/v1/usage_pb";
import { invalidArgument } from "../errors";
import { checkFilterText } from "../store/sql-shared";
import type { LedgerStore, UsageGroup, UsageTotalRow } from "../store/types";
import { ledgerCsvHeader, ledgerCsvLine } from "../usage/csv";
import { sortTotals } from "../usage/totals";

export const usageGroups: readonly UsageGroup[] = ["key", "team", "endpoint", "target", "model"];

export interface UsageServiceDeps {
  ledger: LedgerStore;
  /** The end of a range whose end_time is unset. */
  now?: () => Date;
  /** Size at which an ExportUsage message is sent (characters; default 64 KiB). */
  exportChunkChars?: number;
}

export function usageService(deps: UsageServiceDeps): ServiceImpl<typeof UsageService> {
  const now = deps.now ?? (() => new Date());
  const chunkChars = deps.exportChunkChars ?? 64 * 1024;
  return {
    async getUsage(req) {
      const groupBy = parseGroupBy(req.groupBy);
      const { start, end } = parseRange(req.startTime, req.endTime, now());
      const totals = await deps.ledger.totals({
        ...(start && { start }),
        end,
        ...(req.team && { team: checkFilterText(req.team, "team") }),
        ...(req.keyId && { keyId: checkFilterText(req.keyId, "key_id") }),
        groupBy,
      });
      return { totals: sortTotals(groupBy, totals).map((t) => toUsageTotal(t, groupBy)) };
    },

    async *exportUsage(req, ctx) {
      const { start, end } = parseRange(req.startTime, req.endTime, now());
      const rows = deps.ledger.rows({ ...(start && { start }), end, ...(req.team && { team: checkFilterText(req.team, "team") }) });
      let csv = ledgerCsvHeader;
      // Stopping the loop (client gone) returns the store's iterator, which releases its cursor.
      for await (const row of rows) {
        if (ctx.signal.aborted) return;
        csv += ledgerCsvLine(row);
        if (csv.length >= chunkChars) {
          yield { csv };
          csv = "";
        }
      }
      if (csv) yield { csv };
    },
  };
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
  };
}

/** Sums come back as numbers (PostgreSQL's may be strings parsed upstream); uint64 wants a bigint. */
function count(n: number): bigint {
  return BigInt(Math.max(0, Math.round(n)));
}

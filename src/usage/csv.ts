// CSV for chargeback exports (RFC 4180): CRLF line ends, a field is quoted when it holds a comma,
// a quote, CR or LF, and quotes inside are doubled. Times are ISO 8601 UTC; an unknown cost is an
// empty field (never 0), so spreadsheets sum only what is known.
import type { LedgerRow, UsageGroup, UsageTotalRow } from "../store/types";

export const ledgerCsvColumns = [
  "time",
  "request_id",
  "key_id",
  "team",
  "endpoint",
  "provider",
  "model",
  "model_version",
  "prompt_tokens",
  "completion_tokens",
  "cost_usd",
  "status",
  "latency_ms",
  "streamed",
] as const;

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

export const ledgerCsvHeader = csvLine(ledgerCsvColumns);

export function ledgerCsvLine(row: LedgerRow): string {
  return csvLine([
    row.time.toISOString(),
    row.requestId,
    row.keyId,
    row.team,
    row.endpoint,
    row.provider,
    row.model,
    row.modelVersion,
    String(row.promptTokens),
    String(row.completionTokens),
    formatUsd(row.costUsd),
    row.status,
    String(row.latencyMs),
    row.streamed ? "true" : "false",
  ]);
}

/** Dollars as a plain decimal (no exponent, which some spreadsheets read as text); null as "". */
export function formatUsd(usd: number | null): string {
  if (usd === null) return "";
  if (usd === 0) return "0";
  // 12 decimals keeps picodollar precision; trailing zeros add nothing.
  return usd.toFixed(12).replace(/\.?0+$/, "");
}

/** Grouped totals as CSV: the group columns, then the sums. */
export function totalsCsv(groupBy: readonly UsageGroup[], totals: readonly UsageTotalRow[]): string {
  let out = csvLine([...groupBy, "calls", "prompt_tokens", "completion_tokens", "cost_usd", "unknown_cost_calls", "error_calls"]);
  for (const t of totals) {
    out += csvLine([
      ...groupBy.map((g) => t.group[g] ?? ""),
      String(t.calls),
      String(t.promptTokens),
      String(t.completionTokens),
      formatUsd(t.costUsd),
      String(t.unknownCostCalls),
      String(t.errorCalls),
    ]);
  }
  return out;
}

// CSV for chargeback exports (RFC 4180): CRLF line ends, a field is quoted when it holds a comma,
// a quote, CR or LF, and quotes inside are doubled. Times are ISO 8601 UTC; an unknown cost is an
// empty field (never 0), so spreadsheets sum only what is known.
//
// Formula injection (OWASP "CSV Injection"): text cells hold what callers chose (an endpoint or
// model name in a request, a team, a key id), and a spreadsheet runs a cell starting with =, +,
// -, @, tab or CR as a formula. Such a text cell gets a leading single quote, which spreadsheets
// read as "this is text" (and then quoting as usual). Numeric cells (tokens, cost, latency) are
// ours, never start with one of those, and stay plain numbers.
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
  // Added after the first release: at the end, so readers that index columns keep working.
  "target",
  "cached_prompt_tokens",
  "reasoning_tokens",
  // The policy columns: prompt template (name@version), cache outcome, cost a cache hit saved
  // (empty when none or unknown), guardrail decisions (side:reason:action, comma-separated).
  "template",
  "cache",
  "cost_saved_usd",
  "guardrails",
] as const;

export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** A text cell: neutralised against formula injection (see above), then quoted as needed. */
export function csvText(value: string): string {
  return csvField(FORMULA_START.test(value) ? `'${value}` : value);
}

const FORMULA_START = /^[=+\-@\t\r]/;

/** A line of cells already made safe: text through csvText, numbers as they print. */
function line(cells: readonly string[]): string {
  return `${cells.join(",")}\r\n`;
}

/** A line of text cells (each through csvText). */
export function csvLine(fields: readonly string[]): string {
  return line(fields.map(csvText));
}

export const ledgerCsvHeader = csvLine(ledgerCsvColumns);

export function ledgerCsvLine(row: LedgerRow): string {
  return line([
    row.time.toISOString(),
    csvText(row.requestId),
    csvText(row.keyId),
    csvText(row.team),
    csvText(row.endpoint),
    csvText(row.provider),
    csvText(row.model),
    csvText(row.modelVersion),
    String(row.promptTokens),
    String(row.completionTokens),
    formatUsd(row.costUsd),
    csvText(row.status),
    String(row.latencyMs),
    row.streamed ? "true" : "false",
    csvText(row.target ?? ""),
    String(row.cachedPromptTokens ?? 0),
    String(row.reasoningTokens ?? 0),
    csvText(row.template ?? ""),
    csvText(row.cache ?? ""),
    formatUsd(row.costSavedUsd ?? null),
    csvText(row.guardrails ?? ""),
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
  // cached/reasoning came later: last, so readers that index columns keep working.
  const sums = ["calls", "prompt_tokens", "completion_tokens", "cost_usd", "unknown_cost_calls", "error_calls", "cached_prompt_tokens", "reasoning_tokens"];
  let out = csvLine([...groupBy, ...sums]);
  for (const t of totals) {
    out += line([
      ...groupBy.map((g) => csvText(t.group[g] ?? "")),
      String(t.calls),
      String(t.promptTokens),
      String(t.completionTokens),
      formatUsd(t.costUsd),
      String(t.unknownCostCalls),
      String(t.errorCalls),
      String(t.cachedPromptTokens),
      String(t.reasoningTokens),
    ]);
  }
  return out;
}

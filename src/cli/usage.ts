// `modelgate usage`: totals from the usage ledger as a table or CSV, or the ledger rows as CSV.
import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { checkFilterText, storableText } from "../store/sql-shared";
import type { Store, UsageGroup, UsageTotalRow } from "../store/types";
import { ledgerCsvHeader, ledgerCsvLine, totalsCsv } from "../usage/csv";
import { sortTotals } from "../usage/totals";

export const usageHelp = `Usage: modelgate usage [--since WHEN] [--until WHEN] [--by GROUPS] [--team T] [--key ID]
                       [--csv | --rows]

Reports calls, tokens and cost from the usage ledger (store.database_url in the config, or
MODELGATE_DATABASE_URL).

Options:
      --since WHEN   start of the range, inclusive (default: 7d)
      --until WHEN   end of the range, exclusive (default: now)
      --by GROUPS    group totals by any of key,team,endpoint,target,model (comma-separated;
                     target: the endpoint target that answered); without it, one grand total
      --team T       only calls of team T
      --key ID       only calls of key ID (totals only)
      --csv          print the totals as CSV instead of a table
      --rows         print every ledger row in the range as CSV (for chargeback)
  -h, --help         show this help

WHEN is a duration back from now (30m, 12h, 7d, 2w), a UTC date (2026-11-01, meaning its
midnight UTC) or an ISO 8601 time (2026-11-01T09:30:00Z). Costs are in US dollars; calls to a
model without a known price count in "unknown cost" and add nothing to the cost column.
`;

export interface UsageCommandDeps {
  store: Store;
  out: NodeJS.WritableStream;
  /** Where problems go (default: process.stderr). */
  err?: NodeJS.WritableStream;
  now: () => Date;
}

const groups: readonly UsageGroup[] = ["key", "team", "endpoint", "target", "model"];

/** Runs the command; returns the exit code (0 ok, 1 store or output failed, 2 bad arguments). */
export async function runUsageCommand(argv: string[], deps: UsageCommandDeps): Promise<number> {
  const err = deps.err ?? process.stderr;
  const fail = (message: string): number => {
    err.write(`modelgate usage: ${message}\nRun "modelgate usage --help" for the options.\n`);
    return 2;
  };

  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        since: { type: "string" },
        until: { type: "string" },
        by: { type: "string" },
        team: { type: "string" },
        key: { type: "string" },
        csv: { type: "boolean" },
        rows: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.help) {
    deps.out.write(usageHelp);
    return 0;
  }

  const now = deps.now();
  let start: Date;
  let end: Date;
  let groupBy: UsageGroup[];
  try {
    start = parseWhen(values.since ?? "7d", now, "--since");
    end = values.until === undefined ? now : parseWhen(values.until, now, "--until");
    groupBy = parseGroups(values.by);
    if (values.team !== undefined) checkFilterText(values.team, "--team");
    if (values.key !== undefined) checkFilterText(values.key, "--key");
  } catch (e) {
    return fail(e instanceof ConnectError ? e.rawMessage : (e as Error).message);
  }
  if (start.getTime() >= end.getTime()) {
    return fail(`--since (${start.toISOString()}) must be before --until (${end.toISOString()})`);
  }
  if (values.csv && values.rows) return fail("--csv and --rows cannot be used together");
  if (values.rows && (values.by !== undefined || values.key !== undefined)) {
    return fail("--rows prints every row: --by and --key apply to totals only");
  }

  try {
    const { team, key, csv, rows } = values;
    await report(deps.store, deps.out, { start, end, groupBy, team, key, csv, rows });
  } catch (e) {
    // The store (unreachable database) or the output (closed pipe): say which, without a stack.
    err.write(`modelgate usage: ${(e as Error).message}\n`);
    return 1;
  }
  return 0;
}

interface ReportOptions {
  start: Date;
  end: Date;
  groupBy: UsageGroup[];
  team: string | undefined;
  key: string | undefined;
  csv: boolean | undefined;
  rows: boolean | undefined;
}

async function report(store: Store, out: NodeJS.WritableStream, o: ReportOptions): Promise<void> {
  const { start, end, team } = o;
  if (o.rows) {
    await write(out, ledgerCsvHeader);
    for await (const row of store.ledger.rows({ start, end, ...(team !== undefined && { team }) })) {
      await write(out, ledgerCsvLine(row));
    }
    return;
  }
  const totals = sortTotals(
    o.groupBy,
    await store.ledger.totals({
      start,
      end,
      ...(team !== undefined && { team }),
      ...(o.key !== undefined && { keyId: o.key }),
      groupBy: o.groupBy,
    }),
  );
  if (o.csv) {
    await write(out, totalsCsv(o.groupBy, totals));
    return;
  }
  const scope = [team !== undefined && `team ${team}`, o.key !== undefined && `key ${o.key}`].filter(Boolean);
  const scopeText = scope.length ? ` (${scope.join(", ")})` : "";
  await write(out, `Usage from ${start.toISOString()} to ${end.toISOString()}${scopeText}\n\n`);
  await write(out, totals.length === 0 ? "No calls in this range.\n" : usageTable(o.groupBy, totals));
}

/** 30m / 12h / 7d / 2w back from now, a UTC date, or an ISO 8601 time. */
export function parseWhen(text: string, now: Date, option: string): Date {
  const relative = /^(\d+)([mhdw])$/.exec(text);
  if (relative) {
    const unitMs = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[relative[2] as "m" | "h" | "d" | "w"];
    return new Date(now.getTime() - Number(relative[1]) * unitMs);
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = new Date(`${text}T00:00:00Z`);
    if (!Number.isNaN(d.getTime()) && d.toISOString().startsWith(text)) return d;
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    const d = new Date(text);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new Error(`${option}: "${text}" is not a duration (7d, 12h, 30m, 2w), a date (2026-11-01) or an ISO time`);
}

function parseGroups(text: string | undefined): UsageGroup[] {
  if (text === undefined) return [];
  const out: UsageGroup[] = [];
  for (const name of text.split(",").map((s) => s.trim())) {
    const group = groups.find((g) => g === name);
    if (!group) throw new Error(`--by: unknown group "${name}" (expected any of ${groups.join(",")})`);
    if (!out.includes(group)) out.push(group);
  }
  return out;
}

/** Totals as an aligned text table, with a total line when grouped. */
export function usageTable(groupBy: readonly UsageGroup[], totals: readonly UsageTotalRow[]): string {
  const header = [...groupBy, "calls", "prompt tokens", "cached", "completion tokens", "reasoning", "cost (USD)", "unknown cost", "errors"];
  const numeric = header.map((_, i) => i >= groupBy.length);
  const line = (t: UsageTotalRow, labels: string[]) => [
    ...labels,
    count(t.calls),
    count(t.promptTokens),
    count(t.cachedPromptTokens),
    count(t.completionTokens),
    count(t.reasoningTokens),
    t.costUsd.toFixed(4),
    count(t.unknownCostCalls),
    count(t.errorCalls),
  ];
  // Group values are callers' text: older rows may hold control characters (terminal escapes).
  const body = totals.map((t) => line(t, groupBy.map((g) => storableText(t.group[g] || "(none)", 256))));
  if (groupBy.length > 0 && totals.length > 1) {
    const sum = totals.reduce(
      (a, t) => ({
        group: {},
        calls: a.calls + t.calls,
        promptTokens: a.promptTokens + t.promptTokens,
        completionTokens: a.completionTokens + t.completionTokens,
        cachedPromptTokens: a.cachedPromptTokens + t.cachedPromptTokens,
        reasoningTokens: a.reasoningTokens + t.reasoningTokens,
        costUsd: a.costUsd + t.costUsd,
        unknownCostCalls: a.unknownCostCalls + t.unknownCostCalls,
        errorCalls: a.errorCalls + t.errorCalls,
        cacheHits: a.cacheHits + t.cacheHits,
        costSavedUsd: a.costSavedUsd + t.costSavedUsd,
      }),
      { group: {}, calls: 0, promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0, reasoningTokens: 0, costUsd: 0, unknownCostCalls: 0, errorCalls: 0, cacheHits: 0, costSavedUsd: 0 },
    );
    body.push(line(sum, groupBy.map((_, i) => (i === 0 ? "total" : ""))));
  }
  const rows = [header, ...body];
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const format = (r: string[]) =>
    r.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const lines = rows.map(format);
  if (body.length > totals.length) lines.splice(lines.length - 1, 0, rule);
  lines.splice(1, 0, rule);
  return `${lines.join("\n")}\n`;
}

function count(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Writes and waits when the stream is full, so a big --rows export does not pile up in memory. */
function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (out.write(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      out.off("drain", done);
      out.off("error", done);
      if (e) reject(e);
      else resolve();
    };
    out.once("drain", done);
    out.once("error", done);
  });
}

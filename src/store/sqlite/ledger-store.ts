// The usage ledger in SQLite. Totals are grouped and summed by SQLite, never in JS over rows.
// Reads go through SqliteReads (reads.ts): a worker thread with a time budget for a file,
// in-thread for ":memory:"; writes through SqliteWrites (writes.ts).
import { callsWhere, checkDate, checkLedgerRow, LEDGER_PAGE_ROWS, ledgerPolicyValues, LEDGER_TEXT_LIMITS, ledgerWhere, seriesBuckets, storableText, usageGroups } from "../sql-shared";
import type { CallPage, CallQuery, LedgerCache, LedgerRow, LedgerStore, UsageQuery, UsageSeriesQuery, UsageSeriesRow, UsageTotalRow } from "../types";
import type { SQLInputValue } from "node:sqlite";
import { Code, ConnectError } from "../../errors";
import { num, optionalNumber, text, type SqliteRow } from "./columns";
import { isContentError } from "./errors";
import { untilAborted } from "../../timers";
import type { SqliteReads } from "./reads";
import type { SqliteWrites, WriteRow } from "./writes";

export const ledgerInsertSql = `
  INSERT INTO usage_ledger (time, request_id, key_id, team, endpoint, provider, model, model_version,
                            prompt_tokens, completion_tokens, cost_usd, status, latency_ms, streamed, target,
                            cached_prompt_tokens, reasoning_tokens, template, cache, cost_saved_usd, guardrails, trace_id)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class SqliteLedgerStore implements LedgerStore {
  constructor(
    private readonly reads: SqliteReads,
    private readonly writes: SqliteWrites,
  ) {}

  /**
   * All rows or none; rows SQLite refuses for their content fail with INVALID_ARGUMENT (the cause
   * kept). Every row is checked before the batch goes to the writes (the write worker, for a file).
   */
  async append(rows: readonly LedgerRow[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map(ledgerValues);
    try {
      await this.writes.write("ledger", values);
    } catch (err) {
      if (!isContentError(err)) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new ConnectError(`sqlite store refused the rows: ${message}`, Code.InvalidArgument, undefined, undefined, err);
    }
  }

  async totals(query: UsageQuery): Promise<UsageTotalRow[]> {
    const groups = usageGroups(query.groupBy);
    const params: SQLInputValue[] = [];
    const where = ledgerWhere(query, bindTo(params));
    const groupSelect = groups.map((g) => `${g.column} AS group_${g.group}, `).join("");
    const groupBy = groups.length > 0 ? `GROUP BY ${groups.map((g) => g.column).join(", ")}` : "";
    const orderBy = groups.length > 0 ? `ORDER BY ${groups.map((g) => g.column).join(", ")}` : "";
    const sql = `
      SELECT ${groupSelect}
             ${usageAggregates}
      FROM usage_ledger WHERE ${where} ${groupBy} HAVING COUNT(*) > 0 ${orderBy}`;
    return (await this.reads.all(sql, params)).map((row) => ({
      group: Object.fromEntries(groups.map((g) => [g.group, text(row, `group_${g.group}`)])),
      ...usageFigures(row),
    }));
  }

  /**
   * Buckets by integer division of the epoch-ms time column (the CASTs keep it integer: node:sqlite
   * binds a JS number as REAL); the range scans the time index.
   */
  async series(query: UsageSeriesQuery): Promise<UsageSeriesRow[]> {
    const { origin, size } = seriesBuckets(query);
    const groups = usageGroups(query.groupBy);
    const params: SQLInputValue[] = [origin, size];
    const where = ledgerWhere(query, bindTo(params));
    const columns = ["bucket_index", ...groups.map((g) => g.column)].join(", ");
    const sql = `
      SELECT (time - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket_index,
             ${groups.map((g) => `${g.column} AS group_${g.group}, `).join("")}
             ${usageAggregates}
      FROM usage_ledger WHERE ${where} GROUP BY ${columns} ORDER BY ${columns} LIMIT ${query.limit}`;
    return (await this.reads.all(sql, params)).map((row) => ({
      bucketStart: new Date(origin + num(row, "bucket_index") * size),
      group: Object.fromEntries(groups.map((g) => [g.group, text(row, `group_${g.group}`)])),
      ...usageFigures(row),
    }));
  }

  /**
   * Pages of LEDGER_PAGE_ROWS by keyset (time, id) rather than one open statement: each page is
   * one read, so other reads take turns between pages (and each page has the time budget, not the
   * whole export), and no read stays open while a slow consumer (a CSV download) holds the
   * iterator, which would keep the WAL from being checkpointed.
   */
  async *rows(query: Omit<UsageQuery, "groupBy">, signal?: AbortSignal): AsyncIterable<LedgerRow> {
    const read = (sql: string, values: SQLInputValue[]) => (signal ? untilAborted(this.reads.all(sql, values), signal) : this.reads.all(sql, values));
    const params: SQLInputValue[] = [];
    const where = ledgerWhere(query, bindTo(params));
    const first = `SELECT * FROM usage_ledger WHERE ${where} ORDER BY time, id LIMIT ${LEDGER_PAGE_ROWS}`;
    const next = `SELECT * FROM usage_ledger WHERE ${where} AND (time, id) > (?, ?) ORDER BY time, id LIMIT ${LEDGER_PAGE_ROWS}`;
    let page = await read(first, params);
    while (page.length > 0) {
      for (const row of page) yield toLedgerRow(row);
      const last = page[page.length - 1];
      if (last === undefined || page.length < LEDGER_PAGE_ROWS) return;
      page = await read(next, [...params, num(last, "time"), num(last, "id")]);
    }
  }

  /**
   * Newest first, by the index led by the filtered column (see callsWhere; the rowid ends every
   * index entry, so each also orders by time, id). One row more than asked says whether an older
   * page exists.
   */
  async calls(query: CallQuery): Promise<CallPage> {
    const { sql, params } = callsStatement(query);
    const rows = await this.reads.all(sql, params);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const more = rows.length > query.limit && last !== undefined;
    return { calls: page.map(toLedgerRow), ...(more && { next: { time: new Date(num(last, "time")), id: String(num(last, "id")) } }) };
  }

  /**
   * Off the event loop too: an indexed SUM, but over every row of the key or team in the period
   * (millions for a busy key near the end of a month). Only the quota interceptor's budget seed
   * calls it, once per budget counter and period per process (it memoises the seed), so the hot
   * path is unchanged: later calls await the settled seed. The one call that seeds waits for a
   * worker round trip (and, the first time, the worker's start) instead of holding every call in
   * the process for the SUM; it goes ahead of queued reports ("urgent").
   */
  async spend(scope: { keyId: string } | { team: string }, since: Date): Promise<number> {
    checkDate(since, "spend: since");
    // Compared as the ledger writer stored it.
    const [column, value] =
      "keyId" in scope ? ["key_id", storableText(scope.keyId, LEDGER_TEXT_LIMITS.keyId)] : ["team", storableText(scope.team, LEDGER_TEXT_LIMITS.team)];
    const [row] = await this.reads.all(
      `SELECT COALESCE(SUM(cost_usd), 0) AS spend FROM usage_ledger WHERE ${column} = ? AND time >= ?`,
      [value, since.getTime()],
      { urgent: true },
    );
    return row === undefined ? 0 : num(row, "spend");
  }
}

/** The sums of a usage total or series bucket, as usageFigures reads them. */
const usageAggregates = `COUNT(*) AS calls,
             SUM(prompt_tokens) AS sum_prompt,
             SUM(completion_tokens) AS sum_completion,
             SUM(cached_prompt_tokens) AS sum_cached,
             SUM(reasoning_tokens) AS sum_reasoning,
             COALESCE(SUM(cost_usd), 0) AS sum_cost,
             COUNT(*) - COUNT(cost_usd) AS unknown_cost,
             SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END) AS errors,
             SUM(CASE WHEN cache IN ('hit', 'semantic_hit') THEN 1 ELSE 0 END) AS cache_hits,
             COALESCE(SUM(cost_saved_usd), 0) AS sum_saved`;

function usageFigures(row: SqliteRow): Omit<UsageTotalRow, "group"> {
  return {
    calls: num(row, "calls"),
    promptTokens: num(row, "sum_prompt"),
    completionTokens: num(row, "sum_completion"),
    cachedPromptTokens: num(row, "sum_cached"),
    reasoningTokens: num(row, "sum_reasoning"),
    costUsd: num(row, "sum_cost"),
    unknownCostCalls: num(row, "unknown_cost"),
    errorCalls: num(row, "errors"),
    cacheHits: num(row, "cache_hits"),
    costSavedUsd: num(row, "sum_saved"),
  };
}

/** The statement calls() runs (its query plan is checked by store-sqlite.spec.ts): one row more than asked. */
export function callsStatement(query: CallQuery): { sql: string; params: SQLInputValue[] } {
  const params: SQLInputValue[] = [];
  const bind = bindTo(params);
  const where = callsWhere(query, bind, (time, id) => {
    const sql = `time <= ${time()} AND (time < ${time()} OR id < ?)`;
    params.push(BigInt(id));
    return sql;
  });
  params.push(query.limit + 1);
  return { sql: `SELECT * FROM usage_ledger WHERE ${where} ORDER BY time DESC, id DESC LIMIT ?`, params };
}

/** The row checked (checkLedgerRow: INVALID_ARGUMENT naming the row) as ledgerInsertSql's parameters. */
function ledgerValues(row: LedgerRow, index: number): WriteRow {
  checkLedgerRow(row, index);
  return [
    row.time.getTime(),
    row.requestId,
    row.keyId,
    row.team,
    row.endpoint,
    row.provider,
    row.model,
    row.modelVersion,
    row.promptTokens,
    row.completionTokens,
    row.costUsd,
    row.status,
    row.latencyMs,
    row.streamed ? 1 : 0,
    row.target ?? "",
    row.cachedPromptTokens ?? 0,
    row.reasoningTokens ?? 0,
    ...ledgerPolicyValues(row),
    row.traceId ?? "",
  ];
}

/** Times are epoch milliseconds in SQLite. */
function bindTo(params: SQLInputValue[]): (value: string | Date) => string {
  return (value) => {
    params.push(value instanceof Date ? value.getTime() : value);
    return "?";
  };
}

function toLedgerRow(row: SqliteRow): LedgerRow {
  return {
    time: new Date(num(row, "time")),
    requestId: text(row, "request_id"),
    keyId: text(row, "key_id"),
    team: text(row, "team"),
    endpoint: text(row, "endpoint"),
    provider: text(row, "provider"),
    model: text(row, "model"),
    modelVersion: text(row, "model_version"),
    promptTokens: num(row, "prompt_tokens"),
    completionTokens: num(row, "completion_tokens"),
    costUsd: optionalNumber(row, "cost_usd"),
    status: text(row, "status"),
    latencyMs: num(row, "latency_ms"),
    streamed: num(row, "streamed") === 1,
    target: text(row, "target"),
    cachedPromptTokens: num(row, "cached_prompt_tokens"),
    reasoningTokens: num(row, "reasoning_tokens"),
    template: text(row, "template"),
    cache: text(row, "cache") as LedgerCache,
    costSavedUsd: optionalNumber(row, "cost_saved_usd"),
    guardrails: text(row, "guardrails"),
    traceId: text(row, "trace_id"),
  };
}

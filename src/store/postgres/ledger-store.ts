// The usage ledger in PostgreSQL. Totals are grouped and summed by the database, never in JS
// over rows. PostgreSQL returns bigint and numeric as strings (they may exceed a JS number's
// exact range); counts, token sums and costs fit a double, so they are converted on read.
import type { Pool } from "pg";
import { callsWhere, checkDate, checkLedgerRow, LEDGER_PAGE_ROWS, ledgerPolicyValues, LEDGER_TEXT_LIMITS, ledgerWhere, seriesBuckets, storableText, usageGroups } from "../sql-shared";
import type { CallPage, CallQuery, LedgerCache, LedgerRow, LedgerStore, UsageQuery, UsageSeriesQuery, UsageSeriesRow, UsageTotalRow } from "../types";
import { untilAborted } from "../../timers";
import { appendInChunks } from "./transaction";
import { rethrowDatabaseError } from "./errors";

/** Rows per INSERT: 22 parameters each, well under PostgreSQL's 65535 parameters per statement. */
const INSERT_CHUNK_ROWS = 1_000;
const COLUMNS = 22;

interface LedgerDbRow {
  id: string;
  time: Date;
  request_id: string;
  key_id: string;
  team: string;
  endpoint: string;
  provider: string;
  model: string;
  model_version: string;
  prompt_tokens: string;
  completion_tokens: string;
  cost_usd: string | null;
  status: string;
  latency_ms: number;
  streamed: boolean;
  target: string;
  cached_prompt_tokens: string;
  reasoning_tokens: string;
  template: string;
  cache: string;
  cost_saved_usd: string | null;
  guardrails: string;
  trace_id: string;
}

interface TotalDbRow {
  [groupColumn: `group_${string}`]: string;
  calls: string;
  sum_prompt: string;
  sum_completion: string;
  sum_cached: string;
  sum_reasoning: string;
  sum_cost: string;
  unknown_cost: string;
  errors: string;
  cache_hits: string;
  sum_saved: string;
}

export class PostgresLedgerStore implements LedgerStore {
  constructor(private readonly pool: Pool) {}

  /**
   * One multi-row INSERT per chunk; a batch of several chunks runs in one transaction. Rows the
   * server refuses for their content fail with INVALID_ARGUMENT (see rethrowAppendError).
   */
  async append(rows: readonly LedgerRow[]): Promise<void> {
    await appendInChunks(this.pool, rows, INSERT_CHUNK_ROWS, insertStatement);
  }

  async totals(query: UsageQuery): Promise<UsageTotalRow[]> {
    const groups = usageGroups(query.groupBy);
    const params: unknown[] = [];
    const where = ledgerWhere(query, bindTo(params));
    const groupSelect = groups.map((g) => `${g.column} AS group_${g.group}, `).join("");
    const groupBy = groups.length > 0 ? `GROUP BY ${groups.map((g) => g.column).join(", ")}` : "";
    const orderBy = groups.length > 0 ? `ORDER BY ${groups.map((g) => `${g.column} COLLATE "C"`).join(", ")}` : "";
    const sql = `
      SELECT ${groupSelect}
             COUNT(*) AS calls,
             SUM(prompt_tokens) AS sum_prompt,
             SUM(completion_tokens) AS sum_completion,
             SUM(cached_prompt_tokens) AS sum_cached,
             SUM(reasoning_tokens) AS sum_reasoning,
             COALESCE(SUM(cost_usd), 0) AS sum_cost,
             COUNT(*) - COUNT(cost_usd) AS unknown_cost,
             COUNT(*) FILTER (WHERE status <> 'ok') AS errors,
             COUNT(*) FILTER (WHERE cache IN ('hit', 'semantic_hit')) AS cache_hits,
             COALESCE(SUM(cost_saved_usd), 0) AS sum_saved
      FROM usage_ledger WHERE ${where} ${groupBy} HAVING COUNT(*) > 0 ${orderBy}`;
    const result = await this.pool.query<TotalDbRow>(sql, params).catch(rethrowDatabaseError);
    return result.rows.map((row) => ({
      group: Object.fromEntries(groups.map((g) => [g.group, row[`group_${g.group}`]])),
      calls: Number(row.calls),
      promptTokens: Number(row.sum_prompt),
      completionTokens: Number(row.sum_completion),
      cachedPromptTokens: Number(row.sum_cached),
      reasoningTokens: Number(row.sum_reasoning),
      costUsd: Number(row.sum_cost),
      unknownCostCalls: Number(row.unknown_cost),
      errorCalls: Number(row.errors),
      cacheHits: Number(row.cache_hits),
      costSavedUsd: Number(row.sum_saved),
    }));
  }

  /**
   * Buckets by integer (bigint) division of the time as epoch ms, as SQLite does; the range
   * scans the time index.
   */
  async series(query: UsageSeriesQuery): Promise<UsageSeriesRow[]> {
    const { origin, size } = seriesBuckets(query);
    const groups = usageGroups(query.groupBy);
    const params: unknown[] = [String(origin), String(size)];
    const where = ledgerWhere(query, bindTo(params));
    const groupColumns = groups.map((g) => g.column);
    const orderBy = ["bucket_index", ...groups.map((g) => `${g.column} COLLATE "C"`)].join(", ");
    const sql = `
      SELECT (floor(extract(epoch from time) * 1000)::bigint - $1::bigint) / $2::bigint AS bucket_index,
             ${groups.map((g) => `${g.column} AS group_${g.group}, `).join("")}
             COUNT(*) AS calls,
             SUM(prompt_tokens) AS sum_prompt,
             SUM(completion_tokens) AS sum_completion,
             SUM(cached_prompt_tokens) AS sum_cached,
             SUM(reasoning_tokens) AS sum_reasoning,
             COALESCE(SUM(cost_usd), 0) AS sum_cost,
             COUNT(*) - COUNT(cost_usd) AS unknown_cost,
             COUNT(*) FILTER (WHERE status <> 'ok') AS errors,
             COUNT(*) FILTER (WHERE cache IN ('hit', 'semantic_hit')) AS cache_hits,
             COALESCE(SUM(cost_saved_usd), 0) AS sum_saved
      FROM usage_ledger WHERE ${where}
      GROUP BY ${["bucket_index", ...groupColumns].join(", ")} ORDER BY ${orderBy} LIMIT ${query.limit}`;
    const result = await this.pool.query<TotalDbRow & { bucket_index: string }>(sql, params).catch(rethrowDatabaseError);
    return result.rows.map((row) => ({
      bucketStart: new Date(origin + Number(row.bucket_index) * size),
      group: Object.fromEntries(groups.map((g) => [g.group, row[`group_${g.group}`]])),
      calls: Number(row.calls),
      promptTokens: Number(row.sum_prompt),
      completionTokens: Number(row.sum_completion),
      cachedPromptTokens: Number(row.sum_cached),
      reasoningTokens: Number(row.sum_reasoning),
      costUsd: Number(row.sum_cost),
      unknownCostCalls: Number(row.unknown_cost),
      errorCalls: Number(row.errors),
      cacheHits: Number(row.cache_hits),
      costSavedUsd: Number(row.sum_saved),
    }));
  }

  /**
   * Pages of LEDGER_PAGE_ROWS by keyset (time, id): no connection or transaction stays open
   * while a slow consumer (a CSV download) holds the iterator, or after it stops early.
   */
  async *rows(query: Omit<UsageQuery, "groupBy">, signal?: AbortSignal): AsyncIterable<LedgerRow> {
    const read = (sql: string, values: unknown[]) => (signal ? untilAborted(this.page(sql, values), signal) : this.page(sql, values));
    const params: unknown[] = [];
    const where = ledgerWhere(query, bindTo(params));
    const order = `ORDER BY time, id LIMIT ${LEDGER_PAGE_ROWS}`;
    const after = `(time, id) > ($${params.length + 1}, $${params.length + 2})`;
    let page = await read(`SELECT * FROM usage_ledger WHERE ${where} ${order}`, params);
    while (page.length > 0) {
      for (const row of page) yield toLedgerRow(row);
      const last = page[page.length - 1];
      if (last === undefined || page.length < LEDGER_PAGE_ROWS) return;
      page = await read(`SELECT * FROM usage_ledger WHERE ${where} AND ${after} ${order}`, [
        ...params,
        last.time,
        last.id,
      ]);
    }
  }

  /**
   * Newest first, by the index led by the filtered column (see callsWhere). One row more than
   * asked says whether an older page exists.
   */
  async calls(query: CallQuery): Promise<CallPage> {
    const { sql, params } = callsStatement(query);
    const rows = await this.page(sql, params);
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    const more = rows.length > query.limit && last !== undefined;
    return { calls: page.map(toLedgerRow), ...(more && { next: { time: last.time, id: String(last.id) } }) };
  }

  async spend(scope: { keyId: string } | { team: string }, since: Date): Promise<number> {
    checkDate(since, "spend: since");
    // Compared as the ledger writer stored it (a NUL in a JWT subject must not fail the query).
    const [column, value] =
      "keyId" in scope ? ["key_id", storableText(scope.keyId, LEDGER_TEXT_LIMITS.keyId)] : ["team", storableText(scope.team, LEDGER_TEXT_LIMITS.team)];
    const result = await this.pool
      .query<{ spend: string }>(
        `SELECT COALESCE(SUM(cost_usd), 0) AS spend FROM usage_ledger WHERE ${column} = $1 AND time >= $2`,
        [value, since],
      )
      .catch(rethrowDatabaseError);
    return Number(result.rows[0]?.spend ?? 0);
  }

  private async page(sql: string, params: unknown[]): Promise<LedgerDbRow[]> {
    return (await this.pool.query<LedgerDbRow>(sql, params).catch(rethrowDatabaseError)).rows;
  }
}

/** `INSERT … VALUES ($1 … $21), (…)` for rows numbered from `offset` in the batch (for errors). */
function insertStatement(rows: readonly LedgerRow[], offset: number): [string, unknown[]] {
  const params: unknown[] = [];
  const tuples = rows.map((row, i) => {
    checkLedgerRow(row, offset + i);
    const base = params.length;
    params.push(
      row.time,
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
      row.streamed,
      row.target ?? "",
      row.cachedPromptTokens ?? 0,
      row.reasoningTokens ?? 0,
      ...ledgerPolicyValues(row),
      row.traceId ?? "",
    );
    return `(${Array.from({ length: COLUMNS }, (_, c) => `$${base + c + 1}`).join(", ")})`;
  });
  const sql = `INSERT INTO usage_ledger (time, request_id, key_id, team, endpoint, provider, model, model_version,
                 prompt_tokens, completion_tokens, cost_usd, status, latency_ms, streamed, target,
                 cached_prompt_tokens, reasoning_tokens, template, cache, cost_saved_usd, guardrails, trace_id)
               VALUES ${tuples.join(", ")}`;
  return [sql, params];
}

/** The statement calls() runs (its query plan is checked by store-postgres.spec.ts): one row more than asked. */
export function callsStatement(query: CallQuery): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const bind = bindTo(params);
  const where = callsWhere(query, bind, (time, id) => `(time, id) < (${time()}, ${bind(id)}::bigint)`);
  params.push(query.limit + 1);
  return { sql: `SELECT * FROM usage_ledger WHERE ${where} ORDER BY time DESC, id DESC LIMIT $${params.length}`, params };
}

function bindTo(params: unknown[]): (value: string | Date) => string {
  return (value) => {
    params.push(value);
    return `$${params.length}`;
  };
}

function toLedgerRow(row: LedgerDbRow): LedgerRow {
  return {
    time: row.time,
    requestId: row.request_id,
    keyId: row.key_id,
    team: row.team,
    endpoint: row.endpoint,
    provider: row.provider,
    model: row.model,
    modelVersion: row.model_version,
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
    status: row.status,
    latencyMs: row.latency_ms,
    streamed: row.streamed,
    target: row.target,
    cachedPromptTokens: Number(row.cached_prompt_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    template: row.template,
    cache: row.cache as LedgerCache,
    costSavedUsd: row.cost_saved_usd === null ? null : Number(row.cost_saved_usd),
    guardrails: row.guardrails,
    traceId: row.trace_id,
  };
}

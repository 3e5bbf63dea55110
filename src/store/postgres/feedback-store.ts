// Feedback on calls in PostgreSQL, beside the usage ledger. Summaries are grouped and summed by
// the database over the time index; counts come back as strings (bigint) and are converted.
import type { Pool } from "pg";
import { FEEDBACK_BATCH_ROWS, FEEDBACK_SUMMARY_LABEL_ROWS, FEEDBACK_TOKEN_LIMIT, feedbackWhere, storableFeedbackRow, withLabels, feedbackScoreColumns } from "../feedback-shared";
import { LEDGER_TEXT_LIMITS, storableText } from "../sql-shared";
import type { FeedbackArmTotal, FeedbackCall, FeedbackRow, FeedbackStore, FeedbackSummaryQuery } from "../types";
import { invalidArgument } from "../../errors";
import { rethrowAppendError, rethrowDatabaseError } from "./errors";

interface ArmDbRow {
  endpoint: string;
  target: string;
  model_version: string;
  name: string;
  n: string;
  scored: string;
  score_sum: number | null;
}

export class PostgresFeedbackStore implements FeedbackStore {
  constructor(private readonly pool: Pool) {}

  async findCall(requestId: string): Promise<FeedbackCall | undefined> {
    const result = await this.pool
      .query<{ endpoint: string; target: string; model: string; model_version: string; key_id: string; team: string }>(
        `SELECT endpoint, target, model, model_version, key_id, team FROM usage_ledger
         WHERE request_id = $1 AND status = 'ok' ORDER BY time DESC, id DESC LIMIT 1`,
        [storableText(requestId, LEDGER_TEXT_LIMITS.requestId)],
      )
      .catch(rethrowDatabaseError);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return { endpoint: row.endpoint, target: row.target, model: row.model, modelVersion: row.model_version, keyId: row.key_id, team: row.team };
  }

  /** One multi-row INSERT (all or none); a batch is at most FEEDBACK_BATCH_ROWS rows (12 parameters each). */
  async append(rows: readonly FeedbackRow[]): Promise<void> {
    if (rows.length === 0) return;
    if (rows.length > FEEDBACK_BATCH_ROWS) throw invalidArgument(`feedback: at most ${FEEDBACK_BATCH_ROWS} rows per append`);
    const params: unknown[] = [];
    const values = rows.map(storableFeedbackRow).map((r) => {
      const at = params.length;
      params.push(r.time, r.requestId, r.endpoint, r.target, r.model, r.modelVersion, r.keyId, r.team, r.postedBy, r.name, r.score, r.label);
      return `(${Array.from({ length: 12 }, (_, i) => `$${at + i + 1}`).join(", ")})`;
    });
    await this.pool
      .query(
        `INSERT INTO feedback (time, request_id, endpoint, target, model, model_version, key_id, team, posted_by, name, score, label)
         VALUES ${values.join(", ")}`,
        params,
      )
      .catch(rethrowAppendError);
  }

  async priorFeedback(requestId: string, name: string): Promise<{ total: number; scoredSameName: number }> {
    const result = await this.pool
      .query<{ total: string; same_name: string }>(
        `SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE name = $1 AND score IS NOT NULL) AS same_name FROM feedback WHERE request_id = $2`,
        [storableText(name, FEEDBACK_TOKEN_LIMIT), storableText(requestId, LEDGER_TEXT_LIMITS.requestId)],
      )
      .catch(rethrowDatabaseError);
    const row = result.rows[0];
    return { total: Number(row?.total ?? 0), scoredSameName: Number(row?.same_name ?? 0) };
  }

  async summary(query: FeedbackSummaryQuery): Promise<FeedbackArmTotal[]> {
    const params: unknown[] = [];
    const where = feedbackWhere(query, (value) => {
      params.push(value);
      return `$${params.length}`;
    });
    const group = "endpoint, name, target, model_version";
    // Byte order, as SQLite sorts, whatever the database's collation.
    const order = `endpoint COLLATE "C", name COLLATE "C", target COLLATE "C", model_version COLLATE "C"`;
    const armsResult = await this.pool
      .query<ArmDbRow>(
        `SELECT endpoint, target, model_version, name, COUNT(*) AS n, ${feedbackScoreColumns}
         FROM feedback WHERE ${where} GROUP BY ${group} ORDER BY ${order} LIMIT $${params.length + 1}`,
        [...params, query.limit],
      )
      .catch(rethrowDatabaseError);
    const arms: FeedbackArmTotal[] = armsResult.rows.map((row) => ({
      endpoint: row.endpoint,
      target: row.target,
      modelVersion: row.model_version,
      name: row.name,
      count: Number(row.n),
      scored: Number(row.scored),
      scoreSum: Number(row.score_sum ?? 0),
      labels: [],
    }));
    if (arms.length === 0) return arms;
    const labelsResult = await this.pool
      .query<{ endpoint: string; target: string; model_version: string; name: string; label: string; n: string }>(
        `SELECT endpoint, target, model_version, name, label, COUNT(*) AS n
         FROM feedback WHERE ${where} AND label IS NOT NULL GROUP BY ${group}, label ORDER BY n DESC LIMIT $${params.length + 1}`,
        [...params, FEEDBACK_SUMMARY_LABEL_ROWS],
      )
      .catch(rethrowDatabaseError);
    return withLabels(
      arms,
      labelsResult.rows.map((row) => ({ endpoint: row.endpoint, target: row.target, modelVersion: row.model_version, name: row.name, label: row.label, count: Number(row.n) })),
    );
  }
}

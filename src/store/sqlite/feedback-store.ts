// Feedback on calls in SQLite, beside the usage ledger (same database). Summaries are grouped and
// summed by SQLite over the time index, never in JS over rows, on the read worker (reads.ts: a
// month of feedback is a scan the event loop must not wait for); the lookups by request id are
// point reads of an index and stay on the main connection.
import type { SQLInputValue } from "node:sqlite";
import { FEEDBACK_SUMMARY_LABEL_ROWS, FEEDBACK_TOKEN_LIMIT, feedbackWhere, storableFeedbackRow, withLabels, feedbackScoreColumns } from "../feedback-shared";
import { LEDGER_TEXT_LIMITS, storableText } from "../sql-shared";
import type { FeedbackArmTotal, FeedbackCall, FeedbackRow, FeedbackStore, FeedbackSummaryQuery } from "../types";
import { num, optionalNumber, text } from "./columns";
import type { SqliteReads } from "./reads";
import type { Statements } from "./statements";
import type { SqliteWrites } from "./writes";

export const feedbackInsertSql = `
  INSERT INTO feedback (time, request_id, endpoint, target, model, model_version, key_id, team, posted_by, name, score, label)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class SqliteFeedbackStore implements FeedbackStore {
  constructor(
    private readonly statements: Statements,
    private readonly reads: SqliteReads,
    private readonly writes: SqliteWrites,
  ) {}

  async findCall(requestId: string): Promise<FeedbackCall | undefined> {
    // Compared as the ledger writer stored it.
    const row = this.statements
      .get(
        `SELECT endpoint, target, model, model_version, key_id, team FROM usage_ledger
         WHERE request_id = ? AND status = 'ok' ORDER BY time DESC, id DESC LIMIT 1`,
      )
      .get(storableText(requestId, LEDGER_TEXT_LIMITS.requestId));
    if (row === undefined) return undefined;
    return {
      endpoint: text(row, "endpoint"),
      target: text(row, "target"),
      model: text(row, "model"),
      modelVersion: text(row, "model_version"),
      keyId: text(row, "key_id"),
      team: text(row, "team"),
    };
  }

  /** One transaction (one commit, one sync to disk) for the batch. */
  async append(rows: readonly FeedbackRow[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map(storableFeedbackRow).map((r) => [r.time.getTime(), r.requestId, r.endpoint, r.target, r.model, r.modelVersion, r.keyId, r.team, r.postedBy, r.name, r.score, r.label]);
    await this.writes.write("feedback", values);
  }

  async priorFeedback(requestId: string, name: string): Promise<{ total: number; scoredSameName: number }> {
    const row = this.statements
      .get(`SELECT COUNT(*) AS total, COALESCE(SUM(name = ? AND score IS NOT NULL), 0) AS same_name FROM feedback WHERE request_id = ?`)
      .get(storableText(name, FEEDBACK_TOKEN_LIMIT), storableText(requestId, LEDGER_TEXT_LIMITS.requestId));
    return row === undefined ? { total: 0, scoredSameName: 0 } : { total: num(row, "total"), scoredSameName: num(row, "same_name") };
  }

  async summary(query: FeedbackSummaryQuery): Promise<FeedbackArmTotal[]> {
    const params: SQLInputValue[] = [];
    const where = feedbackWhere(query, (value) => {
      params.push(value instanceof Date ? value.getTime() : value);
      return "?";
    });
    const order = "endpoint, name, target, model_version";
    const arms = (
      await this.reads.all(
        `SELECT endpoint, target, model_version, name, COUNT(*) AS n, ${feedbackScoreColumns}
         FROM feedback WHERE ${where} GROUP BY ${order} ORDER BY ${order} LIMIT ?`,
        [...params, query.limit],
      )
    ).map((row) => ({
        endpoint: text(row, "endpoint"),
        target: text(row, "target"),
        modelVersion: text(row, "model_version"),
        name: text(row, "name"),
        count: num(row, "n"),
        scored: num(row, "scored"),
        scoreSum: optionalNumber(row, "score_sum") ?? 0,
        labels: [],
      }));
    if (arms.length === 0) return arms;
    const labels = (
      await this.reads.all(
        `SELECT endpoint, target, model_version, name, label, COUNT(*) AS n
         FROM feedback WHERE ${where} AND label IS NOT NULL GROUP BY ${order}, label ORDER BY n DESC LIMIT ?`,
        [...params, FEEDBACK_SUMMARY_LABEL_ROWS],
      )
    ).map((row) => ({
        endpoint: text(row, "endpoint"),
        target: text(row, "target"),
        modelVersion: text(row, "model_version"),
        name: text(row, "name"),
        label: text(row, "label"),
        count: num(row, "n"),
      }));
    return withLabels(arms, labels);
  }
}

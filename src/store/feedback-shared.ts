// What the SQL backends share for feedback: the checks a feedback row passes before it is written
// (text bounded and storable as the ledger's, a finite score), the WHERE clause of a summary, and
// the assembly of arms from the two grouped queries (per arm; per arm and label).
import { invalidArgument } from "../errors";
import { checkDate, checkFilterText, LEDGER_TEXT_LIMITS, storableText } from "./sql-shared";
import type { FeedbackArmTotal, FeedbackRow, FeedbackSummaryQuery } from "./types";

/**
 * The largest score, either sign (FeedbackService refuses scores past it): sums of any number of
 * rows stay finite, and far from where a double stops telling whole numbers apart.
 */
export const MAX_FEEDBACK_SCORE = 1_000_000;

/** The longest feedback name or label kept (FeedbackService allows 64 characters). */
export const FEEDBACK_TOKEN_LIMIT = 64;
/** Rows one append takes at most (the feedback writer's batch). */
export const FEEDBACK_BATCH_ROWS = 500;
/** Label rows a summary reads at most (distinct labels over every arm): a bound on its memory. */
export const FEEDBACK_SUMMARY_LABEL_ROWS = 20_000;

/** The row as the store keeps it: each text bounded and cleaned like the ledger's; refused when it cannot be. */
export function storableFeedbackRow(row: FeedbackRow): FeedbackRow {
  checkDate(row.time, "feedback: time");
  if (row.score !== null && !(Math.abs(row.score) <= MAX_FEEDBACK_SCORE)) {
    throw invalidArgument(`feedback: score must be null or a number from -${MAX_FEEDBACK_SCORE} to ${MAX_FEEDBACK_SCORE}`);
  }
  if (row.name === "") throw invalidArgument("feedback: name must not be empty");
  if (row.label === "") throw invalidArgument("feedback: label must be null or not empty");
  return {
    ...row,
    requestId: storableText(row.requestId, LEDGER_TEXT_LIMITS.requestId),
    endpoint: storableText(row.endpoint, LEDGER_TEXT_LIMITS.endpoint),
    target: storableText(row.target, LEDGER_TEXT_LIMITS.endpoint),
    model: storableText(row.model, LEDGER_TEXT_LIMITS.model),
    modelVersion: storableText(row.modelVersion, LEDGER_TEXT_LIMITS.modelVersion),
    keyId: storableText(row.keyId, LEDGER_TEXT_LIMITS.keyId),
    team: storableText(row.team, LEDGER_TEXT_LIMITS.team),
    postedBy: storableText(row.postedBy, LEDGER_TEXT_LIMITS.keyId),
    name: storableText(row.name, FEEDBACK_TOKEN_LIMIT),
    label: row.label === null ? null : storableText(row.label, FEEDBACK_TOKEN_LIMIT),
  };
}

/**
 * A summary's scored count and score sum (SQL, both backends): scores outside the bound, which
 * rows stored before it may hold, are left out rather than summed to Infinity (or, on
 * PostgreSQL, failing the query with an overflow); their rows still count.
 */
export const feedbackScoreColumns = `COUNT(CASE WHEN ABS(score) <= ${MAX_FEEDBACK_SCORE} THEN 1 END) AS scored, COALESCE(SUM(CASE WHEN ABS(score) <= ${MAX_FEEDBACK_SCORE} THEN score END), 0) AS score_sum`;

/** The WHERE clause (without the keyword) of a summary; `bind` records a parameter and returns its placeholder. */
export function feedbackWhere(query: FeedbackSummaryQuery, bind: (value: string | Date) => string): string {
  const parts: string[] = [];
  if (query.start !== undefined) parts.push(`time >= ${bind(checkDate(query.start, "feedback summary: start"))}`);
  if (query.end !== undefined) parts.push(`time < ${bind(checkDate(query.end, "feedback summary: end"))}`);
  if (query.endpoint !== undefined) parts.push(`endpoint = ${bind(checkFilterText(query.endpoint, "feedback summary: endpoint"))}`);
  if (query.name !== undefined) parts.push(`name = ${bind(checkFilterText(query.name, "feedback summary: name"))}`);
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) throw invalidArgument("feedback summary: limit must be a positive integer");
  return parts.length > 0 ? parts.join(" AND ") : "1 = 1";
}

export function armKey(a: { endpoint: string; target: string; modelVersion: string; name: string }): string {
  return `${a.endpoint}\u0000${a.name}\u0000${a.target}\u0000${a.modelVersion}`;
}

/** The arms with their labels (most frequent first, then by label); labels of arms past the limit are dropped. */
export function withLabels(
  arms: FeedbackArmTotal[],
  labels: readonly { endpoint: string; target: string; modelVersion: string; name: string; label: string; count: number }[],
): FeedbackArmTotal[] {
  const byKey = new Map(arms.map((a) => [armKey(a), a]));
  for (const l of labels) byKey.get(armKey(l))?.labels.push({ label: l.label, count: l.count });
  for (const a of arms) a.labels.sort((x, y) => y.count - x.count || (x.label < y.label ? -1 : x.label > y.label ? 1 : 0));
  return arms;
}

// What the SQL backends (SQLite, PostgreSQL) share: the checks a key or ledger row passes before
// it is written, the WHERE clause of a usage query and the columns behind each usage group. Each
// backend supplies its own placeholder syntax and time encoding through `bind`.
import { Code, ConnectError, internal, invalidArgument } from "../errors";
import { LEDGER_CACHE_VALUES, USAGE_BUCKET_MS, type KeyLimits, type KeyRecord, type LedgerRow, type UsageGroup, type UsageQuery, type UsageSeriesQuery, type CallQuery, MAX_CALLS_PAGE } from "./types";

/** Rows fetched per page when streaming the ledger: bounds memory whatever the range. */
export const LEDGER_PAGE_ROWS = 500;

/** The usage_ledger column of each group, in the canonical order of GROUP BY and ORDER BY. */
const groupColumns: Record<UsageGroup, string> = {
  key: "key_id",
  team: "team",
  endpoint: "endpoint",
  target: "target",
  model: "model",
};
const groupOrder = Object.keys(groupColumns) as UsageGroup[];

/** The asked groups, deduplicated, in canonical order; an unknown group name is the caller's error. */
export function usageGroups(groupBy: readonly UsageGroup[]): { group: UsageGroup; column: string }[] {
  for (const group of groupBy) {
    if (!Object.hasOwn(groupColumns, group)) {
      throw invalidArgument(`usage: unknown group "${String(group)}" (use ${groupOrder.join(", ")})`);
    }
  }
  return groupOrder.filter((g) => groupBy.includes(g)).map((group) => ({ group, column: groupColumns[group] }));
}

/**
 * The WHERE clause (without the keyword; "1 = 1" when nothing filters) of a usage query.
 * `bind` records a parameter and returns its placeholder.
 */
export function ledgerWhere(query: Omit<UsageQuery, "groupBy">, bind: (value: string | Date) => string): string {
  const parts: string[] = [];
  if (query.start !== undefined) parts.push(`time >= ${bind(checkDate(query.start, "usage: start"))}`);
  if (query.end !== undefined) parts.push(`time < ${bind(checkDate(query.end, "usage: end"))}`);
  if (query.team !== undefined) parts.push(`team = ${bind(checkFilterText(query.team, "usage: team"))}`);
  if (query.keyId !== undefined) parts.push(`key_id = ${bind(checkFilterText(query.keyId, "usage: keyId"))}`);
  return parts.length > 0 ? parts.join(" AND ") : "1 = 1";
}

/**
 * The WHERE clause of a calls() page: ledgerWhere's filters, the endpoint, status and request id,
 * and the keyset condition for rows older than the cursor (time, then id). Each backend orders by
 * `time DESC, id DESC` over an index led by the filtered column ((key_id|team|endpoint, time),
 * request_id, or time; "error" is the literal `status <> 'ok'`, which the partial error index
 * matches). `olderThan` is the backend's keyset condition, given the cursor's placeholders: SQLite's
 * planner walks (time) with `time <= t AND (time < t OR id < i)`, PostgreSQL's needs the row value
 * `(time, id) < (t, i)` to walk its (…, time, id) indexes without sorting.
 */
export function callsWhere(
  query: CallQuery,
  bind: (value: string | Date) => string,
  olderThan: (bindTime: () => string, id: string) => string,
): string {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1 || query.limit > MAX_CALLS_PAGE) {
    throw invalidArgument(`calls: limit must be an integer from 1 to ${MAX_CALLS_PAGE}`);
  }
  const parts = [ledgerWhere(query, bind)];
  if (query.endpoint !== undefined) parts.push(`endpoint = ${bind(checkFilterText(query.endpoint, "calls: endpoint"))}`);
  if (query.requestId !== undefined) parts.push(`request_id = ${bind(checkFilterText(query.requestId, "calls: requestId"))}`);
  if (query.status === "error") parts.push("status <> 'ok'");
  else if (query.status !== undefined) parts.push(`status = ${bind(checkFilterText(query.status, "calls: status"))}`);
  if (query.before !== undefined) {
    const { time, id } = query.before;
    checkDate(time, "calls: before.time");
    if (typeof id !== "string" || !/^[0-9]{1,15}$/.test(id)) throw invalidArgument("calls: before.id must be a non-negative integer");
    parts.push(olderThan(() => bind(time), id));
  }
  return parts.join(" AND ");
}

/**
 * The origin and size (ms) of a series' buckets, checked: the origin is start rounded down to the
 * bucket size, so each row's bucket index, (time_ms - origin) / size, is a non-negative integer
 * division that SQLite and PostgreSQL compute alike (both truncate, and the dividend is ≥ 0).
 */
export function seriesBuckets(query: UsageSeriesQuery): { origin: number; size: number } {
  const start = checkDate(query.start, "usage series: start").getTime();
  checkDate(query.end, "usage series: end");
  if (!Object.hasOwn(USAGE_BUCKET_MS, query.bucket)) {
    throw invalidArgument(`usage series: unknown bucket "${String(query.bucket)}" (use ${Object.keys(USAGE_BUCKET_MS).join(", ")})`);
  }
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) throw invalidArgument("usage series: limit must be a positive integer");
  const size = USAGE_BUCKET_MS[query.bucket];
  return { origin: Math.floor(start / size) * size, size };
}

export function checkDate(value: Date, what: string): Date {
  if (!isValidDate(value)) throw invalidArgument(`${what}: not a valid time`);
  return value;
}

function isValidDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

// Text in the ledger. Each string column of a row comes, in part, from the caller (an endpoint
// or model name in a request body, a request id header, a JWT subject): whatever it holds must
// never make the row unwritable (PostgreSQL refuses NUL in text; a lone surrogate cannot be
// encoded as UTF-8) nor huge, nor turn into terminal escapes or line breaks in a report.

/** The longest text each ledger column keeps, in UTF-16 code units; longer text ends in "…". */
export const LEDGER_TEXT_LIMITS = {
  requestId: 128,
  keyId: 256,
  team: 256,
  endpoint: 256,
  provider: 256,
  model: 256,
  modelVersion: 256,
  status: 64,
} as const satisfies Record<LedgerTextField, number>;

type LedgerTextField = "requestId" | "keyId" | "team" | "endpoint" | "provider" | "model" | "modelVersion" | "status";
const ledgerTextFields = Object.keys(LEDGER_TEXT_LIMITS) as LedgerTextField[];

/** The policy columns' text (optional in a LedgerRow, stored as '' when absent), with their limits. */
export const LEDGER_POLICY_TEXT_LIMITS = {
  template: 256,
  guardrails: 1024,
} as const satisfies Record<LedgerPolicyTextField, number>;
type LedgerPolicyTextField = "template" | "guardrails";
const ledgerPolicyTextFields = Object.keys(LEDGER_POLICY_TEXT_LIMITS) as LedgerPolicyTextField[];

/** The policy columns of a row as stored: '' for absent text, null for an absent saving. */
export function ledgerPolicyValues(row: LedgerRow): [template: string, cache: string, costSavedUsd: number | null, guardrails: string] {
  return [row.template ?? "", row.cache ?? "", row.costSavedUsd ?? null, row.guardrails ?? ""];
}

/** The ledger's guardrails text of a call's decisions (`side:reason:action` each), bounded. */
export function ledgerGuardrails(decisions: readonly string[] | undefined): string {
  return decisions && decisions.length > 0 ? storableText(decisions.join(","), LEDGER_POLICY_TEXT_LIMITS.guardrails) : "";
}

/** What the ledger does not keep: C0 controls (NUL, tab, CR, LF, ESC …), DEL, C1 controls, lone surrogates. */
const UNSTORABLE = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, "g");
const NUL_OR_LONE_SURROGATE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * `value` as the ledger keeps it: each unstorable character (see UNSTORABLE) replaced by U+FFFD,
 * and at most `max` code units, a cut marked by a trailing "…" (a surrogate pair is never split).
 * Clean text (the usual case) costs one regex test and comes back as is, without allocating.
 */
export function storableText(value: string, max: number): string {
  if (value.length <= max && !UNSTORABLE.test(value)) return value;
  let text = value;
  const cut = text.length > max;
  if (cut) {
    let end = Math.max(0, max - 1);
    const last = text.charCodeAt(end - 1);
    if (end > 0 && last >= 0xd800 && last <= 0xdbff) end--; // the pair's low half would be cut off
    text = text.slice(0, end);
  }
  text = text.replace(UNSTORABLE_ALL, "\ufffd");
  return cut ? `${text}…` : text;
}

/**
 * The row as the ledger can always store it (see storableText). Returns `row` itself when
 * nothing needed changing; a non-string field is left for checkLedgerRow to refuse.
 */
export function storableLedgerRow(row: LedgerRow): LedgerRow {
  let out: LedgerRow | undefined;
  for (const field of ledgerTextFields) {
    const value = row[field];
    if (typeof value !== "string") continue;
    const stored = storableText(value, LEDGER_TEXT_LIMITS[field]);
    if (stored !== value) (out ??= { ...row })[field] = stored;
  }
  for (const field of ledgerPolicyTextFields) {
    const value = row[field];
    if (typeof value !== "string") continue;
    const stored = storableText(value, LEDGER_POLICY_TEXT_LIMITS[field]);
    if (stored !== value) (out ??= { ...row })[field] = stored;
  }
  return out ?? row;
}

/**
 * A usage filter (team, key id) checked like the text it is compared with: the ledger holds no
 * control characters, lone surrogates or text over 256 code units, so such a filter is the
 * caller's mistake (and PostgreSQL would fail on a NUL), not an empty answer.
 */
export function checkFilterText(value: string, what: string): string {
  if (typeof value !== "string") throw invalidArgument(`${what}: must be a string`);
  if (value.length > 256) throw invalidArgument(`${what}: longer than 256 characters`);
  if (UNSTORABLE.test(value)) throw invalidArgument(`${what}: must not contain control characters or unpaired surrogates`);
  return value;
}

/**
 * Refuses a row the ledger cannot record faithfully: NaN would become NULL in SQLite (an
 * "unknown" cost out of a bug) and a negative count would corrupt every total after it; a NUL
 * cannot be stored in PostgreSQL text, and a lone surrogate cannot be encoded as UTF-8 (it would
 * come back as U+FFFD). The ledger writer makes its rows storable first (storableLedgerRow).
 */
export function checkLedgerRow(row: LedgerRow, index: number): void {
  // Every row of every call passes here (twice: queued, then stored): the text naming the row is
  // built only for a refusal.
  if (!isValidDate(row.time)) throw badLedgerRow(index, "time: not a valid time");
  for (const field of ledgerTextFields) {
    const value = row[field];
    if (typeof value !== "string") throw badLedgerRow(index, `${field} must be a string`);
    if (NUL_OR_LONE_SURROGATE.test(value)) {
      throw badLedgerRow(index, `${field} holds a NUL character or an unpaired surrogate, which cannot be stored`);
    }
  }
  for (const field of ledgerPolicyTextFields) {
    const value = row[field];
    if (value === undefined) continue;
    if (typeof value !== "string") throw badLedgerRow(index, `${field} must be a string`);
    if (NUL_OR_LONE_SURROGATE.test(value)) {
      throw badLedgerRow(index, `${field} holds a NUL character or an unpaired surrogate, which cannot be stored`);
    }
  }
  if (row.cache !== undefined && !(LEDGER_CACHE_VALUES as readonly string[]).includes(row.cache)) {
    throw badLedgerRow(index, `cache must be one of ${LEDGER_CACHE_VALUES.map((v) => `"${v}"`).join(", ")}`);
  }
  const saved = row.costSavedUsd;
  if (saved !== undefined && saved !== null && !(Number.isFinite(saved) && saved >= 0)) {
    throw badLedgerRow(index, `costSavedUsd must be a non-negative number or null`);
  }
  if (row.traceId !== undefined && (typeof row.traceId !== "string" || !TRACE_ID.test(row.traceId))) {
    throw badLedgerRow(index, `traceId must be "" or 32 lowercase hex digits`);
  }
  if (row.status === "") throw badLedgerRow(index, `status must not be empty ("ok" or a code name)`);
  for (const field of ledgerCountFields) {
    const n = row[field] ?? 0;
    if (!Number.isSafeInteger(n) || n < 0) throw badLedgerRow(index, `${field} must be a non-negative integer`);
  }
  if (row.costUsd !== null && !(Number.isFinite(row.costUsd) && row.costUsd >= 0)) {
    throw badLedgerRow(index, `costUsd must be a non-negative number or null (unknown price)`);
  }
  if (!(Number.isFinite(row.latencyMs) && row.latencyMs >= 0)) {
    throw badLedgerRow(index, `latencyMs must be a non-negative number`);
  }
  if (typeof row.streamed !== "boolean") throw badLedgerRow(index, "streamed must be a boolean");
}

const ledgerCountFields = ["promptTokens", "completionTokens", "cachedPromptTokens", "reasoningTokens"] as const;

function badLedgerRow(index: number, what: string): ConnectError {
  return invalidArgument(`ledger row ${index}: ${what}`);
}

/** A W3C trace id as the ledger keeps it ("" when unknown). */
const TRACE_ID = /^(?:[0-9a-f]{32})?$/;

/** An invalid expiry must never be stored as "no expiry" (SQLite turns NaN into NULL). */
export function checkKeyRecord(key: KeyRecord): void {
  checkDate(key.createdAt, `key ${key.id}: createdAt`);
  checkDate(key.updatedAt, `key ${key.id}: updatedAt`);
  if (key.expiresAt !== undefined) checkDate(key.expiresAt, `key ${key.id}: expiresAt`);
  if (key.revokedAt !== undefined) checkDate(key.revokedAt, `key ${key.id}: revokedAt`);
}

/** The error for an insert whose id or secret hash is taken (the hash itself stays out of it). */
export function keyExists(id: string): ConnectError {
  return new ConnectError(`key ${id} already exists (same id or same secret)`, Code.AlreadyExists);
}

/** Limits as read back from the database (JSON), checked rather than trusted blindly. */
export function parseKeyLimits(value: unknown): KeyLimits {
  if (typeof value !== "object" || value === null) throw internal("store: key limits are not an object");
  const record = value as Record<string, unknown>;
  const period = record.budgetPeriod;
  if (period !== "day" && period !== "month") throw internal("store: key limits have no valid budgetPeriod");
  const limits: KeyLimits = { budgetPeriod: period };
  for (const field of ["rpm", "tpm", "budgetUsd"] as const) {
    const n = record[field];
    if (n === undefined || n === null) continue;
    if (typeof n !== "number") throw internal(`store: key limit ${field} is not a number`);
    limits[field] = n;
  }
  return limits;
}

/**
 * True when a store refused rows for what they contain, so that writing the same rows again can
 * never succeed: a row check (INVALID_ARGUMENT), a PostgreSQL data exception (SQLSTATE class
 * 22) or integrity violation (class 23), an SQLite constraint, type mismatch or too-big value.
 * Anything else (the database unreachable, locked, out of space, shutting down …) may pass.
 */
export function isLedgerContentError(err: unknown): boolean {
  if (err instanceof ConnectError) return err.code === Code.InvalidArgument || isLedgerContentError(err.cause);
  if (typeof err !== "object" || err === null) return false;
  const { code, errcode } = err as { code?: unknown; errcode?: unknown };
  if (typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code)) return true;
  if (typeof errcode === "number") {
    const primary = errcode & 0xff;
    return primary === SQLITE_TOOBIG || primary === SQLITE_CONSTRAINT || primary === SQLITE_MISMATCH;
  }
  return false;
}

const SQLITE_TOOBIG = 18;
const SQLITE_CONSTRAINT = 19;
const SQLITE_MISMATCH = 20;

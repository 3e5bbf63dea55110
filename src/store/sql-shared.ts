// What the SQL backends (SQLite, PostgreSQL) share: the checks a key or ledger row passes before
// it is written, the WHERE clause of a usage query and the columns behind each usage group. Each
// backend supplies its own placeholder syntax and time encoding through `bind`.
import { Code, ConnectError, internal, invalidArgument } from "../errors";
import type { KeyLimits, KeyRecord, LedgerRow, UsageGroup, UsageQuery } from "./types";

/** Rows fetched per page when streaming the ledger: bounds memory whatever the range. */
export const LEDGER_PAGE_ROWS = 500;

/** The usage_ledger column of each group, in the canonical order of GROUP BY and ORDER BY. */
const groupColumns: Record<UsageGroup, string> = {
  key: "key_id",
  team: "team",
  endpoint: "endpoint",
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
  if (query.team !== undefined) parts.push(`team = ${bind(query.team)}`);
  if (query.keyId !== undefined) parts.push(`key_id = ${bind(query.keyId)}`);
  return parts.length > 0 ? parts.join(" AND ") : "1 = 1";
}

export function checkDate(value: Date, what: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalidArgument(`${what}: not a valid time`);
  return value;
}

/**
 * Refuses a row the ledger cannot record faithfully: NaN would become NULL in SQLite (an
 * "unknown" cost out of a bug) and a negative count would corrupt every total after it.
 */
export function checkLedgerRow(row: LedgerRow, index: number): void {
  const where = `ledger row ${index}`;
  checkDate(row.time, `${where}: time`);
  for (const field of ["requestId", "keyId", "team", "endpoint", "provider", "model", "modelVersion", "status"] as const) {
    if (typeof row[field] !== "string") throw invalidArgument(`${where}: ${field} must be a string`);
  }
  if (row.status === "") throw invalidArgument(`${where}: status must not be empty ("ok" or a code name)`);
  for (const field of ["promptTokens", "completionTokens"] as const) {
    const n = row[field];
    if (!Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${where}: ${field} must be a non-negative integer`);
  }
  if (row.costUsd !== null && !(Number.isFinite(row.costUsd) && row.costUsd >= 0)) {
    throw invalidArgument(`${where}: costUsd must be a non-negative number or null (unknown price)`);
  }
  if (!(Number.isFinite(row.latencyMs) && row.latencyMs >= 0)) {
    throw invalidArgument(`${where}: latencyMs must be a non-negative number`);
  }
  if (typeof row.streamed !== "boolean") throw invalidArgument(`${where}: streamed must be a boolean`);
}

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

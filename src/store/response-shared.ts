// What the SQL backends share for stored responses (ResponseStore), and for conversations
// (conversation-shared.ts): the checks a row passes before it is written, and which ids a get or
// delete need not look for.
//
// - id, keyId, team and endpoint come from request ids and identifiers bounded upstream; they are
//   not clipped here (a clipped id or key id would no longer match what it names), but one that
//   could not be stored faithfully is refused with INVALID_ARGUMENT rather than failing in the
//   database: longer than RESPONSE_ID_TEXT_LIMIT (PostgreSQL's btree refuses a key over ~2.7 kB),
//   a NUL (PostgreSQL text cannot hold one) or an unpaired surrogate (UTF-8 turns it into U+FFFD).
// - response and items may hold any well-formed text, NUL included (PostgreSQL keeps them as
//   UTF-8 bytea for that); an unpaired surrogate is refused, as it would not come back as it went.
import { invalidArgument } from "../errors";
import { checkDate } from "./sql-shared";
import type { ResponseStore, StoredResponse } from "./types";

/** The longest id, key id, team or endpoint kept, in UTF-16 code units (at most 1.5 kB as UTF-8). */
export const RESPONSE_ID_TEXT_LIMIT = 512;
/** inputCount's bound: PostgreSQL's integer. */
const MAX_INPUT_COUNT = 2_147_483_647;

/** Times both backends keep (PostgreSQL's timestamptz starts at 4713 BC, a JS Date before that). */
const MIN_TIME_MS = Date.parse("0001-01-01T00:00:00.000Z");
const MAX_TIME_MS = Date.parse("9999-12-31T23:59:59.999Z");

const identifierFields = ["id", "keyId", "team", "endpoint"] as const;

/** Refuses a row that could not be stored as it is (see the top of this file). */
export function checkStoredResponse(row: StoredResponse, index: number): void {
  for (const field of identifierFields) {
    const problem = identifierProblem(row[field]);
    if (problem !== undefined) throw badRow(index, `${field} ${problem}`);
  }
  for (const field of ["createdAt", "expiresAt"] as const) checkStorableTime(row[field], `stored response ${index}: ${field}`);
  for (const field of ["response", "items"] as const) {
    const problem = textProblem(row[field]);
    if (problem !== undefined) throw badRow(index, `${field} ${problem}`);
  }
  if (!Number.isSafeInteger(row.inputCount) || row.inputCount < 0 || row.inputCount > MAX_INPUT_COUNT) {
    throw badRow(index, `inputCount must be an integer from 0 to ${MAX_INPUT_COUNT}`);
  }
}

/** Whether a response could have been stored with this id (or key id, team): when not, a lookup by it finds nothing. */
export function isStorableIdentifier(id: string): boolean {
  return identifierProblem(id) === undefined;
}

/** Refuses a purge's limit that is not a positive integer. */
export function checkPurgeLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw invalidArgument("responses: purge limit must be a positive integer");
  return limit;
}

/** A time both backends keep (a valid Date in the years 1 to 9999), or INVALID_ARGUMENT naming `what`. */
export function checkStorableTime(value: Date, what: string): Date {
  const ms = checkDate(value, what).getTime();
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) throw invalidArgument(`${what} must be within the years 1 to 9999`);
  return value;
}

/** Why an id, key id, team or endpoint could not be stored as it is, or undefined (see the top of this file). */
export function identifierProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (value.length > RESPONSE_ID_TEXT_LIMIT) return `is longer than ${RESPONSE_ID_TEXT_LIMIT} characters`;
  if (value.includes("\u0000") || !isWellFormed(value)) return "holds a NUL character or an unpaired surrogate, which cannot be stored";
  return undefined;
}

/** Why JSON text (any well-formed string, NUL included) could not be stored as it is, or undefined. */
export function textProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (!isWellFormed(value)) return "holds an unpaired surrogate, which cannot be stored";
  return undefined;
}

/** ES2024 String.prototype.isWellFormed (a native scan: cheap on a multi-MB string). */
function isWellFormed(value: string): boolean {
  return (value as string & { isWellFormed(): boolean }).isWellFormed();
}

function badRow(index: number, what: string) {
  return invalidArgument(`stored response ${index}: ${what}`);
}

/** Removes expired responses a bounded batch at a time (one statement stays short), until a batch comes back short; how many. */
export async function purgeExpiredResponses(store: ResponseStore, now: Date, batch = 1000, maxBatches = Number.POSITIVE_INFINITY): Promise<number> {
  let removed = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await store.purgeExpired(now, batch);
    removed += n;
    if (n < batch) break;
  }
  return removed;
}

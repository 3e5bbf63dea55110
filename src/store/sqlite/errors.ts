// Recognising node:sqlite errors by SQLite's (extended) result codes.
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_TOOBIG = 18;
const SQLITE_CONSTRAINT = 19;
const SQLITE_MISMATCH = 20;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

function resultCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null || !("errcode" in err)) return undefined;
  return typeof err.errcode === "number" ? err.errcode : undefined;
}

export function isUniqueViolation(err: unknown): boolean {
  const code = resultCode(err);
  return code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY;
}

/** Another process held the lock for longer than busy_timeout. */
export function isBusy(err: unknown): boolean {
  const code = resultCode(err);
  // The low byte is the primary code (SQLITE_BUSY_SNAPSHOT etc. are extended BUSY codes).
  return code !== undefined && ((code & 0xff) === SQLITE_BUSY || (code & 0xff) === SQLITE_LOCKED);
}

/** A value too big, a constraint (CHECK, NOT NULL, a trigger's RAISE) or a type refused: the row's fault. */
export function isContentError(err: unknown): boolean {
  const code = resultCode(err);
  if (code === undefined) return false;
  const primary = code & 0xff;
  return primary === SQLITE_TOOBIG || primary === SQLITE_CONSTRAINT || primary === SQLITE_MISMATCH;
}

/** The file, its -wal or -shm, or its directory cannot be written (permissions, read-only mount). */
export function isReadonly(err: unknown): boolean {
  const code = resultCode(err);
  return code !== undefined && (code & 0xff) === SQLITE_READONLY;
}

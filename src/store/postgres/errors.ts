// node-postgres errors in our error mapping: a taken unique value, and the database being out
// of reach (which callers treat as UNAVAILABLE, e.g. the key cache keeps serving what it has).
import { DatabaseError } from "pg";
import { Code, ConnectError, unavailable } from "../../errors";

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof DatabaseError && err.code === "23505";
}

/** Network failures, a server shutting down or out of connections, a pool connect timeout. */
function isUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = "code" in err && typeof err.code === "string" ? err.code : "";
  if (err instanceof DatabaseError) {
    // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now; 53300: too many connections.
    return code.startsWith("08") || /^57P0[123]$/.test(code) || code === "53300";
  }
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)$/.test(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect/i.test(err.message);
}

/** Rethrows `err`, as UNAVAILABLE when the database could not be reached. */
export function rethrowDatabaseError(err: unknown): never {
  if (isUnreachable(err)) {
    const message = err instanceof Error ? err.message : String(err);
    throw unavailable(`postgres store unreachable: ${message}`, err);
  }
  throw err;
}

/**
 * Rethrows a failed ledger append: UNAVAILABLE when the database could not be reached, and
 * INVALID_ARGUMENT (the cause kept) when PostgreSQL refused the rows for what they hold: a data
 * exception (SQLSTATE class 22, e.g. 22021 for a NUL in text, 22008 for a time out of range) or
 * an integrity violation (class 23). Those fail the same way however often they are retried.
 */
export function rethrowAppendError(err: unknown): never {
  if (err instanceof DatabaseError && /^2[23]/.test(err.code ?? "")) {
    throw new ConnectError(
      `postgres store refused the rows (SQLSTATE ${err.code}): ${err.message}`,
      Code.InvalidArgument,
      undefined,
      undefined,
      err,
    );
  }
  rethrowDatabaseError(err);
}

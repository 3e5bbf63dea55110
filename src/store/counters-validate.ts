// Input checks shared by every Counters backend, so a bad call fails the same way on memory and
// Redis. Counters are integers: requests, tokens, and spend in micro-USD (1 USD = 1_000_000), so
// budgets add up exactly, and Redis INCRBY (integers only) can hold them. Values stay within
// Number.MAX_SAFE_INTEGER (2^53 - 1): about 9 billion USD in micro-USD.
import { internal } from "../errors";
import type { CounterCheck } from "./counters";

/** Throws INTERNAL (a caller bug, not the client's fault) when a check is malformed. */
export function validateChecks(checks: readonly CounterCheck[]): void {
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i]!;
    if (typeof c.key !== "string" || c.key === "") throw internal(`counters: check ${i} has an empty key`);
    if (!Number.isSafeInteger(c.limit) || c.limit < 0) {
      throw internal(`${where(i, c)}: limit must be a non-negative integer, got ${c.limit}`);
    }
    if (!Number.isSafeInteger(c.cost) || c.cost < 0) {
      throw internal(`${where(i, c)}: cost must be a non-negative integer (micro-USD for budgets), got ${c.cost}`);
    }
    if (!Number.isSafeInteger(c.resetAtMs)) throw internal(`${where(i, c)}: resetAtMs must be an integer epoch ms, got ${c.resetAtMs}`);
  }
}

/** Names a check in an error (built only for a bad check). */
function where(i: number, c: CounterCheck): string {
  return `counters: check ${i} ("${c.key}")`;
}

export function validateAdd(key: string, delta: number, resetAtMs: number): void {
  if (typeof key !== "string" || key === "") throw internal("counters: add with an empty key");
  if (!Number.isSafeInteger(delta)) {
    throw internal(`counters: add to "${key}": delta must be an integer (micro-USD for budgets), got ${delta}`);
  }
  if (!Number.isSafeInteger(resetAtMs)) throw internal(`counters: add to "${key}": resetAtMs must be an integer epoch ms, got ${resetAtMs}`);
}

export function validateKey(key: string): void {
  if (typeof key !== "string" || key === "") throw internal("counters: get with an empty key");
}

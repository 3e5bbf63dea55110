// The top-level keys of a request body, checked by hand against a zod object schema's: for the
// plain paths that build what the schema would build for the common body (plainChatBody,
// plainChatPayload) and leave every other body to the schema.
import type { JsonRecord } from "../json";

export interface PlainShape {
  /** Every key the schema declares. */
  known: ReadonlySet<string>;
  /** The declared keys the plain path takes, each with the check of a value other than null. */
  checks: ReadonlyMap<string, (v: unknown) => boolean>;
  /** Declared keys whose null the schema refuses or replaces: left to the schema. */
  notNull: ReadonlySet<string>;
  /** Declared keys the caller checks itself. */
  own: ReadonlySet<string>;
}

/**
 * Whether `value`'s keys fit the plain path: undefined when one does not (a declared key it does
 * not take, a value its check refuses, a raw `__proto__` key), else whether there are keys the
 * schema does not declare (which its catch-all passes on: copyUndeclared).
 */
export function plainKeys(value: JsonRecord, shape: PlainShape): boolean | undefined {
  let undeclared = false;
  for (const key of Object.keys(value)) {
    if (shape.own.has(key)) continue;
    if (!shape.known.has(key)) {
      if (key === "__proto__") return undefined;
      undeclared = true;
      continue;
    }
    const check = shape.checks.get(key);
    const v = value[key];
    if (check === undefined || (v === null ? shape.notNull.has(key) : !check(v))) return undefined;
  }
  return undeclared;
}

/** The keys of `value` the schema does not declare, into `out` in their order (after the declared ones, as zod puts them). */
export function copyUndeclared(value: JsonRecord, known: ReadonlySet<string>, out: JsonRecord): void {
  for (const key of Object.keys(value)) if (!known.has(key)) out[key] = value[key];
}

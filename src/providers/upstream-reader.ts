// Reads fields out of an upstream JSON body. Every upstream shape check goes through here so a
// malformed answer always becomes badUpstreamResponse with the path of what was wrong.
import { badUpstreamResponse } from "../errors";
import { isRecord, type JsonRecord } from "../json";
import { wellFormed } from "../text";

export { isRecord, type JsonRecord };

export interface UpstreamReader {
  object(value: unknown, path: string): JsonRecord;
  array(value: unknown, path: string): unknown[];
  /** A string, lone surrogates made U+FFFD (what UTF-8 makes of them; see src/text.ts). */
  string(value: unknown, path: string): string;
  /** A string, or "" when the field is null or absent (OpenAI's null content and finish_reason). */
  stringOrEmpty(value: unknown, path: string): string;
  /** A non-negative integer that fits a uint32 field: an index or a token count. */
  count(value: unknown, path: string): number;
  /** Seconds (or milliseconds) since the epoch, for an int64 field: a non-negative integer up to 2^53 - 1. */
  time(value: unknown, path: string): number;
  /** A count, or 0 when absent or null (optional token counters). */
  countOrZero(value: unknown, path: string): number;
  number(value: unknown, path: string): number;
  /** Parses one SSE `data:` payload. */
  json(text: string, path: string): unknown;
}

/**
 * The largest count an answer carries: token counts and indexes are uint32 fields, so a larger
 * one would fail the answer's encoding (INTERNAL) instead of naming the upstream's mistake.
 */
export const MAX_COUNT = 0xffffffff;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return value === undefined ? "nothing" : `a ${typeof value}`;
}

export function upstreamReader(provider: string): UpstreamReader {
  const fail = (path: string, expected: string, value: unknown) =>
    badUpstreamResponse(provider, `${path}: expected ${expected}, got ${describe(value)}`);

  const reader: UpstreamReader = {
    object(value, path) {
      if (!isRecord(value)) throw fail(path, "an object", value);
      return value;
    },
    array(value, path) {
      if (!Array.isArray(value)) throw fail(path, "an array", value);
      return value;
    },
    string(value, path) {
      if (typeof value !== "string") throw fail(path, "a string", value);
      return wellFormed(value);
    },
    stringOrEmpty(value, path) {
      return value === null || value === undefined ? "" : reader.string(value, path);
    },
    count(value, path) {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
        throw fail(path, "a non-negative integer", value);
      }
      if (value > MAX_COUNT) throw badUpstreamResponse(provider, `${path}: expected a non-negative integer, got ${value} (at most ${MAX_COUNT})`);
      return value;
    },
    time(value, path) {
      if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw fail(path, "a time in whole seconds", value);
      if (value > Number.MAX_SAFE_INTEGER) {
        throw badUpstreamResponse(provider, `${path}: expected a time in whole seconds, got ${value} (at most ${Number.MAX_SAFE_INTEGER})`);
      }
      return value;
    },
    countOrZero(value, path) {
      return value === null || value === undefined ? 0 : reader.count(value, path);
    },
    number(value, path) {
      if (typeof value !== "number" || !Number.isFinite(value)) throw fail(path, "a number", value);
      return value;
    },
    json(text, path) {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw badUpstreamResponse(provider, `${path}: not valid JSON`);
      }
    },
  };
  return reader;
}

/** `body.error.message`, the error shape OpenAI and Anthropic share. */
export function nestedErrorMessage(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.error)) return undefined;
  const message = body.error.message;
  return typeof message === "string" && message !== "" ? message : undefined;
}

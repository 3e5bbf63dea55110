// Typed reads of SQLite result columns: node:sqlite hands back loosely typed values, and a
// column holding something unexpected is a corrupt database, not a value to guess at.
import type { SQLOutputValue } from "node:sqlite";
import { internal } from "../../errors";

export type SqliteRow = Record<string, SQLOutputValue>;

export function text(row: SqliteRow, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw corrupt(column);
  return value;
}

export function num(row: SqliteRow, column: string): number {
  const value = row[column];
  if (typeof value !== "number") throw corrupt(column);
  return value;
}

export function optionalNumber(row: SqliteRow, column: string): number | null {
  const value = row[column];
  if (value === null) return null;
  if (typeof value !== "number") throw corrupt(column);
  return value;
}

export function optionalTime(row: SqliteRow, column: string): Date | undefined {
  const ms = optionalNumber(row, column);
  return ms === null ? undefined : new Date(ms);
}

export function jsonText(row: SqliteRow, column: string): unknown {
  try {
    return JSON.parse(text(row, column));
  } catch {
    throw corrupt(column);
  }
}

export function stringArray(value: unknown, column: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw corrupt(column);
  return value;
}

function corrupt(column: string): Error {
  return internal(`sqlite store: unexpected value in column ${column}`);
}

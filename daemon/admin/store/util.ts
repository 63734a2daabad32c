// Small shared pieces of the store: ids, timestamps, booleans, JSON columns, and recognising
// constraint violations on both dialects.
import { randomUUID } from 'node:crypto';

export const newId = (): string => randomUUID();

/** The one timestamp format the store writes: fixed-width ISO-8601 UTC with milliseconds. */
export const iso = (d: Date | number = new Date()): string => (typeof d === 'number' ? new Date(d) : d).toISOString();

export const bool = (v: boolean | undefined | null): 0 | 1 => (v ? 1 : 0);

export function parseJson<T>(text: string | null | undefined, fallback: T): T {
  if (text == null) return fallback;
  try { return JSON.parse(text) as T; } catch { return fallback; }
}

function codeOf(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? '');
}

/** A UNIQUE / PRIMARY KEY violation (SQLite SQLITE_CONSTRAINT_UNIQUE/PRIMARYKEY, PostgreSQL 23505). */
export function isUniqueViolation(err: unknown): boolean {
  const c = codeOf(err);
  return c === '23505' || c === 'SQLITE_CONSTRAINT_UNIQUE' || c === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** A FOREIGN KEY violation (SQLite SQLITE_CONSTRAINT_FOREIGNKEY, PostgreSQL 23503). */
export function isForeignKeyViolation(err: unknown): boolean {
  const c = codeOf(err);
  return c === '23503' || c === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}


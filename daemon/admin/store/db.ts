// Opens the control-plane store: embedded SQLite at data_dir/admin.sqlite by default (WAL,
// foreign keys on, busy timeout), PostgreSQL when a database URL is given (pg Pool). Runs the
// versioned migrations before handing the database out.
import fs from 'node:fs';
import path from 'node:path';
import { Kysely, PostgresAdapter, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import { loadSqlite } from '../../../native';
import { migrate } from './migrations';
import type { Schema } from './schema';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Schema>;
/** A database handle or an open transaction: store functions accept either. */
export type DbOrTrx = Kysely<Schema> | Transaction<Schema>;

export interface AdminStore {
  db: Db;
  dialect: Dialect;
  /** Where it lives, without credentials (for logs). */
  location: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  dataDir: string;
  /** postgres://… — when set, PostgreSQL instead of SQLite. */
  databaseUrl?: string;
  /** PostgreSQL pool size (default 10). */
  poolMax?: number;
}

/** The dialect of a handle or transaction (store code branches on it only where SQL really differs). */
export function dialectOf(db: DbOrTrx): Dialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

export async function openStore(opts: OpenOptions): Promise<AdminStore> {
  const store = opts.databaseUrl ? await openPostgres(opts.databaseUrl, opts.poolMax ?? 10) : openSqlite(opts.dataDir);
  try {
    await migrate(store.db, store.dialect);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

function openSqlite(dataDir: string): AdminStore {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'admin.sqlite');
  const Database = loadSqlite();
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Kysely's SQLite driver runs every query on one connection, so transactions serialize.
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
  return { db, dialect: 'sqlite', location: file, close: () => db.destroy() };
}

const TIMESTAMPTZ_OID = 1184;
const TIMESTAMP_OID = 1114;
const INT8_OID = 20;
const NUMERIC_OID = 1700;

async function openPostgres(url: string, max: number): Promise<AdminStore> {
  const pg = await import('pg');
  // Timestamps come back as the same ISO strings SQLite stores; count(*) (int8) as a number.
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === TIMESTAMPTZ_OID || oid === TIMESTAMP_OID) return (v: string) => new Date(oid === TIMESTAMP_OID ? `${v}Z` : v).toISOString();
      if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({ connectionString: url, max, types: types as never });
  pool.on('error', () => { /* idle client errors surface on the next query */ });
  // Fail at start (clear message) rather than at the first request.
  try {
    const c = await pool.connect();
    c.release();
  } catch (err) {
    await pool.end().catch(() => {});
    throw Object.assign(new Error(`cannot connect to PostgreSQL (${redact(url)}): ${(err as Error).message}`), { code: 'ADMIN_DB_UNREACHABLE' });
  }
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', location: redact(url), close: () => db.destroy() };
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/** Runs `fn` in the caller's transaction, or in a new one when given the database. */
export function inTx<T>(db: DbOrTrx, fn: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db as Transaction<Schema>) : (db as Db).transaction().execute(fn);
}

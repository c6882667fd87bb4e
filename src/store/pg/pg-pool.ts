import pg from 'pg';
import { AppError } from '../../util/app-error.js';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient;

/** int8 (bigint) as a JS number: ids and epoch milliseconds stay far below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

export interface PgPoolOptions {
  /** Schema the store's tables live in (search_path); default: the server's (public). */
  schema?: string | undefined;
  /** Connections in the pool (default 10). */
  max?: number;
  /** Connect timeout, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Per-statement timeout, ms (default 60,000; 0 = none): no query holds a connection forever. */
  statementTimeoutMs?: number;
}

/** A PostgreSQL URL with its password hidden (for logs and errors). */
export function redactPgUrl(url: string): string {
  return url.replace(/(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

/** A schema name safe to splice into SQL (letters, digits, underscore). */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new AppError('CONFIG_INVALID', `invalid PostgreSQL schema name "${schema}"`);
  return schema;
}

/** A pool on `url`; the first connection is made here, so a wrong URL fails now with a clear error. */
export async function openPgPool(url: string, options: PgPoolOptions = {}): Promise<PgPool> {
  const schema = options.schema === undefined ? undefined : checkSchemaName(options.schema);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    statement_timeout: options.statementTimeoutMs ?? 60_000,
    types,
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new AppError('DB_OPEN_FAILED', `cannot connect to PostgreSQL ${redactPgUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  return pool;
}

/** Runs `fn` in one transaction on one connection (ROLLBACK on any error). */
export async function inTransaction<T>(pool: PgPool, fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

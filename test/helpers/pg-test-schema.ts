import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The test PostgreSQL (trust auth): PG_TEST_URL, else 127.0.0.1:5432, database `test`. */
export const PG_TEST_URL = process.env.PG_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PgTestSchema {
  url: string;
  /** A fresh schema of its own (so parallel test files never share tables). */
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** CREATE SCHEMA with a random name; drop() removes it. */
export async function freshPgSchema(prefix = 't'): Promise<PgTestSchema> {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  return {
    url: PG_TEST_URL,
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: PG_TEST_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

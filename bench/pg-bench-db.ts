/**
 * A throwaway PostgreSQL database for a benchmark: CREATE DATABASE with a unique name on the test
 * server (PG_BENCH_URL, default postgres://postgres@127.0.0.1:5432/postgres), DROP DATABASE after.
 */
import pg from 'pg';

export const PG_BENCH_ADMIN_URL = process.env.PG_BENCH_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDb {
  name: string;
  url: string;
  drop(): Promise<void>;
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function createBenchDb(prefix: string): Promise<BenchDb> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_BENCH_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(PG_BENCH_ADMIN_URL, name),
    async drop() {
      const c = new pg.Client({ connectionString: PG_BENCH_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * A named database kept between runs (made when missing, never dropped): for benchmarks whose
 * data takes long to make (100 M captures). `drop()` does nothing; drop it by hand with
 * `psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE name'`.
 */
export async function keptBenchDb(name: string): Promise<BenchDb> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name ${name}`);
  const admin = new pg.Client({ connectionString: PG_BENCH_ADMIN_URL });
  await admin.connect();
  try {
    const have = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (have.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return { name, url: withDatabase(PG_BENCH_ADMIN_URL, name), drop: async () => undefined };
}

/** Bytes of the database. */
export async function databaseBytes(pool: pg.Pool): Promise<number> {
  const res = await pool.query<{ b: number }>('SELECT pg_database_size(current_database()) AS b');
  return Number(res.rows[0]?.b ?? 0);
}

/** CPU ms (user + system) of the server processes working for database `name` (Linux /proc; same machine). */
export async function serverCpuMs(pool: pg.Pool, name: string): Promise<Map<number, number>> {
  const { readFileSync } = await import('node:fs');
  // The database's backends, and the server's WAL writer, checkpointer and background writer (shared
  // with other databases of the server: counted whole, so the figure errs on the high side).
  const res = await pool.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
    [name],
  );
  const out = new Map<number, number>();
  for (const { pid } of res.rows) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100/s).
      out.set(pid, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

/** A CPU stopwatch for this process and the database's server processes. */
export async function cpuStopwatch(pool: pg.Pool, name: string): Promise<() => Promise<{ nodeMs: number; serverMs: number }>> {
  const node0 = process.cpuUsage();
  const server0 = await serverCpuMs(pool, name);
  return async () => {
    const node = process.cpuUsage(node0);
    const server1 = await serverCpuMs(pool, name);
    let serverMs = 0;
    for (const [pid, ms] of server1) serverMs += ms - (server0.get(pid) ?? 0);
    return { nodeMs: (node.user + node.system) / 1000, serverMs };
  };
}

/** Bytes of WAL written so far (pg_current_wal_lsn as a number). */
export async function walBytes(pool: pg.Pool): Promise<number> {
  const res = await pool.query<{ b: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS b`);
  return Number(res.rows[0]?.b ?? 0);
}

/**
 * PG_NICE=n (e.g. -5, with `nice -n -5` for node): opens every connection of the pool and gives the
 * server processes behind them that niceness (root only), so on a machine shared with other work
 * the database's side of the benchmark runs at node's priority, not below it. Returns the pids.
 */
export async function niceBackends(pool: pg.Pool, max: number, quiet = false): Promise<number[]> {
  const nice = process.env.PG_NICE;
  if (nice === undefined || nice === '') return [];
  const { setPriority } = await import('node:os');
  const clients = await Promise.all(Array.from({ length: max }, () => pool.connect()));
  const pids: number[] = [];
  try {
    for (const c of clients) {
      const pid = Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
      setPriority(pid, Number(nice));
      pids.push(pid);
    }
  } finally {
    for (const c of clients) c.release();
  }
  if (!quiet) console.log(`PG_NICE=${nice}: server processes ${pids.join(', ')} reniced (again before each phase: the pool closes idle connections)`);
  return pids;
}

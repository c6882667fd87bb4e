import { afterEach, describe, expect, it } from 'vitest';
import { copyChunks, CopyIn, CopyWriter } from '../../../src/store/pg/pg-copy.js';
import { PgCaptureRepository } from '../../../src/store/pg/pg-capture-repository.js';
import { openPgPool, type PgPool } from '../../../src/store/pg/pg-pool.js';
import { freshPgSchema } from '../../helpers/pg-test-schema.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pool(): Promise<PgPool> {
  const s = await freshPgSchema('pgcopy');
  cleanups.push(() => s.drop());
  const p = await openPgPool(s.url, { schema: s.schema, max: 2 });
  cleanups.push(() => p.end());
  return p;
}

type Row = [number | null, string | null, boolean];

describe('CopyWriter (COPY text rows written into Buffers)', () => {
  it('writes the bytes COPY expects: tabs between fields, \\N for NULL, escapes, newline per row', () => {
    const w = new CopyWriter();
    w.int(0).int(-42).int(1_700_000_000_123).nul().endRow();
    w.text('a\tb\\c\nd\re').text('µTorrent São Paulo').text('').bool(true).bool(false).endRow();
    expect(Buffer.concat(w.chunks()).toString('utf8')).toBe('0\t-42\t1700000000123\t\\N\na\\tb\\\\c\\nd\\re\tµTorrent São Paulo\t\tt\tf\n');
    expect(w.rows).toBe(2);
  });

  it('round-trips through the server: every value back as written, rows straddling chunks', async () => {
    const p = await pool();
    await p.query('CREATE TABLE t (k int, n bigint, s text, b boolean)');
    const rows: Row[] = [];
    const specials = ['', 'plain', 'tab\there', 'back\\slash', 'new\nline', 'cr\rhere', 'é', '日本語テキスト', '🏴‍☠️ emoji', '\\N', 'x'.repeat(64), 'y'.repeat(65)];
    for (let i = 0; i < 20_000; i++) {
      const s = i % 97 === 0 ? null : `${specials[i % specials.length] as string}${i % 5 === 0 ? 'z'.repeat(i % 3000) : ''}`;
      rows.push([i % 13 === 0 ? null : (i - 10_000) * 1_000_003, s, i % 2 === 0]);
    }
    const w = new CopyWriter();
    rows.forEach(([n, s, b], k) => w.int(k).int(n).text(s).bool(b).endRow());
    const chunks = w.chunks();
    expect(chunks.length).toBeGreaterThan(1);
    const client = await p.connect();
    try {
      expect(await copyChunks(client, 't (k, n, s, b)', chunks)).toBe(rows.length);
      // The same chunks can be sent again (the ingest path's retry through staging).
      expect(await copyChunks(client, 't (k, n, s, b)', chunks)).toBe(rows.length);
    } finally {
      client.release();
    }
    const back = await p.query<Row>({ text: 'SELECT n, s, b FROM t ORDER BY k, ctid', rowMode: 'array' });
    expect(back.rows).toEqual(rows.flatMap((r) => [r, r]));
  });

  it('CopyIn: two COPYs started at once on one client, rows sent while written; a failing first COPY fails both, the client goes on', async () => {
    const p = await pool();
    await p.query('CREATE TABLE t1 (k int PRIMARY KEY, s text); CREATE TABLE t2 (k int, s text)');
    const client = await p.connect();
    const fill = (c: CopyIn, from: number, n: number): void => {
      for (let k = from; k < from + n; k++) c.writer.int(k).text(`row ${k} ${'x'.repeat(k % 200)}`).endRow();
    };
    try {
      await client.query('BEGIN');
      const a = new CopyIn(client, 't1 (k, s)');
      const b = new CopyIn(client, 't2 (k, s)');
      fill(a, 0, 30_000);
      const chunks = a.end();
      fill(b, 0, 5_000);
      b.end();
      expect(chunks.length).toBeGreaterThan(10);
      expect(await a.done()).toBe(30_000);
      expect(await b.done()).toBe(5_000);
      await client.query('COMMIT');

      // The first COPY meets a duplicate key on its last row: both fail, nothing is left half done.
      await client.query('BEGIN');
      const c = new CopyIn(client, 't1 (k, s)');
      const d = new CopyIn(client, 't2 (k, s)');
      fill(c, 30_000, 20_000);
      c.writer.int(0).text('dup').endRow();
      c.end();
      fill(d, 0, 100);
      d.end();
      await expect(c.done()).rejects.toMatchObject({ code: '23505' });
      await expect(d.done()).rejects.toMatchObject({ code: '25P02' });
      await client.query('ROLLBACK');

      // Encoding that throws: fail() sends CopyFail, the COPY is rolled back, the client is usable.
      await client.query('BEGIN');
      const e = new CopyIn(client, 't2 (k, s)');
      fill(e, 0, 1_000);
      e.fail(new Error('encoder broke'));
      await expect(e.done()).rejects.toThrow();
      await client.query('ROLLBACK');
      expect((await client.query('SELECT (SELECT count(*) FROM t1)::int AS a, (SELECT count(*) FROM t2)::int AS b')).rows[0]).toEqual({ a: 30_000, b: 5_000 });
    } finally {
      client.release();
    }
  });

  it('ids from the sequence: whole runs are expanded, a broken run or a short count is refused', () => {
    expect(PgCaptureRepository.idsOfRuns('5 7 3,10 10 1', 4)).toEqual([5, 6, 7, 10]);
    expect(() => PgCaptureRepository.idsOfRuns('5 8 3', 3)).toThrow(/not a whole run/);
    expect(() => PgCaptureRepository.idsOfRuns('5 7 3', 4)).toThrow(/got 3/);
  });
});

/**
 * Batched capture ingest: SqliteCaptureRepository.insertMany (one transaction per call) into a fresh
 * database file, 1,000,000 captures in batches of 1,000 and, separately, of 10,000.
 *
 * Captures come from the same generator as peers-page (35% reports / 65% errors, 1–2 filters each,
 * geo fields, 3% with a pcap path, no outbox rows), generated batch by batch outside the timed
 * call. Reported: insertMany rows/s (time inside insertMany only) and wall rows/s including
 * generation; bytes per stored capture = (db + WAL after wal_checkpoint(TRUNCATE)) / rows, and how
 * they split over tables and indexes (SQLite's dbstat).
 *
 *   node --import tsx bench/capture-ingest.ts        INGEST_ROWS=200000 to run smaller
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteCaptureRepository } from '../src/store/capture-repository.js';
import { openDatabase } from '../src/store/open-database.js';
import { CaptureGenerator } from './capture-gen.js';
import { fmtBytes, fmtInt, header, passMiss } from './lib.js';

const ROWS = Number(process.env.INGEST_ROWS ?? 1_000_000);
const BATCHES = [1_000, 10_000];
const TARGET_ROWS_PER_S = 100_000;
const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '.data', 'ingest');

function fileBytes(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`]) if (existsSync(f)) total += statSync(f).size;
  return total;
}

function removeDb(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

interface Result {
  batch: number;
  insertRowsPerS: number;
  wallRowsPerS: number;
  firstTenth: number;
  lastTenth: number;
  worstBatchMs: number;
  bytesPerCapture: number;
  dbBytes: number;
  listings: number;
  /** Bytes per capture of each table and index (dbstat), largest first. */
  perObject: Array<[string, number]>;
}

function run(batchSize: number): Result {
  const file = path.join(DIR, `ingest-${batchSize}.sqlite`);
  removeDb(file);
  const db = openDatabase(file);
  const repo = new SqliteCaptureRepository(db);
  const gen = new CaptureGenerator({ rows: ROWS, endMs: Date.UTC(2026, 10, 22), spanDays: 30, seed: 0x1e57, clusters: [] });
  const tenth = Math.ceil(ROWS / 10);
  const tenthMs: number[] = new Array(10).fill(0);
  const tenthRows: number[] = new Array(10).fill(0);
  let insertMs = 0;
  let worstBatchMs = 0;
  let done = 0;
  let listings = 0;
  const w0 = performance.now();
  for (;;) {
    const batch = gen.next(batchSize);
    if (batch.length === 0) break;
    for (const c of batch) listings += c.filters.length;
    const t0 = performance.now();
    repo.insertMany(batch);
    const ms = performance.now() - t0;
    insertMs += ms;
    worstBatchMs = Math.max(worstBatchMs, ms);
    const k = Math.min(9, Math.floor(done / tenth));
    tenthMs[k] = (tenthMs[k] as number) + ms;
    tenthRows[k] = (tenthRows[k] as number) + batch.length;
    done += batch.length;
  }
  const wallMs = performance.now() - w0;
  db.pragma('wal_checkpoint(TRUNCATE)');
  const count = db.prepare('SELECT count(*) FROM captures').pluck().get() as number;
  const bytes = fileBytes(file);
  const perObject = (db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as Array<{ name: string; bytes: number }>)
    .filter((o) => o.bytes / count >= 0.5)
    .map((o): [string, number] => [o.name, o.bytes / count]);
  db.close();
  removeDb(file);
  if (count !== ROWS) throw new Error(`stored ${count} captures, expected ${ROWS}`);
  return {
    batch: batchSize,
    insertRowsPerS: done / (insertMs / 1000),
    wallRowsPerS: done / (wallMs / 1000),
    firstTenth: (tenthRows[0] as number) / ((tenthMs[0] as number) / 1000),
    lastTenth: (tenthRows[9] as number) / ((tenthMs[9] as number) / 1000),
    worstBatchMs,
    bytesPerCapture: bytes / count,
    dbBytes: bytes,
    listings,
    perObject,
  };
}

function main(): number {
  header(`capture-ingest: ${fmtInt(ROWS)} captures via insertMany, batches of ${BATCHES.map(fmtInt).join(' and ')}`);
  mkdirSync(DIR, { recursive: true });
  const results = BATCHES.map((b) => {
    const r = run(b);
    console.log(
      `batch ${fmtInt(r.batch).padStart(6)}: insertMany ${fmtInt(r.insertRowsPerS)} rows/s ` +
        `(first 10% ${fmtInt(r.firstTenth)}, last 10% ${fmtInt(r.lastTenth)}; slowest batch ${r.worstBatchMs.toFixed(0)} ms); ` +
        `wall incl. generation ${fmtInt(r.wallRowsPerS)} rows/s; ${(r.listings / ROWS).toFixed(2)} filter listings/capture; ` +
        `DB ${fmtBytes(r.dbBytes)} = ${r.bytesPerCapture.toFixed(0)} B/capture`,
    );
    console.log(`  B/capture by table/index: ${r.perObject.map(([n, b]) => `${n} ${b.toFixed(0)}`).join(', ')}`);
    return r;
  });
  for (const r of results) {
    console.log(`target ≥ ${fmtInt(TARGET_ROWS_PER_S)} rows/s, batch ${fmtInt(r.batch)}: ${passMiss(r.insertRowsPerS >= TARGET_ROWS_PER_S)} (${fmtInt(r.insertRowsPerS)} rows/s)`);
  }
  return 0;
}

process.exitCode = main();

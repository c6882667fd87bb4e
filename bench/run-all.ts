/**
 * Runs the benchmarks one after another, each in its own node process (a clean heap, --expose-gc),
 * and prints their output as it comes. `npm run bench` runs this.
 *
 *   node --import tsx bench/run-all.ts [filter-match] [peers-page] [capture-ingest]
 *
 * Environment variables (ROWS, REQUESTS, PEERS, INGEST_ROWS, …) pass through to the benchmarks.
 * Exits non-zero if a benchmark failed (a crash or a correctness check), not for a missed target.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ALL = ['filter-match', 'peers-page', 'capture-ingest', 'retention', 'spam-list', 'btn-ingest-cpu', 'btn-ingest', 'btn-capture-lock', 'pg-ingest', 'dashboard-summary', 'metrics-scrape'];

function runOne(name: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(HERE, `${name}.ts`)], {
      stdio: 'inherit',
      env: process.env,
    });
    child.on('error', (err) => {
      console.error(`${name}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !ALL.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')} (known: ${ALL.join(', ')})`);
  process.exit(2);
}
const names = wanted.length > 0 ? wanted : ALL;
const failed: string[] = [];
const t0 = performance.now();
for (const name of names) {
  const code = await runOne(name);
  if (code !== 0) failed.push(`${name} (exit ${code})`);
}
console.log(`\nbenchmarks done in ${((performance.now() - t0) / 1000).toFixed(0)} s${failed.length > 0 ? `; FAILED: ${failed.join(', ')}` : ''}`);
process.exitCode = failed.length > 0 ? 1 : 0;

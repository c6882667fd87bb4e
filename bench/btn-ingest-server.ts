/**
 * The server half of bench/btn-ingest.ts: the daemon's HTTP server with the BTN module, on a fresh
 * SQLite file in a temp dir, in its own process (so the load generator does not share its event
 * loop). Prints one JSON line {url, appId, appSecret, token}, then {rss, heapUsed, cpuUs} every 200 ms;
 * exits when stdin closes.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configSchema } from '../src/config/config-schema.js';
import { openBtnStore } from '../src/store/btn-store.js';
import { BtnWriteWorker } from '../src/store/btn-write-worker.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { startBtnBenchServer } from './btn-bench-server.js';

const TOKEN = 'bench-token-0123456789abcdef';
const dir = mkdtempSync(path.join(tmpdir(), 'btn-bench-'));
const dbFile = path.join(dir, 'capture.db');
const config = configSchema.parse({
  btn: { enabled: true, publicUrl: 'http://127.0.0.1', users: [{ name: 'bench', token: TOKEN, role: 'admin' }] },
});
// The daemon's busy timeout (database.busyTimeoutMs) on its connection.
const store = openSqliteStore({ path: dbFile, busyTimeoutMs: config.database.busyTimeoutMs });
const btnStore = openBtnStore(store.db, { writeThread: process.env.WRITE_THREAD !== '0' });
const server = await startBtnBenchServer(store, btnStore, config, process.env.DECODE_THREADS ? { decodeThreads: Number(process.env.DECODE_THREADS) } : {});
process.stdout.write(`${JSON.stringify({ url: server.url, appId: server.appId, appSecret: server.appSecret, token: TOKEN, dbFile })}\n`);
/** CPU of the main thread (the event loop) in µs, from /proc (clock ticks of 10 ms); the rest of cpuUs is the other threads. */
function mainThreadCpuUs(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) * 10_000;
  } catch {
    return NaN;
  }
}
const timer = setInterval(() => {
  const m = process.memoryUsage();
  const c = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, cpuUs: c.user + c.system, mainCpuUs: mainThreadCpuUs() })}\n`);
}, 200);
process.stdin.resume();
/** CPU (ms) of every thread of this process by name (/proc/self/task/*: comm, utime + stime in 10 ms ticks). */
function threadCpuMs(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const key = Number(tid) === process.pid ? 'main' : name;
      out[key] = (out[key] ?? 0) + (Number(f[11]) + Number(f[12])) * 10;
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}
const threadsAtStart = threadCpuMs();
process.stdin.on('end', () => {
  clearInterval(timer);
  const threads = threadCpuMs();
  for (const k of Object.keys(threads)) threads[k] = (threads[k] ?? 0) - (threadsAtStart[k] ?? 0);
  process.stdout.write(`${JSON.stringify({ threads })}\n`);
  if (btnStore.submissions instanceof BtnWriteWorker) process.stdout.write(`${JSON.stringify({ writer: btnStore.submissions.status() })}\n`);
  process.stdout.write(`${JSON.stringify({ decode: server.status().decode ?? null })}\n`);
  process.stdout.write(`${JSON.stringify({ checkpoint: server.checkpoint() })}\n`);
  void server.close().then(async () => {
    await btnStore.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});

/**
 * The server half of bench/btn-ingest.ts: the daemon's HTTP server with the BTN module, on a fresh
 * SQLite file in a temp dir, in its own process (so the load generator does not share its event
 * loop). Prints one JSON line {url, appId, appSecret, token}, then {rss, heapUsed, cpuUs} every 200 ms;
 * exits when stdin closes.
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BtnApps } from '../src/btn/btn-apps.js';
import { createBtnModule } from '../src/btn/module.js';
import { configSchema } from '../src/config/config-schema.js';
import { FilterRegistry } from '../src/filter/filter-registry.js';
import { ApiKeyRing } from '../src/http/api-keys.js';
import { createApiServer } from '../src/http/api-server.js';
import { openBtnStore } from '../src/store/btn-store.js';
import { BtnWriteWorker } from '../src/store/btn-write-worker.js';
import { openSqliteStore } from '../src/store/sqlite-store.js';
import { silentLogger } from '../src/util/logger.js';

const TOKEN = 'bench-token-0123456789abcdef';
const dir = mkdtempSync(path.join(tmpdir(), 'btn-bench-'));
const dbFile = path.join(dir, 'capture.db');
const store = openSqliteStore({ path: dbFile, busyTimeoutMs: 5000 });
const btnStore = openBtnStore(store.db, { writeThread: process.env.WRITE_THREAD !== '0' });
const config = configSchema.parse({
  btn: { enabled: true, publicUrl: 'http://127.0.0.1', users: [{ name: 'bench', token: TOKEN, role: 'admin' }] },
});
const btn = createBtnModule({ ...btnStore, logger: silentLogger() }, { config: () => config.btn });
const app = await createApiServer(
  {
    modules: [btn.http],
    keys: () => new ApiKeyRing([]),
    pageSize: () => 1000,
    filters: new FilterRegistry({ overlay: store.overlay, torrents: store.torrents }, []),
    captures: store.captures,
    torrents: store.torrents,
    logger: silentLogger(),
  },
  { bodyLimitBytes: config.http.bodyLimitBytes, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 60_000, trustProxy: false },
);
await btnStore.start();
await app.listen({ host: '127.0.0.1', port: 0 });
btn.start();
const addr = app.server.address() as { port: number };
const { app: created, appSecret } = new BtnApps(btnStore.apps, { autoAccount: false }).create('bench', null);
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${addr.port}`, appId: created.appId, appSecret, token: TOKEN, dbFile })}\n`);
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
process.stdin.on('end', () => {
  clearInterval(timer);
  if (btnStore.submissions instanceof BtnWriteWorker) process.stdout.write(`${JSON.stringify({ writer: btnStore.submissions.status() })}\n`);
  btn.stop();
  void app.close().then(async () => {
    await btnStore.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});

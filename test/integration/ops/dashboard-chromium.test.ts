import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../../../src/main.js';
import type { NewCapture } from '../../../src/model/capture.js';
import type { DashboardSummary } from '../../../src/ops/dashboard/dashboard-data.js';
import { SqliteCaptureRepository } from '../../../src/store/capture-repository.js';
import { openDatabase } from '../../../src/store/open-database.js';
import { silentLogger } from '../../../src/util/logger.js';
import { tempDir } from '../../helpers/temp-dir.js';

/**
 * The dashboard as an operator sees it: the real daemon (API, SQLite file seeded with captures,
 * DHT on loopback without bootstrap) and Debian's Chromium. The page must load without a console
 * error, draw what the JSON endpoint says, and change when a live event brings new captures.
 * The screenshot is kept in test-artifacts/dashboard.png.
 */

const KEY = 'dashboard-test-key-0123456789';
const LIMITED_KEY = 'limited-test-key-0123456789';
const WATCHED = 'a'.repeat(40);
const OTHER_WATCHED = 'b'.repeat(40);
const UNWATCHED = 'c'.repeat(40);
const ARTIFACT = path.resolve('test-artifacts/dashboard.png');

let t: ReturnType<typeof tempDir>;
let daemon: RunningDaemon;
let browser: Browser;
let dbFile: string;

const COUNTRIES = ['DE', 'DE', 'DE', 'FR', 'FR', 'US', 'BR', undefined];
const CLIENTS = ['qBittorrent 4.6.2', 'qBittorrent 4.6.2', 'Transmission 4.0.5', 'Deluge 2.1.1', 'µTorrent 3.5.5'];

/** `n` captures spread over the last `spanMs` (deterministic mix of countries, clients, torrents, results). */
function captures(n: number, now: number, spanMs: number, seed = 0): NewCapture[] {
  return Array.from({ length: n }, (_, j) => {
    const i = j + seed;
    const infohash = i % 5 === 4 ? UNWATCHED : i % 3 === 2 ? OTHER_WATCHED : WATCHED;
    const countryCode = COUNTRIES[i % COUNTRIES.length];
    const c: NewCapture = { foundAt: now - Math.floor((spanMs * (j + 1)) / (n + 1)), ip: `198.51.100.${i % 250}`, port: 6881 + (i % 1000), infohash, filters: ['dash'] };
    if (countryCode) c.countryCode = countryCode;
    if (i % 7 === 6) c.error = 'connect timeout';
    else c.report = { date: c.foundAt + 500, totalPiecesInTorrent: 100, hasPieces: i % 4 === 0 ? 100 : 37, hasTotal: i % 4 === 0, clientName: CLIENTS[i % CLIENTS.length] as string, hostIdentifier: '' };
    return c;
  });
}

function seed(batch: NewCapture[]): void {
  const db = openDatabase(dbFile);
  try {
    const repo = new SqliteCaptureRepository(db);
    // As the daemon does: per-torrent counts only for the infohashes the filters list.
    repo.rollups.setTorrentScope((ih) => ih === WATCHED || ih === OTHER_WATCHED);
    repo.insertMany(batch);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  t = tempDir('cd-dashboard-');
  dbFile = path.join(t.dir, 'capture.db');
  const now = Date.now();
  seed(captures(600, now - 60_000, 3 * 3_600_000));
  const db = openDatabase(dbFile);
  db.prepare("INSERT INTO torrents (infohash, state, name, source, added_at, updated_at) VALUES (?, 'known', 'Ubuntu 24.04 desktop ISO', 'upload', 1, 1)").run(WATCHED);
  db.close();
  const configFile = path.join(t.dir, 'config.yaml');
  writeFileSync(
    configFile,
    `dataDir: ${t.dir}
database: { path: ${dbFile} }
log: { level: silent }
http: { listen: { host: 127.0.0.1, port: 0 } }
admin: { socket: ${path.join(t.dir, 'admin.sock')} }
dht: { enabled: true, host: 127.0.0.1, port: 0, bootstrap: [] }
geoip: { countryDb: null }
metrics: { listen: { host: 127.0.0.1, port: 0 } }
dashboard: { tickMs: 500, maxClients: 2 }
apiKeys:
  - { name: ops, key: ${KEY}, methods: [dashboard] }
  - { name: limited, key: ${LIMITED_KEY}, filters: [dash] }
filters:
  - { name: dash, infohashes: [${WATCHED}, ${OTHER_WATCHED}] }
`,
  );
  daemon = await startDaemon({ configFile, env: {}, logger: silentLogger() });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run', '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  t?.cleanup();
});

async function summary(range = '24h'): Promise<DashboardSummary> {
  const res = await fetch(`${daemon.apiUrl}/dashboard/api/summary?range=${range}&key=${KEY}`);
  expect(res.status).toBe(200);
  return (await res.json()) as DashboardSummary;
}

/** The data a Chart.js chart holds (page source text: this project's TypeScript has no DOM types). */
async function chartData(page: Page, id: string): Promise<{ labels: string[]; data: number[][] }> {
  return (await page.evaluate(`(() => { const c = Chart.getChart(${JSON.stringify(id)}); return { labels: c.data.labels, data: c.data.datasets.map((d) => d.data) }; })()`)) as {
    labels: string[];
    data: number[][];
  };
}

/** Share of a canvas's pixels that are painted (not transparent): a drawn chart, not an empty box. */
async function painted(page: Page, id: string): Promise<number> {
  return (await page.evaluate(`(() => {
    const c = document.getElementById(${JSON.stringify(id)});
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n / (d.length / 4);
  })()`)) as number;
}

describe('dashboard', () => {
  it('needs a login: redirects, 401 without a key, refuses keys without the dashboard method or limited to some filters', async () => {
    const page = await fetch(`${daemon.apiUrl}/dashboard/`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/dashboard/login');
    const data = await fetch(`${daemon.apiUrl}/dashboard/api/summary`);
    expect(data.status).toBe(401);
    expect(((await data.json()) as { error: string }).error).toBe('API_KEY_UNKNOWN');
    const limited = await fetch(`${daemon.apiUrl}/dashboard/api/summary?key=${LIMITED_KEY}`);
    expect(limited.status).toBe(403);
    const wrong = await fetch(`${daemon.apiUrl}/dashboard/login`, { method: 'POST', body: new URLSearchParams({ key: 'not-a-key-0123456789' }), redirect: 'manual' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('API key is unknown');
    // The key link logs in once and leaves the address bar at once.
    const link = await fetch(`${daemon.apiUrl}/dashboard/?key=${KEY}`, { redirect: 'manual' });
    expect(link.status).toBe(303);
    expect(link.headers.get('location')).toBe('/dashboard/');
    const cookie = link.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^capture_daemon_dashboard=[\w-]{40,}; Path=\/dashboard; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const inside = await fetch(`${daemon.apiUrl}/dashboard/`, { headers: { cookie: cookie.split(';')[0] as string } });
    expect(inside.status).toBe(200);
    expect(inside.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await inside.text()).toContain('chart-captures');
    expect((await fetch(`${daemon.apiUrl}/dashboard/api/summary?range=2d&key=${KEY}`)).status).toBe(400);
  });

  it('serves summaries whose numbers are the seeded captures', async () => {
    const s = await summary('24h');
    // 600 seeded: every 7th failed; all within the last 3 h 1 min.
    const failed = Array.from({ length: 600 }, (_, i) => i).filter((i) => i % 7 === 6).length;
    expect(s.totals).toEqual({ ok: 600 - failed, failed });
    expect(s.countries[0]).toEqual({ code: 'DE', captures: 225 });
    expect(s.countries.find((c) => c.code === 'unknown')?.captures).toBe(75);
    expect(s.clients[0]?.name).toBe('qBittorrent 4.6.2');
    expect(s.torrents.map((x) => x.infohash).sort()).toEqual([WATCHED, OTHER_WATCHED]);
    expect(s.torrents.find((x) => x.infohash === WATCHED)?.name).toBe('Ubuntu 24.04 desktop ISO');
    expect(s.watchedTorrents).toBe(2);
    expect(s.series.t).toHaveLength(96);
    const hour = await summary('1h');
    expect(hour.series.t).toHaveLength(60);
    expect(hour.totals.ok + hour.totals.failed).toBeLessThan(600);
    expect(hour.totals.ok + hour.totals.failed).toBeGreaterThan(100);
  });

  it('renders in Chromium with the data the API returns, updates live, and keeps a screenshot', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${daemon.apiUrl}/dashboard/`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/login');
      await page.fill('#key', KEY);
      await Promise.all([page.waitForURL(`${daemon.apiUrl}/dashboard/`), page.click('button[type=submit]')]);
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === 'capture_daemon_dashboard')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
      await page.waitForSelector('body[data-loaded]', { timeout: 30_000 });
      await page.waitForSelector('#conn.pill-live', { timeout: 30_000 });

      const api = await summary('24h');
      const capturesChart = await chartData(page, 'chart-captures');
      expect(capturesChart.labels).toHaveLength(api.series.t.length);
      expect(capturesChart.data[0]).toEqual(api.series.ok);
      expect(capturesChart.data[1]).toEqual(api.series.failed);
      const countries = await chartData(page, 'chart-countries');
      expect(countries.data[0]).toEqual(api.countries.map((c) => c.captures));
      expect(countries.labels[0]).toBe('Germany (DE)');
      const clients = await chartData(page, 'chart-clients');
      expect(clients.labels).toEqual(api.clients.map((c) => c.name));
      expect(clients.data[0]).toEqual(api.clients.map((c) => c.captures));
      const torrents = await chartData(page, 'chart-torrents');
      expect(torrents.data).toEqual([api.torrents.map((x) => x.seeders), api.torrents.map((x) => x.leechers), api.torrents.map((x) => x.failed)]);
      expect(torrents.labels.some((l) => l.startsWith('Ubuntu 24.04 desktop ISO'))).toBe(true);
      expect(await page.textContent('#t-ok')).toBe(api.totals.ok.toLocaleString('en'));
      expect(await page.textContent('#t-failed')).toBe(api.totals.failed.toLocaleString('en'));
      for (const id of ['chart-captures', 'chart-countries', 'chart-clients', 'chart-torrents', 'chart-queues']) {
        expect(await painted(page, id), id).toBeGreaterThan(0.02);
      }

      // New captures land in the database; the next live event brings them to the page without a reload.
      const before = api.totals.ok;
      const liveBefore = Number(await page.getAttribute('body', 'data-live-at'));
      const fresh = captures(35, Date.now(), 1000, 1).filter((c) => c.report);
      seed(fresh);
      const expected = (before + fresh.length).toLocaleString('en');
      await expect.poll(() => page.textContent('#t-ok'), { timeout: 30_000, interval: 200 }).toBe(expected);
      expect(Number(await page.getAttribute('body', 'data-live-at'))).toBeGreaterThan(liveBefore);
      const after = await chartData(page, 'chart-captures');
      expect((after.data[0] as number[]).reduce((a, b) => a + b, 0)).toBe(before + fresh.length);

      mkdirSync(path.dirname(ARTIFACT), { recursive: true });
      await page.screenshot({ path: ARTIFACT, fullPage: true });
      console.log(`dashboard screenshot: ${ARTIFACT}`);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('bounds the live streams: one past dashboard.maxClients gets 503', async () => {
    await new Promise((r) => setTimeout(r, 1000)); // the page of the test before has closed its stream
    const open: AbortController[] = [];
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const ac = new AbortController();
        open.push(ac);
        const res = await fetch(`${daemon.apiUrl}/dashboard/api/events?key=${KEY}`, { signal: ac.signal });
        statuses.push(res.status);
        if (res.status === 200) {
          const reader = res.body!.getReader();
          const first = new TextDecoder().decode((await reader.read()).value);
          expect(first).toContain('retry:');
        }
      }
      expect(statuses).toEqual([200, 200, 503]);
    } finally {
      for (const ac of open) ac.abort();
    }
  });
});

/**
 * BTN ingest CPU, in-process: where a 1,000-row submit_swarm batch's server time goes, measured as
 * process CPU time (user + system), which a loaded machine inflates far less than wall time:
 * JSON.parse of the decoded body, then BtnIngest.ingest (normalise every row + one SQLite
 * transaction on a fresh file). BATCHES batches (default 300) of new rows.
 *
 *   nice node --import tsx bench/btn-ingest-cpu.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BtnIngest } from '../src/btn/btn-ingest.js';
import { torrentIdentifier } from '../src/btn/torrent-identifier.js';
import { openBtnStore } from '../src/store/btn-store.js';
import { openDatabase } from '../src/store/open-database.js';
import { fmtInt, fmtMs, header, Rng } from './lib.js';

const BATCHES = Number(process.env.BATCHES ?? 300);
const ROWS = 1000;
header(`btn-ingest-cpu: ${fmtInt(BATCHES)} submit_swarm batches × ${fmtInt(ROWS)} rows, in-process, CPU time`);

const dir = mkdtempSync(path.join(tmpdir(), 'btn-cpu-'));
const db = openDatabase(path.join(dir, 'capture.db'));
const store = openBtnStore(db);
const app = store.apps.create({ appId: 'bench', secretSha256: Buffer.alloc(32), comment: '', owner: null });
const ingest = new BtnIngest(store.submissions);
const rng = new Rng(7);
const torrents = Array.from({ length: 200 }, () => torrentIdentifier(rng.hex40()));
let n = 0;
const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
let tGunzip = 0;
let tParse = 0;
let tIngest = 0;
for (let b = 0; b < BATCHES; b++) {
  const now = Date.now();
  const swarms = [];
  for (let i = 0; i < ROWS; i++, n++) {
    swarms.push({
      torrent_identifier: rng.pick(torrents), torrent_is_private: null, torrent_size: 1e9, downloader: 'qBittorrent',
      downloader_progress: rng.next(), peer_ip: `${11 + (n >>> 24)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`,
      peer_port: rng.int(1024, 65535), peer_id: '-qB4650-\u0000abcdefghij', peer_client_name: 'qBittorrent/4.6.5',
      peer_progress: rng.next(), to_peer_traffic: rng.int(1, 1e8), to_peer_traffic_offset: 0, from_peer_traffic: rng.int(0, 1e8),
      from_peer_traffic_offset: 0, first_time_seen: now - 3_600_000, last_time_seen: now - rng.int(0, 600_000),
      peer_last_flags: 'D ? I E', upload_speed: 1, download_speed: 2, upload_speed_max: 3, download_speed_max: 4,
    });
  }
  const gz = gzipSync(JSON.stringify({ swarms }), { level: 1 });
  const c0 = cpu();
  const text = gunzipSync(gz).toString('utf8');
  const c1 = cpu();
  const body: unknown = JSON.parse(text);
  const c2 = cpu();
  const r = await ingest.ingest('submit_swarm', app.ref, body, now);
  const c3 = cpu();
  if (r.inserted !== ROWS) throw new Error(`batch ${b}: ${r.inserted} inserted`);
  tGunzip += c1 - c0;
  tParse += c2 - c1;
  tIngest += c3 - c2;
}
db.close();
rmSync(dir, { recursive: true, force: true });
const per = (t: number): string => fmtMs(t / BATCHES);
const total = (tGunzip + tParse + tIngest) / BATCHES;
console.log(`per 1,000-row batch: gunzip ${per(tGunzip)}, JSON.parse ${per(tParse)}, normalise + store ${per(tIngest)} = ${fmtMs(total)}`);
console.log(`= ${fmtInt((ROWS * 1000) / total)} rows per CPU-second before HTTP (fastify, chunked transfer, response)`);

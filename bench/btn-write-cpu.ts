/**
 * The BTN write thread's work alone, in-process: BATCHES (1,000) batches of 1,000 new swarm rows
 * (normalised, as the thread receives them) through SqliteBtnSubmissionRepository.putSwarm on a
 * fresh file opened as the daemon opens it, GROUP batches per transaction (1); per batch: CPU of the
 * statements and of the commit, wall time of each, and the WAL at the end. Variants: CKPT=pages
 * (wal_autocheckpoint; 0 = none, as the thread runs beside the checkpoint worker), CACHE (cache_size),
 * MMAP (mmap_size), DROP_IP=1 / DROP_RECV=1 (without that index), PRE='sql' (run after migrating).
 * Prints one JSON line.
 *
 *   CKPT=0 nice node --import tsx bench/btn-write-cpu.ts
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/store/open-database.js';
import { SqliteBtnSubmissionRepository } from '../src/store/btn-submission-repository.js';
import { SqliteBtnAppRepository } from '../src/store/btn-app-repository.js';
import { torrentIdentifier } from '../src/btn/torrent-identifier.js';
import { Rng } from './lib.js';
import type { SwarmRow } from '../src/btn/ports.js';

const BATCHES = Number(process.env.BATCHES ?? 1000);
const GROUP = Number(process.env.GROUP ?? 1);
const dir = mkdtempSync(path.join(tmpdir(), 'wb-'));
const file = path.join(dir, 'c.db');
const db0 = openDatabase(file);
const app = new SqliteBtnAppRepository(db0).create({ appId: 'bench', secretSha256: Buffer.alloc(32), comment: '', owner: null });
if (process.env.DROP_IP) db0.exec('DROP INDEX btn_swarm_by_ip');
if (process.env.DROP_RECV) db0.exec('DROP INDEX btn_swarm_by_received');
if (process.env.PRE) db0.exec(process.env.PRE);
db0.close();
const db = openDatabase(file, { migrate: false });
if (process.env.CKPT) db.pragma(`wal_autocheckpoint = ${process.env.CKPT}`);
if (process.env.CACHE) db.pragma(`cache_size = ${process.env.CACHE}`);
if (process.env.MMAP) db.pragma(`mmap_size = ${process.env.MMAP}`);
const repo = new SqliteBtnSubmissionRepository(db);
const rng = new Rng(7);
const torrents = Array.from({ length: 200 }, () => torrentIdentifier(rng.hex40()));
let n = 0;
function rows(now: number): SwarmRow[] {
  const out: SwarmRow[] = [];
  for (let i = 0; i < 1000; i++, n++) out.push({
    downloader: 'qBittorrent', torrentIdentifier: rng.pick(torrents), torrentSize: 1e9, torrentPrivate: false,
    peerIp: `${11 + (n >>> 24)}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`, peerPort: rng.int(1024, 65535),
    peerId: '-qB4650-\u0000abcdefghij', peerClientName: 'qBittorrent/4.6.5', peerProgress: rng.next(), downloaderProgress: rng.next(),
    fromPeerTraffic: rng.int(0, 1e8), fromPeerTrafficOffset: 0, fromPeerSpeed: rng.int(0,1e6), fromPeerSpeedMax: rng.int(0,1e7),
    toPeerTraffic: rng.int(1, 1e8), toPeerTrafficOffset: 0, toPeerSpeed: rng.int(0,1e6), toPeerSpeedMax: rng.int(0,1e7),
    flags: 'D ? I E', firstSeen: now - 3_600_000, lastSeen: now - rng.int(0, 600_000),
  });
  return out;
}
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
let tStmt = 0, tCommit = 0, wall = 0, wStmt = 0, wCommit = 0;
const begin = db.prepare('BEGIN IMMEDIATE'), commit = db.prepare('COMMIT');
for (let b = 0; b < BATCHES; b += GROUP) {
  const now = Date.now();
  const bs = Array.from({ length: Math.min(GROUP, BATCHES - b) }, () => rows(now));
  const w0 = performance.now();
  const c0 = cpu();
  begin.run();
  for (const r of bs) repo.putSwarm(app.ref, 'sub' + b, r, now);
  const c1 = cpu(); const w1 = performance.now();
  commit.run();
  const c2 = cpu(); wCommit += performance.now() - w1; wStmt += w1 - w0;
  wall += performance.now() - w0;
  tStmt += c1 - c0; tCommit += c2 - c1;
}
const walSize = (() => { try { return statSync(file + '-wal').size; } catch { return 0; } })();
console.log(JSON.stringify({ env: Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(GROUP|DROP|PRE|CKPT|CACHE|MMAP|BATCHES)/.test(k))),
  perBatchCpuMs: +((tStmt + tCommit) / BATCHES).toFixed(2), stmt: +(tStmt / BATCHES).toFixed(2), commit: +(tCommit / BATCHES).toFixed(2), wallMs: +(wall / BATCHES).toFixed(2), wStmt: +(wStmt / BATCHES).toFixed(2), wCommit: +(wCommit / BATCHES).toFixed(2),
  dbMiB: +((statSync(file).size) / 2**20).toFixed(1), walMiB: +(walSize / 2**20).toFixed(1) }));
db.close(); rmSync(dir, { recursive: true, force: true });

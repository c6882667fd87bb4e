/**
 * How long checking a large valid torrent blocks the event loop (issue 9): the 100,000-file torrent
 * of bench/torrent-bomb.ts (~5 MB), as a .torrent upload and as a BEP 9 info dictionary, checked
 * inline (parseTorrentFile / parseInfoDictionary: what the daemon did before) and through the
 * worker pool (src/protocol/metainfo-pool.ts: what it does now). Printed per run: wall time and
 * the worst event-loop delay while it ran (monitorEventLoopDelay, 5 ms resolution), and the same
 * for 2 s of idle loop (what the machine alone does to the figure).
 *
 *   nice -n 10 node --import tsx bench/metainfo-offloop.ts        RUNS=5
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import bencode from 'bencode';
import { parseInfoDictionary, parseTorrentFile } from '../src/protocol/metainfo.js';
import { metainfoPool } from '../src/protocol/metainfo-pool.js';
import { header } from './lib.js';

const RUNS = Number(process.env.RUNS ?? 5);
header('metainfo-offloop: a valid 100,000-file torrent checked inline vs on the worker thread');
const files = Array.from({ length: 100_000 }, (_, i) => ({ length: 16384, path: [Buffer.from('d'), Buffer.from(`f${i}`)] }));
const info = { files, name: 'big', 'piece length': 16384, pieces: Buffer.alloc(100_000 * 20) };
const torrent = Buffer.from(bencode.encode({ info }));
const infoBytes = Buffer.from(bencode.encode(info));
console.log(`.torrent ${(torrent.length / 2 ** 20).toFixed(1)} MiB, info dictionary ${(infoBytes.length / 2 ** 20).toFixed(1)} MiB`);

async function measure(run: () => Promise<unknown>): Promise<{ ms: number; eldMax: number }> {
  const h = monitorEventLoopDelay({ resolution: 5 });
  // A timer that keeps the loop turning, so a block shows as delay.
  const tick = setInterval(() => undefined, 5);
  h.enable();
  await new Promise((r) => setTimeout(r, 50)); // the histogram's first interval is not recorded
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 20));
  h.disable();
  clearInterval(tick);
  return { ms, eldMax: h.max / 1e6 };
}

const idle = await measure(() => new Promise((r) => setTimeout(r, 2000)));
console.log(`idle 2 s: event loop max ${idle.eldMax.toFixed(1)} ms\n`);
const cases: Array<[string, () => Promise<unknown>]> = [
  ['upload, inline (before)', async () => parseTorrentFile(torrent)],
  ['upload, worker (after)', () => metainfoPool.parse('torrent', torrent)],
  ['BEP 9 info, inline (before)', async () => parseInfoDictionary(infoBytes)],
  ['BEP 9 info, worker (after)', () => metainfoPool.parse('info', infoBytes)],
];
console.log('case                              wall ms (each run)             loop max ms (each run)');
for (const [label, run] of cases) {
  const rows: Array<{ ms: number; eldMax: number }> = [];
  for (let i = 0; i < RUNS; i++) rows.push(await measure(run));
  console.log(`${label.padEnd(32)} ${rows.map((r) => r.ms.toFixed(0)).join(', ').padEnd(30)} ${rows.map((r) => r.eldMax.toFixed(0)).join(', ')}`);
}
await metainfoPool.close();

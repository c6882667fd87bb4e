/**
 * Hostile .torrent uploads against the real HTTP API (a real SQLite file, a real port): peak RSS
 * growth and worst event-loop delay while each is uploaded, and the answer.
 *
 *   nice node --expose-gc --import tsx bench/torrent-bomb.ts
 *
 * Modes: a 10 MB bomb of empty dictionaries, the same just under the value limit (the worst a
 * bomb can make us build), 100,000 files (a large legitimate torrent), a 400-digit integer, a v2
 * torrent claiming 2^52 bytes. Targets (issue 9): RSS +≤ 300 MiB, event-loop delay ≤ 100 ms.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import bencode from 'bencode';
import { startApi } from '../test/helpers/api-fixture.js';

const KEY = 'bench-key-0123456789abcdef';
const api = await startApi({ apiKeys: [{ name: 'b', key: KEY }], http: { bodyLimitBytes: 32 * 1024 * 1024 } });

const modes: Array<[string, () => Buffer]> = [
  ['bomb 10 MB (5M empty dicts)', () => Buffer.concat([Buffer.from('d4:infod5:filesl'), Buffer.alloc(10 * 1024 * 1024, 'de'), Buffer.from('eee')])],
  ['bomb just under 1M values', () => Buffer.concat([Buffer.from('d4:infod5:filesl'), Buffer.alloc(999_990 * 2, 'de'), Buffer.from('eee')])],
  [
    '100,000 files (valid)',
    () => {
      const files = Array.from({ length: 100_000 }, (_, i) => ({ length: 16384, path: [Buffer.from('d'), Buffer.from(`f${i}`)] }));
      return Buffer.from(bencode.encode({ info: { files, name: 'big', 'piece length': 16384, pieces: Buffer.alloc(100_000 * 20) } }));
    },
  ],
  ['10 MB of junk (HTTP cost alone)', () => Buffer.alloc(10 * 1024 * 1024, 'x')],
  ['400-digit integer', () => Buffer.from(`d4:infod6:lengthi${'9'.repeat(400)}e4:name1:xee`)],
  ['v2 claiming 2^52 bytes', () => Buffer.from(bencode.encode({ info: { name: 'x', 'piece length': 16384, 'meta version': 2, 'file tree': { x: { '': { length: 2 ** 52 } } } } }))],
];

console.log('torrent-bomb: upload → status, ms, event-loop delay max, RSS growth (peak during the upload)');
{
  // What the machine alone does to the event-loop figure (a loaded VM stalls an idle loop too).
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await new Promise((r) => setTimeout(r, 2000));
  h.disable();
  console.log(`  ${'idle 2 s (baseline)'.padEnd(30)}             loop max ${(h.max / 1e6).toFixed(1).padStart(6)} ms`);
}
for (const [name, make] of modes) {
  const body = make();
  // Write the file first, so its cost is not in the figures.
  writeFileSync(path.join(api.dir, 'upload.torrent'), body);
  global.gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const t0 = performance.now();
  // The client is curl in its own process: only the daemon's work shows in this process's figures.
  const file = path.join(api.dir, 'upload.torrent');
  const res = await new Promise<{ status: number }>((resolve, reject) =>
    execFile(
      'curl',
      ['-s', '-o', path.join(api.dir, 'answer.json'), '-w', '%{http_code}', '-H', 'content-type: application/x-bittorrent', '--data-binary', `@${file}`, `${api.url}/torrents/addTorrent/?key=${KEY}`],
      (err, stdout) => (err ? reject(err) : resolve({ status: Number(stdout) })),
    ),
  );
  const text = readFileSync(path.join(api.dir, 'answer.json'), 'utf8');
  const ms = performance.now() - t0;
  h.disable();
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const answer = res.status === 200 ? 'ok' : (JSON.parse(text) as { message: string }).message.slice(0, 70);
  console.log(
    `  ${name.padEnd(30)} ${res.status} ${ms.toFixed(0).padStart(6)} ms  loop max ${(h.max / 1e6).toFixed(1).padStart(6)} ms  RSS +${((peak - rss0) / 2 ** 20).toFixed(0).padStart(4)} MiB  ${answer}`,
  );
}
await api.close();

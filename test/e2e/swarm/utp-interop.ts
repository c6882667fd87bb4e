/**
 * utp-native against libtorrent over uTP alone (BEP 29), inside the namespace: a libtorrent seeder with
 * TCP off (ltnode.py --transport utp-only), one TCP connect (libtorrent accepts and closes it), then
 * five uTP connections, each sending a BitTorrent handshake and printing the reply and its time.
 *
 *   sudo test/e2e/run-in-namespace.sh node --import tsx test/e2e/swarm/utp-interop.ts
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readFileSync, mkdirSync } from 'node:fs';
import { makeContent, placeData, SWARM_TORRENT } from './content.js';
import { assertIsolated } from './swarm.js';

assertIsolated();
const require = createRequire(import.meta.url);
const utp = require('utp-native') as { connect(port: number, host: string): net.Socket };
const HERE = path.dirname(fileURLToPath(import.meta.url));
const run = process.env.E2E_RUN_DIR ?? '/tmp/utp-interop';
mkdirSync(run, { recursive: true });
const c = makeContent(SWARM_TORRENT, path.join(run, 'content'));
const save = path.join(run, 'lt-utp', 'data');
placeData(c, save);
const child = spawn('/usr/bin/python3', [path.join(HERE, 'ltnode.py'), '--name', 'lt-utp', '--listen', '127.8.0.2:6889', '--no-dht', '--mode', 'torrents',
  '--torrent', `${c.torrentPath}=${save}`, '--transport', 'utp-only', '--status', path.join(run, 'lt-utp', 'status.json')], { stdio: 'inherit' });
for (let i = 0; i < 100; i++) {
  try {
    const st = JSON.parse(readFileSync(path.join(run, 'lt-utp', 'status.json'), 'utf8')) as { torrents: Array<{ state: string }> };
    if (st.torrents.every((t) => t.state === 'seeding')) break;
  } catch { /* not yet */ }
  await sleep(100);
}
const hs = Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0x04]), Buffer.from(c.infohash, 'hex'), Buffer.from('-XX0001-abcdefghijkl')]);
const tcp = await new Promise<string>((resolve) => {
  const s = net.connect(6889, '127.8.0.2');
  s.once('connect', () => resolve('connected'));
  s.once('error', (e) => resolve(String((e as NodeJS.ErrnoException).code)));
});
console.log('tcp:', tcp);
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const s = utp.connect(6889, '127.8.0.2');
  let got = Buffer.alloc(0);
  const r = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(`timeout after ${got.length} bytes`), 5000);
    s.on('connect', () => s.write(hs));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 68 + 4) { clearTimeout(timer); resolve(`handshake reply ${got.subarray(1, 20).toString()} infohash ${got.subarray(28, 48).toString('hex') === c.infohash} peer ${got.subarray(48, 56).toString()} +${got.length - 68} bytes after, ${(performance.now() - t0).toFixed(1)} ms`); }
    });
    s.on('error', (e) => { clearTimeout(timer); resolve(`error ${String(e)}`); });
  });
  console.log('utp:', r);
  s.destroy();
}
child.kill('SIGTERM');
await sleep(500);
process.exit(0);

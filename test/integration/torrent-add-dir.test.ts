import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import bencode from 'bencode';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/open-database.js';
import { SqliteTorrentRepository } from '../../src/store/torrent-repository.js';
import { tempDir } from '../helpers/temp-dir.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function torrent(name: string): { buf: Buffer; infohash: string } {
  const info = { length: 65536 * 2, name: Buffer.from(name), 'piece length': 65536, pieces: randomBytes(40) };
  return { buf: Buffer.from(bencode.encode({ info })), infohash: createHash('sha1').update(bencode.encode(info)).digest('hex') };
}

describe('capture-daemon torrent add DIR', () => {
  it('imports every .torrent file of a directory, reports the bad ones and exits 1 for them', async () => {
    const t = tempDir('cd-torrent-dir-');
    cleanups.push(t.cleanup);
    const dir = path.join(t.dir, 'torrents');
    mkdirSync(dir);
    const a = torrent('alpha');
    const b = torrent('beta');
    writeFileSync(path.join(dir, 'a.torrent'), a.buf);
    writeFileSync(path.join(dir, 'b.TORRENT'), b.buf);
    writeFileSync(path.join(dir, 'broken.torrent'), 'not bencode');
    writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    const config = path.join(t.dir, 'config.yaml');
    writeFileSync(config, `dataDir: ${t.dir}\n`);
    const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', TSX, path.resolve('src/cli/run.ts'), 'torrent', 'add', dir, '--json', '--config', config], { cwd: t.dir });
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.on('close', (code) => resolve({ code, stdout }));
    });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as { added: number; failed: Array<{ file: string }> };
    expect(result.added).toBe(2);
    expect(result.failed.map((f) => f.file)).toEqual(['broken.torrent']);
    const db = openDatabase(path.join(t.dir, 'capture.db'));
    cleanups.push(() => db.close());
    const repo = new SqliteTorrentRepository(db);
    expect(repo.get(a.infohash)).toMatchObject({ state: 'known', name: 'alpha' });
    expect(repo.get(b.infohash)).toMatchObject({ state: 'known', name: 'beta' });
  }, 60_000);
});

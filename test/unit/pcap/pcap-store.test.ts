import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPcap } from '../../../src/pcap/pcap-file.js';
import { PcapStore, pcapRelativePath } from '../../../src/pcap/pcap-store.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { INFOHASH_HEX, V4_CONVERSATION } from './bt-conversation.js';

const DAY = 86_400_000;
const AT = Date.UTC(2025, 5, 15, 15, 6, 40, 123); // 2025-06-15T15:06:40.123Z

let tmp: { dir: string; cleanup: () => void };
beforeEach(() => {
  tmp = tempDir('pcap-store-');
});
afterEach(() => tmp.cleanup());

/** A file under the store with its mtime set to `mtime`. */
function place(rel: string, mtime: number): string {
  const file = path.join(tmp.dir, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'x');
  utimesSync(file, mtime / 1000, mtime / 1000);
  return file;
}

describe('PcapStore paths', () => {
  it('lays files out as YYYY/MM/DD/<infohash>-<ip>-<port>-<utc stamp>.pcap', () => {
    expect(pcapRelativePath({ infohash: INFOHASH_HEX.toUpperCase(), ip: '198.51.100.7', port: 6881, at: AT })).toEqual({
      dir: path.join('2025', '06', '15'),
      base: `${INFOHASH_HEX}-198.51.100.7-6881-20250615T150640123Z`,
    });
  });

  it('keeps only safe characters (IPv6 colons, zone ids, junk)', () => {
    const { base } = pcapRelativePath({ infohash: '../x y', ip: 'fe80::1%eth0', port: 1, at: AT });
    expect(base).toBe('.._x_y-fe80__1_eth0-1-20250615T150640123Z');
    expect(base).toMatch(/^[0-9A-Za-z._-]+$/);
    expect(() => pcapRelativePath({ infohash: 'a', ip: '::1', port: 1, at: Number.NaN })).toThrow(RangeError);
  });

  it('writes the pcap under the configured directory and returns its path', async () => {
    const store = new PcapStore({ dir: tmp.dir, retentionDays: 7 });
    const meta = { infohash: INFOHASH_HEX, ip: '2001:db8::7', port: 6881, at: AT };
    const file = await store.write(V4_CONVERSATION(), meta);
    expect(file).toBe(path.join(tmp.dir, '2025', '06', '15', `${INFOHASH_HEX}-2001_db8__7-6881-20250615T150640123Z.pcap`));
    expect(readFileSync(file).equals(buildPcap(V4_CONVERSATION()))).toBe(true);
    expect(readdirSync(path.dirname(file))).toEqual([path.basename(file)]); // no .tmp left behind
  });

  it('never overwrites: same peer in the same millisecond gets a suffix, also concurrently', async () => {
    const store = new PcapStore({ dir: tmp.dir, retentionDays: 7 });
    const meta = { infohash: INFOHASH_HEX, ip: '10.0.0.1', port: 1, at: AT };
    const paths = await Promise.all([1, 2, 3].map(() => store.write(V4_CONVERSATION(), meta)));
    expect(new Set(paths).size).toBe(3);
    expect(paths.map((p) => path.basename(p)).sort()).toEqual([
      `${INFOHASH_HEX}-10.0.0.1-1-20250615T150640123Z-1.pcap`,
      `${INFOHASH_HEX}-10.0.0.1-1-20250615T150640123Z-2.pcap`,
      `${INFOHASH_HEX}-10.0.0.1-1-20250615T150640123Z.pcap`,
    ]);
    const again = await store.write(V4_CONVERSATION(), meta);
    expect(path.basename(again)).toBe(`${INFOHASH_HEX}-10.0.0.1-1-20250615T150640123Z-3.pcap`);
  });

  it('rejects a non-positive retention', () => {
    expect(() => new PcapStore({ dir: tmp.dir, retentionDays: 0 })).toThrow(RangeError);
  });
});

describe('PcapStore.prune', () => {
  const now = Date.UTC(2025, 5, 15, 12, 0, 0); // retention 7 days → cutoff 2025-06-08T12:00Z

  it('deletes only files older than the retention and removes emptied directories', async () => {
    const old1 = place('2025/05/31/a.pcap', Date.UTC(2025, 4, 31, 10));
    const old2 = place('2025/06/08/b.pcap', Date.UTC(2025, 5, 8, 11)); // cutoff day, before cutoff
    const oldTmp = place('2025/06/01/c.pcap.tmp', Date.UTC(2025, 5, 1));
    const keepSameDay = place('2025/06/08/d.pcap', Date.UTC(2025, 5, 8, 13)); // cutoff day, after cutoff
    const keepNew = place('2025/06/14/e.pcap', Date.UTC(2025, 5, 14));
    const keepOther = place('2025/06/02/notes.txt', Date.UTC(2025, 5, 2)); // not ours: untouched
    const older = place('2024/12/31/f.pcap', Date.UTC(2024, 11, 31));

    const store = new PcapStore({ dir: tmp.dir, retentionDays: 7 });
    expect(await store.prune(now)).toEqual({ deleted: 4, more: false });
    for (const f of [old1, old2, oldTmp, older]) expect(existsSync(f), f).toBe(false);
    for (const f of [keepSameDay, keepNew, keepOther]) expect(existsSync(f), f).toBe(true);
    expect(existsSync(path.join(tmp.dir, '2024'))).toBe(false); // whole old year removed
    expect(existsSync(path.join(tmp.dir, '2025/05'))).toBe(false);
    expect(existsSync(path.join(tmp.dir, '2025/06/01'))).toBe(false);
    expect(existsSync(path.join(tmp.dir, '2025/06/02'))).toBe(true); // still holds notes.txt
    expect(existsSync(path.join(tmp.dir, '2025/06/08'))).toBe(true); // holds a kept file
    expect(await store.prune(now)).toEqual({ deleted: 0, more: false });
  });

  it('bounds the work per call and finishes over several calls', async () => {
    for (let d = 1; d <= 5; d++) place(`2025/05/0${d}/x.pcap`, Date.UTC(2025, 4, d));
    const store = new PcapStore({ dir: tmp.dir, retentionDays: 7, maxFilesPerPrune: 2 });
    expect(await store.prune(now)).toEqual({ deleted: 2, more: true });
    expect(await store.prune(now)).toEqual({ deleted: 2, more: true });
    expect(await store.prune(now)).toEqual({ deleted: 1, more: false });
    // May (over before the cutoff) is gone; the current year directory stays for new captures.
    expect(readdirSync(path.join(tmp.dir, '2025'))).toEqual([]);
  });

  it('copes with a missing store directory', async () => {
    const store = new PcapStore({ dir: path.join(tmp.dir, 'nope'), retentionDays: 1 });
    expect(await store.prune(now)).toEqual({ deleted: 0, more: false });
  });

  it('a file written by the store survives a prune, then goes once it is old', async () => {
    const store = new PcapStore({ dir: tmp.dir, retentionDays: 7 });
    const file = await store.write(V4_CONVERSATION(), { infohash: INFOHASH_HEX, ip: '10.0.0.1', port: 1, at: Date.now() });
    expect(await store.prune()).toEqual({ deleted: 0, more: false });
    expect(existsSync(file)).toBe(true);
    expect(await store.prune(Date.now() + 8 * DAY)).toEqual({ deleted: 1, more: false });
    expect(existsSync(file)).toBe(false);
  });
});
